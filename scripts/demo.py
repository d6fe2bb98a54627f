"""`make demo`: convert the bundled example images with every shipped checkpoint.

Each shipped checkpoint converts examples/inputs/NAME/ when that folder exists, else
examples/inputs/. Before any checkpoint is shipped, the demo trains a small pix2pix on the
bundled edges→emoji pairs for a minute and converts with that. It runs the real CLI, printing
each command, so what it does can be repeated by hand.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
OUTPUTS = ROOT / "outputs"


def run(*args: str) -> None:
    command = [sys.executable, "-m", "translate", *args]
    print("$ translate " + " ".join(shlex.quote(a) for a in args), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from translate.checkpoint import shipped_checkpoints

    shipped = shipped_checkpoints()
    results = []
    if not shipped:
        run_dir = OUTPUTS / "demo-run"
        if not (run_dir / "final").is_dir():
            run(
                "train", "pix2pix",
                "--data", str(EXAMPLES / "edges2emoji"),
                "--out", str(run_dir),
                "--image-size", "64", "--steps", "300", "--batch-size", "4",
                "--set", "generator.ngf=16", "--set", "discriminator.ndf=16",
                "--set", "data.preprocess=crop", "--workers", "0",
                "--checkpoint-every", "300", "--sample-every", "300",
            )  # fmt: skip
        shipped = {"edges2emoji-quick": run_dir / "final"}
    for name, checkpoint in shipped.items():
        inputs = EXAMPLES / "inputs" / name
        inputs = inputs if inputs.is_dir() else EXAMPLES / "inputs"
        destination = OUTPUTS / name
        run("convert", "--checkpoint", str(checkpoint), str(inputs), str(destination), "--format", "png")
        results.append(destination)
    print("\nResults:")
    for destination in results:
        print(f"  {destination.relative_to(ROOT)}/ ({len(list(destination.rglob('*.png')))} images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

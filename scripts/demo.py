"""`make demo`: convert the bundled examples with every shipped checkpoint.

Each shipped checkpoint converts its held-out examples, examples/NAME/A/ (the inputs of pairs
it never trained on; B/ holds the true targets), into OUT/NAME/ (OUT = outputs/ unless
--out is given). It runs the real CLI, printing each command, so what it does can be repeated
by hand.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run(*args: str) -> None:
    command = [sys.executable, "-m", "translate", *args]
    print("$ translate " + " ".join(shlex.quote(a) for a in args), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "outputs", help="where the results go")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from translate.checkpoint import shipped_checkpoints

    shipped = shipped_checkpoints()
    if not shipped:
        print("error: no shipped checkpoints found (checkpoints/ is empty)", file=sys.stderr)
        return 2
    results = []
    for name in shipped:
        inputs = EXAMPLES / name / "A"
        if not inputs.is_dir():
            print(f"warning: {name} has no bundled examples ({inputs}); skipped", file=sys.stderr)
            continue
        destination = args.out / name
        # --overwrite: a re-shipped checkpoint must not leave the previous results in place.
        run("convert", "--checkpoint", name, str(inputs), str(destination), "--format", "png", "--quiet", "--overwrite")
        results.append(destination)
    print("\nResults (inputs in examples/NAME/A, true targets in examples/NAME/B):")
    for destination in results:
        shown = destination.relative_to(ROOT) if destination.is_relative_to(ROOT) else destination
        print(f"  {shown}/ ({len(list(destination.rglob('*.png')))} images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

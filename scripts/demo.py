"""`make demo`: convert the bundled examples with every shipped checkpoint.

Each shipped checkpoint converts its held-out examples, examples/NAME/A/ (the inputs of pairs
it never trained on; B/ holds the true targets), into OUT/NAME/ (OUT = outputs/ unless
--out is given). Class-conditional (cbn) checkpoints redraw examples/NAME/CLASS/ (held-out
images of each class) into every other class, OUT/NAME/SOURCE2TARGET/, or, trained to generate,
sample eight images of each class into OUT/NAME/CLASS/. A CycleGAN shipped with examples of
each domain, examples/NAME/DOMAIN/ (horse/, zebra/), translates each into the other the same way.
It runs the real CLI, printing each command, so what it does can be repeated by hand.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> None:
    command = [sys.executable, "-m", "translate", *args]
    print("$ translate " + " ".join(shlex.quote(a) for a in args), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


def class_demo(name: str, pipeline: str, config: object, examples: Path, out: Path) -> list[Path]:
    """Sample every class (cbn generation), or redraw each class's examples in every other class
    (cbn translation; a CycleGAN's two domains)."""
    cyclegan = pipeline == "cyclegan"
    classes = [config.domain_a, config.domain_b] if cyclegan else list(config.classes)  # type: ignore[attr-defined]
    written = []
    if not cyclegan and config.mode == "generation":  # type: ignore[attr-defined]
        for target in classes:
            destination = out / name / target
            run("sample", "--checkpoint", name, "--class", target, "--n", "8", "--seed", "0", str(destination))
            written.append(destination)
        return written
    for source in classes:
        inputs = examples / name / source
        if not inputs.is_dir():
            print(f"warning: {name} has no bundled examples of {source} ({inputs}); skipped", file=sys.stderr)
            continue
        for target in classes:
            if target != source:
                destination = out / name / f"{source}2{target}"
                choice = ["--direction", f"{source}2{target}"] if cyclegan else ["--class", target]
                run("convert", "--checkpoint", name, *choice, str(inputs), str(destination),
                    "--format", "png", "--quiet", "--overwrite")
                written.append(destination)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "outputs", help="where the results go")
    parser.add_argument("--examples", type=Path, default=ROOT / "examples", help="the bundled inputs, a folder per checkpoint")
    parser.add_argument("--checkpoint", action="append", metavar="NAME",
                        help="only this shipped checkpoint (repeatable; default: every one)")
    args = parser.parse_args()
    args.out, args.examples = args.out.resolve(), args.examples.resolve()  # the CLI runs from ROOT
    sys.path.insert(0, str(ROOT))
    from translate.checkpoint import read_checkpoint, shipped_checkpoints

    shipped = shipped_checkpoints()
    if not shipped:
        print("error: no shipped checkpoints found (checkpoints/ is empty)", file=sys.stderr)
        return 2
    unknown = sorted(set(args.checkpoint or ()) - set(shipped))
    if unknown:
        print(f"error: {unknown[0]} is not a shipped checkpoint; shipped: {', '.join(shipped)}", file=sys.stderr)
        return 2
    results = []
    below_bar = set()  # shipped with a miss of the project's bar, named on its model card
    for name in args.checkpoint or shipped:
        info = read_checkpoint(name)
        if info.below_bar:
            below_bar.add(name)
        # A CycleGAN shipped with held-out pairs has examples/NAME/A (and B, the true targets);
        # one scored by class has a folder per domain.
        by_class = info.pipeline == "cyclegan" and not (args.examples / name / "A").is_dir()
        if info.pipeline == "cbn" or by_class:
            results += [(name, folder) for folder in class_demo(name, info.pipeline, info.config, args.examples, args.out)]
            continue
        inputs = args.examples / name / "A"
        if not inputs.is_dir():
            print(f"warning: {name} has no bundled examples ({inputs}); skipped", file=sys.stderr)
            continue
        destination = args.out / name
        # --overwrite: a re-shipped checkpoint must not leave the previous results in place.
        run("convert", "--checkpoint", name, str(inputs), str(destination), "--format", "png", "--quiet", "--overwrite")
        results.append((name, destination))
    print("\nResults (inputs in examples/NAME/A or examples/NAME/CLASS, true targets in examples/NAME/B):")
    shown = lambda path: path.relative_to(ROOT) if path.is_relative_to(ROOT) else path  # noqa: E731
    for name, destination in results:
        note = f"; below its shipping bar, see {shown(shipped[name] / 'README.md')}" if name in below_bar else ""
        print(f"  {shown(destination)}/ ({len(list(destination.rglob('*.png')))} images{note})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

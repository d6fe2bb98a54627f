"""Turn a finished training run into a shipped checkpoint with a measured model card.

    python scripts/ship_checkpoint.py NAME --run runs/NAME --data data/emoji64 [--examples 16]

What it does, in order:
1. Saves the run's final inference weights (EMA where kept) in fp16 into ``checkpoints/NAME/``
   with the run's config.json entries (training, description), and checks that the fp16 copy
   stays within 45 dB PSNR of the fp32 outputs on the held-out images.
2. Copies ``--examples`` held-out pairs (the test split, never trained on) into
   ``examples/NAME/{A,B}/`` for ``make demo`` and the tests.
3. Runs ``translate eval`` on the whole held-out split (model, identity, nearest neighbour)
   and on the bundled examples, and writes ``eval.json`` and the ``README.md`` model card.

It refuses to ship a model that does not beat the identity and the nearest neighbour on L1 and
the identity on KID (see SHIPPING_BAR for why KID against the nearest neighbour is reported,
not required).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from translate import load_pipeline  # noqa: E402
from translate.checkpoint import read_checkpoint, save_checkpoint  # noqa: E402
from translate.data import find_pairs, split_folder  # noqa: E402
from translate.evaluate import MODEL_ROW, evaluate_checkpoint  # noqa: E402
from translate.imageio import atomic_folder, commit_folder, load_image, save_image  # noqa: E402
from translate.metrics import psnr  # noqa: E402

FP16_MIN_PSNR = 45.0
# (metric, baseline) pairs a shipped model must beat. KID against the nearest neighbour is
# measured and printed but is no bar: that baseline returns real target-domain images (other
# emoji's true drawings), so its KID is real data against real data, ~0 up to noise, which no
# translation beats. It still catches a model that copies training targets: its L1 is the bar.
SHIPPING_BAR = (("l1", "identity"), ("l1", "nearest-neighbour"), ("kid", "identity"))
# An unpaired model never saw a pair, while the nearest neighbour is built from the training
# pairs: it must beat the identity; the paired baselines are printed beside it for reference.
SHIPPING_BARS = {"pix2pix": SHIPPING_BAR, "cyclegan": (("l1", "identity"), ("kid", "identity"))}


def training_summary(run: Path) -> dict[str, float]:
    """Wall-clock hours and mean images/s from the run's log.csv (resumed sessions summed)."""
    with (run / "log.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("images_per_s")]
    seconds = 0.0
    for previous, current in zip(rows, rows[1:]):
        gap = float(current["time"]) - float(previous["time"])
        if 0 < gap < 600:  # a longer gap is a pause between sessions, not training
            seconds += gap
    return {"hours": seconds / 3600, "images_per_s": sum(float(r["images_per_s"]) for r in rows) / max(len(rows), 1)}


def fp16_agreement(fp32_folder: Path, fp16_folder: Path, inputs: list[torch.Tensor]) -> float:
    """Lowest PSNR (dB) between the fp32 and the fp16-stored model's outputs over ``inputs``."""
    reference, shipped = load_pipeline(fp32_folder), load_pipeline(fp16_folder)
    lowest = float("inf")
    for image in inputs:
        lowest = min(lowest, float(psnr(shipped(image[None]), reference(image[None])).min()))
    return lowest


def copy_examples(data: Path, destination: Path, count: int) -> None:
    """Copy ``count`` held-out pairs, spread evenly over the sorted test split, as A/ and B/."""
    pairs, _ = find_pairs(split_folder(data, train=False))
    if len(pairs) < count:
        raise SystemExit(f"{data}: only {len(pairs)} held-out pairs, {count} examples wanted")
    chosen = [pairs[i * len(pairs) // count] for i in range(count)]
    if destination.exists():
        shutil.rmtree(destination)
    for pair in chosen:
        assert pair.b is not None, "examples are copied from A/ + B/ folders"
        for side, source in (("A", pair.a), ("B", pair.b)):
            (destination / side).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination / side / source.name)


def sample_grid(checkpoint: Path, examples: Path, path: Path, count: int = 8) -> None:
    """input | output | target, one row per example, as the model card's picture."""
    pipe = load_pipeline(checkpoint)
    tiles = []
    for a_path in sorted((examples / "A").iterdir())[:count]:
        a = load_image(a_path, channels=pipe.input_channels).pixels
        b = load_image(examples / "B" / a_path.name, channels=pipe.output_channels).pixels
        tiles += [a.expand(3, -1, -1)[:3], pipe(a).expand(3, -1, -1)[:3], b.expand(3, -1, -1)[:3]]
    import torchvision.utils

    save_image(torchvision.utils.make_grid(tiles, nrow=3, padding=2, pad_value=1.0), path)


def usage(name: str, pipeline: str, metadata: dict) -> str:
    """The model card's command lines: convert, and fine-tune on the user's own data."""
    if pipeline == "cyclegan":
        a, b = metadata["domains"]
        return (
            f"translate convert --checkpoint {name} --direction {a}2{b} INPUT_FOLDER OUTPUT_FOLDER\n"
            f"translate convert --checkpoint {name} --direction {b}2{a} INPUT_FOLDER OUTPUT_FOLDER\n"
            f"# fine-tune on your own two folders (YOUR_DATA/A and YOUR_DATA/B, any sizes, unpaired):\n"
            f"translate train cyclegan --data YOUR_DATA --out runs/mine --init {name} --steps 2000"
        )
    return (
        f"translate convert --checkpoint {name} INPUT_FOLDER OUTPUT_FOLDER\n"
        f"translate train {pipeline} --data YOUR_PAIRS --out runs/mine --init {name} --steps 2000   # fine-tune"
    )


def training_data_line(data: dict) -> str:
    if data.get("layout") == "unpaired":
        return (
            f"Training images: {data.get('images_a', '?')} of domain A and {data.get('images_b', '?')} of domain B, "
            "each A drawn with an independent random B (no pairs used)"
        )
    return f"Training pairs: {data.get('pairs', '?')}"


def networks_line(pipeline: str, config: dict) -> str:
    generator, discriminator, loss = config["generator"], config["discriminator"], config["loss"]
    size = config["data"]["image_size"]
    if generator["kind"] == "resnet":
        g = f"ResNet generator ngf {generator['ngf']}, {generator['n_blocks']} blocks"
    else:
        g = f"U-Net generator ngf {generator['ngf']}"
    networks = f"{pipeline}, {g}, PatchGAN ndf {discriminator['ndf']}, {size}×{size}"
    if pipeline == "cyclegan":
        return (
            f"{networks} (two of each), {loss['gan']} GAN loss + cycle {loss['cycle_weight_a']:g}/{loss['cycle_weight_b']:g}"
            f" + identity {loss['identity_weight']:g} (relative), image pools of {config['pool_size']}."
        )
    return f"{networks}, {loss['gan']} GAN loss + {loss['reconstruction_weight']:g}×L1."


PIPELINE_LIMITS = {
    "cyclegan": (
        "\nTrained at 64 px with a narrow generator (ngf 32, 6 residual blocks) because CycleGAN at 256² trains\n"
        "at about 0.15 images/s on the 2-core CPUs these models were trained on; the reference recipe (ngf 64,\n"
        "9 blocks, 256 px, 200 epochs) was out of reach. Fine-tuning at larger sizes works from these weights.\n"
    ),
}


def compare_note(compare: list[str]) -> str:
    if not compare:
        return ""
    labels = ", ".join(item.partition("=")[0] for item in compare)
    return f"\nAlso evaluated on the same held-out pairs for comparison: {labels} (see the rows of that name)."


def markdown_table(rows: dict[str, dict[str, float]], metrics: list[str]) -> str:
    names = {"l1": "L1 ↓", "psnr": "PSNR ↑", "ssim": "SSIM ↑", "fid": "FID ↓", "kid": "KID×1000 ↓"}
    lines = ["| output | " + " | ".join(names.get(m, m) for m in metrics) + " |"]
    lines.append("|---" * (len(metrics) + 1) + "|")
    for row, scores in rows.items():
        cells = []
        for metric in metrics:
            value = scores.get(metric)
            if value is None:
                cells.append("–")
            elif metric == "kid":
                cells.append(f"{1000 * value:.2f} ± {1000 * scores.get('kid_std', 0.0):.2f}")
            elif metric in ("psnr", "fid"):
                cells.append(f"{value:.2f}")
            else:
                cells.append(f"{value:.4f}")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("--run", type=Path, required=True, help="finished run folder (with final/)")
    parser.add_argument("--data", type=Path, required=True, help="the data folder the run trained on (train/ + test/)")
    parser.add_argument("--examples", type=int, default=16, help="held-out pairs bundled under examples/NAME")
    parser.add_argument("--source", required=True, help="one paragraph: where the data comes from, its licence")
    parser.add_argument("--recipe", required=True, help="the command lines that built the data and trained")
    parser.add_argument(
        "--compare", action="append", default=[], metavar="LABEL=CHECKPOINT",
        help="also evaluate this checkpoint on the same held-out data, as a row of the model card's table",
    )
    args = parser.parse_args()

    # Built in hidden staging folders and moved into place only when the model passes the bar,
    # so a failed attempt leaves the shipped checkpoint and examples as they were.
    shipped, bundled = ROOT / "checkpoints" / args.name, ROOT / "examples" / args.name
    destination, examples = atomic_folder(shipped), atomic_folder(bundled)
    try:
        size_mb = ship(args, destination, examples)
        commit_folder(destination, shipped)
        commit_folder(examples, bundled)
    except BaseException:
        shutil.rmtree(destination, ignore_errors=True)
        shutil.rmtree(examples, ignore_errors=True)
        raise
    print(f"shipped {shipped} ({size_mb:.1f} MB); examples in {bundled}")
    return 0


def ship(args: argparse.Namespace, destination: Path, examples: Path) -> float:
    """Write the checkpoint into ``destination`` and the examples into ``examples``; the model's size in MB."""
    final = args.run / "final"
    info = read_checkpoint(final)
    pipe = load_pipeline(final)
    extra = {key: info.raw[key] for key in ("training", "description", "initialised_from") if key in info.raw}
    extra["shipped"] = {"name": args.name, "date": datetime.now(timezone.utc).strftime("%Y-%m-%d")}
    save_checkpoint(pipe, destination, dtype=torch.float16, extra=extra)

    a_is_input = info.metadata.get("direction", "AtoB") == "AtoB"
    copy_examples(args.data, examples, args.examples)
    test_inputs = [
        load_image(p.a if a_is_input else p.b, channels=pipe.input_channels).pixels  # type: ignore[arg-type]
        for p in find_pairs(split_folder(args.data, train=False))[0]
    ]
    agreement = fp16_agreement(final, destination, test_inputs)
    if agreement < FP16_MIN_PSNR:
        raise SystemExit(f"fp16 weights drift: {agreement:.1f} dB < {FP16_MIN_PSNR} dB from the fp32 outputs")

    report = evaluate_checkpoint(destination, args.data)
    print(report.table())
    examples_report = evaluate_checkpoint(destination, examples, metric_names=["l1"])
    rows = report.rows
    for label_and_path in args.compare:
        label, _, other = label_and_path.partition("=")
        if not other:
            raise SystemExit(f"--compare {label_and_path!r}: expected LABEL=CHECKPOINT")
        rows[label] = evaluate_checkpoint(other, args.data).rows[MODEL_ROW]
    for metric, baseline in SHIPPING_BARS[info.pipeline]:
        if rows[MODEL_ROW][metric] >= rows[baseline][metric]:
            raise SystemExit(
                f"not shipped: {metric} {rows[MODEL_ROW][metric]:.4f} does not beat {baseline} ({rows[baseline][metric]:.4f})"
            )
    evaluation = {
        "test": {k: v for k, v in report.to_dict().items() if k != "per_image"} | {"checkpoint": args.name},
        "examples": {"folder": f"examples/{args.name}", "images": examples_report.images,
                     "l1": examples_report.rows[MODEL_ROW]["l1"]},
        "fp16_min_psnr_db": round(agreement, 2),
    }
    (destination / "eval.json").write_text(json.dumps(evaluation, indent=2, allow_nan=False) + "\n")
    sample_grid(destination, examples, destination / "samples.png")

    training = info.raw.get("training", {})
    settings = training.get("settings", {})
    summary = training_summary(args.run)
    config = info.raw["config"]
    size_mb = (destination / "model.safetensors").stat().st_size / 1e6
    card = f"""# {args.name}

{info.raw.get("description", "")}

![input | output | target](samples.png)

*Held-out examples: input | output | target (never seen in training).*

## Use

```sh
{usage(args.name, info.pipeline, info.metadata)}
```

## Data

{args.source}

{training_data_line(training.get("data", {}))} from `{args.data}/train`; the held-out split
(`{args.data}/test`, {report.images} pairs) was never trained on. {args.examples} of the held-out pairs are
bundled in `examples/{args.name}/` for `make demo` and the tests.

## Training

- {networks_line(info.pipeline, config)}
- {training.get("step")} steps of batch {settings.get("batch_size")} (Adam {config["optim"]["lr_g"]:g}, linear decay over the
  last {100 * config["optim"]["decay_fraction"]:.0f}%), EMA {settings.get("ema_decay")} of the generator weights (shipped).
- {summary["hours"]:.2f} hours on a 2-core CPU in {training.get("precision")} ({"channels_last" if training.get("channels_last") else "contiguous"}),
  {summary["images_per_s"]:.1f} images/s.
- Weights: fp16 safetensors, {size_mb:.1f} MB; outputs within {agreement:.1f} dB PSNR (worst held-out image) of the fp32 weights.

Reproduce:

```sh
{args.recipe}
```

## Evaluation

`translate eval --checkpoint {args.name} --data {args.data}` on the {report.images} held-out pairs
(FID/KID: {(report.feature_extractor or {}).get("name", "Inception")} features; with so few images FID is
noisy, read KID and its spread). Identity = the input returned unchanged; nearest neighbour = the
training target whose input is closest to the test input. That neighbour is a real drawing of the
target style (of another emoji), so its KID is real data against real data, zero up to noise: it
bounds what any model can reach on KID rather than being a bar; its L1 is the bar.{compare_note(args.compare)}

{markdown_table(rows, [m for m in ("l1", "psnr", "ssim", "fid", "kid") if m in report.metrics])}

On the {examples_report.images} bundled examples the model's L1 is {examples_report.rows[MODEL_ROW]["l1"]:.4f}
(`tests/test_shipped.py` checks a fresh load reproduces it within 2%).

## Limits

Trained at {config["data"]["image_size"]}×{config["data"]["image_size"]} on centred drawings on a white
background; other sizes run (inputs are padded to a multiple of {pipe.size_multiple}) but stray from what it saw.
{PIPELINE_LIMITS.get(info.pipeline, "")}"""
    (destination / "README.md").write_text(card)
    return size_mb


if __name__ == "__main__":
    sys.exit(main())

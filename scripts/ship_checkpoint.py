"""Turn a finished training run into a shipped checkpoint with a measured model card.

    python scripts/ship_checkpoint.py NAME --run runs/NAME --data data/emoji64 [--examples N]

What it does, in order:
1. Saves the run's final inference weights (EMA where kept) in fp16 into ``checkpoints/NAME/``
   with the run's config.json entries (training, description), and checks that the fp16 copy
   stays within 45 dB PSNR of the fp32 outputs on the held-out images.
2. Copies ``--examples`` held-out pairs (the test split, never trained on; 16, or 8 for
   super-resolution, whose pairs are whole photo crops) into ``examples/NAME/{A,B}/`` for
   ``make demo`` and the tests.
3. Runs ``translate eval`` on the whole held-out split (model and baselines: identity and
   nearest neighbour, or identity and bicubic for super-resolution; ``--compare`` adds rows)
   and on the bundled examples, and writes ``eval.json`` and the ``README.md`` model card.

It refuses to ship a paired model that does not beat the identity and the nearest neighbour on
L1 and the identity on KID (see SHIPPING_BAR for why KID against the nearest neighbour is
reported, not required), an unpaired one whose KID does not beat the identity's, and a
super-resolution model that does not beat bicubic upscaling (see shipping_bar); an adversarial
one's ``--compare`` must hold the PSNR model it was fine-tuned from (check_parent_compared). A model that
misses its bar after real effort ships only with ``--below-bar REASON``: each miss, with its
figures, then heads the model card ("Below the shipping bar"), is listed in config.json
(``shipped.below_bar``, shown by ``translate checkpoints`` and the demo pages) and in eval.json.

Class-conditional (cbn) runs take ``--classifier FOLDER`` (scripts/train_classifier.py), shipped
inside the checkpoint as ``classifier/`` so anyone can rescore it, and are scored with
``translate eval-classes``: class fidelity beside the classifier's held-out accuracy (the
ceiling), per-class FID/KID beside real training images (the floor). See ``CBN_FIDELITY_SHARE``.
A CycleGAN run given ``--classifier`` is shipped the same way, its two domains as the classes:
the path for unpaired data with no true outputs (horse2zebra on folders of each animal).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import signal
import sys
from datetime import datetime, timezone
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from translate import load_pipeline  # noqa: E402
from translate.checkpoint import WEIGHTS_FILE, CheckpointError, CheckpointInfo, read_checkpoint, save_checkpoint  # noqa: E402
from translate.class_eval import IDENTITY_ROW, MEAN, REAL_HELD_OUT_ROW, REAL_TRAINING_ROW  # noqa: E402
from translate.class_eval import MODEL_ROW as CLASS_MODEL_ROW  # noqa: E402
from translate.class_eval import (  # noqa: E402
    ClassEvalReport,
    class_model,
    evaluate_classes,
    examples_scores,
    sample_fidelity,
    write_class_grid,
)
from translate.classifier import load_classifier  # noqa: E402
from translate.data import find_pairs, split_folder  # noqa: E402
from translate.evaluate import BICUBIC_ROW, HIGHER_IS_BETTER, MODEL_ROW, evaluate_checkpoint  # noqa: E402
from translate.imageio import atomic_folder, bicubic_resize, commit_folder, load_image, save_image  # noqa: E402
from translate.metrics import psnr  # noqa: E402
from translate.pipelines.cbn import ClassConditional  # noqa: E402

FP16_MIN_PSNR = 45.0
# (metric, baseline) pairs a shipped model must beat. KID against the nearest neighbour is
# measured and printed but is no bar: that baseline returns real target-domain images (other
# emoji's true drawings), so its KID is real data against real data, ~0 up to noise, which no
# translation beats. It still catches a model that copies training targets: its L1 is the bar.
# Each entry is (metric, baseline row, margin): the model must beat the baseline by the margin.
SHIPPING_BAR = (("l1", "identity", 0.0), ("l1", "nearest-neighbour", 0.0), ("kid", "identity", 0.0))
# A class-conditional model must reach at least this share of the ceiling (the classifier's accuracy
# on held-out real images) in mean class fidelity; a translation model must also beat the identity
# (the input returned unchanged) on mean per-class KID, and on L1 to the true drawing where the
# classes are aligned.
CBN_FIDELITY_SHARE = 0.8
# An unpaired model promises a move into the target domain, not pixel agreement with a true
# target it never saw: its bar is KID against the identity (the input returned unchanged). L1
# to the paired truth is reported beside the paired model's; the two styles share their layout,
# so the identity's L1 is low (0.197 on the emoji) and even the paired pix2pix only just beats it.
UNPAIRED_BAR = (("kid", "identity", 0.0),)
# A PSNR-trained super-resolution model must beat antialiased bicubic upscaling by this much
# PSNR on the Y channel (border cropped by the scale) on held-out photographs. An adversarial one
# trades PSNR for texture: it must beat bicubic and the PSNR model it was fine-tuned from
# (--compare) on FID, the issue's measure; KID is reported beside it. Every --compare row of a
# gan-phase model is part of its bar, so compare it with that PSNR model only.
SR_PSNR_MARGIN_DB = 1.0


def shipping_bar(pipeline: str, config: dict, compared: list[str]) -> tuple[tuple[str, str, float], ...]:
    """What a model of this pipeline must beat on the held-out split: (metric, row, margin)s."""
    if pipeline == "pix2pix":
        return SHIPPING_BAR
    if pipeline == "cyclegan":
        return UNPAIRED_BAR
    if pipeline == "srgan" and config["phase"] == "psnr":
        return (("psnr_y", BICUBIC_ROW, SR_PSNR_MARGIN_DB),)
    if pipeline == "srgan":
        if not compared:
            raise SystemExit(
                "an adversarial (phase=gan) super-resolution model ships beside the PSNR model it was fine-tuned "
                "from: pass --compare LABEL=CHECKPOINT (its FID is part of the bar)"
            )
        return (("fid", BICUBIC_ROW, 0.0),) + tuple(("fid", label, 0.0) for label in compared)
    raise SystemExit(f"no shipping bar for {pipeline} checkpoints")


def same_weights(parent: Path, candidate: Path) -> bool:
    """Whether ``candidate`` holds ``parent``'s weights, as they are or cast to its dtype (a
    checkpoint shipped in fp16 from that run's fp32 ``final``)."""
    parent_tensors = load_file(parent / WEIGHTS_FILE)
    candidate_tensors = load_file(candidate / WEIGHTS_FILE)
    if parent_tensors.keys() != candidate_tensors.keys():
        return False
    return all(
        torch.equal(parent_tensors[key].to(tensor.dtype), tensor) for key, tensor in candidate_tensors.items()
    )


def check_parent_compared(info: CheckpointInfo, compared: list[tuple[str, str]]) -> None:
    """A gan-phase model's bar includes FID against each ``--compare`` row, meant to be the PSNR
    model it was fine-tuned from: refuse when none of them holds that model's weights.

    The parent is the run's ``--init`` (``initialised_from``). A model trained from scratch has
    none and is not checked; a parent that no longer exists is named in a warning.
    """
    init = info.raw.get("initialised_from")
    if info.pipeline != "srgan" or info.raw["config"].get("phase") != "gan" or not init:
        return
    try:
        parent = read_checkpoint(init).path
    except (FileNotFoundError, ValueError) as error:
        print(f"warning: cannot check that --compare holds the model this one was fine-tuned from: {error}", file=sys.stderr)
        return
    if not any(same_weights(parent, read_checkpoint(other).path) for _, other in compared):
        named = ", ".join(f"{label}={other}" for label, other in compared)
        raise SystemExit(
            f"{info.path}: fine-tuned from {init}, but no --compare checkpoint holds its weights ({named}); "
            f"compare with the PSNR model it started from (its fp16 shipped copy counts)"
        )


RESERVED_ROWS = frozenset({MODEL_ROW, "identity", "nearest-neighbour", BICUBIC_ROW})


def compared_checkpoints(items: list[str]) -> list[tuple[str, str]]:
    """``--compare LABEL=CHECKPOINT`` items as (label, checkpoint); a clear error for a bad one."""
    pairs = []
    for item in items:
        label, _, checkpoint = item.partition("=")
        if not label or not checkpoint:
            raise SystemExit(f"--compare {item!r}: expected LABEL=CHECKPOINT")
        if label in RESERVED_ROWS or label in (known for known, _ in pairs):
            raise SystemExit(f"--compare {item!r}: the label {label!r} names another row of the table")
        pairs.append((label, checkpoint))
    return pairs


def beats(rows: dict[str, dict[str, float]], metric: str, baseline: str, margin: float) -> bool:
    """Whether the model row is better than ``baseline`` on ``metric`` by at least ``margin``."""
    model, other = rows[MODEL_ROW][metric], rows[baseline][metric]
    return model >= other + margin if metric in HIGHER_IS_BETTER else model < other - margin


METRIC_NAMES = {"l1": "L1", "psnr": "PSNR", "ssim": "SSIM", "psnr_y": "PSNR-Y", "ssim_y": "SSIM-Y", "fid": "FID",
                "kid": "KID×1000", "fidelity": "class fidelity"}


def metric_value(metric: str, value: float) -> str:
    """A score as the model cards print it."""
    if metric == "kid":
        return f"{1000 * value:.1f}"
    if metric in ("psnr", "psnr_y"):
        return f"{value:.2f} dB"
    if metric == "fid":
        return f"{value:.1f}"
    return f"{value:.3f}" if metric == "fidelity" else f"{value:.4f}"


def bar_miss(metric: str, baseline: str, model: float, baseline_value: float, margin: float = 0.0) -> dict:
    """One missed comparison of the shipping bar, as eval.json records it."""
    return {"metric": metric, "baseline": baseline, "model": model, "baseline_value": baseline_value, "margin": margin}


def describe_miss(miss: dict) -> str:
    """'KID×1000: model 78.6, identity 23.9; the bar asks the model to beat the identity'."""
    metric, baseline = miss["metric"], miss["baseline"]
    model, other = metric_value(metric, miss["model"]), metric_value(metric, miss["baseline_value"])
    if metric == "fidelity":  # a share of the ceiling to reach, not a row to beat
        return f"{METRIC_NAMES[metric]}: model {model}, {baseline} {other}; the bar asks the model to reach {baseline}"
    margin = f" by {miss['margin']:g}{' dB' if metric in ('psnr', 'psnr_y') else ''}" if miss["margin"] else ""
    article = "the " if baseline in ("identity", "nearest-neighbour") else ""
    return (f"{METRIC_NAMES.get(metric, metric)}: model {model}, {baseline} {other}; the bar asks the model to beat "
            f"{article}{baseline}{margin}")


def accept_misses(misses: list[dict], below_bar: str | None, where: str, destination: Path) -> dict:
    """Refuse a model that misses its bar, unless ``--below-bar`` says why it ships anyway (then list
    the misses in the staged config.json); refuse a ``--below-bar`` for a model with no miss. The
    eval.json entries that record the misses."""
    below_bar = (below_bar or "").strip() or None
    if misses and not below_bar:
        raise SystemExit(
            "not shipped: " + "; ".join(describe_miss(miss) for miss in misses) + f" on {where}. "
            "Only if that stays out of reach after real effort: --below-bar REASON ships it with these "
            "figures at the top of its model card."
        )
    if below_bar and not misses:
        raise SystemExit("--below-bar: the model meets its whole shipping bar; there is no miss to declare")
    if not misses:
        return {}
    path = destination / "config.json"  # where translate checkpoints, make demo and the pages read them
    document = json.loads(path.read_text())
    document["shipped"]["below_bar"] = [describe_miss(miss) for miss in misses]
    path.write_text(json.dumps(document, indent=2) + "\n")
    return {"missed": misses, "why_shipped": below_bar}


def below_bar_section(misses: list[dict], below_bar: str | None) -> str:
    """The model card's first section for a model shipped below its bar ("" for one that meets it)."""
    if not misses:
        return ""
    lines = "\n".join(f"- {describe_miss(miss)}" for miss in misses)
    return (f"## Below the shipping bar\n\nThis model misses part of the project's shipping bar "
            f"(the model card's Evaluation section has the full tables):\n\n{lines}\n\nWhy it ships: "
            f"{below_bar.strip()}\n\n")


def notes_section(notes: str | None) -> str:
    """The model card's Notes section (``--notes``): findings the tables cannot show ("" without)."""
    return f"## Notes\n\n{notes.strip()}\n\n" if notes and notes.strip() else ""


def bar_line_note(misses: list[dict]) -> str:
    """Appended to an Evaluation section's statement of the bar when the model misses part of it."""
    return " (missed in part: see Below the shipping bar)" if misses else ""


def shipped_entries(info: CheckpointInfo, args: argparse.Namespace) -> dict:
    """The run's config.json entries a shipped checkpoint keeps, its one-line description (the
    run's, or ``--description``: the card's summary, required) and when and as what it shipped."""
    extra = {key: info.raw[key] for key in ("training", "description", "initialised_from") if key in info.raw}
    extra["description"] = args.description or extra.get("description", "")
    if not extra["description"]:
        raise SystemExit(f"{args.run / 'final'}: the run has no description; pass --description TEXT (the model card's summary)")
    extra["shipped"] = {"name": args.name, "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
                        "lineage": lineage(info)}
    return extra


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


def lineage(info: CheckpointInfo) -> list[dict]:
    """The runs a checkpoint was fine-tuned from, oldest first, then its own: each with its path,
    steps and (where its run's log.csv is found) hours, so a card counts all the training behind a
    model and not only its last run. A shipped checkpoint on the way carries its own chain
    (``shipped.lineage``, recorded when it shipped), which outlives its runs: the walk takes it
    from there. Otherwise the chain ends where ``initialised_from`` does, or at a checkpoint that
    cannot be read (named, with steps and hours unknown)."""
    links: list[dict] = []
    seen: set[Path] = set()
    found: CheckpointInfo | None = info
    while found is not None and found.path.resolve() not in seen:  # a loop of copies counts each once
        seen.add(found.path.resolve())
        shipped = found.raw.get("shipped", {})
        if found is not info and shipped.get("lineage"):
            recorded = [dict(link) for link in shipped["lineage"]]
            recorded[-1]["shipped_as"] = shipped.get("name")
            links.extend(recorded[::-1])
            break
        run = found.path.parent if found.path.name == "final" else found.path
        hours = round(training_summary(run)["hours"], 3) if (run / "log.csv").is_file() else None
        links.append({"path": _shown(found.path), "steps": found.raw.get("training", {}).get("step"), "hours": hours})
        parent, found = found.raw.get("initialised_from"), None
        if parent:
            try:
                found = read_checkpoint(parent)
            except CheckpointError:
                links.append({"path": str(parent), "steps": None, "hours": None})
    return links[::-1]


def _shown(path: Path) -> str:
    """A path as a card shows it: relative to the repository when inside it, so no machine's
    checkout folder is written into a shipped card."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def lineage_line(links: list[dict]) -> str:
    """One card line for a fine-tuned model: each run of its chain and the totals ('' when trained
    from scratch). Totals are only given when every link's figure is known."""
    if len(links) < 2:
        return ""
    def described(link: dict) -> str:
        steps = f"{link['steps']:,} steps" if link["steps"] is not None else "steps unknown"
        hours = f", {link['hours']:.2f} h" if link["hours"] is not None else ""
        shipped = f"; shipped as `{link['shipped_as']}`" if link.get("shipped_as") else ""
        return f"`{link['path']}` ({steps}{hours}{shipped})"
    chain = " → ".join(described(link) for link in links)
    totals = []
    if all(link["steps"] is not None for link in links):
        totals.append(f"{sum(link['steps'] for link in links):,} steps")
    if all(link["hours"] is not None for link in links):
        totals.append(f"{sum(link['hours'] for link in links):.2f} hours")
    return f"- With the runs it was fine-tuned from: {chain}" + (f"; {' and '.join(totals)} in all." if totals else ".") + "\n"


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


def sample_grid(
    checkpoint: Path, examples: Path, path: Path, count: int = 8, compare: Sequence[tuple[str, str]] = ()
) -> None:
    """input | output | target, one row per example, as the model card's picture; for
    super-resolution, centre crops of bicubic | each compared checkpoint | output | original."""
    pipe = load_pipeline(checkpoint)
    if getattr(pipe, "scale", 1) > 1:
        super_resolution_grid([load_pipeline(other) for _, other in compare] + [pipe], examples, path)
        return
    tiles = []
    for a_path in sorted((examples / "A").iterdir())[:count]:
        a = load_image(a_path, channels=pipe.input_channels).pixels
        b = load_image(examples / "B" / a_path.name, channels=pipe.output_channels).pixels
        tiles += [a.expand(3, -1, -1)[:3], pipe(a).expand(3, -1, -1)[:3], b.expand(3, -1, -1)[:3]]
    import torchvision.utils

    save_image(torchvision.utils.make_grid(tiles, nrow=3, padding=2, pad_value=1.0), path)


SR_GRID_CROP = 160  # px of the high-resolution image: enough to see texture at 1:1


def super_resolution_grid(pipes: list, examples: Path, path: Path, count: int = 6) -> None:
    """Centre crops, one row per example: bicubic | each pipeline's output | original."""
    import torchvision.utils

    tiles = []
    for a_path in sorted((examples / "A").iterdir())[:count]:
        low = load_image(a_path, channels=pipes[-1].input_channels).pixels
        high = load_image(examples / "B" / a_path.name, channels=pipes[-1].output_channels).pixels
        row = [bicubic_resize(low, tuple(high.shape[-2:]))] + [pipe(low) for pipe in pipes] + [high]
        height, width = high.shape[-2:]
        top, left = max(0, (height - SR_GRID_CROP) // 2), max(0, (width - SR_GRID_CROP) // 2)
        tiles += [image[..., top:top + SR_GRID_CROP, left:left + SR_GRID_CROP].expand(3, -1, -1)[:3] for image in row]
    save_image(torchvision.utils.make_grid(tiles, nrow=len(pipes) + 2, padding=2, pad_value=1.0), path)


def usage(name: str, pipeline: str, metadata: dict, folders_named_by_domain: bool = False) -> str:
    """The model card's command lines: convert, and fine-tune on the user's own data (a CycleGAN
    trained on folders named after its domains is fine-tuned on folders of those names)."""
    if pipeline == "cyclegan":
        a, b = metadata["domains"]
        folders, names = "YOUR_DATA/A and YOUR_DATA/B", ""
        if folders_named_by_domain:
            folders, names = f"YOUR_DATA/train/{a} and YOUR_DATA/train/{b}", f" --set domain_a={a} --set domain_b={b}"
        return (
            f"translate convert --checkpoint {name} --direction {a}2{b} INPUT_FOLDER OUTPUT_FOLDER\n"
            f"translate convert --checkpoint {name} --direction {b}2{a} INPUT_FOLDER OUTPUT_FOLDER\n"
            f"# fine-tune on your own two folders ({folders}, any sizes, unpaired):\n"
            f"translate train cyclegan --data YOUR_DATA --out runs/mine --init {name} --steps 2000{names}"
        )
    if pipeline == "srgan":
        return (
            f"translate convert --checkpoint {name} INPUT_FOLDER OUTPUT_FOLDER   # big images run in blended tiles\n"
            f"translate convert --checkpoint {name} --outscale 2 INPUT_FOLDER OUTPUT_FOLDER   # any final factor\n"
            f"# fine-tune on your own high-resolution images (YOUR_PHOTOS/train/*, YOUR_PHOTOS/test/*):\n"
            f"translate train srgan --data YOUR_PHOTOS --out runs/mine --init {name} --steps 2000"
        )
    return (
        f"translate convert --checkpoint {name} INPUT_FOLDER OUTPUT_FOLDER\n"
        f"translate train {pipeline} --data YOUR_PAIRS --out runs/mine --init {name} --steps 2000   # fine-tune"
    )


def training_data_line(data: dict, domains: Sequence[str] = ("A", "B")) -> str:
    if data.get("layout") == "unpaired":
        a, b = domains
        return (
            f"Training images: {data.get('images_a', '?')} of domain {a} and {data.get('images_b', '?')} of domain {b}, "
            f"each {a} drawn with an independent random {b} (no pairs used)"
        )
    if data.get("layout") == "high-resolution":
        return (
            f"Training images: {data.get('images', '?')} high-resolution images; each step cuts random crops of them"
        )
    return f"Training pairs: {data.get('pairs', '?')}"


def networks_line(pipeline: str, config: dict, initialised_from: str | None = None) -> str:
    if pipeline == "srgan":
        return sr_networks_line(config, initialised_from)
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


def pipeline_limits(pipeline: str, config: dict) -> str:
    """The model card's pipeline-specific Limits paragraph (empty for most pipelines)."""
    if pipeline != "cyclegan":
        return ""
    size, generator = config["data"]["image_size"], config["generator"]
    return (
        f"\nTrained at {size} px with a narrow generator (ngf {generator['ngf']}, {generator['n_blocks']} residual "
        "blocks) because CycleGAN at 256² trains\nat about 0.15 images/s on the 2-core CPUs these models were "
        "trained on; the reference recipe (ngf 64,\n9 blocks, 256 px, 200 epochs) was out of reach. Fine-tuning at "
        "larger sizes works from these weights.\n"
    )


def sr_networks_line(config: dict, initialised_from: str | None) -> str:
    generator, loss, scale = config["generator"], config["loss"], config["scale"]
    blocks = generator["num_blocks"] or (16 if generator["kind"] == "srresnet" else 23)
    norm = "" if generator["kind"] != "srresnet" else (" without batch norm" if generator["norm"] == "none" else ", batch norm")
    size = config["data"]["image_size"]
    kind = {"srresnet": "SRResNet", "rrdb": "RRDB"}[generator["kind"]]
    g = (f"{kind} ×{scale} ({blocks} blocks, {generator['num_features']} features{norm}), HR crops of {size} px "
         f"(LR {size // scale} px)")
    if config["phase"] == "psnr":
        return f"srgan psnr phase: {g}, {loss['pixel']} pixel loss only."
    return (
        f"srgan gan phase: {g}, {config['discriminator']['kind']} discriminator, {loss['gan']} GAN loss × "
        f"{loss['gan_weight']:g} + {loss['perceptual']} perceptual × {loss['perceptual_weight']:g} + "
        f"{loss['pixel']} × {loss['pixel_weight']:g}"
        + (f", fine-tuned from `{initialised_from}`." if initialised_from else ", trained from scratch.")
    )


def baselines_note(pipeline: str) -> str:
    if pipeline == "srgan":
        return (
            "Bicubic = the low-resolution input upscaled with antialiased bicubic interpolation; identity = "
            "the input upscaled by pixel repetition. PSNR-Y and SSIM-Y are on the Y (luma) channel with a border "
            f"of the scale cropped, as super-resolution papers report them. Shipping bar: a psnr-phase model "
            f"beats bicubic by at least {SR_PSNR_MARGIN_DB:g} dB PSNR-Y; a gan-phase model beats bicubic and "
            "the psnr-phase model on FID (it trades some PSNR for texture)."
        )
    common = (
        "Identity = the input returned unchanged; nearest neighbour = the training target whose input is "
        "closest to the test input. That neighbour is a real drawing of the target style (of another emoji), "
        "so its KID is real data against real data, zero up to noise: it bounds what any model can reach on KID."
    )
    if pipeline == "cyclegan":
        return (
            f"{common} The nearest neighbour is built from training *pairs*, which this unpaired model never "
            "used. Shipping bar: KID below the identity's (the outputs moved into the target style). L1 and "
            "PSNR against the true drawing are reported, not required: the model never saw a pair, and the "
            "two styles share their layout, so the identity's L1 is hard to beat without pairs."
        )
    return f"{common} Shipping bar: L1 below both baselines', KID below the identity's."


CARD_METRICS = ("l1", "psnr", "ssim", "psnr_y", "ssim_y", "fid", "kid")
CBN_LIMITS = "the images of the data set above; other subjects stray from what it saw."


def limits_line(config: dict, pipe: object, limits: str | None) -> str:
    """The model card's first Limits sentence: the training size and what it saw (``--limits``)."""
    size = config["data"]["image_size"]
    if "scale" in config:  # super-resolution: the size is the high-resolution crop's
        scale, tile = config["scale"], config["inference_tile"]
        return (
            f"Trained on {size}×{size} crops ({size // scale}×{size // scale} inputs) of "
            f"{limits or 'the photographs above, downscaled with antialiased bicubic'}; inputs of any size run (in "
            f"blended tiles above {tile} px), but blur, noise or JPEG artefacts beyond bicubic downscaling "
            "were not in its training data unless the recipe above adds them."
        )
    what = limits or (
        "centred drawings on a white background; other sizes run (inputs are padded to a multiple of "
        f"{pipe.size_multiple}) but stray from what it saw."  # type: ignore[attr-defined]
    )
    return f"Trained at {size}×{size} on {what}"


def picture_lines(pipeline: str, compare: list[str]) -> str:
    """The model card's sample picture and its caption."""
    if pipeline == "srgan":
        columns = " | ".join(["bicubic", *(item.partition("=")[0] for item in compare), "this model", "original"])
        return (
            f"![{columns}](samples.png)\n\n*Centre crops ({SR_GRID_CROP} px, 1:1) of held-out photographs: "
            f"{columns}.*"
        )
    return "![input | output | target](samples.png)\n\n*Held-out examples: input | output | target (never seen in training).*"


def compare_note(compare: list[str]) -> str:
    if not compare:
        return ""
    labels = ", ".join(item.partition("=")[0] for item in compare)
    return f"\nAlso evaluated on the same held-out pairs for comparison: {labels} (see the rows of that name)."


def markdown_table(rows: dict[str, dict[str, float]], metrics: list[str]) -> str:
    names = {"l1": "L1 ↓", "psnr": "PSNR ↑", "ssim": "SSIM ↑", "psnr_y": "PSNR-Y ↑", "ssim_y": "SSIM-Y ↑",
             "fid": "FID ↓", "kid": "KID×1000 ↓"}
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
            elif metric in ("psnr", "psnr_y", "fid"):
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
    parser.add_argument("--examples", type=int, help="held-out pairs bundled under examples/NAME (16; 8 for srgan)")
    parser.add_argument("--source", required=True, help="one paragraph: where the data comes from, its licence")
    parser.add_argument("--recipe", required=True, help="the command lines that built the data and trained")
    parser.add_argument("--classifier", type=Path, help="cbn (and cyclegan on class folders): the classifier folder "
                        "that scores class fidelity")
    parser.add_argument("--limits", help="the model card's Limits sentence, after 'Trained at N×N on' (default: "
                        "'centred drawings on a white background…'; cbn: 'the images of the data set above…')")
    parser.add_argument("--description", help="the one-line summary of the model card and config.json (default: the "
                        "run's --description)")
    parser.add_argument(
        "--below-bar", metavar="REASON",
        help="ship a model that misses its shipping bar after real effort; REASON (what was tried, why it "
             "still serves users) and each miss with its figures head the model card",
    )
    parser.add_argument("--notes", help="a paragraph (markdown) for the card's Notes section, before Limits: what "
                        "the tables cannot show, e.g. how close a comparison is to the noise")
    parser.add_argument(
        "--compare", action="append", default=[], metavar="LABEL=CHECKPOINT",
        help="also evaluate this checkpoint on the same held-out data, as a row of the model card's table",
    )
    args = parser.parse_args()

    shipped, bundled = ROOT / "checkpoints" / args.name, ROOT / "examples" / args.name
    pipeline = read_checkpoint(args.run / "final").pipeline
    by_class = pipeline == "cbn" or (pipeline == "cyclegan" and args.classifier is not None)
    size_mb = ship_atomically(shipped, bundled, lambda destination, examples: (
        ship_by_class if by_class else ship)(args, destination, examples))
    print(f"shipped {shipped} ({size_mb:.1f} MB)" + (f"; examples in {bundled}" if bundled.exists() else ""))
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def ship_atomically(shipped: Path, bundled: Path, build: Callable[[Path, Path], float]) -> float:
    """Run ``build(staged checkpoint, staged examples)`` in hidden staging folders and move them
    into place only when it returns (the model passed its bar), so a failed attempt, Ctrl-C or
    SIGTERM (the end of a session) leaves the shipped checkpoint and examples as they were and
    no staging folder behind. A build that bundles no examples removes the ones an earlier ship
    left, which belonged to another model. Returns what ``build`` returns."""
    destination, examples = atomic_folder(shipped), atomic_folder(bundled)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = build(destination, examples)
        commit_folder(destination, shipped)
        if any(examples.iterdir()):
            commit_folder(examples, bundled)
        else:  # generation models have no inputs to bundle; an earlier model's examples go too
            shutil.rmtree(examples)
            shutil.rmtree(bundled, ignore_errors=True)
    except BaseException:
        shutil.rmtree(destination, ignore_errors=True)
        shutil.rmtree(examples, ignore_errors=True)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    return result


def ship(args: argparse.Namespace, destination: Path, examples: Path) -> float:
    """Write the checkpoint into ``destination`` and the examples into ``examples``; the model's size in MB."""
    final = args.run / "final"
    info = read_checkpoint(final)
    compared = compared_checkpoints(args.compare)
    bar = shipping_bar(info.pipeline, info.raw["config"], [label for label, _ in compared])
    check_parent_compared(info, compared)
    pipe = load_pipeline(final)
    extra = shipped_entries(info, args)
    save_checkpoint(pipe, destination, dtype=torch.float16, extra=extra)

    a_is_input = info.metadata.get("direction", "AtoB") == "AtoB"
    if args.examples is None:
        args.examples = 8 if info.pipeline == "srgan" else 16
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
    for label, other in compared:
        rows[label] = evaluate_checkpoint(other, args.data).rows[MODEL_ROW]
    misses = [
        bar_miss(metric, baseline, rows[MODEL_ROW][metric], rows[baseline][metric], margin)
        for metric, baseline, margin in bar
        if not beats(rows, metric, baseline, margin)
    ]
    declared = accept_misses(misses, args.below_bar, f"the held-out split of {args.data}", destination)
    evaluation = {
        "bar": {"must_beat": [list(entry) for entry in bar]} | declared,
        "test": {k: v for k, v in report.to_dict().items() if k != "per_image"} | {"checkpoint": args.name},
        "examples": {"folder": f"examples/{args.name}", "images": examples_report.images,
                     "l1": examples_report.rows[MODEL_ROW]["l1"]},
        "fp16_min_psnr_db": round(agreement, 2),
    }
    (destination / "eval.json").write_text(json.dumps(evaluation, indent=2, allow_nan=False) + "\n")
    sample_grid(destination, examples, destination / "samples.png", compare=compared)

    training = info.raw.get("training", {})
    settings = training.get("settings", {})
    summary = training_summary(args.run)
    config = info.raw["config"]
    size_mb = (destination / "model.safetensors").stat().st_size / 1e6
    card = f"""# {args.name}

{extra["description"]}

{picture_lines(info.pipeline, args.compare)}

{below_bar_section(misses, args.below_bar)}## Use

```sh
{usage(args.name, info.pipeline, info.metadata)}
```

## Data

{args.source}

{training_data_line(training.get("data", {}))} from `{args.data}/train`; the held-out split
(`{args.data}/test`, {report.images} pairs) was never trained on. {args.examples} of the held-out pairs are
bundled in `examples/{args.name}/` for `make demo` and the tests.

## Training

- {networks_line(info.pipeline, config, info.raw.get("initialised_from"))}
- {training.get("step")} steps of batch {settings.get("batch_size")} (Adam {config["optim"]["lr_g"]:g}, linear decay over the
  last {100 * config["optim"]["decay_fraction"]:.0f}%), EMA {settings.get("ema_decay")} of the generator weights (shipped).
- {summary["hours"]:.2f} hours on a 2-core CPU in {training.get("precision")} ({"channels_last" if training.get("channels_last") else "contiguous"}),
  {summary["images_per_s"]:.1f} images/s.
{lineage_line(extra["shipped"]["lineage"])}- Weights: fp16 safetensors, {size_mb:.1f} MB; outputs within {agreement:.1f} dB PSNR (worst held-out image) of the fp32 weights.

Reproduce:

```sh
{args.recipe}
```

## Evaluation

`translate eval --checkpoint {args.name} --data {args.data}` on the {report.images} held-out pairs
(FID/KID: {(report.feature_extractor or {}).get("name", "Inception")} features; with so few images FID is
noisy: compare rows, and read KID with its spread). {baselines_note(info.pipeline)}{bar_line_note(misses)}{compare_note(args.compare)}

{markdown_table(rows, [m for m in CARD_METRICS if m in report.metrics])}

On the {examples_report.images} bundled examples the model's L1 is {examples_report.rows[MODEL_ROW]["l1"]:.4f}
(`tests/test_shipped.py` checks a fresh load reproduces it within 2%).

{notes_section(args.notes)}## Limits

{limits_line(config, pipe, args.limits)}
{pipeline_limits(info.pipeline, config)}"""
    (destination / "README.md").write_text(card)
    return size_mb


# ---------------------------------------------------------------------------------- cbn
CLASS_EXAMPLES = 6  # held-out images of each class bundled for translation models (aligned: the same emoji)
CBN_SAMPLES_PER_CLASS = 16  # seeded samples per class whose fidelity a generation card records


def class_fp16_agreement(fp32_folder: Path, fp16_folder: Path, data: Path) -> float:
    """Lowest PSNR (dB) between the fp32 and fp16 weights' outputs: eight seeded samples of each
    class (generation), or four held-out images of each class redrawn in every other class."""
    reference, shipped = class_model(load_pipeline(fp32_folder)), class_model(load_pipeline(fp16_folder))
    pairs = []
    for name in reference.classes:
        if reference.mode == "generation":
            pairs.append((reference.pipeline.sample(name, 8, seed=0), shipped.pipeline.sample(name, 8, seed=0)))
            continue
        paths = sorted((split_folder(data, train=False) / name).iterdir())[:4]
        images = torch.stack([load_image(path, channels=reference.channels).pixels for path in paths])
        for target in reference.classes:
            if target != name:
                pairs.append((reference.translate(images, target), shipped.translate(images, target)))
    return min(float(psnr(b, a).min()) for a, b in pairs)


def copy_class_examples(data: Path, classes: Sequence[str], destination: Path, count: int) -> bool:
    """Copy ``count`` held-out images of each class, spread over the sorted list, to ``destination/CLASS/``.

    Where the classes are aligned (the same names in every class folder: an emoji in each style),
    the same ``count`` names are taken in every class, so each example has its true drawing in
    the others. Returns whether they were.
    """
    held_out = split_folder(data, train=False)
    listed = {c: sorted(p.name for p in (held_out / c).iterdir() if p.is_file()) for c in classes}
    common = sorted(set.intersection(*(set(names) for names in listed.values())))
    aligned = len(common) >= count
    if not aligned:
        print(f"note: {held_out}: only {len(common)} names are in every class folder, {count} wanted; the examples "
              "are not aligned, so the card records no L1 to true drawings for them", file=sys.stderr)
    for name in classes:
        names = common if aligned else listed[name]
        if len(names) < count:
            raise SystemExit(f"{held_out / name}: only {len(names)} held-out images, {count} examples wanted")
        (destination / name).mkdir(parents=True)
        for file_name in (names[i * len(names) // count] for i in range(count)):
            shutil.copyfile(held_out / name / file_name, destination / name / file_name)
    return aligned


def cbn_table(reports: dict[str, ClassEvalReport], rows: list[tuple[str, str, str]], metrics: list[str]) -> str:
    """A markdown table: one line per (label, report key, row) with the mean over classes of ``metrics``."""
    names = {"fidelity": "fidelity ↑", "fid": "FID ↓", "kid": "KID×1000 ↓", "l1": "L1 ↓"}
    lines = ["| output | " + " | ".join(names[m] for m in metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    for label, key, row in rows:
        values = reports[key].scores[row][MEAN]
        cells = []
        for metric in metrics:
            value = values.get(metric)
            if value is None or value != value:
                cells.append("–")
            elif metric == "kid":
                cells.append(f"{1000 * value:.2f} ± {1000 * values.get('kid_std', 0.0):.2f}")
            elif metric == "fid":
                cells.append(f"{value:.1f}")
            else:
                cells.append(f"{value:.3f}" if metric == "fidelity" else f"{value:.4f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_class_table(report: ClassEvalReport, model_row: str = CLASS_MODEL_ROW) -> str:
    """Per class: the model's fidelity, FID and KID beside the real training images' FID and KID (the floor)."""
    lines = [
        "| class | fidelity ↑ | FID ↓ | KID×1000 ↓ | floor FID | floor KID×1000 | ceiling fidelity |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in report.classes:
        model, floor = report.scores[model_row][name], report.scores[REAL_TRAINING_ROW][name]
        ceiling = report.scores[REAL_HELD_OUT_ROW][name]
        lines.append(
            f"| {name} | {model['fidelity']:.3f} | {model['fid']:.1f} | {1000 * model['kid']:.2f} ± {1000 * model['kid_std']:.2f} "
            f"| {floor['fid']:.1f} | {1000 * floor['kid']:.2f} | {ceiling['fidelity']:.3f} |"
        )
    return "\n".join(lines)


def cbn_networks_line(config: dict) -> str:
    d, loss = config["discriminator"], config["loss"]
    size = config["data"]["image_size"]
    disc = f"projection discriminator ndf {d['ndf']}{' with spectral norm' if d['spectral_norm'] else ''}"
    if config["mode"] == "generation":
        g = config["noise_generator"]
        return (f"cbn generation, {size}×{size}: BigGAN-style generator from a {g['z_dim']}-d z (ngf {g['ngf']}, "
                f"class-conditional batch norm in every block), {disc}, {loss['gan']} loss.")
    g = config["generator"]
    paired = f" + paired L1 {loss['paired_weight']:g}" if loss["paired_weight"] else ""
    return (f"cbn translation, {size}×{size}: ResNet generator ngf {g['ngf']}, {g['n_blocks']} residual block(s) with class-conditional "
            f"batch norm, {disc}, {loss['gan']} loss + cycle {loss['reconstruction_weight']:g}{paired}.")


def cbn_usage(name: str, pipe: ClassConditional) -> str:
    first, second = pipe.class_names[0], pipe.class_names[1]
    if pipe.mode == "generation":
        return (
            f"translate sample --checkpoint {name} --class {first} --n 64 --seed 0 OUTPUT_FOLDER\n"
            f"translate sample --checkpoint {name} --class {first} --truncation 0.7 OUTPUT_FOLDER   # more typical\n"
            f"translate sample --checkpoint {name} --class \"{first}:0.5,{second}:0.5\" OUTPUT_FOLDER   # a blend\n"
            f"# fine-tune on your own classes (YOUR_DATA/train/CLASS/*):\n"
            f"translate train cbn --data YOUR_DATA --out runs/mine --init {name} --steps 2000 "
            f"--set mode=generation --set classes={','.join(pipe.class_names)}"
        )
    return (
        f"translate convert --checkpoint {name} --class {second} INPUT_FOLDER OUTPUT_FOLDER\n"
        f"translate convert --checkpoint {name} --class \"{first}:0.5,{second}:0.5\" INPUT_FOLDER OUTPUT_FOLDER   # a blend\n"
        f"# fine-tune on your own classes (YOUR_DATA/train/CLASS/*):\n"
        f"translate train cbn --data YOUR_DATA --out runs/mine --init {name} --steps 2000 "
        f"--set classes={','.join(pipe.class_names)}"
    )


def ship_by_class(args: argparse.Namespace, destination: Path, examples: Path) -> float:
    """Ship a run scored by class (cbn, or CycleGAN with its domains as the classes): fp16 weights,
    its classifier, class scores, grids and the model card; its size in MB."""
    final = args.run / "final"
    info = read_checkpoint(final)
    if args.classifier is None:
        raise SystemExit(f"a {info.pipeline} checkpoint is scored by an independent classifier: pass --classifier FOLDER")
    pipe = load_pipeline(final)
    model = class_model(pipe)
    extra = shipped_entries(info, args)
    save_checkpoint(pipe, destination, dtype=torch.float16, extra=extra)
    shutil.copytree(args.classifier, destination / "classifier")
    classifier = load_classifier(destination / "classifier")
    agreement = class_fp16_agreement(final, destination, args.data)
    if agreement < FP16_MIN_PSNR:
        raise SystemExit(f"fp16 weights drift: {agreement:.1f} dB < {FP16_MIN_PSNR} dB from the fp32 outputs")
    shipped = load_pipeline(destination)
    translation = model.mode == "translation"

    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    reports = {"plain": evaluate_classes(destination, args.data, classifier, on_progress=say)}
    if not translation:
        reports["t0.7"] = evaluate_classes(destination, args.data, classifier, truncation=0.7, on_progress=say)
    for key, report in reports.items():
        # Scored in the staging folder with the classifier object: record the names they ship under.
        report.checkpoint, report.classifier = args.name, f"checkpoints/{args.name}/classifier"
        print(report.table())
        report.write_json(destination / f"class_eval{'' if key == 'plain' else '_' + key}.json")
    plain = reports["plain"].scores
    mean = {row: plain[row][MEAN] for row in plain}
    ceiling = mean[REAL_HELD_OUT_ROW]["fidelity"]
    misses = []
    if mean[CLASS_MODEL_ROW]["fidelity"] < CBN_FIDELITY_SHARE * ceiling:
        misses.append(bar_miss("fidelity", f"{CBN_FIDELITY_SHARE:g} × ceiling", mean[CLASS_MODEL_ROW]["fidelity"],
                               CBN_FIDELITY_SHARE * ceiling))
    identity_metrics = [metric for metric in ("kid", "l1") if translation and metric in mean[CLASS_MODEL_ROW]]
    for metric in identity_metrics:
        model_value, identity = mean[CLASS_MODEL_ROW][metric], mean[IDENTITY_ROW][metric]
        if not model_value < identity:
            misses.append(bar_miss(metric, IDENTITY_ROW, model_value, identity))
    declared = accept_misses(misses, args.below_bar, f"the held-out images of {args.data} (means over classes)", destination)

    if translation:
        write_class_grid(shipped, destination / "samples.png", columns=8, data=args.data)
        aligned = copy_class_examples(args.data, model.classes, examples, CLASS_EXAMPLES)
        examples_record = {"folder": f"examples/{args.name}", "per_class": CLASS_EXAMPLES}
        examples_record |= examples_scores(shipped, examples, classifier)
    else:
        write_class_grid(shipped, destination / "samples.png", columns=8)
        write_class_grid(shipped, destination / "samples_t0.7.png", columns=8, truncation=0.7)
        examples_record = {"per_class": CBN_SAMPLES_PER_CLASS, "seed": 0,
                           "fidelity": sample_fidelity(shipped, classifier, CBN_SAMPLES_PER_CLASS, seed=0)}
    evaluation = {
        "bar": {"fidelity_share_of_ceiling": CBN_FIDELITY_SHARE, "must_beat_identity": identity_metrics} | declared,
        "means": mean,
        "examples": examples_record,
        "fp16_min_psnr_db": round(agreement, 2),
    }
    (destination / "eval.json").write_text(json.dumps(evaluation, indent=2, allow_nan=False) + "\n")

    training = info.raw.get("training", {})
    settings = training.get("settings", {})
    summary = training_summary(args.run)
    config = info.raw["config"]
    size_mb = (destination / "model.safetensors").stat().st_size / 1e6
    classes = ", ".join(model.classes)
    cyclegan = info.pipeline == "cyclegan"
    if not translation:
        picture = ("![a row per class, a column per seed](samples.png)\n\n*A row per class ({classes}), a column per "
                   "noise seed (0–7, the same noise down each column). With truncation 0.7: "
                   "[samples_t0.7.png](samples_t0.7.png).*").format(classes=classes)
        rows = [("model", "plain", CLASS_MODEL_ROW), ("model, truncation 0.7", "t0.7", CLASS_MODEL_ROW),
                ("real held-out images (ceiling)", "plain", REAL_HELD_OUT_ROW),
                ("real training images (floor)", "plain", REAL_TRAINING_ROW)]
        metrics = ["fidelity", "fid", "kid"]
        produced = "as many samples of each class as it has held-out real images (seeds 0, 1, …)"
        examples_line = (f"{CBN_SAMPLES_PER_CLASS} samples per class from seeds 0–{CBN_SAMPLES_PER_CLASS - 1} reach a mean "
                         f"fidelity of {examples_record['fidelity']:.3f}")
    else:
        if cyclegan:
            picture = ("![input, translation, round trip](samples.png)\n\n*Held-out images (never trained on), from "
                       f"each domain in turn ({classes}): the input, its translation into the other domain, and the "
                       "round trip back.*")
        else:
            picture = ("![input, then each class](samples.png)\n\n*Held-out images (never trained on): the input, then "
                       f"its translation into each class ({classes}).*")
        rows = [("model", "plain", CLASS_MODEL_ROW), ("identity (input unchanged)", "plain", IDENTITY_ROW),
                ("real held-out images (ceiling)", "plain", REAL_HELD_OUT_ROW),
                ("real training images (floor)", "plain", REAL_TRAINING_ROW)]
        metrics = ["fidelity", "fid", "kid"] + (["l1"] if "l1" in mean[CLASS_MODEL_ROW] else [])
        produced = f"every held-out image of the other {'domain' if cyclegan else 'classes'} translated into the class"
        examples_line = (
            f"the {CLASS_EXAMPLES} bundled held-out images of each class (`examples/{args.name}/CLASS/`), translated "
            f"into every other class, reach a fidelity of {examples_record['fidelity']:.3f} and change their input by "
            f"a mean L1 of {examples_record['change']:.4f}"
            + (f"; their L1 to the true drawings is {examples_record['l1']:.4f}" if aligned and "l1" in examples_record else "")
        )
    if cyclegan:
        usage_lines = usage(args.name, "cyclegan", info.metadata, folders_named_by_domain=True)
        networks = networks_line("cyclegan", config, info.raw.get("initialised_from"))
        optimiser = (f"Adam {config['optim']['lr_g']:g}, linear decay over the last "
                     f"{100 * config['optim']['decay_fraction']:.0f}%")
    else:
        usage_lines = cbn_usage(args.name, pipe)  # type: ignore[arg-type]
        networks = cbn_networks_line(config)
        optimiser = f"Adam {config['optim']['lr_g']:g} / {config['optim']['lr_d']:g}, β1 {config['optim']['beta1']:g}"
    if cyclegan:
        data_line = (f"Domains: {classes}, the folders of those names. {training_data_line(training.get('data', {}), model.classes)} "
                     f"from `{args.data}/train`; `{args.data}/test` was never trained on.")
    else:
        data_line = f"Classes: {classes}. Trained on `{args.data}/train` only; `{args.data}/test` was never trained on."
    bar_line = f"mean fidelity at least {CBN_FIDELITY_SHARE:g} × the ceiling"
    if identity_metrics:
        bar_line += f"; mean {' and '.join(m.upper() for m in identity_metrics)} below the identity's"
    card = f"""# {args.name}

{extra["description"]}

{picture}

{below_bar_section(misses, args.below_bar)}## Use

```sh
{usage_lines}
```

## Data

{args.source}

{data_line}

## Training

- {networks}
- {training.get("step")} steps of batch {settings.get("batch_size")} ({optimiser}), EMA {settings.get("ema_decay")} of the
  generator weights (shipped).
- {summary["hours"]:.2f} hours on a 2-core CPU in {training.get("precision")} ({"channels_last" if training.get("channels_last") else "contiguous"}),
  {summary["images_per_s"]:.1f} images/s.
{lineage_line(extra["shipped"]["lineage"])}- Weights: fp16 safetensors, {size_mb:.1f} MB; outputs within {agreement:.1f} dB PSNR (worst check) of the fp32 weights.

Reproduce:

```sh
{args.recipe}
```

## Evaluation

`translate eval --checkpoint {args.name} --data {args.data} --classifier checkpoints/{args.name}/classifier`
scores {produced}:

- **class fidelity**: the share of outputs that an independent classifier assigns to the requested
  class. The classifier (`classifier/`, a small CNN from `scripts/train_classifier.py`) was trained on
  the real training images only, never on generated ones; its accuracy on the held-out real images is
  the **ceiling** ({ceiling:.3f}).
- **per-class FID and KID** against the held-out real images of the class, averaged over classes
  (Inception features). With about a hundred images per class FID is biased upwards: compare rows and
  read KID. The **floor** is real training images of the class scored the same way.

{cbn_table(reports, rows, metrics)}

Per class (model{"" if translation else " without truncation"}):

{per_class_table(reports["plain"])}

Shipping bar: {bar_line}{bar_line_note(misses)}.
On the bundled checks {examples_line} (`tests/test_shipped.py` checks a fresh load reproduces it).

## Limits

Trained at {config["data"]["image_size"]}×{config["data"]["image_size"]} on {args.limits or CBN_LIMITS}
{pipeline_limits(info.pipeline, config)}"""
    (destination / "README.md").write_text(card)
    return size_mb


if __name__ == "__main__":
    sys.exit(main())

"""The ``translate`` command: train, convert, data, eval, checkpoints.

Exit status: 0 success; 1 some inputs failed (convert); 2 usage or data errors, with a message
that names the file or key and what is wrong; 128 + signal number when a training was stopped
by SIGINT/SIGTERM (its checkpoint is saved).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from translate.config import ConfigError, apply_overrides, describe, from_dict, to_dict


if TYPE_CHECKING:
    from translate.distributed import DistributedContext
    from translate.pipelines import Pipeline
    from translate.train import TrainConfig


class UsageError(Exception):
    """Wrong command-line input; printed without a traceback, exit status 2."""


def _user_errors() -> tuple[type[BaseException], ...]:
    # Only light modules here: this runs while an error is being handled. The evaluation and
    # metric errors are ValueErrors, which main() reports the same way.
    from translate.checkpoint import CheckpointError
    from translate.data import DatasetError
    from translate.imageio import ImageReadError
    from translate.infer import ConvertError

    return (UsageError, ConfigError, CheckpointError, DatasetError, ImageReadError, ConvertError)


# ---------------------------------------------------------------------------------- train
_TRAIN_FLAGS = {
    # flag: (TrainConfig field, type, help)
    "--steps": ("steps", int, "total steps of the run; with --resume, continue up to this step"),
    "--batch-size": ("batch_size", int, "images per step"),
    "--seed": ("seed", int, "random seed"),
    "--precision": ("precision", str, "auto, fp32, bf16 (auto = the fastest the hardware supports, timed)"),
    "--memory-format": ("memory_format", str, "auto, channels_last, contiguous (auto = the fastest, timed)"),
    "--device": ("device", str, "auto, cpu, cuda, cuda:N"),
    "--workers": ("workers", int, "data-loading worker processes"),
    "--log-every": ("log_every", int, "steps between log rows"),
    "--sample-every": ("sample_every", int, "steps between sample grids"),
    "--checkpoint-every": ("checkpoint_every", int, "steps between checkpoints"),
    "--checkpoint-minutes": ("checkpoint_minutes", float, "also checkpoint after this many minutes"),
    "--val-every": ("val_every", int, "steps between held-out validations (0 = off)"),
    "--ema-decay": ("ema_decay", float, "EMA of inference weights (0 = off)"),
    "--stop-after": ("stop_after", int, "stop with a checkpoint after this many steps in this run"),
}


def _train_parser(pipeline: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"translate train {pipeline or 'PIPELINE'}",
        description="Train a pipeline. Config keys (see below) are changed with --set key=value.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    parser.add_argument("-h", "--help", action="store_true", help="show this help and every config key")
    parser.add_argument("--data", type=Path, help="training data folder")
    parser.add_argument("--val-data", type=Path, help="held-out data folder (default: DATA/test or DATA/val)")
    parser.add_argument("--out", type=Path, help="run folder: checkpoints, samples, logs")
    parser.add_argument("--image-size", type=int, help="training crop size (sets data.image_size)")
    parser.add_argument("--direction", choices=["AtoB", "BtoA"], help="pix2pix: which side is the input")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    parser.add_argument("--init", metavar="CHECKPOINT", help="fine-tune from a checkpoint (folder or shipped name)")
    parser.add_argument("--description", help="one line on what the model does, kept in config.json")
    parser.add_argument("--no-channels-last", action="store_true", help="same as --memory-format contiguous")
    parser.add_argument("--sync-batchnorm", action="store_true", help="under torchrun: batch norm over all ranks (GPUs)")
    for flag, (_, kind, text) in _TRAIN_FLAGS.items():
        parser.add_argument(flag, type=kind, help=text)
    return parser


def _config_help(pipeline: str) -> str:
    from translate.pipelines import get_pipeline_class

    cls = get_pipeline_class(pipeline)
    rows = describe(cls.config_class)
    width = max(len(r.key) for r in rows)
    lines = [f"config keys of {pipeline} (--set KEY=VALUE):"]
    for row in rows:
        default = json.dumps(row.default) if not isinstance(row.default, tuple) else ",".join(map(str, row.default))
        lines.append(f"  {row.key:<{width}}  {row.type_name:<10} default {default:<12} {row.help}")
    return "\n".join(lines)


def cmd_train(argv: Sequence[str]) -> int:
    from translate.checkpoint import read_checkpoint
    from translate.pipelines import get_pipeline_class, pipeline_names
    from translate.train import RUN_FILE, TrainConfig, newest_checkpoint

    pipeline_name = argv[0] if argv and not argv[0].startswith("-") else None
    parser = _train_parser(pipeline_name)
    args = parser.parse_args(argv[1:] if pipeline_name else argv)
    if args.help or pipeline_name is None:
        parser.print_help()
        if pipeline_name is not None:
            print()
            print(_config_help(pipeline_name))
        else:
            print(f"\npipelines: {', '.join(pipeline_names())}")
        return 0 if args.help else 2
    cls = get_pipeline_class(pipeline_name)
    if args.out is None:
        raise UsageError("--out RUN_DIR is required")

    run_file = args.out / RUN_FILE
    resume_from = None
    if args.resume:
        if not run_file.is_file():
            raise UsageError(f"{args.out}: nothing to resume (no {RUN_FILE}); drop --resume to start a run")
        if args.init:
            raise UsageError("--resume and --init cannot be combined")
        run = json.loads(run_file.read_text())
        if run["pipeline"] != pipeline_name:
            raise UsageError(f"{args.out} is a {run['pipeline']} run, not {pipeline_name}")
        config = from_dict(cls.config_class, run["config"], where=str(run_file))
        train_config = from_dict(TrainConfig, run["train"], where=str(run_file))
        data_root = args.data or Path(run["data"])
        # What the run was started with (runs written before run.json kept it have none).
        checkpoint_entries = dict(run.get("checkpoint_entries", {}))
        if args.description:
            checkpoint_entries["description"] = args.description
        resume_from = newest_checkpoint(args.out)
        if resume_from is None:
            print(f"warning: {args.out} has no complete checkpoint yet; starting from step 0", file=sys.stderr)
    else:
        if run_file.exists() and newest_checkpoint(args.out) is not None:
            raise UsageError(f"{args.out} already holds a run; pass --resume to continue it or choose another --out")
        if args.data is None:
            raise UsageError("--data DIR is required")
        data_root = args.data
        train_config = TrainConfig()
        checkpoint_entries = {"description": args.description} if args.description else {}
        if args.init:
            checkpoint_entries["initialised_from"] = str(args.init)
            info = read_checkpoint(args.init)
            if info.pipeline != pipeline_name:
                raise UsageError(f"--init {args.init} is a {info.pipeline} checkpoint, not {pipeline_name}")
            # Made concrete at the checkpoint's own image size (older checkpoints saved 0 = automatic),
            # so --image-size changes the crops, not the networks the weights fit.
            config = cls.concrete_config(info.config)
        else:
            config = cls.config_class()
    if args.image_size is not None:
        config = apply_overrides(config, [f"data.image_size={args.image_size}"])
    if args.direction is not None:
        config = apply_overrides(config, [f"direction={args.direction}"])
    config = apply_overrides(config, args.overrides)
    given = {field: getattr(args, flag[2:].replace("-", "_")) for flag, (field, _, _) in _TRAIN_FLAGS.items()}
    train_config = replace(train_config, **{k: v for k, v in given.items() if v is not None})
    if args.no_channels_last:
        train_config = replace(train_config, memory_format="contiguous")
    if args.sync_batchnorm:
        train_config = replace(train_config, sync_batchnorm=True)
    train_config = from_dict(TrainConfig, to_dict(train_config), where="training settings")  # validates choices

    if not data_root.is_dir():
        raise UsageError(f"{data_root}: no such data folder")
    import torch

    from translate.distributed import init_distributed, shutdown_distributed
    from translate.runtime import resolve_device

    distributed = init_distributed(resolve_device(train_config.device))
    try:
        return _run_training(
            args, pipeline_name, cls, config, train_config, data_root, resume_from, checkpoint_entries, distributed
        )
    finally:
        shutdown_distributed()


def _run_training(
    args: argparse.Namespace,
    pipeline_name: str,
    cls: type[Pipeline],
    config: Any,
    train_config: TrainConfig,
    data_root: Path,
    resume_from: Path | None,
    checkpoint_entries: dict[str, Any],
    distributed: DistributedContext,
) -> int:
    import torch

    from translate.checkpoint import load_module_weights, read_checkpoint, read_weights
    from translate.data import split_folder
    from translate.train import Trainer, write_run_file

    main = distributed.is_main

    torch.manual_seed(train_config.seed)
    pipeline = cls(config)  # the same initial weights on every rank
    if distributed.rank > 0:
        torch.manual_seed(train_config.seed + 1_000_003 * distributed.rank)  # but each its own dropout
    if args.init:
        info = read_checkpoint(args.init)
        load_module_weights(pipeline.inference_modules(), read_weights(info.path), info.path)
        if main:
            print(f"fine-tuning from {info.path}", file=sys.stderr)
    dataset = pipeline.build_dataset(data_root, train=True)
    val_dataset = None
    if train_config.val_every:
        val_root = args.val_data
        held_out_inside = split_folder(data_root, train=False) != data_root or any(
            (data_root / f"{split}A").is_dir() for split in ("test", "val")  # CycleGAN's testA/testB
        )
        if val_root is None and held_out_inside:
            val_root = data_root
        if val_root is None:
            raise UsageError("--val-every needs --val-data DIR (or DATA/test, DATA/val, or DATA/testA + testB)")
        val_dataset = pipeline.build_dataset(val_root, train=False)
    if main:
        write_run_file(args.out, pipeline, train_config, str(data_root), checkpoint_entries)
    trainer = Trainer(pipeline, dataset, args.out, train_config, val_dataset, checkpoint_entries, distributed)
    if main:
        ranks = f", {distributed.world_size} ranks" if distributed.enabled else ""
        print(
            f"training {pipeline_name} on {len(dataset)} samples from "
            f"{dataset.root if hasattr(dataset, 'root') else data_root} into {args.out} (on {trainer.device}{ranks})",
            file=sys.stderr,
        )
    result = trainer.fit(resume_from)
    if not main:
        return 128 + result.interrupted_by if result.interrupted_by is not None else 0
    if result.interrupted_by is not None:
        print(f"stopped at step {result.step}; checkpoint saved. Continue with --resume.", file=sys.stderr)
        return 128 + result.interrupted_by
    if result.final_checkpoint is not None:
        print(f"done: step {result.step}; model in {result.final_checkpoint}", file=sys.stderr)
    else:
        print(f"paused at step {result.step} of {train_config.steps}; continue with --resume", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------- convert
# Pipeline options of `convert`: flag -> (the option name the pipeline takes, type, help). A
# pipeline with a new inference option adds one row; the pipeline itself validates the values.
CONVERT_OPTION_FLAGS: dict[str, tuple[str, type, str]] = {
    "--direction": ("direction", str, "cyclegan: which generator, e.g. a2b or b2a"),
    "--class": ("class_name", str, "cbn: the target class, or a blend 'a:0.5,b:0.5'"),
    "--outscale": ("outscale", float, "srgan: final size as a factor of the input"),
}


def _pipeline_options(args: argparse.Namespace) -> dict[str, Any]:
    """The pipeline options given on the command line (see CONVERT_OPTION_FLAGS), by option name."""
    given = {name: getattr(args, f"option_{name}") for name, _, _ in CONVERT_OPTION_FLAGS.values()}
    return {name: value for name, value in given.items() if value is not None}


def _convert_parser() -> argparse.ArgumentParser:
    from translate.infer import COLLISION_RULE, MIN_PSNR_DB

    parser = argparse.ArgumentParser(
        prog="translate convert",
        description="Convert an image file, a folder (walked recursively, its tree mirrored) or a glob.",
        epilog=(
            f"Outputs keep each input's relative path and stem. {COLLISION_RULE} "
            "Every output is written under a temporary name and renamed; outputs that exist are "
            "skipped (resume) unless --overwrite. Exit status: 0 all converted, 1 some files failed "
            "(each named on stderr, the others converted), 2 usage error."
        ),
    )
    parser.add_argument("input", help="an image file, a folder, or a quoted glob such as 'photos/**/*.jpg'")
    parser.add_argument("output", type=Path, help="output folder (or output file for a single input file)")
    parser.add_argument("--checkpoint", required=True, help="checkpoint folder or shipped name")
    parser.add_argument("--format", help="png, jpg, webp, bmp, tif (default: each input's own)")
    parser.add_argument("--batch-size", type=int, default=4, help="same-size images per forward pass")
    parser.add_argument("--tile", type=int, help="process every image in tiles of this side (bounded memory)")
    parser.add_argument("--tile-overlap", type=int, default=32, help="pixels shared by neighbouring tiles")
    parser.add_argument("--max-pixels", type=int, help="process images with more pixels than this in tiles")
    parser.add_argument(
        "--image-pixel-limit", type=int,
        help="refuse files declaring more pixels, as decompression bombs (default: Pillow's, about 89 million)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that already exist")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument(
        "--precision", default="auto",
        help=f"auto, fp32, bf16, fp16 (auto: bf16 where the hardware runs it natively, checked on the first "
        f"image to stay within {MIN_PSNR_DB:.0f} dB PSNR of fp32, else fp32)",
    )
    parser.add_argument("--workers", type=int, default=2, help="threads decoding and encoding beside the network")
    parser.add_argument(
        "--backend", default="torch", choices=("torch", "onnxruntime"),
        help="torch, or onnxruntime: the network exported once to ONNX (cached under ~/.cache/translate/onnx, "
        "or $TRANSLATE_CACHE/onnx) and run by ONNX Runtime on the CPU in fp32",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar (it is off anyway when not a terminal)")
    for flag, (name, kind, text) in CONVERT_OPTION_FLAGS.items():
        parser.add_argument(flag, dest=f"option_{name}", type=kind, metavar=name.split("_")[0].upper(), help=text)
    return parser


def cmd_convert(argv: Sequence[str]) -> int:
    import signal

    from PIL import Image
    from tqdm import tqdm

    from translate.checkpoint import load_pipeline, read_checkpoint
    from translate.distributed import gather_objects, init_distributed, local_device, shutdown_distributed
    from translate.infer import (
        ConvertSettings,
        ConvertSummary,
        check_pipeline_options,
        check_resume,
        conversion_record,
        convert_files,
        plan_outputs,
        shard_plan,
        write_conversion_record,
    )
    from translate.runtime import resolve_device

    args = _convert_parser().parse_args(argv)
    options = _pipeline_options(args)
    settings = ConvertSettings(
        batch_size=args.batch_size,
        workers=args.workers,
        tile=args.tile,
        tile_overlap=args.tile_overlap,
        max_pixels=args.max_pixels,
        image_pixel_limit=args.image_pixel_limit,
        overwrite=args.overwrite,
        check_precision=args.precision == "auto",
    )
    info = read_checkpoint(args.checkpoint)  # a missing or damaged checkpoint is named before the inputs
    plan = plan_outputs(args.input, args.output, args.format)
    record = conversion_record(info, options)
    device = resolve_device(args.device)
    onnxruntime = args.backend == "onnxruntime"
    if onnxruntime:
        if device.type != "cpu":
            raise UsageError(f"--backend onnxruntime runs on the CPU; --device {args.device} resolved to {device}")
        if args.precision not in ("auto", "fp32"):
            raise UsageError(f"--backend onnxruntime runs in fp32; --precision {args.precision} needs --backend torch")
    distributed = init_distributed(device)
    interrupted_by: list[int] = []

    def stop(signum: int, frame: object) -> None:
        # Unwind like Ctrl-C: saves in flight finish, queued work is dropped, nothing half-written.
        interrupted_by.append(signum)
        raise KeyboardInterrupt

    previous_handler = signal.signal(signal.SIGTERM, stop)
    previous_pixel_limit = Image.MAX_IMAGE_PIXELS
    if args.image_pixel_limit is not None:
        # Pillow checks its own process-wide limit too (again while decoding TIFF, GIF, ICO...):
        # the command's limit is the one, above Pillow's default as well as below it.
        Image.MAX_IMAGE_PIXELS = args.image_pixel_limit
    try:
        if onnxruntime:
            from translate.onnx_backend import attach_onnx_runtime

            pipeline = load_pipeline(args.checkpoint, device="cpu", precision="fp32", channels_last=False)
            check_pipeline_options(pipeline, options)
            attach_onnx_runtime(pipeline, options, say=lambda line: print(line, file=sys.stderr))
        else:
            pipeline = load_pipeline(args.checkpoint, device=local_device(device, distributed), precision=args.precision)
            check_pipeline_options(pipeline, options)
        # After the options are known good: a misspelt one is named as such, not as another conversion.
        recorded = check_resume(args.output, plan, record, args.overwrite)
        mine = shard_plan(plan, distributed.rank, distributed.world_size)
        if distributed.is_main and recorded is None:
            write_conversion_record(args.output, plan, record)
        show = distributed.is_main and not args.quiet
        if show:
            ranks = f" on {distributed.world_size} ranks" if distributed.enabled else ""
            print(
                f"converting {len(plan)} files with {pipeline.name} ({args.checkpoint}) on {pipeline.device}, "
                f"{pipeline.precision}{', ONNX Runtime' if onnxruntime else ''}{ranks} -> {args.output}",
                file=sys.stderr,
            )
        with tqdm(total=len(mine), unit="img", disable=None if show else True, file=sys.stderr) as bar:
            summary = convert_files(
                pipeline, mine, settings, options, on_progress=bar.update,
                report=lambda line: tqdm.write(line, file=sys.stderr),
            )
        summary = ConvertSummary.combine(gather_objects(summary, distributed))  # type: ignore[arg-type]
    except KeyboardInterrupt:
        signum = interrupted_by[0] if interrupted_by else signal.SIGINT
        print("interrupted: finished files are kept; run the same command again to convert the rest", file=sys.stderr)
        return 128 + signum
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        Image.MAX_IMAGE_PIXELS = previous_pixel_limit
        shutdown_distributed()
    if distributed.is_main:
        if recorded is not None and recorded != record:  # --overwrite, run to the end: the folder is this run's now
            write_conversion_record(args.output, plan, record)
        print(f"{summary.line()} -> {args.output}", file=sys.stderr)
    return 1 if summary.failed else 0


# ---------------------------------------------------------------------------------- export, import
def cmd_export(argv: Sequence[str]) -> int:
    from translate.export import EXPORT_FORMATS, export_checkpoint

    parser = argparse.ArgumentParser(
        prog="translate export",
        description="Export a checkpoint's network step (fp32; images [N, C, H, W] in [0, 1], batch, height and "
        "width dynamic, height and width multiples of the size_multiple recorded in the file).",
    )
    parser.add_argument("out", type=Path, help="the file to write (.onnx or .pt2)")
    parser.add_argument("--checkpoint", required=True, help="checkpoint folder or shipped name")
    parser.add_argument("--format", required=True, choices=EXPORT_FORMATS, help="onnx (ONNX Runtime...) or pt2 (torch.export)")
    parser.add_argument("--opset", type=int, help="ONNX opset version (default: the exporter's)")
    for flag, (name, kind, text) in CONVERT_OPTION_FLAGS.items():
        parser.add_argument(
            flag, dest=f"option_{name}", type=kind, metavar=name.split("_")[0].upper(), help=text + " (fixed in the graph)"
        )
    args = parser.parse_args(argv)
    options = _pipeline_options(args)
    print(f"wrote {export_checkpoint(args.checkpoint, args.out, args.format, options, args.opset)}", file=sys.stderr)
    return 0


def cmd_import(argv: Sequence[str]) -> int:
    from translate.importers import IMPORTERS, import_weights

    parser = argparse.ArgumentParser(
        prog="translate import",
        description="Turn another project's generator weights into a checkpoint folder. The architecture is read "
        "from the file; --set changes the rest of the config. Files are loaded with weights_only=True.",
    )
    parser.add_argument("file", type=Path, help="the weights file (.pth, .pt or .safetensors)")
    parser.add_argument(
        "--from", dest="source", required=True, choices=list(IMPORTERS),
        help="cyclegan-pix2pix: latest_net_G*.pth of pytorch-CycleGAN-and-pix2pix (becomes pix2pix); "
        "esrgan: ESRGAN / Real-ESRGAN RRDB weights (becomes srgan)",
    )
    parser.add_argument("--out", type=Path, required=True, help="the checkpoint folder to write")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config changes, e.g. data.image_size=512 (see translate train PIPELINE --help)")
    parser.add_argument("--description", help="one line on what the model does, kept in config.json")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    args = parser.parse_args(argv)
    pipeline = import_weights(args.source, args.file, args.out, args.overrides, args.description, args.overwrite)
    print(f"wrote {args.out} ({pipeline.name}); try: translate convert --checkpoint {args.out} IN OUT", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------- checkpoints
def cmd_checkpoints(argv: Sequence[str]) -> int:
    from translate.checkpoint import read_checkpoint, shipped_checkpoints

    parser = argparse.ArgumentParser(prog="translate checkpoints", description="List the shipped checkpoints.")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    rows = []
    for name, path in shipped_checkpoints().items():
        info = read_checkpoint(path)
        rows.append(
            {
                "name": name,
                "pipeline": info.pipeline,
                "description": info.raw.get("description", ""),
                "path": str(path),
                # Misses of the project's shipping bar it was shipped with (scripts/ship_checkpoint.py --below-bar).
                "below_bar": info.below_bar,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("no shipped checkpoints installed")
    else:
        width = max(len(r["name"]) for r in rows)
        for row in rows:
            print(f"{row['name']:<{width}}  {row['pipeline']:<8}  {row['description']}")
            for miss in row["below_bar"]:
                print(f"{'':<{width}}  {'':<8}  below its shipping bar: {miss}")
    return 0


# ---------------------------------------------------------------------------------- data
def cmd_data(argv: Sequence[str]) -> int:
    # The builders' options live beside them; errors they raise are DatasetErrors (exit 2).
    from translate.datasets.command import run_data_command

    return run_data_command(argv)


# ---------------------------------------------------------------------------------- eval
_EVAL_EPILOG = """\
A cbn (class-conditional) checkpoint is scored as by `translate eval-classes` (class fidelity
with an independent classifier, per-class FID/KID): pass its options, --classifier among them.
So is a cyclegan checkpoint given --classifier: its two domains are the classes (folders named
after them in --data, e.g. test/horse and test/zebra), which scores unpaired translation where
no true output exists.

LPIPS (--metrics ... lpips; never a default) runs the lpips package on torchvision's ImageNet
AlexNet (--lpips-net vgg: VGG16), read from the torch hub cache and never downloaded by eval:
  ~/.cache/torch/hub/checkpoints/alexnet-owt-7be5be79.pth   (vgg: vgg16-397923af.pth)
  ($TORCH_HOME/hub/checkpoints/ when TORCH_HOME is set). Fetch it once with
  python -c "import torchvision; torchvision.models.alexnet(weights='IMAGENET1K_V1')"
  or copy https://download.pytorch.org/models/alexnet-owt-7be5be79.pth there by hand.
Without it, asking for lpips is an error naming the missing file.

--report DIR writes DIR/index.html (input | output | target thumbnails, per-image scores of the
model and the baselines, worst first), DIR/images/ and DIR/eval.json.
"""


def _scored_by_class(argv: Sequence[str]) -> bool:
    """Whether ``argv`` asks for class scores: a cbn ``--checkpoint``, or a cyclegan one with ``--classifier``."""
    from translate.checkpoint import read_checkpoint

    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument("--checkpoint")
    peek.add_argument("--classifier")
    known, _ = peek.parse_known_args(argv)
    if not known.checkpoint:
        return False
    pipeline = read_checkpoint(known.checkpoint).pipeline
    return pipeline == "cbn" or (pipeline == "cyclegan" and known.classifier is not None)


def cmd_eval(argv: Sequence[str]) -> int:
    from contextlib import nullcontext

    from tqdm import tqdm

    if "-h" not in argv and "--help" not in argv and _scored_by_class(argv):
        # Class-conditional models (and CycleGANs judged by a classifier) are scored by class
        # fidelity and per-class FID/KID.
        return cmd_eval_classes(argv)

    from translate.evaluate import METRIC_NAMES, PER_IMAGE_METRICS, evaluate_checkpoint
    from translate.metrics import LPIPS_NETS
    from translate.report import HtmlReport

    parser = argparse.ArgumentParser(
        prog="translate eval",
        description="Score a checkpoint on test pairs beside baselines (identity; nearest-neighbour or bicubic).",
        epilog=_EVAL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--checkpoint", required=True, help="checkpoint folder or shipped name")
    parser.add_argument("--data", type=Path, required=True, help="test folder (DIR/test is used when present)")
    parser.add_argument(
        "--train-data", type=Path, help="training pairs for the nearest-neighbour baseline (default: DIR/train)"
    )
    parser.add_argument(
        "--metrics", nargs="+", metavar="NAME", help=f"any of {', '.join(METRIC_NAMES)} (default: all that apply)"
    )
    parser.add_argument("--json", type=Path, help="write every number (and per-image scores) to this JSON file")
    parser.add_argument("--lpips-net", choices=LPIPS_NETS, default="alex", help="LPIPS backbone (default: alex)")
    parser.add_argument("--report", type=Path, metavar="DIR", help="write an HTML page of thumbnails and scores here")
    parser.add_argument(
        "--report-sort",
        choices=PER_IMAGE_METRICS,
        metavar="METRIC",
        help="per-image metric the report sorts by, worst first (default: lpips when measured, else l1)",
    )
    parser.add_argument("--limit", type=int, help="evaluate only the first N test images")
    parser.add_argument("--batch-size", type=int, default=8, help="images per forward pass")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", help="fp32, bf16, auto")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    names = [name for item in args.metrics for name in item.split(",")] if args.metrics else None
    asked = None if names is None else {name.strip().lower().replace("-", "_") for name in names}
    if args.report_sort and (args.report_sort not in asked if asked is not None else args.report_sort == "lpips"):
        raise UsageError(f"--report-sort {args.report_sort}: add it to --metrics, it is not measured otherwise")
    if args.report is not None and args.data.resolve() in (args.report.resolve(), *args.report.resolve().parents):
        # Its thumbnails would be read as test images by the next evaluation of that folder.
        raise UsageError(f"--report {args.report}: must be outside the data folder {args.data}")
    # Created first: a folder that cannot take the report is refused before the evaluation runs.
    page = HtmlReport(args.report, sort_by=args.report_sort) if args.report is not None else None
    with page or nullcontext(), tqdm(unit="img", disable=args.quiet or None, file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = evaluate_checkpoint(
            args.checkpoint,
            args.data,
            metric_names=names,
            train_data=args.train_data,
            limit=args.limit,
            batch_size=args.batch_size,
            device=args.device,
            precision=args.precision,
            lpips_net=args.lpips_net,
            on_progress=progress,
            on_batch=page.add if page is not None else None,
        )
        written = page.finish(report) if page is not None else None
    print(report.table())
    if args.json is not None:
        print(f"wrote {report.write_json(args.json)}", file=sys.stderr)
    if written is not None:
        print(f"wrote {written}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------- sample (cbn)
def cmd_sample(argv: Sequence[str]) -> int:
    from translate.checkpoint import load_pipeline
    from translate.class_eval import image_grid
    from translate.imageio import save_image
    from translate.infer import OUTPUT_FORMATS

    parser = argparse.ArgumentParser(
        prog="translate sample",
        description="Generate images of a class with a cbn checkpoint trained in generation mode.",
    )
    parser.add_argument("output", type=Path, help="folder for seed_NNNNNN.png files and grid.png")
    parser.add_argument("--checkpoint", required=True, help="checkpoint folder or shipped name")
    parser.add_argument("--class", dest="class_name", required=True, help="a class, or a blend 'cat:0.5,dog:0.5'")
    parser.add_argument("--n", type=int, default=64, help="number of images")
    parser.add_argument("--seed", type=int, default=0, help="image i uses noise seed SEED + i, in every class")
    parser.add_argument(
        "--truncation", type=float, help="redraw noise components above this magnitude, e.g. 0.7 (default: none)"
    )
    parser.add_argument("--format", default="png", help="png, jpg, webp, bmp, tif")
    parser.add_argument("--columns", type=int, default=8, help="images per row of grid.png")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", help="fp32, bf16, auto")
    parser.add_argument("--overwrite", action="store_true", help="replace files an earlier sample wrote there")
    args = parser.parse_args(argv)
    if args.format.lower() not in OUTPUT_FORMATS:
        raise UsageError(f"unknown --format {args.format!r}; choose one of: png, jpg, webp, bmp, tif")
    if args.output.exists() and not args.output.is_dir():
        raise UsageError(f"{args.output}: exists and is not a folder")
    if args.n < 1:
        raise UsageError(f"--n must be at least 1, got {args.n}")
    suffix = OUTPUT_FORMATS[args.format.lower()]
    targets = [args.output / f"seed_{args.seed + index:06d}{suffix}" for index in range(args.n)]
    existing = [path for path in [*targets, args.output / f"grid{suffix}"] if path.exists()]
    if existing and not args.overwrite:
        raise UsageError(
            f"{existing[0]}: already exists ({len(existing)} of the files to write do); pass --overwrite to "
            "replace them, or choose another output folder"
        )
    pipeline = load_pipeline(args.checkpoint, device=args.device, precision=args.precision)
    if not hasattr(pipeline, "sample"):
        raise UsageError(f"{args.checkpoint} is a {pipeline.name} checkpoint; translate sample needs a cbn checkpoint")
    # Everything is generated before anything is written: a bad request leaves no files behind.
    images = pipeline.sample(args.class_name, args.n, seed=args.seed, truncation=args.truncation)
    for image, target in zip(images, targets):
        save_image(image, target)
    save_image(image_grid(images, args.columns), args.output / f"grid{suffix}")
    print(f"wrote {len(images)} images of {args.class_name!r} and grid{suffix} to {args.output}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------- eval-classes (cbn)
def cmd_eval_classes(argv: Sequence[str]) -> int:
    from translate.checkpoint import load_pipeline
    from translate.class_eval import CLASS_METRICS, evaluate_classes, write_class_grid
    from translate.classifier import load_classifier

    parser = argparse.ArgumentParser(
        prog="translate eval-classes",
        description="Score a cbn checkpoint: class fidelity (an independent classifier trained on real images "
        "assigns the requested class) and per-class FID/KID, beside the real-data ceiling and floor. "
        "A cyclegan checkpoint is scored the same way, its two domains as the classes.",
    )
    parser.add_argument("--checkpoint", required=True, help="cbn or cyclegan checkpoint folder or shipped name")
    parser.add_argument("--data", type=Path, required=True,
                        help="a folder per class (cyclegan: per domain) in train/ and test/")
    parser.add_argument("--classifier", type=Path, required=True, help="folder written by scripts/train_classifier.py")
    parser.add_argument("--metrics", help=f"comma-separated, any of {', '.join(CLASS_METRICS[:3])} (default: all)")
    parser.add_argument("--samples-per-class", type=int, help="generation: images per class (default: held-out count)")
    parser.add_argument("--seed", type=int, default=0, help="generation: first noise seed")
    parser.add_argument("--truncation", type=float, help="generation: truncation threshold (default: none)")
    parser.add_argument("--json", type=Path, help="write every number to this JSON file")
    parser.add_argument("--grid", type=Path, help="write the class-by-seed (or input-by-class) grid to this image")
    parser.add_argument("--grid-columns", type=int, default=8, help="seeds (generation) or inputs (translation)")
    parser.add_argument("--limit-per-class", type=int, help="use only the first N held-out images of each class")
    parser.add_argument("--batch-size", type=int, default=32, help="images per forward pass")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", help="fp32, bf16, auto")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.metrics.split(",") if name.strip()] if args.metrics else None
    pipeline = load_pipeline(args.checkpoint, device=args.device, precision=args.precision)
    if pipeline.name not in ("cbn", "cyclegan"):
        raise UsageError(
            f"{args.checkpoint} is a {pipeline.name} checkpoint; eval-classes scores cbn and cyclegan checkpoints"
        )
    report = evaluate_classes(
        pipeline,  # type: ignore[arg-type]
        args.data,
        load_classifier(args.classifier),
        metric_names=names,
        samples_per_class=args.samples_per_class,
        seed=args.seed,
        truncation=args.truncation,
        batch_size=args.batch_size,
        limit_per_class=args.limit_per_class,
        on_progress=lambda message: print(message, file=sys.stderr),
    )
    report.checkpoint, report.classifier = str(args.checkpoint), str(args.classifier)
    print(report.table())
    if args.json is not None:
        print(f"wrote {report.write_json(args.json)}", file=sys.stderr)
    if args.grid is not None:
        grid = write_class_grid(
            pipeline,  # type: ignore[arg-type]
            args.grid,
            columns=args.grid_columns,
            seed=args.seed,
            truncation=args.truncation,
            data=args.data,
        )
        print(f"wrote {grid}", file=sys.stderr)
    return 0


COMMANDS = {
    "train": (cmd_train, "train a pipeline on a folder of images"),
    "convert": (cmd_convert, "convert a file or folder of images with a checkpoint"),
    "export": (cmd_export, "export a checkpoint's network to ONNX or pt2 (dynamic height and width)"),
    "import": (cmd_import, "turn pytorch-CycleGAN-and-pix2pix or ESRGAN weights into a checkpoint"),
    "checkpoints": (cmd_checkpoints, "list the shipped checkpoints"),
    "eval": (cmd_eval, "score a checkpoint and baselines on test pairs: L1, PSNR, SSIM, FID, KID"),
    "data": (cmd_data, "build data sets: edges, gray, lowres pairs from photos; emoji; animals"),
    "sample": (cmd_sample, "generate images of a class with a cbn checkpoint (generation mode)"),
    "eval-classes": (cmd_eval_classes, "score a cbn or cyclegan checkpoint: class fidelity and per-class FID/KID"),
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        lines = ["usage: translate COMMAND [options]", "", "commands:"]
        lines += [f"  {name:<12} {text}" for name, (_, text) in COMMANDS.items()]
        lines.append("\n'translate COMMAND --help' for a command's options.")
        if argv and argv[0] not in ("-h", "--help"):
            print(f"error: unknown command {argv[0]!r}; choose one of: {', '.join(COMMANDS)}", file=sys.stderr)
            return 2
        print("\n".join(lines))
        return 0 if argv else 2
    command, _ = COMMANDS[argv[0]]
    try:
        status = command(argv[1:])
        sys.stdout.flush()  # here, where a closed pipe is caught below, not at the interpreter's exit
        return status
    except _user_errors() as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Whoever read the output stopped (`translate eval ... | head`): stop quietly, as other
        # command-line tools do. Files are written atomically, so nothing is left half-written;
        # stdout goes to devnull so that the interpreter's last flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13  # the shell's status for a process ended by SIGPIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The ``translate`` command: train, convert, data, eval, checkpoints.

Exit status: 0 success; 1 some inputs failed (convert); 2 usage or data errors, with a message
that names the file or key and what is wrong; 128 + signal number when a training was stopped
by SIGINT/SIGTERM (its checkpoint is saved).
"""

from __future__ import annotations

import argparse
import json
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
        if args.init:
            info = read_checkpoint(args.init)
            if info.pipeline != pipeline_name:
                raise UsageError(f"--init {args.init} is a {info.pipeline} checkpoint, not {pipeline_name}")
            config = info.config
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
        return _run_training(args, pipeline_name, cls, config, train_config, data_root, resume_from, distributed)
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
        if val_root is None and split_folder(data_root, train=False) != data_root:
            val_root = data_root
        if val_root is None:
            raise UsageError("--val-every needs --val-data DIR (or DATA/test or DATA/val)")
        val_dataset = pipeline.build_dataset(val_root, train=False)
    if main:
        write_run_file(args.out, pipeline, train_config, str(data_root))
    description: dict[str, Any] = {"description": args.description} if args.description else {}
    if args.init:
        description["initialised_from"] = str(args.init)
    trainer = Trainer(pipeline, dataset, args.out, train_config, val_dataset, description, distributed)
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
def cmd_convert(argv: Sequence[str]) -> int:
    from tqdm import tqdm

    from translate.checkpoint import load_pipeline
    from translate.infer import convert_files, plan_outputs

    parser = argparse.ArgumentParser(prog="translate convert", description="Convert a file or a folder of images.")
    parser.add_argument("input", type=Path, help="an image file or a folder (walked recursively)")
    parser.add_argument("output", type=Path, help="output file or folder (the input tree is mirrored)")
    parser.add_argument("--checkpoint", required=True, help="checkpoint folder or shipped name")
    parser.add_argument("--format", help="png, jpg, webp, bmp, tif (default: the input's own)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", help="fp32, bf16, auto")
    parser.add_argument("--tile", type=int, help="process in tiles of this size (bounded memory)")
    parser.add_argument("--tile-overlap", type=int, default=32)
    parser.add_argument("--skip-existing", action="store_true", help="keep outputs that already exist")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    pipeline = load_pipeline(args.checkpoint, device=args.device, precision=args.precision)
    plan = plan_outputs(args.input, args.output, args.format)
    options: dict[str, Any] = {}
    if args.tile:
        options |= {"tile": args.tile, "tile_overlap": args.tile_overlap}
    with tqdm(total=len(plan), unit="img", disable=args.quiet or None, file=sys.stderr) as bar:
        summary = convert_files(pipeline, plan, overwrite=not args.skip_existing, options=options, on_progress=bar.update)
    print(
        f"converted {summary.converted}, skipped {summary.skipped}, failed {len(summary.failed)} "
        f"in {summary.seconds:.1f} s ({summary.images_per_second:.2f} images/s) -> {args.output}",
        file=sys.stderr,
    )
    return 1 if summary.failed else 0


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
    return 0


# ---------------------------------------------------------------------------------- data
def cmd_data(argv: Sequence[str]) -> int:
    # The builders' options live beside them; errors they raise are DatasetErrors (exit 2).
    from translate.datasets.command import run_data_command

    return run_data_command(argv)


# ---------------------------------------------------------------------------------- eval
def cmd_eval(argv: Sequence[str]) -> int:
    from tqdm import tqdm

    from translate.evaluate import METRIC_NAMES, evaluate_checkpoint

    parser = argparse.ArgumentParser(
        prog="translate eval",
        description="Score a checkpoint on test pairs beside baselines (identity; nearest-neighbour or bicubic).",
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
    parser.add_argument("--limit", type=int, help="evaluate only the first N test images")
    parser.add_argument("--batch-size", type=int, default=8, help="images per forward pass")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", help="fp32, bf16, auto")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    names = [name for item in args.metrics for name in item.split(",")] if args.metrics else None
    with tqdm(unit="img", disable=args.quiet or None, file=sys.stderr) as bar:

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
            on_progress=progress,
        )
    print(report.table())
    if args.json is not None:
        print(f"wrote {report.write_json(args.json)}", file=sys.stderr)
    return 0


COMMANDS = {
    "train": (cmd_train, "train a pipeline on a folder of images"),
    "convert": (cmd_convert, "convert a file or folder of images with a checkpoint"),
    "checkpoints": (cmd_checkpoints, "list the shipped checkpoints"),
    "eval": (cmd_eval, "score a checkpoint and baselines on test pairs: L1, PSNR, SSIM, FID, KID"),
    "data": (cmd_data, "build data sets: edges, gray, lowres pairs from photos; emoji; animals"),
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
        return command(argv[1:])
    except _user_errors() as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

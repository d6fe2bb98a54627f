"""Training-step throughput: a reference-equivalent baseline against the project's defaults, side by side.

    python bench/train_step.py --pipeline pix2pix --size 256 --batch-size 1 --steps 10 [--json] [--profile]

Each setting runs in its own fresh process (so peak memory is its own), one after the other
on the same inputs. Printed per setting: images/s, peak resident memory, GFLOP per step
(counted by ``torch.utils.flop_counter``) and the achieved GFLOP/s, beside a bf16 and an fp32
matmul peak measured in the same run. Ratios are against the baseline.

Settings:
    baseline   fp32, NCHW, eager, for-loop Adam (torch's default on the CPU), denormals as the
               CPU leaves them: how pytorch-CycleGAN-and-pix2pix trains
    fp32, fp32+cl, bf16, bf16+cl
               the candidates ``translate train`` times at start-up (fused Adam, denormals
               flushed, contiguous or channels_last); the row ``defaults`` is the fastest of
               them, which is what ``--precision auto --memory-format auto`` trains in
    +fused, +flush, +cl, +bf16
               one lever at a time on top of the baseline (``--settings`` to run them)
    bf16+compile, bf16+cl+compile
               ``torch.compile`` of every training network on top of a candidate; the compile
               time (the first step's) is printed beside it

``--profile`` adds the profiler's top operators (self CPU time) of the defaults step.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_LOOP = ["optim.adam_kernel=loop"]
SETTINGS = {
    "baseline": {"precision": "fp32", "channels_last": False, "overrides": _LOOP, "flush_denormal": False},
    # What translate train chooses among (the row "defaults" is the fastest of these).
    "fp32": {"precision": "fp32", "channels_last": False, "overrides": [], "flush_denormal": True},
    "fp32+cl": {"precision": "fp32", "channels_last": True, "overrides": [], "flush_denormal": True},
    "bf16": {"precision": "bf16", "channels_last": False, "overrides": [], "flush_denormal": True},
    "bf16+cl": {"precision": "bf16", "channels_last": True, "overrides": [], "flush_denormal": True},
    # One lever at a time on top of the baseline.
    "+fused": {"precision": "fp32", "channels_last": False, "overrides": [], "flush_denormal": False},
    "+flush": {"precision": "fp32", "channels_last": False, "overrides": _LOOP, "flush_denormal": True},
    "+cl": {"precision": "fp32", "channels_last": True, "overrides": _LOOP, "flush_denormal": False},
    "+bf16": {"precision": "bf16", "channels_last": False, "overrides": _LOOP, "flush_denormal": False},
    # torch.compile of every training network (inductor, CPU) on top of a candidate; the
    # first warm-up step's extra time is reported as the compile time.
    "bf16+compile": {"precision": "bf16", "channels_last": False, "overrides": [], "flush_denormal": True,
                     "compile": True},
    "bf16+cl+compile": {"precision": "bf16", "channels_last": True, "overrides": [], "flush_denormal": True,
                        "compile": True},
}
CANDIDATES = ("fp32", "fp32+cl", "bf16", "bf16+cl")

PIPELINE_PRESETS = {
    # The reference networks at the reference sizes.
    "pix2pix": [],
    "cyclegan": ["generator.kind=resnet", "generator.n_blocks=9"],
    # SRResNet's PSNR phase (--size is the high-resolution crop: 96 in SRGAN); add
    # --set phase=gan --set loss.perceptual=feature_matching for the adversarial step.
    "srgan": [],
    # Translation between 3 classes (StarGAN-style) on the U-Net with class-conditional batch
    # norm; --set mode=generation for noise + class.
    "cbn": ["classes=a,b,c"],
}


def synthetic_batch(pipeline, batch_size: int, size: int, generator) -> dict:  # noqa: ANN001
    """Random inputs in the shape the pipeline's datasets give."""
    import torch

    if pipeline.name == "cbn":
        labels = torch.randint(len(pipeline.config.classes), (batch_size,), generator=generator)
        return {
            "image": torch.rand(batch_size, pipeline.input_channels, size, size, generator=generator),
            "label": labels,
            "target_label": (labels + 1) % len(pipeline.config.classes),
            "target": torch.rand(batch_size, pipeline.output_channels, size, size, generator=generator),
            "has_target": torch.ones(batch_size, dtype=torch.bool),
            "index": torch.arange(batch_size),
        }
    return {
        # Super-resolution inputs are scale times smaller than their targets (scale is 1 otherwise).
        "a": torch.rand(batch_size, pipeline.input_channels, size // pipeline.scale, size // pipeline.scale,
                        generator=generator),
        "b": torch.rand(batch_size, pipeline.output_channels, size, size, generator=generator),
        "index": torch.arange(batch_size),
    }


def matmul_peak(dtype_name: str, size: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of a square matmul in the given dtype (the hardware's practical peak)."""
    import torch

    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[dtype_name]
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    for _ in range(2):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def run_setting(
    name: str, pipeline_name: str, size: int, batch_size: int, steps: int, warmup: int, extra: list[str],
    profile: bool = False,
) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from translate.config import apply_overrides
    from translate.pipelines import get_pipeline_class
    from translate.runtime import resolve_precision

    setting = SETTINGS[name]
    torch.set_flush_denormal(setting["flush_denormal"])
    torch.manual_seed(0)
    cls = get_pipeline_class(pipeline_name)
    overrides = PIPELINE_PRESETS.get(pipeline_name, []) + [f"data.image_size={size}"] + extra + setting["overrides"]
    pipeline = cls(apply_overrides(cls.config_class(), overrides))
    device = torch.device("cpu")
    precision = resolve_precision(setting["precision"], device)
    pipeline.configure_runtime(device, precision, setting["channels_last"])
    pipeline.setup_training(total_steps=10_000)
    generator = torch.Generator().manual_seed(0)
    batch = synthetic_batch(pipeline, batch_size, size, generator)
    with FlopCounterMode(display=False) as counter:
        pipeline.training_step(batch, 0)
    flops = counter.get_total_flops()
    compile_seconds = None
    if setting.get("compile"):
        for module in pipeline.training_modules().values():
            module.compile()
        started = time.perf_counter()
        pipeline.training_step(batch, 0)  # compiles the forward and backward graphs
        compile_seconds = time.perf_counter() - started
    for step in range(warmup):
        pipeline.training_step(batch, step)
    start = time.perf_counter()
    for step in range(steps):
        pipeline.training_step(batch, step)
    seconds = time.perf_counter() - start
    table = None
    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        with torch_profile(activities=[ProfilerActivity.CPU]) as profiler:
            for step in range(2):
                pipeline.training_step(batch, step)
        table = profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=40)
    return {
        "setting": name,
        "precision": precision,
        "channels_last": setting["channels_last"],
        "images_per_s": steps * batch_size / seconds,
        "seconds_per_step": seconds / steps,
        "gflop_per_step": flops / 1e9,
        "gflop_per_s": flops * steps / seconds / 1e9,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "profile": table,
        "compile_seconds": compile_seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", default="pix2pix")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--settings", default="baseline," + ",".join(CANDIDATES),
                        help=f"comma-separated, from: {', '.join(SETTINGS)} (the first is the reference)")
    parser.add_argument("--profile", action="store_true", help="profile the fastest candidate's step")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override applied to every setting (e.g. generator.ngf=32)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one setting in this process
    args = parser.parse_args()

    if args.one:
        result = run_setting(
            args.one, args.pipeline, args.size, args.batch_size, args.steps, args.warmup, args.overrides,
            profile=args.profile,
        )
        print(json.dumps(result))
        return 0

    import torch

    report = {
        "pipeline": args.pipeline,
        "size": args.size,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "threads": torch.get_num_threads(),
        "matmul_peak_gflops": {"fp32": matmul_peak("fp32"), "bf16": matmul_peak("bf16")},
        "results": [],
    }
    names = args.settings.split(",")
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        parser.error(f"unknown setting {unknown[0]!r}; choose from: {', '.join(SETTINGS)}")

    def measure(name: str, profile: bool = False) -> dict:
        command = [sys.executable, __file__, "--one", name] + [
            f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
            if k in ("pipeline", "size", "batch_size", "steps", "warmup")
        ] + [f"--set={o}" for o in args.overrides] + (["--profile"] if profile else [])
        output = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        if output.returncode:
            raise SystemExit(f"setting {name} failed:\n{output.stderr[-3000:]}")
        return json.loads(output.stdout.strip().splitlines()[-1])

    report["results"] = [measure(name) for name in names]
    candidates = [r for r in report["results"] if r["setting"] in CANDIDATES]
    if candidates:
        # What --precision auto --memory-format auto picks: the fastest candidate.
        fastest = max(candidates, key=lambda r: r["images_per_s"])
        report["results"].append(fastest | {"setting": "defaults", "chosen": fastest["setting"]})
        if args.profile:
            report["profile"] = measure(fastest["setting"], profile=True)["profile"]
    baseline = report["results"][0]["images_per_s"]
    for result in report["results"]:
        result["speedup"] = result["images_per_s"] / baseline
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    peaks = report["matmul_peak_gflops"]
    print(
        f"{args.pipeline} {args.size}×{args.size} batch {args.batch_size}, {args.steps} steps, "
        f"{report['threads']} threads; matmul peak fp32 {peaks['fp32']:.0f} / bf16 {peaks['bf16']:.0f} GFLOP/s"
    )
    print(f"{'setting':<15} {'precision':<9} {'img/s':>7} {'speedup':>8} {'GFLOP/step':>11} {'GFLOP/s':>8} {'% bf16 peak':>12} {'peak MB':>8}")
    for r in report["results"]:
        print(
            f"{r['setting']:<15} {r['precision']:<9} {r['images_per_s']:7.3f} {r['speedup']:7.2f}× {r['gflop_per_step']:11.1f} "
            f"{r['gflop_per_s']:8.0f} {100 * r['gflop_per_s'] / peaks['bf16']:11.0f}% {r['peak_rss_mb']:8.0f}"
            + (f"  (= {r['chosen']})" if "chosen" in r else "")
            + (f"  (compile {r['compile_seconds']:.0f} s)" if r.get("compile_seconds") else "")
        )
    if report.get("profile"):
        print(f"\nprofile of the defaults step ({report['results'][-1]['chosen']}), 2 steps:\n{report['profile']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Does a faster precision train as well? Held-out L1 of short emoji pix2pix runs, fp32 against bf16.

    python bench/quality_parity.py --data data/emoji64 [--steps 600] [--seeds 0,1,2] [--json]

Each (precision, seed) trains the same pix2pix (64×64, ngf 32, batch 8, contiguous memory) for
``--steps`` steps and is scored on the held-out split with the L1 of ``translate eval``. The
speed-up is only worth having when the bf16 mean lies inside the range of the fp32 runs and
within 5% of the fp32 mean. Run it on a quiet machine; it prints the table and a verdict.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def train_and_score(data: Path, precision: str, seed: int, steps: int, folder: Path) -> dict[str, float]:
    import torch

    from translate.config import apply_overrides
    from translate.evaluate import MODEL_ROW, evaluate_checkpoint
    from translate.pipelines.pix2pix import Pix2Pix, Pix2PixConfig
    from translate.train import TrainConfig, Trainer

    torch.manual_seed(seed)
    config = apply_overrides(
        Pix2PixConfig(), ["data.image_size=64", "generator.ngf=32", "discriminator.ndf=32"]
    )
    pipeline = Pix2Pix(config)
    settings = TrainConfig(
        steps=steps, batch_size=8, seed=seed, precision=precision, memory_format="contiguous",
        workers=1, sample_every=0, checkpoint_every=10 * steps, log_every=50,
    )
    trainer = Trainer(pipeline, pipeline.build_dataset(data, train=True), folder, settings)
    started = time.perf_counter()
    result = trainer.fit()
    seconds = time.perf_counter() - started
    report = evaluate_checkpoint(result.final_checkpoint, data, metric_names=["l1"])
    return {"precision": precision, "seed": seed, "l1": report.rows[MODEL_ROW]["l1"], "seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "emoji64")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    precisions = args.precisions.split(",")
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for seed in seeds:
            for precision in precisions:
                results.append(
                    train_and_score(args.data, precision, seed, args.steps, Path(scratch) / f"{precision}-{seed}")
                )
                print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    by_precision = {p: [r["l1"] for r in results if r["precision"] == p] for p in precisions}
    reference = by_precision["fp32"]
    summary = {}
    for precision, values in by_precision.items():
        mean = statistics.mean(values)
        summary[precision] = {
            "l1_mean": mean,
            "l1_min": min(values),
            "l1_max": max(values),
            "vs_fp32_mean": mean / statistics.mean(reference) - 1,
            "inside_fp32_range": min(reference) <= mean <= max(reference),
            "seconds_mean": statistics.mean(r["seconds"] for r in results if r["precision"] == precision),
        }
    if args.json:
        print(json.dumps({"runs": results, "summary": summary}, indent=2))
        return 0
    print(f"pix2pix 64×64 ngf 32, batch 8, {args.steps} steps, seeds {args.seeds}; held-out L1 on {args.data}")
    print(f"{'precision':<10} {'L1 mean':>8} {'min':>8} {'max':>8} {'vs fp32':>8} {'in fp32 range':>14} {'s/run':>7}")
    for precision, row in summary.items():
        print(
            f"{precision:<10} {row['l1_mean']:8.4f} {row['l1_min']:8.4f} {row['l1_max']:8.4f} "
            f"{100 * row['vs_fp32_mean']:+7.1f}% {str(row['inside_fp32_range']):>14} {row['seconds_mean']:7.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

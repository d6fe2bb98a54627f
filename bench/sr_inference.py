"""Super-resolution inference on a big image: peak memory, time, and tiled against whole-image output.

    python bench/sr_inference.py --checkpoint runs/photo-x4-srresnet/final      # a trained model
    python bench/sr_inference.py --set generator.num_features=8                  # a fresh net (plumbing)

Two measurements, each in its own fresh process so the peak resident memory is its own:

- ``convert``: a ``--size``² photo-like PNG through the path ``translate convert`` takes (load,
  the pipeline with its default tiling, save), ×``scale``; prints the peak RSS and seconds.
- ``tiles``: a ``--compare-size``² image through the pipeline whole (``tile=0``) and tiled
  (``--tile``, ``--tile-overlap``); prints the largest per-pixel difference in 1/255 units.
  Only a trained model says something here: a random network's receptive field is not a
  trained one's.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _pipeline(args: argparse.Namespace):  # noqa: ANN202 - a Pipeline; imported lazily
    import torch

    from translate.checkpoint import load_pipeline
    from translate.config import apply_overrides
    from translate.pipelines.srgan import SRGAN, SRGANConfig

    if args.checkpoint:
        return load_pipeline(args.checkpoint, precision=args.precision)
    torch.manual_seed(0)
    pipeline = SRGAN(apply_overrides(SRGANConfig(), args.overrides)).eval()
    return pipeline


def _photo_like(size: int, seed: int = 0):  # noqa: ANN202 - a [3, size, size] tensor
    """Smooth colour fields with fine noise: neither flat nor pure noise."""
    import torch
    from torch.nn import functional as F

    generator = torch.Generator().manual_seed(seed)
    coarse = F.interpolate(torch.rand(1, 3, size // 32, size // 32, generator=generator), size=(size, size),
                           mode="bicubic", align_corners=False)
    return (coarse + 0.05 * torch.randn(1, 3, size, size, generator=generator))[0].clamp(0, 1)


def measure_convert(args: argparse.Namespace) -> dict:
    from translate.imageio import save_image
    from translate.infer import convert_files

    pipeline = _pipeline(args)
    with tempfile.TemporaryDirectory() as folder:
        source, output = Path(folder) / "in.png", Path(folder) / "out.png"
        save_image(_photo_like(args.size), source)
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        summary = convert_files(pipeline, [(source, output)])
        seconds = time.perf_counter() - started
        from PIL import Image

        size = Image.open(output).size
    if summary.failed:
        raise SystemExit(f"conversion failed: {summary.failed[0][1]}")
    return {
        "input": [args.size, args.size],
        "output": list(size),
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rss_before_convert_mb": round(baseline),
        "inference_tile": pipeline.config.inference_tile,
    }


def measure_tiles(args: argparse.Namespace) -> dict:
    pipeline = _pipeline(args)
    image = _photo_like(args.compare_size, seed=1)
    whole = pipeline(image, tile=0)
    tiled = pipeline(image, tile=args.tile, tile_overlap=args.tile_overlap)
    return {
        "input": [args.compare_size, args.compare_size],
        "tile": args.tile,
        "tile_overlap": args.tile_overlap,
        "max_difference_in_255ths": round(float((tiled - whole).abs().max()) * 255, 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="an srgan checkpoint (default: a fresh net from --set)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--size", type=int, default=1024, help="side of the converted image")
    parser.add_argument("--compare-size", type=int, default=256, help="side of the tiled/whole comparison")
    parser.add_argument("--tile", type=int, default=128)
    parser.add_argument("--tile-overlap", type=int, default=32)
    parser.add_argument("--only", choices=["convert", "tiles"], help=argparse.SUPPRESS)  # internal: one measurement
    args = parser.parse_args()
    if args.only:
        print(json.dumps(measure_convert(args) if args.only == "convert" else measure_tiles(args)))
        return 0
    report = {}
    for name in ("convert", "tiles"):
        result = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--only", name], capture_output=True, text=True)
        if result.returncode:
            raise SystemExit(f"{name} failed:\n{result.stderr[-3000:]}")
        report[name] = json.loads(result.stdout.strip().splitlines()[-1])
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""End-to-end conversion speed: ``translate convert``'s code path against a naive loop, same files.

    python bench/convert.py                       # 200 crops of 256×256, ResNet-9 generator
    python bench/convert.py --images 4 --size 64  # a quick check that it runs
    python bench/convert.py --precision-check     # bf16 vs fp32 PSNR on the shipped weights

The inputs are ``--images`` deterministic crops (JPEG, quality 95) of the wallpaper photographs
(``/usr/share/backgrounds/mate/nature``, ``/usr/share/wallpapers``; see ../shared/DATA.md), each
photo's short side first resized to twice ``--size``. The network is a ResNet-9 CycleGAN
generator (``translate.networks.ResNetGenerator``, ngf 64, instance norm) in a pix2pix
checkpoint with seeded weights, or ``--checkpoint``.

Both runs go from files on disk to files on disk, in this one process, one after the other:
    naive    open with PIL, fp32 generator one image at a time under ``torch.no_grad``, save
             with PIL: how pytorch-CycleGAN-and-pix2pix's test script converts a folder
    convert  :func:`translate.infer.convert_files` with the CLI's defaults (``--precision auto``,
             batching, decode/encode threads), timed from the plan to the last file written
    onnxrt   the same with ``--backend onnxruntime`` (fp32 in ONNX Runtime); the one-off export
             is timed apart and not counted

Printed: images/s of each and their ratio; GFLOP per image (``torch.utils.flop_counter``) and
the achieved GFLOP/s beside an fp32 and a bf16 matmul peak measured in the same run; the PSNR of
the convert outputs against the naive fp32 ones (goal: at least 40 dB).

``--precision-check`` is the measurement behind ``--precision auto``: every precision the CPU
runs natively, on every shipped checkpoint with bundled held-out inputs
(``examples/NAME/A``): PSNR against fp32 (per image, on 8-bit levels) and images/s.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_step import matmul_peak  # noqa: E402 -- the one matmul-peak helper, beside this file

from translate.checkpoint import load_pipeline, save_checkpoint  # noqa: E402
from translate.config import apply_overrides  # noqa: E402
from translate.imageio import list_images, load_image  # noqa: E402
from translate.infer import ConvertSettings, check_pipeline_options, convert_files, plan_outputs  # noqa: E402
from translate.infer import psnr_against_fp32  # noqa: E402
from translate.metrics import psnr  # noqa: E402
from translate.onnx_backend import attach_onnx_runtime  # noqa: E402
from translate.pipelines.pix2pix import Pix2Pix, Pix2PixConfig  # noqa: E402
from translate.runtime import bf16_supported  # noqa: E402

PHOTO_FOLDERS = (Path("/usr/share/backgrounds/mate/nature"), Path("/usr/share/wallpapers"))
SHIPPED = ROOT / "checkpoints"
EXAMPLES = ROOT / "examples"


def photo_sources(folders: list[Path]) -> list[Path]:
    """The photographs: every image in ``folders`` but previews, one (the largest) per KDE wallpaper."""
    found: dict[Path, Path] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in list_images(folder):
            if path.stem.startswith("screenshot"):
                continue
            # KDE wallpapers hold one picture at several resolutions in contents/images/.
            key = path.parent if path.parent.name == "images" else path
            if key not in found or path.stat().st_size > found[key].stat().st_size:
                found[key] = path
    return sorted(found.values())


def make_crops(sources: list[Path], count: int, size: int, out: Path, seed: int = 0) -> list[Path]:
    """``count`` JPEG crops of ``size``², spread over the photos, at seeded positions."""
    if not sources:
        raise SystemExit(f"no photographs found in {', '.join(map(str, PHOTO_FOLDERS))}; see ../shared/DATA.md")
    rng = np.random.default_rng(seed)
    per_photo = math.ceil(count / len(sources))
    out.mkdir(parents=True, exist_ok=True)
    crops: list[Path] = []
    for source in sources[: math.ceil(count / per_photo)]:
        photo = Image.open(source).convert("RGB")
        factor = 2 * size / min(photo.size)
        photo = photo.resize((max(size, round(photo.width * factor)), max(size, round(photo.height * factor))), Image.BICUBIC)
        for _ in range(min(per_photo, count - len(crops))):
            left = int(rng.integers(0, photo.width - size + 1))
            top = int(rng.integers(0, photo.height - size + 1))
            path = out / f"{len(crops):04d}.jpg"
            photo.crop((left, top, left + size, top + size)).save(path, quality=95)
            crops.append(path)
    return crops


def resnet9_checkpoint(folder: Path, size: int) -> Path:
    """A pix2pix checkpoint with CycleGAN's ResNet-9 generator, seeded weights."""
    torch.manual_seed(0)
    config = apply_overrides(
        Pix2PixConfig(),
        ["generator.kind=resnet", "generator.n_blocks=9", "generator.ngf=64", "generator.dropout=0", f"data.image_size={size}"],
    )
    return save_checkpoint(Pix2Pix(config), folder)


def naive_loop(checkpoint: Path, files: list[Path], out: Path) -> float:
    """Seconds to convert ``files`` the naive way (PIL, fp32, one image at a time)."""
    pipeline = load_pipeline(checkpoint, precision="fp32", channels_last=False)
    out.mkdir(parents=True, exist_ok=True)

    def one(path: Path) -> None:
        image = torch.from_numpy(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
        with torch.no_grad():  # the network and its [-1, 1] mapping, nothing else
            result = pipeline.translate_batch(image[None])[0]
        array = (result.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        Image.fromarray(array).save(out / f"{path.stem}.png")

    one(files[0])  # warm-up, like convert's option check
    started = time.perf_counter()
    for path in files:
        one(path)
    return time.perf_counter() - started


def convert_path(
    checkpoint: Path, inputs: Path, out: Path, batch_size: int, workers: int, precision: str, backend: str = "torch"
) -> tuple[float, str]:
    """Seconds for ``translate convert``'s code path with the CLI's defaults, and the precision used."""
    if backend == "onnxruntime":
        pipeline = load_pipeline(checkpoint, precision="fp32", channels_last=False)
        started = time.perf_counter()
        attach_onnx_runtime(pipeline, {}, cache_dir=out.parent / "onnx-cache")
        print(f"  (ONNX export and session check: {time.perf_counter() - started:.1f} s, not counted)", file=sys.stderr)
        precision = "fp32"
    else:
        pipeline = load_pipeline(checkpoint, precision=precision)
    check_pipeline_options(pipeline, {})  # the CLI's warm-up
    plan = plan_outputs(inputs, out, "png")
    settings = ConvertSettings(batch_size=batch_size, workers=workers, check_precision=precision == "auto")
    started = time.perf_counter()
    summary = convert_files(pipeline, plan, settings)
    seconds = time.perf_counter() - started
    if summary.failed or summary.converted != len(plan):
        raise SystemExit(f"convert failed: {summary.line()}")
    return seconds, pipeline.precision


def gflop_per_image(checkpoint: Path, size: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    pipeline = load_pipeline(checkpoint, precision="fp32")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        pipeline.translate_batch(torch.zeros(1, 3, size, size))
    return counter.get_total_flops() / 1e9


def output_psnr(reference: Path, candidate: Path) -> tuple[float, float]:
    """Min and mean PSNR (dB) of each candidate output against the reference output of the same name."""
    values = []
    for path in sorted(reference.glob("*.png")):
        a = torch.from_numpy(np.asarray(Image.open(path), dtype=np.float32) / 255)
        b = torch.from_numpy(np.asarray(Image.open(candidate / path.name), dtype=np.float32) / 255)
        values.append(float(psnr(b.permute(2, 0, 1)[None], a.permute(2, 0, 1)[None])[0]))
    return min(values), sum(values) / len(values)


def precision_check(checkpoint: Path, folder: Path, repeats: int = 5) -> dict:
    """PSNR against fp32 and images/s of every precision this CPU runs natively, on real inputs."""
    images = torch.stack([load_image(p).pixels for p in list_images(folder)])
    precisions = ["fp32"] + (["bf16"] if bf16_supported(torch.device("cpu")) else [])
    rows = []
    for precision in precisions:
        pipeline = load_pipeline(checkpoint, precision=precision)
        pipeline(images)  # warm-up
        started = time.perf_counter()
        for _ in range(repeats):
            outputs = pipeline(images)
        speed = repeats * len(images) / (time.perf_counter() - started)
        closeness = psnr_against_fp32(pipeline, images, outputs)
        rows.append({
            "precision": precision,
            "channels_last": pipeline.channels_last,
            "images_per_s": speed,
            "psnr_min_db": float(closeness.min()),
            "psnr_mean_db": float(closeness[closeness.isfinite()].mean()) if closeness.isfinite().any() else math.inf,
        })
    return {"checkpoint": str(checkpoint), "images": len(images), "size": list(images.shape[-2:]), "results": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200, help="how many crops")
    parser.add_argument("--size", type=int, default=256, help="crop side")
    parser.add_argument("--checkpoint", type=Path, help="a checkpoint to use instead of the seeded ResNet-9")
    parser.add_argument("--batch-size", type=int, default=4, help="convert's --batch-size (the CLI's default)")
    parser.add_argument("--workers", type=int, default=2, help="convert's --workers (the CLI's default)")
    parser.add_argument("--precision", default="auto", help="convert's --precision (the CLI's default: auto)")
    parser.add_argument("--photos", type=Path, action="append", help="folders of photographs (default: the wallpapers)")
    parser.add_argument("--precision-check", action="store_true", help="bf16 vs fp32 on every shipped model's examples, then stop")
    parser.add_argument("--no-onnxruntime", action="store_true", help="skip the ONNX Runtime row")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()

    if args.precision_check:
        reports = [
            precision_check(folder, EXAMPLES / folder.name / "A")
            for folder in sorted(SHIPPED.iterdir())
            if (folder / "config.json").is_file() and (EXAMPLES / folder.name / "A").is_dir()
        ]
        if args.json:
            print(json.dumps(reports, indent=2))
            return 0
        for report in reports:
            print(f"{report['checkpoint']}, {report['images']} held-out inputs of {report['size'][0]}×{report['size'][1]}, "
                  f"{torch.get_num_threads()} threads")
            for row in report["results"]:
                print(f"  {row['precision']:<5} channels_last={row['channels_last']!s:<5} {row['images_per_s']:7.1f} img/s  "
                      f"PSNR vs fp32: min {row['psnr_min_db']:.1f} dB, mean {row['psnr_mean_db']:.1f} dB")
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-convert-") as scratch:
        work = Path(scratch)
        files = make_crops(photo_sources(args.photos or list(PHOTO_FOLDERS)), args.images, args.size, work / "in")
        checkpoint = args.checkpoint or resnet9_checkpoint(work / "ckpt", args.size)
        gflop = gflop_per_image(checkpoint, args.size)
        peaks = {"fp32": matmul_peak("fp32"), "bf16": matmul_peak("bf16")}
        naive_seconds = naive_loop(checkpoint, files, work / "naive")
        convert_seconds, precision = convert_path(
            checkpoint, work / "in", work / "convert", args.batch_size, args.workers, args.precision
        )
        psnr_min, psnr_mean = output_psnr(work / "naive", work / "convert")
        onnx_row = None
        if not args.no_onnxruntime:
            onnx_seconds, _ = convert_path(
                checkpoint, work / "in", work / "onnxrt", args.batch_size, args.workers, "fp32", backend="onnxruntime"
            )
            onnx_min, onnx_mean = output_psnr(work / "naive", work / "onnxrt")
            onnx_row = {
                "images_per_s": len(files) / onnx_seconds,
                "gflop_per_s": gflop * len(files) / onnx_seconds,
                "speedup": naive_seconds / onnx_seconds,
                "psnr_vs_naive_db": {"min": onnx_min, "mean": onnx_mean},
            }
    report = {
        "images": len(files),
        "size": args.size,
        "threads": torch.get_num_threads(),
        "gflop_per_image": gflop,
        "matmul_peak_gflops": peaks,
        "naive": {"images_per_s": len(files) / naive_seconds, "gflop_per_s": gflop * len(files) / naive_seconds},
        "convert": {
            "images_per_s": len(files) / convert_seconds,
            "gflop_per_s": gflop * len(files) / convert_seconds,
            "precision": precision,
            "batch_size": args.batch_size,
            "workers": args.workers,
        },
        "speedup": naive_seconds / convert_seconds,
        "psnr_vs_naive_db": {"min": psnr_min, "mean": psnr_mean},
        "onnxrt": onnx_row,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{len(files)} crops of {args.size}×{args.size}, {gflop:.1f} GFLOP per image, {report['threads']} threads; "
          f"matmul peak fp32 {peaks['fp32']:.0f} / bf16 {peaks['bf16']:.0f} GFLOP/s")
    for name in ("naive", "convert"):
        row = report[name]
        extra = f"  ({precision}, batch {args.batch_size}, {args.workers} workers)" if name == "convert" else "  (fp32)"
        print(f"  {name:<8} {row['images_per_s']:7.2f} img/s {row['gflop_per_s']:7.0f} GFLOP/s "
              f"{100 * row['gflop_per_s'] / peaks['bf16']:4.0f}% of bf16 peak{extra}")
    print(f"  speedup {report['speedup']:.2f}×; convert outputs vs naive fp32: PSNR min {psnr_min:.1f} dB, mean {psnr_mean:.1f} dB")
    if onnx_row:
        print(f"  onnxrt   {onnx_row['images_per_s']:7.2f} img/s {onnx_row['gflop_per_s']:7.0f} GFLOP/s "
              f"{100 * onnx_row['gflop_per_s'] / peaks['bf16']:4.0f}% of bf16 peak  (fp32, ONNX Runtime, batch "
              f"{args.batch_size}): {onnx_row['speedup']:.2f}× naive; PSNR vs naive min "
              f"{onnx_row['psnr_vs_naive_db']['min']:.1f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

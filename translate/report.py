"""An HTML page of evaluation results: input | output | target thumbnails with per-image scores.

``translate eval --report DIR`` writes::

    DIR/index.html        the table of :meth:`EvalReport.table`, then one row per test image,
                          worst first by the sort metric, with every row's (model and baselines)
                          scores for that image
    DIR/images/*.png      the thumbnails the page links to (relative links: the folder can move)
    DIR/eval.json         the evaluation's numbers, as ``--json`` writes them

The folder is written beside its destination and renamed into place when complete, so a failed or
interrupted evaluation leaves no half-written report; an earlier report in ``DIR`` is replaced,
any other non-empty folder is refused.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from torch import Tensor

from translate.evaluate import HEADERS, HIGHER_IS_BETTER, MODEL_ROW, PER_IMAGE_METRICS, EvalBatch, EvalReport
from translate.imageio import atomic_folder, bicubic_resize, commit_folder, save_image

PAGE_FILE = "index.html"
DATA_FILE = "eval.json"
IMAGES_DIR = "images"
COLUMNS = ("input", "output", "target")
#: thumbnails are downscaled to at most this many pixels on their longer side.
THUMBNAIL_SIZE = 256
#: small images are shown enlarged (pixelated) to at least this many pixels on their longer side.
DISPLAY_SIZE = 160


class ReportError(ValueError):
    """A report cannot be written where or as asked; the message names the folder or the metric."""


@dataclass(frozen=True)
class _Entry:
    """One test image in the report: its name, thumbnail files (relative to the folder) and shown size."""

    name: str
    order: int
    files: dict[str, str]
    display: tuple[int, int]  # width, height of the output and target on the page


def check_report_folder(folder: Path) -> None:
    """Refuse a destination that holds anything but an earlier report (it is replaced as a whole).

    Raises:
        ReportError: ``folder`` is a file, or a non-empty folder without ``index.html`` and ``eval.json``.
    """
    if folder.exists() and not folder.is_dir():
        raise ReportError(f"{folder}: exists and is not a folder; choose a folder for the report")
    if folder.is_dir() and any(folder.iterdir()):
        if not ((folder / PAGE_FILE).is_file() and (folder / DATA_FILE).is_file()):
            raise ReportError(
                f"{folder}: not empty and not an earlier report (no {PAGE_FILE} and {DATA_FILE}); "
                "the report replaces its folder as a whole: choose a new or empty folder"
            )


def default_sort_metric(report: EvalReport) -> str | None:
    """The per-image metric pages sort by: LPIPS when measured, else the first of L1, PSNR, SSIM..."""
    for name in ("lpips", *PER_IMAGE_METRICS):
        if name in report.metrics:
            return name
    return None


def file_stem(order: int, name: str) -> str:
    """A file name for an image's thumbnails: its position, then its name with anything but letters,
    digits, ``.``, ``_`` and ``-`` (path separators included) replaced by ``_``, kept short."""
    safe = re.sub(r"[^\w.-]+", "_", name).strip("._") or "image"
    return f"{order:05d}-{safe[:80]}"


def _thumbnail(image: Tensor, size: int) -> Tensor:
    """``[C, H, W]`` in [0, 1], downscaled (antialiased bicubic) to fit ``size`` when larger."""
    height, width = image.shape[-2:]
    if max(height, width) <= size:
        return image
    scale = size / max(height, width)
    return bicubic_resize(image, (max(1, round(height * scale)), max(1, round(width * scale))))


def _display_size(height: int, width: int) -> tuple[int, int]:
    """Width and height to show an image at: enlarged by a whole factor up to DISPLAY_SIZE, capped at THUMBNAIL_SIZE."""
    factor = max(1, DISPLAY_SIZE // max(height, width))
    scale = min(factor, THUMBNAIL_SIZE / max(height, width))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _format_score(name: str, value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf"
    return f"{value:.2f}" if name in ("psnr", "psnr_y") else f"{value:.4f}"


def _worst_first(report: EvalReport, metric: str | None, entries: list[_Entry]) -> list[_Entry]:
    """Entries ordered worst model score first (NaN last); evaluation order when there is no metric."""
    if metric is None:
        return entries
    sign = 1.0 if metric in HIGHER_IS_BETTER else -1.0

    def key(entry: _Entry) -> tuple[bool, float, int]:
        value = report.per_image.get(entry.name, {}).get(MODEL_ROW, {}).get(metric, math.nan)
        return (math.isnan(value), sign * value if not math.isnan(value) else 0.0, entry.order)

    return sorted(entries, key=key)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
pre { background: #f4f4f4; padding: 0.8em; overflow-x: auto; }
table.images { border-collapse: collapse; }
table.images th, table.images td { border-bottom: 1px solid #ddd; padding: 6px; vertical-align: top; text-align: left; }
table.images img { image-rendering: pixelated;
  background: repeating-conic-gradient(#ddd 0 25%, #fff 0 50%) 0 0 / 16px 16px; }
table.scores td, table.scores th { border: none; padding: 1px 6px; font-size: 0.9em; text-align: right; }
table.scores td:first-child, table.scores th:first-child { text-align: left; }
.name { font-family: monospace; word-break: break-all; max-width: 16em; }
.sort { font-weight: bold; }
"""


class HtmlReport:
    """Collects thumbnails while an evaluation runs, then writes the page and renames the folder into place.

    Use as a context manager so that a failure removes the half-written folder::

        with HtmlReport("reports/run1") as page:
            report = evaluate_checkpoint(..., on_batch=page.add)
            page.finish(report)

    Args:
        folder: the report folder (see :func:`check_report_folder`).
        sort_by: per-image metric to sort by, worst first; default :func:`default_sort_metric`.
        thumbnail_size: longest side of the thumbnail files.

    Raises:
        ReportError: the folder cannot be used, or ``sort_by`` is not a per-image metric.
    """

    def __init__(self, folder: str | os.PathLike, sort_by: str | None = None, thumbnail_size: int = THUMBNAIL_SIZE):
        self.folder = Path(folder)
        if sort_by is not None and sort_by not in PER_IMAGE_METRICS:
            raise ReportError(f"cannot sort a report by {sort_by!r}; choose one of: {', '.join(PER_IMAGE_METRICS)}")
        check_report_folder(self.folder)
        self.sort_by = sort_by
        self.thumbnail_size = thumbnail_size
        self.entries: list[_Entry] = []
        self.temporary: Path | None = atomic_folder(self.folder)
        (self.temporary / IMAGES_DIR).mkdir()

    def __enter__(self) -> HtmlReport:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.abort()

    def abort(self) -> None:
        """Remove the unfinished folder (nothing when :meth:`finish` has already put it in place)."""
        if self.temporary is not None:
            shutil.rmtree(self.temporary, ignore_errors=True)
            self.temporary = None

    def add(self, batch: EvalBatch) -> None:
        """Write the input, model output and target thumbnails of one evaluated batch."""
        if self.temporary is None:
            raise ReportError(f"{self.folder}: the report is already finished or aborted")
        for position, image in enumerate(batch.images):
            order = len(self.entries)
            stem = file_stem(order, image.name)
            pictures = {
                "input": image.input,
                "output": batch.outputs[MODEL_ROW][position],
                "target": batch.targets[position],
            }
            files = {}
            for column, pixels in pictures.items():
                relative = f"{IMAGES_DIR}/{stem}-{column}.png"
                save_image(_thumbnail(pixels, self.thumbnail_size), self.temporary / relative)
                files[column] = relative
            height, width = batch.targets[position].shape[-2:]
            self.entries.append(_Entry(image.name, order, files, _display_size(height, width)))

    def finish(self, report: EvalReport) -> Path:
        """Write ``index.html`` and ``eval.json`` and rename the folder into place; returns the page's path."""
        if self.temporary is None:
            raise ReportError(f"{self.folder}: the report is already finished or aborted")
        metric = self.sort_by or default_sort_metric(report)
        if metric is not None and metric not in report.metrics:
            raise ReportError(
                f"cannot sort the report by {metric!r}: it was not measured; measured: {', '.join(report.metrics)}"
            )
        (self.temporary / PAGE_FILE).write_text(self.render(report, metric), encoding="utf-8")
        (self.temporary / DATA_FILE).write_text(json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n")
        # Checked again: another process may have filled the folder while the evaluation ran.
        check_report_folder(self.folder)
        commit_folder(self.temporary, self.folder)
        self.temporary = None
        return self.folder / PAGE_FILE

    def render(self, report: EvalReport, metric: str | None) -> str:
        """The page as a string: every name escaped, every link URL-quoted and relative."""
        per_image = [name for name in report.metrics if name in PER_IMAGE_METRICS]
        order = (
            f"sorted by the model's {HEADERS[metric]}, worst first "
            f"({'lowest' if metric in HIGHER_IS_BETTER else 'highest'} first)"
            if metric is not None
            else "in evaluation order (no per-image metric was measured)"
        )
        title = f"{report.checkpoint} on {report.data}"
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{_STYLE}</style></head><body>",
            f"<h1>{html.escape(title)}</h1>",
            f"<p>{report.images} images ({html.escape(report.task)}, {html.escape(report.pipeline)}); "
            f"numbers in <a href=\"{DATA_FILE}\">{DATA_FILE}</a>.</p>",
            f"<pre>{html.escape(report.table())}</pre>",
            f"<p>Images {html.escape(order)}. Outputs and targets are rounded to 8-bit levels, as scored.</p>",
            '<table class="images"><thead><tr><th>#</th><th>name</th>'
            + "".join(f"<th>{column}</th>" for column in COLUMNS)
            + "<th>scores</th></tr></thead><tbody>",
        ]
        for rank, entry in enumerate(_worst_first(report, metric, self.entries), start=1):
            width, height = entry.display
            cells = []
            for column in COLUMNS:
                link = html.escape(quote(entry.files[column]), quote=True)
                alt = html.escape(f"{column} of {entry.name}", quote=True)
                # The input (smaller for super-resolution) is shown at the output's width, its own aspect.
                size = f' width="{width}"' if column == "input" else f' width="{width}" height="{height}"'
                cells.append(f'<td><a href="{link}"><img src="{link}" alt="{alt}"{size} loading="lazy"></a></td>')
            parts.append(
                f'<tr><td>{rank}</td><td class="name">{html.escape(entry.name)}</td>'
                + "".join(cells)
                + f"<td>{self._scores_table(report, entry.name, per_image, metric)}</td></tr>"
            )
        parts += ["</tbody></table>", "</body></html>", ""]
        return "\n".join(parts)

    @staticmethod
    def _scores_table(report: EvalReport, name: str, metrics: list[str], sort_metric: str | None) -> str:
        """A small table: one row per output (model and baselines), one column per per-image metric."""
        if not metrics:
            return ""
        rows = report.per_image.get(name, {})
        marks = {metric: ' class="sort"' if metric == sort_metric else "" for metric in metrics}
        head = "".join(f"<th{marks[metric]}>{HEADERS[metric]}</th>" for metric in metrics)
        body = []
        for row, scores in rows.items():
            cells = "".join(
                f"<td{marks[metric]}>{_format_score(metric, scores.get(metric))}</td>" for metric in metrics
            )
            body.append(f"<tr><td>{html.escape(row)}</td>{cells}</tr>")
        return f'<table class="scores"><tr><th></th>{head}</tr>{"".join(body)}</table>'

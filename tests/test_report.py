"""``translate eval --report DIR``: every link resolves inside DIR, names escaped, worst first, nothing half-written."""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import make_pair_arrays, tiny_pix2pix_config
from translate import cli
from translate.checkpoint import save_checkpoint
from translate.evaluate import EvalBatch, EvalImage, EvalReport
from translate.imageio import load_image
from translate.pipelines.pix2pix import Pix2Pix
from translate.report import HtmlReport, ReportError

# Names a page must escape (&, <, quotes), URL-quote (#, %, space) and keep apart (a sub-folder).
AWKWARD_NAMES = ["a&b <c>", "quote\"and'apos", "q#1 %20", "sub/ünïcode", "plain"]


class PageRows(HTMLParser):
    """Rows of the images table: (name text, image sources); every href and src on the page."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, list[str]]] = []
        self.links: list[str] = []
        self._in_name = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "td" and values.get("class") == "name":
            self._in_name = True
            self.rows.append(("", []))
        for key in ("href", "src"):
            if values.get(key) is not None:
                self.links.append(values[key])
        if tag == "img" and self.rows:
            self.rows[-1][1].append(values["src"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._in_name = False

    def handle_data(self, data: str) -> None:
        if self._in_name:
            name, sources = self.rows[-1]
            self.rows[-1] = (name + data, sources)


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(Pix2Pix(tiny_pix2pix_config()), tmp_path / "ckpt")


def _awkward_folder(root: Path) -> None:
    """Test pairs under awkward names (targets of varied difficulty), plain training pairs."""
    pairs = make_pair_arrays(len(AWKWARD_NAMES) + 3, 32, seed=2)
    for index, name in enumerate(AWKWARD_NAMES):
        a, b = pairs[index]
        for side, array in (("A", a), ("B", (b * (index + 1) / len(AWKWARD_NAMES)).astype(np.uint8))):
            path = root / "test" / side / f"{name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(path)
    for index, (a, b) in enumerate(pairs[len(AWKWARD_NAMES) :]):
        for side, array in (("A", a), ("B", b)):
            (root / "train" / side).mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(root / "train" / side / f"t{index}.png")


def test_every_link_resolves_names_are_escaped_and_the_worst_image_comes_first(
    tmp_path: Path, checkpoint: Path
) -> None:
    data, out = tmp_path / "data", tmp_path / "report"
    _awkward_folder(data)
    arguments = ["--data", str(data), "--metrics", "l1,psnr", "--report", str(out), "--quiet"]
    assert cli.main(["eval", "--checkpoint", str(checkpoint), *arguments]) == 0

    page = PageRows()
    page.feed((out / "index.html").read_text(encoding="utf-8"))
    assert len(page.rows) == len(AWKWARD_NAMES)
    for link in page.links:
        assert "://" not in link and not link.startswith("/"), link
        target = (out / unquote(link)).resolve()
        assert target.is_file() and out.resolve() in target.parents, link
    # The parser gives back each name exactly: escaped right (an unescaped "<c>" would be a tag).
    names = [name for name, _ in page.rows]
    assert sorted(names) == sorted(AWKWARD_NAMES)
    document = json.loads((out / "eval.json").read_text())
    l1 = {name: document["per_image"][name]["model"]["l1"] for name in AWKWARD_NAMES}
    assert names == sorted(AWKWARD_NAMES, key=lambda name: -l1[name])  # worst (highest L1) first
    assert len({round(value, 6) for value in l1.values()}) == len(AWKWARD_NAMES)  # a real ordering

    # Each row shows input | output | target of its own image: the target thumbnail is the B file.
    for name, sources in page.rows:
        shown = {column: load_image(out / unquote(link)).pixels for column, link in zip(("in", "out", "B"), sources)}
        assert torch.equal(shown["in"], load_image(data / "test" / "A" / f"{name}.png").pixels)
        assert torch.equal(shown["B"], load_image(data / "test" / "B" / f"{name}.png").pixels)
        assert not torch.equal(shown["out"], shown["B"])
    assert len(list((out / "images").iterdir())) == 3 * len(AWKWARD_NAMES)


def test_a_foreign_folder_is_refused_a_report_replaced_and_a_failure_leaves_nothing(
    tmp_path: Path, checkpoint: Path, aligned_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = ["eval", "--checkpoint", str(checkpoint), "--data", str(aligned_folder), "--metrics", "l1", "--quiet"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert cli.main([*command, "--report", str(mine)]) == 2
    assert f"error: {mine}: not empty and not an earlier report" in capsys.readouterr().err
    assert [path.name for path in mine.iterdir()] == ["notes.txt"]

    report = tmp_path / "report"
    assert cli.main([*command, "--report", str(report)]) == 0
    assert len(list((report / "images").iterdir())) == 6  # 2 test images × 3 thumbnails
    assert cli.main([*command, "--report", str(report), "--limit", "1"]) == 0  # an earlier report is replaced
    assert len(list((report / "images").iterdir())) == 3

    empty = tmp_path / "empty"
    empty.mkdir()
    failed = tmp_path / "failed"
    assert cli.main([*command[:3], "--data", str(empty), "--metrics", "l1", "--report", str(failed)]) == 2
    assert not failed.exists() and not [path for path in tmp_path.iterdir() if path.name.startswith(".")]
    assert cli.main([*command, "--report", str(failed), "--report-sort", "lpips"]) == 2
    assert "--report-sort lpips: add it to --metrics" in capsys.readouterr().err
    inside = aligned_folder / "test" / "report"  # its thumbnails would become test images
    assert cli.main([*command, "--report", str(inside)]) == 2
    assert "must be outside the data folder" in capsys.readouterr().err and not inside.exists()


def _report(names: list[str], psnr: list[float]) -> EvalReport:
    per_image = {name: {"model": {"psnr": value}} for name, value in zip(names, psnr)}
    return EvalReport(
        checkpoint="ckpt", pipeline="pix2pix", task="translation", data="data", images=len(names),
        metrics=("psnr",), rows={"model": {"psnr": 30.0}}, per_image=per_image, settings={}, versions={},
    )  # fmt: skip


def test_sorting_by_a_higher_is_better_metric_puts_the_lowest_first_and_large_images_are_shrunk(
    tmp_path: Path,
) -> None:
    names = ["good", "perfect", "bad", "unknown"]
    psnr = [30.0, math.inf, 12.0, math.nan]
    images = [EvalImage(name, torch.rand(3, 150, 300), torch.rand(3, 300, 600)) for name in names]
    targets = torch.rand(4, 3, 300, 600)
    with HtmlReport(tmp_path / "report", sort_by="psnr") as page:
        page.add(EvalBatch(images, targets, {"model": targets.flip(-1)}))
        written = page.finish(_report(names, psnr))
    rows = PageRows()
    rows.feed(written.read_text(encoding="utf-8"))
    assert [name for name, _ in rows.rows] == ["bad", "good", "perfect", "unknown"]  # NaN last
    thumbnail = Image.open(tmp_path / "report" / unquote(rows.rows[0][1][2]))
    assert thumbnail.size == (256, 128)
    with pytest.raises(ReportError, match="cannot sort a report by 'fid'"):
        HtmlReport(tmp_path / "other", sort_by="fid")

"""``translate data download``: against archives served by a server the test starts on 127.0.0.1.

Normal downloads into each layout, a connection dropped part-way (resumed with a Range request,
within a run and by a second run), a server without Range support, corrupted archives (checksum
and CRC failures leave nothing behind) and archives whose members would escape the destination.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from translate.cli import main as cli_main
from translate.data import find_pairs
from translate.datasets.download import (
    RECIPES,
    DamagedArchiveError,
    DownloadError,
    download_dataset,
    extract_archive,
    download_file,
    parse_sha256_overrides,
    resolve_recipe,
)


# ---------------------------------------------------------------------------------- the server
class ArchiveServer:
    """Serves ``files`` (name → bytes) with HTTP Range support; records every request.

    ``drop_after[name] = n`` makes the next response for ``name`` stop after n body bytes and
    close the connection (the header still announces the full length).
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.drop_after: dict[str, int] = {}
        self.range_support = True
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                name = self.path.lstrip("/")
                asked = self.headers.get("Range")
                server.requests.append((name, asked))
                data = server.files.get(name)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if asked and server.range_support:
                    start = int(re.fullmatch(r"bytes=(\d+)-", asked).group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                drop = server.drop_after.pop(name, None)
                if drop is not None:
                    self.wfile.write(body[:drop])
                    self.wfile.flush()
                    self.close_connection = True  # the socket closes with the body unfinished
                    return
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[ArchiveServer]:
    served = ArchiveServer()
    yield served
    served.close()


# ---------------------------------------------------------------------------------- tiny archives
def _jpeg(seed: int, width: int = 64, height: int = 32) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _facades() -> bytes:
    """facades.tar.gz as pix2pix serves it: facades/{train,val,test}/N.jpg, A|B side by side."""
    members = {f"facades/train/{i}.jpg": _jpeg(i) for i in range(1, 4)}
    members |= {"facades/val/1.jpg": _jpeg(10), "facades/test/1.jpg": _jpeg(20)}
    return _tar_gz(members)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _leftovers(parent: Path) -> list[str]:
    """Everything left beside the destination (temporary folders, caches, parts)."""
    return sorted(path.name for path in parent.iterdir())


# ---------------------------------------------------------------------------------- downloads
def test_facades_unpacks_into_the_paired_layout_and_records_its_checksum(
    server: ArchiveServer, tmp_path: Path
) -> None:
    archive = _facades()
    server.files["facades.tar.gz"] = archive
    dest = tmp_path / "data" / "facades"
    summary = download_dataset("facades", dest, mirror=server.url, retry_wait=0)

    assert summary.counts == {"train": 3, "val": 1, "test": 1}
    pairs, layout = find_pairs(dest / "train")
    assert layout == "aligned" and len(pairs) == 3
    assert (dest / "train" / "2.jpg").read_bytes() == _jpeg(2)
    metadata = json.loads((dest / "metadata.json").read_text())
    assert metadata["archives"][0]["sha256"] == _sha256(archive)
    assert metadata["archives"][0]["sha256_expected"] is None and metadata["archives"][0]["bytes"] == len(archive)
    assert "no published checksum" in summary.describe() and _sha256(archive) in summary.describe()
    # The archive is deleted after unpacking, its cache folder too; no temporary folder is left.
    assert _leftovers(dest.parent) == ["facades"]
    assert server.requests == [("facades.tar.gz", None)]


def test_div2k_takes_two_archives_and_renames_their_folders(server: ArchiveServer, tmp_path: Path) -> None:
    server.files["DIV2K_train_HR.zip"] = _zip({f"DIV2K_train_HR/{i:04d}.png": _jpeg(i) for i in (1, 2)})
    server.files["DIV2K_valid_HR.zip"] = _zip({"DIV2K_valid_HR/0801.png": _jpeg(801), "__MACOSX/._junk": b"x"})
    dest = tmp_path / "div2k"
    summary = download_dataset("div2k", dest, mirror=server.url, keep_archives=True, retry_wait=0)
    assert summary.counts == {"train": 2, "val": 1}
    assert sorted(p.name for p in dest.iterdir()) == ["metadata.json", "train", "val"]  # junk dropped
    kept = tmp_path / ".downloads"
    assert sorted(p.name for p in kept.iterdir()) == ["DIV2K_train_HR.zip", "DIV2K_valid_HR.zip"]


def test_a_dropped_connection_is_resumed_with_a_range_request(server: ArchiveServer, tmp_path: Path) -> None:
    archive = _facades()
    cut = len(archive) // 3
    server.files["facades.tar.gz"] = archive
    server.drop_after["facades.tar.gz"] = cut
    dest = tmp_path / "facades"
    summary = download_dataset("facades", dest, mirror=server.url, retries=2, retry_wait=0)
    assert server.requests == [("facades.tar.gz", None), ("facades.tar.gz", f"bytes={cut}-")]
    assert summary.archives[0]["sha256"] == _sha256(archive) and summary.counts["train"] == 3


def test_an_interrupted_run_leaves_a_part_file_that_the_next_run_resumes(
    server: ArchiveServer, tmp_path: Path
) -> None:
    archive = _facades()
    cut = len(archive) // 2
    server.files["facades.tar.gz"] = archive
    server.drop_after["facades.tar.gz"] = cut
    dest = tmp_path / "facades"
    with pytest.raises(DownloadError, match=r"interrupted.*facades\.tar\.gz\.part.*run the same command again"):
        download_dataset("facades", dest, mirror=server.url, retries=0, retry_wait=0)
    part = tmp_path / ".downloads" / "facades.tar.gz.part"
    assert part.read_bytes() == archive[:cut] and not dest.exists()

    download_dataset("facades", dest, mirror=server.url, retries=0, retry_wait=0)
    assert server.requests[-1] == ("facades.tar.gz", f"bytes={cut}-")
    assert (dest / "test" / "1.jpg").read_bytes() == _jpeg(20) and not part.exists()


def test_a_server_without_range_support_sends_the_whole_file_again(server: ArchiveServer, tmp_path: Path) -> None:
    data = bytes(range(256)) * 40
    server.files["blob.bin"] = data
    server.drop_after["blob.bin"] = 1000
    server.range_support = False
    target = tmp_path / "blob.bin"
    digest = download_file(server.url + "blob.bin", target, sha256=_sha256(data), retries=1, retry_wait=0)
    assert target.read_bytes() == data and digest == _sha256(data)
    assert [asked for _, asked in server.requests] == [None, "bytes=1000-"]  # asked, got 200, rewrote from 0


def test_a_complete_part_file_is_not_downloaded_again(server: ArchiveServer, tmp_path: Path) -> None:
    data = b"complete" * 100
    server.files["blob.bin"] = data
    (tmp_path / "blob.bin.part").write_bytes(data)
    assert download_file(server.url + "blob.bin", tmp_path / "blob.bin", retry_wait=0) == _sha256(data)
    assert server.requests == [("blob.bin", f"bytes={len(data)}-")]  # answered 416: nothing more to fetch


# ---------------------------------------------------------------------------------- failures leave nothing
def test_a_checksum_mismatch_deletes_the_download_and_unpacks_nothing(server: ArchiveServer, tmp_path: Path) -> None:
    archive = _facades()
    corrupted = bytearray(archive)
    corrupted[len(corrupted) // 2] ^= 0xFF
    server.files["facades.tar.gz"] = bytes(corrupted)
    dest = tmp_path / "facades"
    with pytest.raises(DownloadError, match=f"checksum mismatch.*expected {_sha256(archive)}.*deleted"):
        download_dataset(
            "facades", dest, mirror=server.url, sha256={"facades.tar.gz": _sha256(archive)}, retry_wait=0
        )
    assert _leftovers(tmp_path) == []  # no part, no archive, no cache folder, no staging folder


def test_a_corrupted_archive_without_a_known_checksum_fails_its_crc_and_leaves_nothing(
    server: ArchiveServer, tmp_path: Path
) -> None:
    horses = _zip({"horse2zebra/trainA/1.jpg": _jpeg(1) * 4})
    for name, archive in (("facades.tar.gz", _facades()), ("horse2zebra.zip", horses)):
        corrupted = bytearray(archive)
        # Inside the compressed data (past the headers): only the CRCs can tell.
        corrupted[len(corrupted) // 2] ^= 0x01
        server.files[name] = bytes(corrupted)
        recipe = name.split(".")[0]
        with pytest.raises(DamagedArchiveError, match="deleted: run again"):
            download_dataset(recipe, tmp_path / recipe, mirror=server.url, retry_wait=0)
        assert not (tmp_path / recipe).exists()
        assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_members_escaping_the_destination_are_refused(tmp_path: Path, kind: str) -> None:
    members = {"facades/train/1.jpg": _jpeg(1), "facades/../../evil.txt": b"owned"}
    path = tmp_path / f"facades.{kind}"
    path.write_bytes(_tar_gz(members) if kind == "tar.gz" else _zip(members))
    with pytest.raises(DamagedArchiveError, match=r"'facades/\.\./\.\./evil\.txt' would be written outside"):
        extract_archive(path, tmp_path / "a" / "b")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "a" / "evil.txt").exists()


def test_an_unsafe_archive_is_deleted_and_nothing_is_unpacked(server: ArchiveServer, tmp_path: Path) -> None:
    server.files["facades.tar.gz"] = _tar_gz({"facades/train/1.jpg": _jpeg(1), "/etc/evil.txt": b"owned"})
    dest = tmp_path / "out" / "facades"
    with pytest.raises(DamagedArchiveError, match="'/etc/evil.txt' would be written outside"):
        download_dataset("facades", dest, mirror=server.url, retry_wait=0)
    assert _leftovers(dest.parent) == []


def test_recipes_and_their_errors(tmp_path: Path) -> None:
    assert resolve_recipe("summer2winter").name == "summer2winter_yosemite"
    assert resolve_recipe("DIV2K").name == "div2k"
    with pytest.raises(DownloadError, match="unknown data set 'facade'; choose one of: apple2orange, cityscapes"):
        resolve_recipe("facade")
    with pytest.raises(DownloadError, match="registering at https://www.cityscapes-dataset.com"):
        download_dataset("cityscapes")
    with pytest.raises(DownloadError, match="--cache .*: must be outside the destination"):
        download_dataset("facades", tmp_path / "facades", cache=tmp_path / "facades" / "cache")
    with pytest.raises(DownloadError, match="has 2 files; use FILE=HASH"):
        parse_sha256_overrides(RECIPES["div2k"], ["0" * 64])
    with pytest.raises(DownloadError, match="64 hexadecimal digits"):
        parse_sha256_overrides(RECIPES["facades"], ["abc"])
    assert parse_sha256_overrides(RECIPES["div2k"], ["DIV2K_valid_HR.zip=" + "A" * 64]) == {
        "DIV2K_valid_HR.zip": "a" * 64
    }
    # Every recipe with archives has a public http(s) URL, a size, and folders to check.
    for recipe in RECIPES.values():
        assert recipe.expect and (recipe.manual or recipe.archives)
        for archive in recipe.archives:
            assert archive.url.startswith(("http://", "https://")) and archive.approx_mb > 0
            assert archive.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", archive.sha256)


# ---------------------------------------------------------------------------------- CLI
def test_cli_downloads_an_unpaired_set_lists_and_refuses_an_occupied_folder(
    server: ArchiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    splits = ("trainA", "trainB", "testA", "testB")
    members = {f"horse2zebra/{split}/{i}.jpg": _jpeg(i) for split in splits for i in (1, 2)}
    archive = _zip(members)
    server.files["horse2zebra.zip"] = archive
    monkeypatch.setenv("TRANSLATE_DATA_MIRROR", server.url)
    dest = tmp_path / "h2z"
    assert cli_main(["data", "download", "horse2zebra", "--dest", str(dest), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"downloaded horse2zebra into {dest}: trainA 2, trainB 2, testA 2, testB 2 images" in out
    assert f"--sha256 horse2zebra.zip={_sha256(archive)}" in out
    assert (dest / "testB" / "2.jpg").read_bytes() == _jpeg(2)

    # An occupied destination is refused before anything is fetched; --overwrite replaces a download.
    requests = len(server.requests)
    assert cli_main(["data", "download", "horse2zebra", "--dest", str(dest), "--quiet"]) == 2
    assert "output folder exists and is not empty; pass --overwrite" in capsys.readouterr().err
    assert len(server.requests) == requests
    arguments = ["--dest", str(dest), "--quiet", "--overwrite", "--sha256", "f" * 64]
    assert cli_main(["data", "download", "horse2zebra", *arguments]) == 2
    assert "checksum mismatch" in capsys.readouterr().err and (dest / "testB" / "2.jpg").is_file()

    assert cli_main(["data", "download", "--list"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in RECIPES) and "~29 MB" in listing and "manual" in listing

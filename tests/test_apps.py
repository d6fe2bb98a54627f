"""The demo app, served on loopback once for this module: gradio_client on every endpoint, the
limits, 16 concurrent requests under the concurrency limit, and a real headless Chromium."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image, ImageDraw

from conftest import ROOT, tiny_pix2pix_config
from translate.checkpoint import read_checkpoint, save_checkpoint
from translate.config import apply_overrides
from translate.imageio import load_image, to_pil
from translate.infer import translate_image
from translate.pipelines.cbn import CBNConfig, ClassConditional
from translate.pipelines.cyclegan import CycleGAN, CycleGANConfig
from translate.pipelines.pix2pix import Pix2Pix
from translate.pipelines.srgan import SRGAN, SRGANConfig

# apps/ is not part of the installed package; it runs from the source tree (`python -m apps`).
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from apps.app import Demo, build_app  # noqa: E402
from apps.common import Limits, ModelCache, PageContext, model_card_markdown  # noqa: E402
from apps.pix2pix import sketch_to_edges, takes_edge_drawings  # noqa: E402

SHIPPED = "edges2emoji-pix2pix"
NOT_EDGES = "emoji-noto2openmoji-pix2pix"  # shipped, translates emoji drawings: no sketching
TINY = "tiny-pix2pix"  # untrained, 32 px: a second compatible checkpoint of another size
# Untrained tiny checkpoints of the other pipelines: the pages' plumbing, not their quality.
TINY_CYCLEGAN = "tiny-cyclegan"
TINY_SRGAN = "tiny-srgan"
TINY_CBN = "tiny-cbn"
TINY_CBN_GENERATION = "tiny-cbn-generation"
TINY_CBN_SETTINGS = (
    "classes=horizontal,vertical", "data.image_size=16", "generator.ngf=8", "generator.n_blocks=1",
    "generator.embedding_dim=16", "noise_generator.ngf=8", "noise_generator.z_dim=16",
    "noise_generator.embedding_dim=16", "discriminator.ndf=8",
)
EXAMPLE = ROOT / "examples" / SHIPPED / "A" / "cactus.png"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "outputs" / "test-artifacts"
LIMITS = Limits()  # the defaults `make app` serves with


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def drawing(size: int = 256) -> Image.Image:
    """A cross drawn with a 6 px black brush on a transparent canvas, as the sketchpad exports it."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    pen.line((size // 4, size // 4, 3 * size // 4, 3 * size // 4), fill=(0, 0, 0, 255), width=6)
    pen.line((3 * size // 4, size // 4, size // 4, 3 * size // 4), fill=(0, 0, 0, 255), width=6)
    return image


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The module's folder; gradio's uploads and example cache go inside it, and no analytics."""
    root = tmp_path_factory.mktemp("apps")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        patch.setenv("GRADIO_TEMP_DIR", str(root / "gradio-uploads"))
        patch.setenv("GRADIO_EXAMPLES_CACHE", str(root / "gradio-examples"))
        yield root


@pytest.fixture(scope="module")
def checkpoints(workdir: Path) -> dict[str, Path]:
    """The shipped edges→emoji checkpoint, a tiny untrained 32 px pix2pix and one of each other page's pipeline."""
    torch.manual_seed(0)
    pipelines = {
        TINY: Pix2Pix(tiny_pix2pix_config()),
        TINY_CYCLEGAN: CycleGAN(apply_overrides(CycleGANConfig(), [
            "domain_a=horse", "domain_b=zebra", "data.image_size=32", "generator.ngf=8", "generator.n_blocks=1",
            "discriminator.ndf=8", "discriminator.n_layers=2",
        ])),
        TINY_SRGAN: SRGAN(apply_overrides(SRGANConfig(), [
            "scale=2", "data.image_size=32", "generator.num_features=8", "generator.num_blocks=1",
        ])),
        TINY_CBN: ClassConditional(apply_overrides(CBNConfig(), ["mode=translation", *TINY_CBN_SETTINGS])),
        TINY_CBN_GENERATION: ClassConditional(apply_overrides(CBNConfig(), ["mode=generation", *TINY_CBN_SETTINGS])),
    }
    folders = {name: save_checkpoint(pipeline, workdir / "checkpoints" / name) for name, pipeline in pipelines.items()}
    return {SHIPPED: ROOT / "checkpoints" / SHIPPED, NOT_EDGES: ROOT / "checkpoints" / NOT_EDGES, **folders}


@pytest.fixture(scope="module")
def demo(checkpoints: dict[str, Path]) -> Iterator[Demo]:
    app = build_app(checkpoints, limits=LIMITS)
    app.launch(port=free_port(), prevent_thread_lock=True, quiet=True)
    yield app
    app.blocks.close()


@pytest.fixture(scope="module")
def client(demo: Demo, workdir: Path) -> Client:
    downloads = str(workdir / "downloads")
    return Client(demo.blocks.local_url, verbose=False, analytics_enabled=False, download_files=downloads)


def upload(path: Path) -> Any:
    return handle_file(str(path))


def sketch_value(path: Path) -> dict[str, Any]:
    return {"background": None, "layers": [], "composite": upload(path)}


def test_cyclegan_examples_come_from_pairs_or_a_folder_per_domain(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    from apps.common import PageContext
    from apps.cyclegan import example_rows

    context = PageContext(models=ModelCache({TINY_CYCLEGAN: checkpoints[TINY_CYCLEGAN]}), examples_root=tmp_path)
    assert example_rows(context, [TINY_CYCLEGAN]) == []
    for folder in ("horse", "zebra"):  # how scripts/ship_checkpoint.py bundles a model scored by class
        (tmp_path / TINY_CYCLEGAN / folder).mkdir(parents=True)
        Image.new("L", (32, 32)).save(tmp_path / TINY_CYCLEGAN / folder / f"{folder}.png")
    rows = example_rows(context, [TINY_CYCLEGAN])
    assert [(Path(image).name, direction) for image, _, direction in rows] == [("horse.png", "a2b"), ("zebra.png", "b2a")]
    (tmp_path / TINY_CYCLEGAN / "A").mkdir()  # held-out pairs' inputs come first
    Image.new("L", (32, 32)).save(tmp_path / TINY_CYCLEGAN / "A" / "pair.png")
    assert [Path(image).name for image, _, _ in example_rows(context, [TINY_CYCLEGAN])] == ["pair.png", "zebra.png"]


# ---------------------------------------------------------------------------------- endpoints
def test_named_endpoints_are_the_ones_tested_here(client: Client, demo: Demo) -> None:
    endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert endpoints == {"/pix2pix", "/pix2pix_sketch", "/cyclegan", "/srgan", "/cbn", "/cbn_generate"}
    assert demo.pages == ["pix2pix", "cyclegan", "srgan", "cbn"]


def odd_image(workdir: Path, width: int = 48, height: int = 40) -> Path:
    """A random colour image whose sides are no network's multiple."""
    path = workdir / f"odd-{width}x{height}.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
    return path


def test_upload_endpoint_gives_the_models_output_at_the_inputs_size(client: Client, demo: Demo) -> None:
    result = Image.open(client.predict(upload(EXAMPLE), SHIPPED, api_name="/pix2pix"))
    assert result.size == (64, 64) and result.mode == "RGB"
    # Lossless and from the served model: the same pixels as the library gives for the file.
    pipeline = demo.models.get(SHIPPED)
    expected = to_pil(translate_image(pipeline, load_image(EXAMPLE, pipeline.input_channels)).pixels)
    assert np.array_equal(np.asarray(result), np.asarray(expected))


def test_upload_endpoint_keeps_any_size_with_the_other_checkpoint(client: Client, workdir: Path) -> None:
    result = Image.open(client.predict(upload(odd_image(workdir)), TINY, api_name="/pix2pix"))
    assert result.size == (48, 40)


def test_cyclegan_endpoint_translates_both_ways(client: Client, demo: Demo, workdir: Path) -> None:
    source = odd_image(workdir)
    results = {d: np.asarray(Image.open(client.predict(upload(source), TINY_CYCLEGAN, d, api_name="/cyclegan")))
               for d in ("a2b", "b2a")}
    assert all(result.shape == (40, 48, 3) for result in results.values())
    # Two generators: the directions really differ.
    assert not np.array_equal(results["a2b"], results["b2a"])


def test_srgan_endpoint_gives_bicubic_and_model_at_the_output_scale(client: Client, workdir: Path) -> None:
    source = odd_image(workdir, 24, 20)
    for outscale, size in ((2, (48, 40)), (3, (72, 60))):
        (bicubic, model), download = client.predict(upload(source), TINY_SRGAN, outscale, api_name="/srgan")
        assert Image.open(bicubic).size == Image.open(model).size == Image.open(download).size == size


def test_srgan_pixel_limit_counts_the_result(client: Client, workdir: Path) -> None:
    # 600×500 = 300,000 pixels is under the limit, but ×2 it would be 1,200,000.
    with pytest.raises(AppError, match="accepts at most 262,144 pixels"):
        client.predict(upload(odd_image(workdir, 600, 500)), TINY_SRGAN, 2, api_name="/srgan")


def test_cbn_endpoint_translates_into_a_class_and_a_blend(client: Client, demo: Demo, workdir: Path) -> None:
    # An untrained generator barely depends on the class, so the request the pipeline gets is
    # what is checked: the class, or the blend written as the pipeline's weights.
    requested: list[str] = []
    hook = demo.models.get(TINY_CBN).register_forward_pre_hook(
        lambda module, args, kwargs: requested.append(kwargs["class_name"]), with_kwargs=True
    )
    source = odd_image(workdir, 20, 24)
    try:
        for blend in (0.0, 0.25, 1.0):
            path = client.predict(upload(source), TINY_CBN, "horizontal", "vertical", blend, api_name="/cbn")
            result = Image.open(path)
            assert result.size == (20, 24)
    finally:
        hook.remove()
    assert requested == ["horizontal", "horizontal:0.75,vertical:0.25", "vertical"]
    with pytest.raises(AppError, match="unknown class 'cat'; valid classes: horizontal, vertical"):
        client.predict(upload(source), TINY_CBN, "cat", "vertical", 0.0, api_name="/cbn")


def test_cbn_generate_endpoint_gives_a_gallery_repeatable_by_seed(client: Client) -> None:
    first, again = (
        client.predict(TINY_CBN_GENERATION, "vertical", 3, 0.7, 4, api_name="/cbn_generate") for _ in range(2)
    )
    assert len(first) == 4
    images = [np.asarray(Image.open(item["image"])) for item in first]
    assert all(image.shape == (16, 16, 3) for image in images)
    assert all(np.array_equal(a, np.asarray(Image.open(b["image"]))) for a, b in zip(images, again))


@pytest.mark.parametrize(("checkpoint", "size"), [(SHIPPED, 64), (TINY, 32)])
def test_sketch_endpoint_gives_edges_and_result_at_the_checkpoints_size(
    client: Client, workdir: Path, checkpoint: str, size: int
) -> None:
    path = workdir / "sketch.png"
    drawing().save(path)
    edges_path, result_path = client.predict(sketch_value(path), checkpoint, api_name="/pix2pix_sketch")
    edges = np.asarray(Image.open(edges_path))
    assert edges.shape == (size, size)
    assert set(np.unique(edges)) == {0, 255}
    # Dark lines on white, like the training edges: mostly background, the cross's centre drawn.
    assert (edges == 255).mean() > 0.8 and edges[size // 2, size // 2] == 0
    assert Image.open(result_path).size == (size, size)


def test_empty_sketch_is_refused_clearly(client: Client) -> None:
    with pytest.raises(AppError, match="Draw something"):
        client.predict({"background": None, "layers": [], "composite": None}, SHIPPED, api_name="/pix2pix_sketch")


def test_only_checkpoints_trained_on_edges_take_sketches(client: Client, workdir: Path) -> None:
    path = workdir / "sketch.png"
    drawing().save(path)
    # The Sketch tab's picker lists the others only, and the endpoint takes its choices.
    with pytest.raises(AppError, match=rf"{NOT_EDGES} is not in the list of choices: \['{SHIPPED}', '{TINY}'\]"):
        client.predict(sketch_value(path), NOT_EDGES, api_name="/pix2pix_sketch")
    # It still translates uploads on the same page.
    result = client.predict(upload(ROOT / "examples" / NOT_EDGES / "A" / "cactus.png"), NOT_EDGES, api_name="/pix2pix")
    assert Image.open(result).size == (64, 64)


def test_a_checkpoint_takes_sketches_only_when_all_its_inputs_are_edge_drawings(tmp_path: Path) -> None:
    """The Sketch tab's picker: one bundled input that is not black-on-white lines is enough to
    leave a checkpoint out, whichever file the folder lists first."""
    context = PageContext(ModelCache({}), examples_root=tmp_path)
    inputs = tmp_path / "mixed" / "A"
    inputs.mkdir(parents=True)
    edges = np.full((8, 8), 255, np.uint8)
    edges[2:6, 4] = 0
    Image.fromarray(edges).save(inputs / "a.png")
    assert takes_edge_drawings(context, "mixed")
    Image.fromarray(np.full((8, 8, 3), (200, 40, 40), np.uint8)).save(inputs / "z.png")
    assert not takes_edge_drawings(context, "mixed")
    assert takes_edge_drawings(context, "no-examples")  # nothing to tell by: offered

# ---------------------------------------------------------------------------------- limits
def test_too_many_pixels_is_refused_with_a_clear_message(client: Client, workdir: Path) -> None:
    big = workdir / "big.png"
    Image.new("L", (1100, 1000), 255).save(big)  # 1.1 MP in a few kB: only the pixel limit stops it
    with pytest.raises(AppError, match=r"1100×1000 = 1,100,000 pixels; this page accepts at most 1,048,576"):
        client.predict(upload(big), SHIPPED, api_name="/pix2pix")


def test_too_large_a_file_is_refused_by_the_server(demo: Demo, workdir: Path) -> None:
    junk = workdir / "junk.png"
    junk.write_bytes(b"\0" * (10 * 1024 * 1024 + 1))  # one byte over the 10mb limit
    with junk.open("rb") as handle:
        response = httpx.post(demo.blocks.local_url + "gradio_api/upload", files={"files": handle}, timeout=30)
    assert response.status_code == 413
    assert "maximum allowed size of 10485760 bytes" in response.text


def test_sixteen_concurrent_requests_succeed_within_the_concurrency_limit(client: Client, demo: Demo) -> None:
    """Counted inside the model call: never more than the limit at once, and the limit reached.

    A barrier of ``limit`` parties makes reaching it certain rather than a matter of timing:
    if the queue let fewer calls in at once, the barrier would time out and requests fail.
    """
    limit = LIMITS.concurrency
    pipeline = demo.models.get(SHIPPED)
    lock = threading.Lock()
    counts = {"active": 0, "peak": 0, "entries": 0}
    barrier = threading.Barrier(limit, timeout=30)

    def enter(module: Any, args: Any) -> None:
        with lock:
            counts["active"] += 1
            counts["entries"] += 1
            counts["peak"] = max(counts["peak"], counts["active"])
        barrier.wait()

    def leave(module: Any, args: Any, output: Any) -> None:
        with lock:
            counts["active"] -= 1

    hooks = [pipeline.register_forward_pre_hook(enter), pipeline.register_forward_hook(leave)]
    try:
        jobs = [client.submit(upload(EXAMPLE), SHIPPED, api_name="/pix2pix") for _ in range(16)]
        sizes = [Image.open(job.result(timeout=120)).size for job in jobs]
    finally:
        for hook in hooks:
            hook.remove()
    assert sizes == [(64, 64)] * 16
    assert counts["entries"] == 16
    assert counts["peak"] == limit


# ---------------------------------------------------------------------------------- structure
def test_each_checkpoint_is_loaded_once(checkpoints: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import apps.common

    calls: list[Path] = []
    real = apps.common.load_pipeline
    monkeypatch.setattr(apps.common, "load_pipeline", lambda path: calls.append(path) or real(path))
    models = ModelCache({TINY: checkpoints[TINY]})
    loaded: list[Any] = []
    threads = [threading.Thread(target=lambda: loaded.append(models.get(TINY))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(loaded) == 8 and all(p is loaded[0] for p in loaded)


def test_a_page_appears_only_with_checkpoints_of_its_pipeline(checkpoints: dict[str, Path]) -> None:
    assert build_app({}).pages == []
    assert build_app({TINY: checkpoints[TINY]}).pages == ["pix2pix"]
    assert build_app({TINY_SRGAN: checkpoints[TINY_SRGAN]}).pages == ["srgan"]


def test_the_page_shows_a_models_misses_of_its_shipping_bar_beside_its_data(tmp_path: Path) -> None:
    folder = save_checkpoint(Pix2Pix(tiny_pix2pix_config()), tmp_path / "tiny", extra={"description": "tiny"})
    (folder / "README.md").write_text(
        "# tiny\n\nA tiny model.\n\n![x](samples.png)\n\n*caption*\n\n## Below the shipping bar\n\n"
        "This model misses part of the project's shipping bar (the model card's Evaluation section has the full "
        "tables):\n\n- KID×1000: model 78.6, identity 23.9\n\nWhy it ships: the best of four.\n\n## Use\n\n```sh\ntranslate\n```\n\n"
        "## Data\n\nEmoji.\n\n## Evaluation\n\n| a | b |\n\n## Limits\n\n64 px.\n"
    )
    text = model_card_markdown(read_checkpoint(folder))
    assert text.startswith("**tiny**: A tiny model.")
    assert "**Below the shipping bar.** This model misses part" in text
    assert "- KID×1000: model 78.6, identity 23.9\n\nWhy it ships: the best of four." in text
    assert text.index("Below the shipping bar") < text.index("**Data.** Emoji.") < text.index("**Limits.** 64 px.")
    assert "| a | b |" not in text and "translate" not in text


def test_sketch_to_edges_matches_the_training_edges_polarity_and_size() -> None:
    flat = Image.new("L", (300, 200), 255)  # not square: padded with background
    pen = ImageDraw.Draw(flat)
    pen.line((100, 20, 200, 180), fill=0, width=6)
    pen.line((200, 20, 100, 180), fill=0, width=6)
    edges = np.asarray(sketch_to_edges(flat, 64))
    assert edges.shape == (64, 64) and set(np.unique(edges)) == {0, 255}
    # Light lines on dark give the same edges as dark lines on light.
    inverted = np.asarray(sketch_to_edges(flat.point(lambda v: 255 - v), 64))
    assert np.array_equal(edges, inverted)
    # The bundled edges hold ~10-20% line pixels; so does a drawn cross scaled down.
    training = np.asarray(Image.open(EXAMPLE))
    assert (training == 0).mean() < 0.3 and 0.02 < (edges == 0).mean() < 0.3


def test_usage_errors_exit_with_status_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from apps.__main__ import main

    # main() sets gradio's variables for `make app`; set here, they are restored after the test.
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    monkeypatch.setenv("GRADIO_EXAMPLES_CACHE", str(tmp_path))
    monkeypatch.setenv("GRADIO_RESET_EXAMPLES_CACHE", "True")
    for argv in (["--port", "70000"], ["--max-pixels", "0"]):
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 2


# ---------------------------------------------------------------------------------- browser
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's chromium is not installed ({CHROMIUM}); `bash scripts/system_packages.sh` "
                    "as root installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


IMAGE_LOADED = "(s) => { const e = document.querySelector(s); return e && e.complete && e.naturalWidth > 0; }"


def test_browser_upload_example_and_translate(browser: Any, demo: Demo) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    try:
        page.goto(demo.blocks.local_url)
        page.locator("#pix2pix-input input[type=file]").set_input_files(str(EXAMPLE))
        page.wait_for_selector("#pix2pix-input img")
        page.click("#pix2pix-run")
        page.wait_for_function(IMAGE_LOADED, arg="#pix2pix-result img", timeout=30_000)
        shown = page.locator("#pix2pix-result img")
        assert shown.is_visible()
        assert shown.evaluate("e => [e.naturalWidth, e.naturalHeight]") == [64, 64]
        # The model card's training-data text and the examples' thumbnails are on the page.
        assert "OpenMoji" in page.inner_text("#pix2pix-card")
        page.wait_for_function(IMAGE_LOADED, arg="#pix2pix-examples img", timeout=30_000)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "apps-pix2pix-upload.png"), full_page=True)
    finally:
        page.close()


def test_browser_sketch_and_translate(browser: Any, demo: Demo) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    try:
        page.goto(demo.blocks.local_url)
        page.get_by_role("tab", name="Sketch").click()
        page.locator("#pix2pix-sketch button[aria-label=Brush]").click()
        box = page.locator("#pix2pix-sketch canvas").first.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        # A cross in two strokes; few intermediate points, as each one redraws the canvas.
        for (x0, y0), (x1, y1) in (((x - 60, y - 60), (x + 60, y + 60)), ((x + 60, y - 60), (x - 60, y + 60))):
            page.mouse.move(x0, y0)
            page.mouse.down()
            page.mouse.move(x1, y1, steps=4)
            page.mouse.up()
        page.click("#pix2pix-run-sketch")
        page.wait_for_function(IMAGE_LOADED, arg="#pix2pix-sketch-result img", timeout=30_000)
        for selector in ("#pix2pix-edges img", "#pix2pix-sketch-result img"):
            assert page.locator(selector).evaluate("e => [e.naturalWidth, e.naturalHeight]") == [64, 64]
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "apps-pix2pix-sketch.png"), full_page=True)
    finally:
        page.close()

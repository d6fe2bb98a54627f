"""The demo app: one tab per pipeline that has served checkpoints, one queue, one set of limits.

A page is a module in ``apps/`` with ``PIPELINE`` (the registry key it serves), ``TITLE`` and
``build(context)``, which lays out the page inside the current tab and names its API endpoints.
Adding a page = that module + one line in :data:`PAGES`; it appears when a served checkpoint
of its pipeline exists.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from apps.common import EXAMPLES_ROOT, Limits, ModelCache, PageContext
from translate.checkpoint import shipped_checkpoints

# Small model outputs (64×64) are shown enlarged with hard pixel edges instead of as a thumbnail.
CSS = """
.translate-image img { width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated; }
"""

# pipeline registry key → page module.
PAGES: dict[str, str] = {
    "pix2pix": "apps.pix2pix",
    "cyclegan": "apps.cyclegan",
    "srgan": "apps.srgan",
    "cbn": "apps.cbn",
}


@dataclass
class Demo:
    """A built app: the gradio Blocks, the model cache its handlers share, its limits and pages."""

    blocks: gr.Blocks
    models: ModelCache
    limits: Limits
    pages: list[str]

    def launch(self, host: str = "127.0.0.1", port: int = 7860, **options: Any) -> None:
        """Serve on ``host:port`` with the upload size limit; other gradio launch options pass through."""
        self.blocks.launch(
            server_name=host,
            server_port=port,
            max_file_size=self.limits.max_file_size,
            ssr_mode=False,
            css=CSS,
            **options,
        )


def build_app(
    checkpoints: dict[str, Path] | None = None,
    limits: Limits | None = None,
    examples_root: Path = EXAMPLES_ROOT,
) -> Demo:
    """Build the app (examples are run and cached when it launches).

    Args:
        checkpoints: name → folder of the checkpoints to serve; default the shipped ones.
        limits: upload, pixel, concurrency and queue limits.
        examples_root: holds ``NAME/A/`` example inputs for checkpoint ``NAME``.

    Returns:
        The app, not yet launched.

    Raises:
        CheckpointError: a served checkpoint's config.json is missing or damaged.
    """
    limits = limits or Limits()
    models = ModelCache(shipped_checkpoints() if checkpoints is None else checkpoints)
    pages = [pipeline for pipeline in PAGES if models.names(pipeline)]
    context = PageContext(models=models, limits=limits, examples_root=examples_root)
    with gr.Blocks(title="translate: image-to-image demos", analytics_enabled=False) as blocks:
        gr.Markdown(
            "# translate: image-to-image translation demos\n"
            "Each tab serves the shipped checkpoints of one pipeline, on the CPU. "
            f"Uploads: at most {limits.max_file_size} and {limits.max_pixels:,} pixels."
        )
        if not pages:
            served = ", ".join(f"{name} ({info.pipeline})" for name, info in models.infos.items()) or "none"
            gr.Markdown(f"No page serves these checkpoints: {served}. Pages exist for: {', '.join(PAGES)}.")
        with gr.Tabs():
            for pipeline in pages:
                page = importlib.import_module(PAGES[pipeline])
                with gr.Tab(page.TITLE, id=pipeline):
                    page.build(context)
    # One queue: every model event shares MODEL_CONCURRENCY_ID, so this limit is app-wide.
    blocks.queue(default_concurrency_limit=limits.concurrency, max_size=limits.queue_size)
    return Demo(blocks=blocks, models=models, limits=limits, pages=pages)

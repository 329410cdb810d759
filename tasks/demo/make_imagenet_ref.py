"""Regenerate the FID demo reference: `python tasks/demo/make_imagenet_ref.py` (deterministic).

Writes REF_COUNT small RGB PNGs to tasks/demo/imagenet_ref/: smooth colour fields with a few
ellipses and bars, drawn from a fixed seed. They are not ImageNet pictures; they only give the demo
(`--data demo`) a reference folder to compute statistics and precision/recall against.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REF_DIR = Path(__file__).resolve().parent / "imagenet_ref"
REF_COUNT = 32
REF_SIZE = 64
SEED = 20250122


def reference_image(index: int, size: int = REF_SIZE) -> Image.Image:
    """One deterministic picture: an upsampled 4x4 colour field plus two to four shapes."""
    rng = np.random.default_rng([SEED, index])
    field = rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    image = Image.fromarray(field, "RGB").resize((size, size), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 5))):
        x0, y0 = (int(v) for v in rng.integers(0, size - 12, size=2))
        w, h = (int(v) for v in rng.integers(8, size // 2, size=2))
        color = tuple(int(v) for v in rng.integers(0, 256, size=3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x0, y0, min(size - 1, x0 + w), min(size - 1, y0 + h)), fill=color)
    return image


def main() -> None:
    """Write every reference PNG (overwriting)."""
    REF_DIR.mkdir(parents=True, exist_ok=True)
    for index in range(REF_COUNT):
        reference_image(index).save(REF_DIR / f"ref-{index:03d}.png", format="PNG", optimize=False)


if __name__ == "__main__":
    main()

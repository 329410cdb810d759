"""Generated images out of the records: one PNG each plus samples.npz (ADM's evaluator input), and grids.

Images go one at a time from the records (which read large arrays from disk when used) into PNGs and a
memory-mapped .npy, so 50,000 of them (10 GB at 256 px) never sit in memory. PNG, not JPEG: FID is sensitive
to compression.
"""

from __future__ import annotations

import os
import tempfile
import textwrap
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from evals.run.records import Record
from tasks.image_metrics.image_scores import SAMPLE_ARRAY

CAPTION_LINES, CAPTION_CHARS = 3, 22  # caption text under a grid cell: lines, characters per line


def write_samples(
    records: Sequence[Record], folder: Path, npz_path: Path, labels: Sequence[int] | None = None
) -> list[Path]:
    """One lossless PNG per image in `folder` (named by doc id), and `npz_path` with `arr_0` uint8
    (N, height, width, 3) in the given order, plus `arr_1` = `labels` (int64) when given, in one pass."""
    folder.mkdir(parents=True, exist_ok=True)
    npz_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=npz_path.parent) as scratch:
        images_path = Path(scratch) / "arr_0.npy"
        images = None
        for i, record in enumerate(records):
            pixels = np.asarray(record.arrays[SAMPLE_ARRAY], dtype=np.uint8)
            if images is None:
                shape = (len(records), *pixels.shape)
                images = np.lib.format.open_memmap(images_path, mode="w+", dtype=np.uint8, shape=shape)
            elif pixels.shape != images.shape[1:]:
                raise ValueError(
                    f"sample {record.doc_id} is {pixels.shape}, the first is {images.shape[1:]}; "
                    "samples.npz needs one size"
                )
            images[i] = pixels
            Image.fromarray(pixels, "RGB").save(folder / f"{record.doc_id}.png")
        assert images is not None, "write_samples needs at least one record"
        images.flush()
        del images
        members = [(images_path, "arr_0.npy")]
        if labels is not None:
            labels_path = Path(scratch) / "arr_1.npy"
            np.save(labels_path, np.asarray(labels, dtype=np.int64))
            members.append((labels_path, "arr_1.npy"))
        partial = Path(scratch) / "samples.npz"
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for path, name in members:
                archive.write(path, name)
        os.replace(partial, npz_path)
    return [folder, npz_path]


def captioned_grid(images: Sequence[np.ndarray], captions: Sequence[str], columns: int, cell: int) -> Image.Image:
    """Images in rows of `columns`, each resized to `cell` px with its caption (wrapped, cut) underneath."""
    line_height = 12  # PIL's default bitmap font is 11 px high
    text_height = CAPTION_LINES * line_height + 4
    rows = -(-len(images) // columns)
    grid = Image.new("RGB", (columns * cell, rows * (cell + text_height)), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    for k, (pixels, caption) in enumerate(zip(images, captions, strict=True)):
        x, y = (k % columns) * cell, (k // columns) * (cell + text_height)
        picture = Image.fromarray(np.asarray(pixels, dtype=np.uint8), "RGB")
        grid.paste(picture.resize((cell, cell), Image.Resampling.BICUBIC), (x, y))
        # ASCII only: PIL's fallback bitmap font cannot draw other characters.
        lines = textwrap.wrap(caption.encode("ascii", "replace").decode(), CAPTION_CHARS)[:CAPTION_LINES]
        for n, line in enumerate(lines):
            draw.text((x + 2, y + cell + 2 + n * line_height), line, fill=(0, 0, 0))
    return grid

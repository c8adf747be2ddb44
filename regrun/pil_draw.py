"""Drawing figures with PIL rather than matplotlib (whose import and rendering were most of a small run's figure
time: docs/detection.md, docs/superres.md): a font, text sizes, round ticks, a fast PNG write. Shared by the
detection figures and plots.image_grid."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageFont


def font(size: int):
    try:
        return ImageFont.load_default(size)  # Pillow's own scalable font (needs FreeType)
    except (TypeError, ImportError, OSError):  # an old Pillow or one without FreeType: its fixed bitmap font
        return ImageFont.load_default()


def text_size(draw, text: str, font) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return right - left, bottom - top


def save_png(img: Image.Image, path: Path) -> Path:
    img.save(path, optimize=False, compress_level=1)  # fast zlib: the figures are small, the time is not
    return path


def nice_ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering [lo, hi], about n of them."""
    span = hi - lo if hi > lo else abs(hi) or 1.0
    raw = span / n
    mag = 10.0 ** math.floor(math.log10(raw))
    step = min((s * mag for s in (1, 2, 5, 10)), key=lambda st: abs(span / st - n))
    first = math.ceil(lo / step - 1e-9) * step
    return np.arange(first, hi + step * 1e-9, step)

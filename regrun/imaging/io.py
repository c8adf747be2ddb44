"""Reading images with FAIR's conventions, and the FAIR data pairs' domains and landmarks."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import PACKAGE_DIR
from ..errors import UserError

# FAIR's domains (x1 range, x2 range) for its 2D pairs; EPIslice has none in FAIR, so pixel units.
FAIR_PAIRS = {
    "hands": {"files": ("hands-T.jpg", "hands-R.jpg"), "omega": (0.0, 20.0, 0.0, 25.0)},
    "MRIhead": {"files": ("MRIhead-T.jpg", "MRIhead-R.jpg"), "omega": (0.0, 20.0, 0.0, 20.0)},
    "HNSP": {"files": ("HNSP-T.jpg", "HNSP-R.jpg"), "omega": (0.0, 2.0, 0.0, 1.0)},
    "EPIslice": {"files": ("EPIslice-T.jpg", "EPIslice-R.jpg"), "omega": None},
}

# FAIR setup2DhandData.m, one landmark pair a row in domain coordinates: [template x1 x2 | reference x1 x2].
HAND_LANDMARKS = np.array([
    [5.5841, 17.2664, 2.6807, 12.7797],
    [10.7243, 21.6121, 7.2028, 19.6795],
    [13.2477, 21.6121, 10.1865, 20.8916],
    [15.2570, 19.2290, 12.5175, 20.0991],
    [15.8645, 15.1636, 14.3357, 16.7424],
    [5.3972, 8.1075, 7.9953, 6.3462],
    [7.5000, 5.9579, 11.8648, 5.6469],
])


def resolve_data_path(path: str | Path) -> Path:
    """A relative path is looked up from the working directory, then from the source checkout's root."""
    p = Path(path).expanduser()
    if p.is_absolute() or p.exists():
        return p
    beside_repo = PACKAGE_DIR.parent / p
    return beside_repo if beside_repo.exists() else p


def read_image(path: str | Path, resize: int | None = None) -> np.ndarray:
    """A grayscale image as float64 in FAIR's layout: flipped up-down, then transposed, so that [i, j] is the
    cell at x1 = i-th column from the left and x2 = j-th row from the bottom. RGB is converted to gray.
    `resize=N` resamples to N x N pixels with PIL's bicubic filter first (as the paper does)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise UserError(f"image file not found: {path}")
    try:
        with Image.open(path) as img:
            img = img.convert("L")
            if resize is not None:
                img = img.resize((resize, resize), Image.Resampling.BICUBIC)
            arr = np.asarray(img, dtype=np.float64)
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"cannot read image {path}: {exc}") from None
    return np.ascontiguousarray(np.flipud(arr).T)

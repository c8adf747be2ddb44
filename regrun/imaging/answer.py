"""A run's answer to a user's own data written beside its results file as an array a user opens without HDF5, in the
layout the problem reads the user's own images in, and what summary.md says of it: the one place every problem
writes it and the summary describes it (CT and registration wrote none: newuser13, newuser17)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

# Each problem's answer file: its name, and how it is laid out (the layout in which the problem reads the user's own
# images, so that the file and the user's images, frames, a truth, compare without a turn).
ANSWERS = {
    "superres": ("reconstruction.npy",
                 ("as your frames are stored (rows from the top, columns[, channels]), loaded with `numpy.load`; "
                 "`figures/reconstruction.png` the same at the frames' depth, to look at")),
    "ct_fewview": ("reconstruction.npy",
                   ("the reconstruction in the layout `problem.truth_file` is read and compared in ([i, j] = (x1_i, "
                   "x2_j); 3-D: [..., k] slice k along the axis), loaded with `numpy.load`, in the sinogram's units "
                   "per pixel; a sinogram from scikit-image's `radon`, read with `problem.angle_start=90`, gives it "
                   "as radon's input image was stored (row 0 at the top), and so does an ASTRA parallel scan read "
                   "with it. The 2-D figures draw it, and the truth file, as stored, row 0 at the top (docs/ct.md, "
                   "'Angles'). `reconstruction.tif` holds the same array as a 32-bit float TIFF (a 3-D one slice a "
                   "page) for an image viewer (Fiji/ImageJ, napari), in the same units; "
                   "`figures/reconstruction.png` a 16-bit picture of it from 0 to its largest value in the disk, "
                   "to look at")),
    "multiscale_affine": ("registered.npy",
                          ("the template moved onto the reference by the affine found, on the reference's pixels, as "
                          "your images are stored (rows from the top), in the template's grey values, loaded with "
                          "`numpy.load`")),
}


# The answer as an image file besides, for the problems whose answer is in the data's own units (floats) and not
# drawn at the data's depth elsewhere: CT wrote reconstruction.npy alone, which an image viewer does not open
# (newuser22, newuser24); super-resolution writes figures/reconstruction.png at the frames' depth.
IMAGE_COPIES = {"ct_fewview": "reconstruction.tif"}


def answer_name(problem: str) -> str:
    """The answer file's name for `problem` (a problem ANSWERS does not name writes none: KeyError)."""
    return ANSWERS[problem][0]


def write_answer(out_dir: Path, problem: str, image: np.ndarray) -> Path:
    """The answer file of `problem` in the run folder `out_dir` (float64, the array as given: the problem lays it
    out as ANSWERS says). Returns its path."""
    path = Path(out_dir) / answer_name(problem)
    np.save(path, np.asarray(image, dtype=np.float64))
    if problem in IMAGE_COPIES:
        write_float_tiff(Path(out_dir) / IMAGE_COPIES[problem], image)
    return path


def write_float_tiff(path: Path, image: np.ndarray) -> None:
    """`image` as a 32-bit float TIFF as it is stored (row 0 the first row): (rows, columns) one page, (rows,
    columns, slices) one page a slice. Float keeps the units (a 16-bit file would need a scale the user must
    know); Pillow writes it (a float32 array is its mode F), so nothing beyond the core is needed."""
    from PIL import Image

    arr = np.asarray(image, dtype=np.float32)
    pages = [arr] if arr.ndim == 2 else [arr[..., k] for k in range(arr.shape[-1])]
    first, *rest = [Image.fromarray(np.ascontiguousarray(page)) for page in pages]
    first.save(path, format="TIFF", save_all=bool(rest), append_images=rest)


def answer_line(out_dir: Path, problem: str) -> str | None:
    """summary.md's line on the answer file of the run folder `out_dir`, or None where the run wrote none."""
    if problem not in ANSWERS or not (Path(out_dir) / answer_name(problem)).is_file():
        return None
    name, layout = ANSWERS[problem]
    return f"`{name}`: {layout}"

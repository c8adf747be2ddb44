"""A run's answer written beside its results file as a file a user opens without HDF5: `reconstruction.npy`, in the
layout the problem reads the user's own images in, and what summary.md says of it. The one place both
super-resolution and CT write it and the summary describes it (CT wrote none: newuser13, newuser17)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

ANSWER_FILE = "reconstruction.npy"

# How each problem's answer file is laid out: the layout in which it reads the user's own images, so that the file
# and the user's images (frames, a truth) compare without a turn.
ANSWER_LAYOUTS = {
    "superres": "as your frames are stored (rows from the top, columns[, channels]), loaded with `numpy.load`; "
                "`figures/reconstruction.png` the same at the frames' depth, to look at",
    "ct_fewview": "the reconstruction in the layout `problem.truth_file` is read and compared in ([i, j] = (x1_i, "
                  "x2_j); 3-D: [..., k] slice k along the axis), loaded with `numpy.load`, in the sinogram's units "
                  "per pixel; a sinogram from scikit-image's `radon`, read with `problem.angle_start=90`, gives it "
                  "as radon's input image was stored (row 0 at the top). The figures draw it with x1 to the right "
                  "and x2 up, a quarter turn counterclockwise of that (docs/ct.md, 'Angles')",
}


def write_answer(out_dir: Path, image: np.ndarray) -> Path:
    """`reconstruction.npy` in the run folder `out_dir` (float64, the array as given: the caller lays it out as
    ANSWER_LAYOUTS says for its problem). Returns its path."""
    path = Path(out_dir) / ANSWER_FILE
    np.save(path, np.asarray(image, dtype=np.float64))
    return path


def answer_line(out_dir: Path, problem: str) -> str | None:
    """summary.md's line on the answer file of the run folder `out_dir`, or None where the run wrote none."""
    if not (Path(out_dir) / ANSWER_FILE).is_file():
        return None
    layout = ANSWER_LAYOUTS.get(problem, "the run's answer as an array, loaded with `numpy.load`")
    return f"`{ANSWER_FILE}`: {layout}"

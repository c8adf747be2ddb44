"""newuser19's pass on data of their own (session 34): what a fresh user met, each case failing on main."""
import numpy as np
from PIL import Image

from cli_in_process import regrun_in_process

SEED = 7978


def _two_disks_sinogram(views: int = 12, bins: int = 24) -> np.ndarray:
    """A parallel scan of a disk with numpy alone: (views, bins), every view the same chord lengths."""
    u = np.arange(bins) - (bins - 1) / 2
    chord = 2 * np.sqrt(np.clip(6.0 ** 2 - u ** 2, 0, None))
    return np.tile(chord, (views, 1)) + 0.01 * np.random.default_rng(SEED).standard_normal((views, bins))


def test_a_stack_of_slices_for_a_parallel_beam_is_told_how_to_take_one_slice(tmp_path, monkeypatch, capsys):
    # a TIFF stack was told "save a 3-D array as .npy", and that .npy was refused for a parallel beam ("needs 2
    # dimensions"): each message now says how to take one slice's (views, n_u) sinogram out of either layout
    sino = _two_disks_sinogram()
    pages = [Image.fromarray(row[None, :].astype(np.float32).repeat(3, 0), mode="F") for row in sino]
    pages[0].save(tmp_path / "proj.tif", save_all=True, append_images=pages[1:])  # 12 pages of (3 rows, 24 bins)
    np.save(tmp_path / "stack.npy", np.stack([sino, sino]))
    for name in ("proj.tif", "stack.npy"):
        done = regrun_in_process(["problem=ct_fewview", "problem.data=file", f"problem.sinogram={name}",
                                  "solver=fista_tv", "solver.lam=1", "figures=false"], tmp_path, monkeypatch, capsys)
        err = done.stdout + done.stderr
        assert done.returncode == 2, err
        assert "a[:, k, :] if it is a detector's projections (views, rows, n_u)" in err, err
        assert "a[k] if the stack a is (slices, views, n_u)" in err, err
        assert "status failed" in err

"""newuser20's pass on data of their own (session 35): what a fresh user met, each case failing on main."""
import types

import numpy as np
import torch
from PIL import Image

from cli_in_process import regrun_in_process

SEED = 9570


def _frames(count: int = 4, side: int = 12) -> np.ndarray:
    """A few (count, side, side) frames of a blob shifted by under a pixel, with a little noise."""
    rng = np.random.default_rng(SEED)
    y, x = np.mgrid[0:side, 0:side].astype(float)
    return np.stack([np.exp(-((y - 5 - 0.3 * k) ** 2 + (x - 6 + 0.2 * k) ** 2) / 8) for k in range(count)]) \
        + 0.01 * rng.standard_normal((count, side, side))


def _sinogram(views: int = 12, bins: int = 24) -> np.ndarray:
    """A parallel scan of a centred disk, (views, bins)."""
    u = np.arange(bins) - (bins - 1) / 2
    return np.tile(2 * np.sqrt(np.clip(6.0 ** 2 - u ** 2, 0, None)), (views, 1))


def _run(args, tmp_path, monkeypatch, capsys, device):
    done = regrun_in_process([*args, "figures=false", f"device={device}"], tmp_path, monkeypatch, capsys)
    return done.returncode, done.stdout + done.stderr


def test_the_noise_bound_reads_the_residual_estimate_too():
    # the summary said "the frames' noise is at most about 2.643" while /stats/noise_std_frames, the smaller of the
    # two readings, held 2.506 (noise drawn 2.57): a merge had dropped the residual's reading from the bound
    from regrun.optim.parameter_choice import Choice
    from regrun.registration.superres_weight import fit_noise_note

    note = fit_noise_note(Choice(lam=0.5, rule="gcv", sigma=5.0, noise_source="estimated: weak-texture patches of "
                                 "the frames", solves=5, at_edge=False,
                                 details={"noise_std_fit": "4.0", "noise_std_residual": "3.0"}))
    assert "the frames' noise is at most about 3 " in note, note
    bare = fit_noise_note(Choice(lam=0.5, rule="gcv", sigma=5.0, noise_source="estimated", solves=5, at_edge=False,
                                 details={"noise_std_fit": "4.0"}))
    assert "at most about 4 " in bare, bare

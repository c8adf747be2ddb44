"""Peers beside regrun on regrun-report's page: on the very data a run used (its results file's /data), what a
standard method gets, scored by the same metric functions as the run's problem (regrun.metrics).

Nothing is estimated or copied from elsewhere: a peer that is not installed, or whose data conversion does not pass
its check, gives a row that says so instead of numbers.

- super-resolution: bicubic interpolation of frame 0 (the reference pose) onto the truth's grid (SciPy);
- few-view CT (2-D parallel beam): regrun's FBP as the run itself measured it (its `*_fbp` metrics), and
  scikit-image's SART (`iradon_sart`, the [bench] extra). The sinogram is handed over in scikit-image's layout
  (detector x views, angles negated, image transposed: scripts/bench_fbp_iradon.py); the conversion is checked
  first by scikit-image's own FBP (`iradon`) on it, which must agree with regrun's FBP of the run within
  FBP_AGREEMENT, else no SART numbers are shown;
- registration: SimpleITK is measured by scripts/bench_simpleitk.py on the same synthetic pairs
  (docs/registration.md), not by the report; the row says so.
"""
from __future__ import annotations

import importlib.util
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .metrics import psnr, rel_error, ssim
from .record import load

FBP_AGREEMENT = 0.05  # relative difference (inside the mask) allowed between scikit-image's FBP and regrun's
SART_ITERATIONS = 2   # scikit-image's docs: one or two SART passes are usually enough


@dataclass
class PeerRow:
    method: str
    metrics: dict[str, float] = field(default_factory=dict)
    note: str = ""                 # how the numbers were obtained, or why there are none
    cpu_seconds: float | None = None


def peer_rows(run) -> list[PeerRow]:
    """The peers' rows for one completed run (a regrun.collect.Run), [] for problems without a peer."""
    problem = str(run.attrs.get("problem", ""))
    if run.status != "completed" or problem not in PEERS:
        return []
    try:
        stored = load(run.path / "results.h5")
    except (OSError, KeyError) as exc:
        return [PeerRow("peers", note=f"results file unreadable: {exc}")]
    return PEERS[problem](run, stored.get("data", {}), stored.get("result", {}))


def _scores(est: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """rel_error, psnr and ssim as the problems compute them (ct_fewview: inside the mask, zero outside)."""
    if mask is None:
        return {"rel_error": rel_error(est, truth), "psnr": psnr(est, truth), "ssim": ssim(est, truth)}
    est, truth = est * mask, truth * mask
    return {"rel_error": rel_error(est, truth, mask), "psnr": psnr(est[mask], truth[mask]), "ssim": ssim(est, truth)}


def _superres(run, data: dict[str, Any], result: dict[str, Any]) -> list[PeerRow]:
    from scipy.ndimage import zoom

    frames, truth = data.get("frames"), data.get("reference")
    if frames is None or truth is None:
        return [PeerRow("bicubic (SciPy)", note="no ground truth in this run: nothing to score it against")]
    frame = np.asarray(frames)[0]
    c0 = time.process_time()
    # grid_mode: pixels are cells, as on regrun's grids, so both images cover the same domain
    est = zoom(frame, (truth.shape[0] / frame.shape[0], truth.shape[1] / frame.shape[1]), order=3, grid_mode=True,
               mode="grid-mirror")
    return [PeerRow("bicubic (SciPy)", _scores(est, np.asarray(truth)),
                    "frame 0 (the reference pose) interpolated onto the truth's grid; no motion, no deblurring",
                    time.process_time() - c0)]


def _ct(run, data: dict[str, Any], result: dict[str, Any]) -> list[PeerRow]:
    rows = []
    fbp_keys = {k[:-4]: v for k, v in run.metrics.items() if k.endswith("_fbp")}
    if fbp_keys:
        rows.append(PeerRow("FBP (regrun)", fbp_keys, "measured by the run itself on the same sinogram (its *_fbp "
                                                      "metrics)"))
    rows.append(_sart(run, data, result))
    return rows


def _sart(run, data: dict[str, Any], result: dict[str, Any]) -> PeerRow:
    name = "SART (scikit-image)"
    cfg = run.config
    geometry, span = cfg.get("problem.geometry"), cfg.get("problem.angle_range")
    sino, truth, mask = data.get("sinogram"), data.get("truth"), data.get("mask")
    regrun_fbp = result.get("fbp")
    # what the peer cannot take is said whether or not it is installed: installing it would not help
    if geometry != "parallel" or span not in (None, 180, 180.0) or sino is None or np.ndim(sino) != 2:
        return PeerRow(name, note="only 2-D parallel-beam scans over 180 degrees are handed to scikit-image")
    if importlib.util.find_spec("skimage") is None:
        return PeerRow(name, note="scikit-image is not installed (pip install -e '.[bench]')")
    if truth is None or mask is None or regrun_fbp is None:
        return PeerRow(name, note="no ground truth (or no regrun FBP) in this run to score against")
    voxel, spacing = float(cfg["problem.voxel"]), cfg.get("problem.detector_spacing")
    if spacing is not None and not math.isclose(float(spacing), voxel):
        return PeerRow(name, note="detector spacing differs from the voxel size; scikit-image assumes them equal")
    from skimage.transform import iradon, iradon_sart

    sino, truth, mask = np.asarray(sino, dtype=np.float64), np.asarray(truth), np.asarray(mask, dtype=bool)
    views, n_det = sino.shape
    n = truth.shape[0]
    theta = -np.arange(views) * 180.0 / views  # regrun's uniform angles k*pi/views, negated for scikit-image
    # scikit-image puts the rotation centre on detector bin n_det // 2 and on pixel n_det // 2 of its n_det-wide
    # image; regrun between bins and pixels for even counts ((n_det - 1) / 2, (n - 1) / 2). Half-pixel offsets
    # are taken out by Fourier shifts (no smoothing): the sinogram before, the reconstruction after.
    sk = _shift(np.ascontiguousarray(sino.T) / voxel, (n_det // 2 - (n_det - 1) / 2, 0.0))  # pixel units
    offset = n_det // 2 - (n - 1) / 2
    lo = math.floor(offset)
    frac = offset - lo

    def crop(img):
        return _shift(img, (-frac, -frac))[lo:lo + n, lo:lo + n].T

    check = crop(iradon(sk, theta=theta, filter_name="ramp", circle=False, output_size=n_det))
    ours = np.asarray(regrun_fbp)
    agreement = float(np.linalg.norm((check - ours) * mask) / max(np.linalg.norm(ours * mask), 1e-300))
    if not agreement <= FBP_AGREEMENT:
        return PeerRow(name, note=f"not shown: scikit-image's FBP of the handed-over sinogram differs from regrun's "
                                  f"by {agreement:.1%} (> {FBP_AGREEMENT:.0%}), so the conversion is not trusted")
    c0 = time.process_time()
    est = None
    for _ in range(SART_ITERATIONS):
        est = iradon_sart(sk, theta=theta, image=est)
    cpu = time.process_time() - c0
    return PeerRow(name, _scores(crop(est), truth, mask),
                   f"{SART_ITERATIONS} passes; scikit-image's FBP agrees with regrun's within {agreement:.1%} on this "
                   "sinogram", cpu)


def _shift(img: np.ndarray, shifts: tuple[float, float]) -> np.ndarray:
    """img moved by `shifts` pixels (out[k] = img[k - shift]) by a Fourier phase ramp; img itself for none."""
    if not any(shifts):
        return img
    from scipy.ndimage import fourier_shift

    return np.fft.ifftn(fourier_shift(np.fft.fftn(img), shifts)).real


def _registration(run, data: dict[str, Any], result: dict[str, Any]) -> list[PeerRow]:
    if "disp_rmse" not in run.metrics and "tre" not in run.metrics:  # a timing study registers nothing to compare
        return []
    installed = importlib.util.find_spec("SimpleITK") is not None
    return [PeerRow("SimpleITK", note="not run by the report: scripts/bench_simpleitk.py measures it on the same "
                                      "synthetic pairs (docs/registration.md)"
                                      + ("" if installed else "; SimpleITK is not installed here"))]


PEERS = {"superres": _superres, "ct_fewview": _ct, "multiscale_affine": _registration}

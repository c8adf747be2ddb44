"""Peers beside regrun on regrun-report's page: on the very data a run used (its results file's /data), what a
standard method gets, scored by the same metric functions as the run's problem (regrun.metrics).

Nothing is estimated or copied from elsewhere: a peer that is not installed, or whose data conversion does not pass
its check, gives a row that says so instead of numbers.

- super-resolution: bicubic interpolation of frame 0 (the reference pose) onto the truth's grid (SciPy);
- few-view CT (2-D parallel beam): regrun's FBP as the run itself measured it (its `*_fbp` metrics), and
  scikit-image's SART (`iradon_sart`, the [bench] extra) on the run's sinogram in scikit-image's conventions
  (SkimageFrame: exact at every size, the half pixel between the two programs' rotation centres on even sizes
  taken up by per-view detector shifts); the conversion is checked first: scikit-image's SART model of the run's
  truth must fit regrun's projection of it clearly better than the same frame with the detector a quarter pixel
  off (SHARPNESS), else no SART numbers are shown;
- registration: SimpleITK's affine registration (regrun/registration/sitk_peer.py, the settings of
  scripts/bench_simpleitk.py) of the run's stored template/reference pair, scored by the run's own problem
  (displacement error, landmark error, J at theta = 0) rebuilt from its configuration, used only when it holds
  exactly the stored images.
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

# The SART conversion is trusted when scikit-image's model of the truth fits regrun's projections SHARPNESS times
# better than with the detector DETUNE pixel off either way (measured ratios 0.09-0.14 for the right conversion on
# 16^2-128^2 disks; a conversion that is itself a quarter or half pixel off fails)
SHARPNESS, DETUNE = 0.5, 0.25
SART_ITERATIONS = 2       # scikit-image's docs: one or two SART passes are usually enough
REBUILD_AGREEMENT = 1e-9  # registration: the rebuilt problem's images against the stored ones (max, relative)


@dataclass
class PeerRow:
    method: str
    metrics: dict[str, float] = field(default_factory=dict)
    note: str = ""                 # how the numbers were obtained, or why there are none
    cpu_seconds: float | None = None
    wall_seconds: float | None = None


def peer_rows(run) -> list[PeerRow]:
    """The peers' rows for one completed run (a regrun.collect.Run), [] for problems without a peer."""
    problem = str(run.attrs.get("problem", ""))
    if run.status != "completed" or problem not in PEERS:
        return []
    try:
        stored = load(run.path / "results.h5")
    except (OSError, KeyError) as exc:
        return [PeerRow("peers", note=f"results file unreadable: {exc}")]
    return PEERS[problem](run, stored)


def _scores(est: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """rel_error, psnr and ssim as the problems compute them (ct_fewview: inside the mask, zero outside)."""
    if mask is None:
        return {"rel_error": rel_error(est, truth), "psnr": psnr(est, truth), "ssim": ssim(est, truth)}
    est, truth = est * mask, truth * mask
    return {"rel_error": rel_error(est, truth, mask), "psnr": psnr(est[mask], truth[mask]), "ssim": ssim(est, truth)}


def _superres(run, stored: dict[str, Any]) -> list[PeerRow]:
    from scipy.ndimage import zoom

    data = stored.get("data", {})
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


def _ct(run, stored: dict[str, Any]) -> list[PeerRow]:
    rows = []
    fbp_keys = {k[:-4]: v for k, v in run.metrics.items() if k.endswith("_fbp")}
    if fbp_keys:
        rows.append(PeerRow("FBP (regrun)", fbp_keys, "measured by the run itself on the same sinogram (its *_fbp "
                                                      "metrics)"))
    rows.append(_sart(run, stored.get("data", {})))
    return rows


def _sart(run, data: dict[str, Any]) -> PeerRow:
    name = "SART (scikit-image)"
    cfg = run.config
    geometry, span = cfg.get("problem.geometry"), cfg.get("problem.angle_range")
    sino, truth, mask = data.get("sinogram"), data.get("truth"), data.get("mask")
    # what the peer cannot take is said whether or not it is installed: installing it would not help
    if geometry != "parallel" or span not in (None, 180, 180.0) or sino is None or np.ndim(sino) != 2:
        return PeerRow(name, note="only 2-D parallel-beam scans over 180 degrees are handed to scikit-image")
    if importlib.util.find_spec("skimage") is None:
        return PeerRow(name, note="scikit-image is not installed (pip install -e '.[bench]')")
    if truth is None or mask is None:
        return PeerRow(name, note="no ground truth in this run to score against")
    voxel, spacing = float(cfg["problem.voxel"]), cfg.get("problem.detector_spacing")
    if spacing is not None and not math.isclose(float(spacing), voxel):
        return PeerRow(name, note="detector spacing differs from the voxel size; scikit-image assumes them equal")
    from skimage.transform import iradon_sart

    sino, truth, mask = np.asarray(sino, dtype=np.float64), np.asarray(truth), np.asarray(mask, dtype=bool)
    if truth.shape[0] > sino.shape[1]:
        return PeerRow(name, note=f"the detector ({sino.shape[1]} bins) is narrower than the grid ({truth.shape[0]} "
                                  "voxels); scikit-image reconstructs on a detector-wide image")
    centre = str(cfg.get("problem.rotation_centre"))
    if centre == "auto":  # a file's axis, estimated: the convention it matched (/data/rotation_axis)
        centre = str((data.get("rotation_axis") or {}).get("convention", "estimated"))
        if centre not in ("geometric", "index", "matlab"):  # matlab: a MATLAB radon file's, not estimated
            return PeerRow(name, note="not shown: the rotation axis was estimated off both conventions "
                                      "(problem.rotation_centre=auto); the conversion to scikit-image takes "
                                      "geometric or index")
    if centre not in ("geometric", "index", "matlab"):  # a typed detector bin (TomoPy's center), off the conventions
        return PeerRow(name, note=f"not shown: the rotation axis was typed at detector bin {centre} "
                                  "(problem.rotation_centre); the conversion to scikit-image takes geometric or index")
    frame = SkimageFrame(truth.shape[0], sino.shape[1], sino.shape[0], centre)
    sk = np.ascontiguousarray(sino.T) / voxel  # detector x views, in pixel units
    try:
        agreement = frame.forward_agreement(truth, voxel)
        detuned = min(frame.forward_agreement(truth, voxel, d) for d in (-DETUNE, DETUNE))
    except ImportError as exc:  # the check uses scikit-image's per-view SART update, not a public name
        return PeerRow(name, note=f"not shown: this scikit-image lacks what the conversion check uses ({exc})")
    if not agreement <= SHARPNESS * detuned:
        return PeerRow(name, note=f"not shown: scikit-image's SART model of the run's truth differs from regrun's "
                                  f"projection of it by {agreement:.1%}, not clearly less than with the detector "
                                  f"{DETUNE} pixel off ({detuned:.1%}), so the conversion is not trusted")
    c0 = time.process_time()
    est = None
    for _ in range(SART_ITERATIONS):
        est = iradon_sart(sk, theta=frame.theta, image=est, projection_shifts=frame.shifts)
    cpu = time.process_time() - c0
    return PeerRow(name, _scores(frame.crop(est), truth, mask),
                   f"{SART_ITERATIONS} passes on the run's sinogram, the rotation centre placed exactly by "
                   f"per-view detector shifts; scikit-image's projection model agrees with regrun's within "
                   f"{agreement:.1%} on the run's truth ({detuned:.1%} with the detector {DETUNE} pixel off)", cpu)


class SkimageFrame:
    """A 2-D parallel-beam scan of regrun (n x n voxels, n_det bins, `views` angles k pi / views, the rotation axis
    by `centre`: problem.rotation_centre) in scikit-image's SART conventions, exactly, at any size.

    scikit-image rotates about pixel N // 2 of its N x N image (N = n_det) and puts that axis on bin N // 2;
    regrun's axis is at (n - 1) / 2 (geometric; index: n // 2) of the grid and at bin (n_det - 1) / 2 (index:
    n_det // 2). On even sizes the two are half a pixel apart, which no cropping removes. regrun's voxels are
    placed on scikit-image's pixels (a whole-pixel crop `lo`), so scikit-image's origin lies `e` pixels (along
    both axes) from the true axis; a translation by e shifts view theta's projection by
    e (sin theta - cos theta) bins, and the detector's own offset adds a constant: together `shifts`, which
    iradon_sart takes per view (projection_shifts) without interpolating the data. Angles are negated and the
    image transposed (scripts/bench_fbp_iradon.py)."""

    def __init__(self, n: int, n_det: int, views: int, centre: str):
        from .tomography.geometry import rotation_centre

        if n > n_det:
            raise ValueError(f"{n} voxels across but {n_det} detector bins: scikit-image's image is n_det wide")
        self.n, self.n_det, self.views, self.centre = n, n_det, views, centre
        self.lo = (n_det - n) // 2
        c = n_det // 2
        a, a_det = rotation_centre((n,), 1.0, centre)[0], rotation_centre((n_det,), 1.0, centre)[0]
        e = c - self.lo - (n - 1) / 2 - a
        self.theta = -np.arange(views) * 180.0 / views  # regrun's uniform angles k*pi/views, negated
        th = np.radians(self.theta)
        self.shifts = c - (n_det - 1) / 2 - a_det + e * (np.sin(th) - np.cos(th))

    def place(self, img: np.ndarray) -> np.ndarray:
        """A regrun image on scikit-image's N x N grid."""
        out = np.zeros((self.n_det, self.n_det))
        out[self.lo:self.lo + self.n, self.lo:self.lo + self.n] = img.T
        return out

    def crop(self, img: np.ndarray) -> np.ndarray:
        """scikit-image's image back on regrun's grid."""
        return img[self.lo:self.lo + self.n, self.lo:self.lo + self.n].T

    def forward_agreement(self, img: np.ndarray, voxel: float, detune: float = 0.0) -> float:
        """How far scikit-image's SART model of `img` (converted; the detector moved by `detune` pixels) is from
        regrun's projection of it in the run's geometry, measured as SART sees it: |SART's per-view updates from
        img| / |the same from zero|, with regrun's projections as the data (0 when both projectors agree: img is
        then SART's fixed point). Interpolation alone leaves some: on a disk 1.2% at 16^2 down to 0.13% at 128^2,
        and a quarter pixel off 8.9% down to 1.5% (docs/ct.md); hence the check compares with a detuned frame."""
        import torch
        from skimage.transform._radon_transform import sart_projection_update

        from .tomography.geometry import parallel_beam, rotation_centre, uniform_angles
        from .tomography.xray import XRayTransform

        n, n_det = self.n, self.n_det
        geo = parallel_beam((n, n), uniform_angles(self.views, False), n_det, voxel, voxel,
                            -rotation_centre((n_det,), voxel, self.centre)[0], rotation_centre((n, n), voxel,
                                                                                                 self.centre))
        proj = XRayTransform(geo, cache_mb=0).project(torch.as_tensor(img, dtype=torch.float64)).numpy().T / voxel
        x, zero = self.place(img), np.zeros((n_det, n_det))
        num = den = 0.0
        for k in range(self.views):
            p = np.ascontiguousarray(proj[:, k])
            shift = self.shifts[k] + detune
            num += float(np.sum(sart_projection_update(x, self.theta[k], p, shift) ** 2))
            den += float(np.sum(sart_projection_update(zero, self.theta[k], p, shift) ** 2))
        return math.sqrt(num / den) if den > 0 else math.inf


def _registration(run, stored: dict[str, Any]) -> list[PeerRow]:
    # nothing to compare: no truth to score against, or a timing study (ad_cost), whose w is the identity and
    # which the problem therefore gives no fit verdict (fit_quality: evaluate() scores runs that register)
    if ("disp_rmse" not in run.metrics and "tre" not in run.metrics) or "fit_quality" not in run.metrics:
        return []
    name = "SimpleITK (affine)"
    if importlib.util.find_spec("SimpleITK") is None:
        return [PeerRow(name, note="SimpleITK is not installed (pip install -e '.[bench]')")]
    data = stored.get("data", {})
    template, reference = data.get("template"), data.get("reference")
    if template is None or reference is None:
        return [PeerRow(name, note="the run stored no template/reference pair")]
    import torch
    from omegaconf import OmegaConf

    from .context import RunContext
    from .errors import UserError
    from .registration.sitk_peer import ITERATIONS, SHRINK, register_pair
    from .registry import PROBLEMS

    # regrun's own metric functions are the problem's: the problem is rebuilt from the run's configuration on the
    # CPU in the run's dtype (data are made on the CPU in float64 and cast: docs/devices.md), and used only if it
    # holds exactly the images the run stored
    dtype = getattr(torch, str(run.attrs.get("dtype", "float64")), None)
    if not isinstance(dtype, torch.dtype):
        dtype = torch.float64
    try:
        cfg = OmegaConf.create(str(stored["config"]["resolved"]))
        ctx = RunContext(torch.device("cpu"), dtype, int(run.attrs.get("seed", 0)), run.path)
        problem = PROBLEMS.get("multiscale_affine")(cfg.problem, ctx)
    except (UserError, OSError, KeyError, ValueError) as exc:
        return [PeerRow(name, note=f"not run: the run's problem could not be rebuilt to score against ({exc})")]
    pair = (np.asarray(template, dtype=np.float64), np.asarray(reference, dtype=np.float64))
    ours = (problem.template.double().numpy(), problem.reference.double().numpy())
    if any(a.shape != b.shape for a, b in zip(pair, ours)):
        return [PeerRow(name, note="not run: the rebuilt problem's images are not the stored ones (their sizes "
                                   "differ)")]
    differ = max(float(np.abs(a - b).max()) / max(float(np.abs(a).max()), 1e-300) for a, b in zip(pair, ours))
    if differ > REBUILD_AGREEMENT:
        return [PeerRow(name, note=f"not run: the rebuilt problem's images differ from the stored ones by "
                                   f"{differ:.1e} (> {REBUILD_AGREEMENT:.0e})")]
    w_affine, wall, cpu, stop = register_pair(pair[0], pair[1], problem.grid)
    w = problem.from_affine(torch.as_tensor(w_affine, dtype=dtype))
    metrics = {"J_theta0": float(problem.at_scale(0.0).objective(w))}
    if problem.w_true is not None:
        metrics["disp_rmse"] = problem.displacement_rmse(w)
    if problem.ref_landmarks is not None:
        metrics["tre"] = problem.tre(w)
    return [PeerRow(name, metrics, f"the run's stored template/reference pair; MeanSquares, B-spline "
                                   f"interpolation, pyramid {'-'.join(map(str, SHRINK))}, regular-step gradient "
                                   f"descent from the identity (<= {ITERATIONS} iterations per level), one "
                                   f"thread; scored by regrun's problem. SimpleITK stopped: {stop}", cpu, wall)]


PEERS = {"superres": _superres, "ct_fewview": _ct, "multiscale_affine": _registration}

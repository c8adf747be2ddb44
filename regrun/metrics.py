"""Image-quality metrics shared by the problems: PSNR, SSIM and the relative error, on numpy arrays after a
run (recorded values, not part of any derivative)."""
from __future__ import annotations

import math

import numpy as np

SSIM_TRUNCATE = 3.5  # SSIM's window, in sigmas


def psnr(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB, the peak being the truth's intensity range."""
    mse = float(np.mean((estimate - truth) ** 2))
    peak = float(truth.max() - truth.min())
    return float("inf") if mse == 0 else 10 * math.log10(peak**2 / mse)


def ssim(estimate, truth, sigma: float = 1.5) -> float:
    """Mean structural similarity (Wang et al. 2004) with a Gaussian window, constants K1 = 0.01, K2 = 0.03
    and the truth's intensity range as L; the window is truncated at 3.5 sigma (SciPy's gaussian_filter
    radius, int(3.5 sigma + 0.5), as the values recorded before) and the image edge-padded. Arrays or tensors
    (then on their device), in float64. regrun's own gaussian_filter, not SciPy's: importing scipy.ndimage
    alone took 0.3-1.2 CPU-s of a run's evaluation (256x256 super-resolution: a quarter of it)."""
    import torch

    from .imaging.gaussian import gaussian_filter

    device = estimate.device if isinstance(estimate, torch.Tensor) else "cpu"  # arrays: on the host, as recorded
    x = torch.as_tensor(estimate, dtype=torch.float64, device=device)
    y = torch.as_tensor(truth, dtype=torch.float64, device=x.device)
    L = float(y.max() - y.min()) or 1.0
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    radius = int(SSIM_TRUNCATE * sigma + 0.5)
    # regrun's kernel has ceil(tail sigma) taps a side: this tail gives SciPy's radius
    blurred = gaussian_filter(torch.stack((x, y, x * x, y * y, x * y)), sigma, tail=(radius - 0.5) / sigma,
                              method="direct", boundary="replicate")
    mx, my, xx, yy, xy = blurred.unbind(0)
    vx, vy, cxy = xx - mx * mx, yy - my * my, xy - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


# a truth that fits the answer scaled by more than this factor (or less than its inverse) is named (truth_scale):
# a unit mismatch, not a reconstruction error
TRUTH_SCALE = 2.0


def truth_scale(estimate: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None
                ) -> tuple[float, float, float] | None:
    """(scale, rel_error as given, rel_error against the truth so scaled) where the least-squares scale of the
    truth to the estimate lies outside [1/TRUTH_SCALE, TRUTH_SCALE] and the scaled truth fits at most half as
    badly: the two are in different units (a user's truth file); else None. `mask` as rel_error's (the arrays
    already zero outside it)."""
    power = float((truth * truth).sum())
    if power <= 0:
        return None
    scale = float((estimate * truth).sum()) / power
    as_given, scaled = rel_error(estimate, truth, mask), rel_error(estimate, scale * truth, mask)
    if TRUTH_SCALE ** -1 <= abs(scale) <= TRUTH_SCALE or scaled > 0.5 * as_given:
        return None
    return scale, as_given, scaled


def rel_error(estimate: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """||estimate - truth|| / ||truth||, inside `mask` when given."""
    if mask is not None:
        estimate, truth = estimate[mask], truth[mask]
    den = float(np.linalg.norm(truth))
    return float(np.linalg.norm(estimate - truth)) / den if den > 0 else float("nan")

"""Image-quality metrics shared by the problems: PSNR, SSIM and the relative error, on numpy arrays after a
run (recorded values, not part of any derivative)."""
from __future__ import annotations

import math

import numpy as np


def psnr(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB, the peak being the truth's intensity range."""
    mse = float(np.mean((estimate - truth) ** 2))
    peak = float(truth.max() - truth.min())
    return float("inf") if mse == 0 else 10 * math.log10(peak**2 / mse)


def ssim(estimate: np.ndarray, truth: np.ndarray, sigma: float = 1.5) -> float:
    """Mean structural similarity (Wang et al. 2004) with a Gaussian window, constants K1 = 0.01, K2 = 0.03
    and the truth's intensity range as L; the window is truncated at 3.5 sigma and the image edge-padded."""
    from scipy.ndimage import gaussian_filter

    L = float(truth.max() - truth.min()) or 1.0
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2

    def blur(a):
        return gaussian_filter(a, sigma, mode="nearest", truncate=3.5)

    mx, my = blur(estimate), blur(truth)
    vx = blur(estimate * estimate) - mx * mx
    vy = blur(truth * truth) - my * my
    cxy = blur(estimate * truth) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


def rel_error(estimate: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """||estimate - truth|| / ||truth||, inside `mask` when given."""
    if mask is not None:
        estimate, truth = estimate[mask], truth[mask]
    den = float(np.linalg.norm(truth))
    return float(np.linalg.norm(estimate - truth)) / den if den > 0 else float("nan")

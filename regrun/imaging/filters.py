"""Image filters for registration of users' images: 2x2 averaging (resolution pyramids), the detail ratio and
the noise level that choose their smoothing. The smoothing itself is gaussian.py's gaussian_filter (replicated
border, USERS_IMAGES_TAIL). They work on (..., m1, m2) tensors on any device and dtype.
"""
from __future__ import annotations

import math

import torch

from ..linalg.differences import pool
from .gaussian import USERS_IMAGES_TAIL, gaussian_kernel1d
from .grid import Grid


def average_2x2(image: torch.Tensor, grid: Grid) -> tuple[torch.Tensor, Grid]:
    """The image on a grid of half the cells per axis over the same domain, each coarse cell the mean of the
    2x2 fine cells it covers (FAIR's multilevel representation). An odd cell count first drops its last row
    or column and the domain shrinks by that cell, so coarse cells stay exact unions of fine ones."""
    m1, m2 = image.shape[-2:]
    e1, e2 = m1 - m1 % 2, m2 - m2 % 2
    h1, h2 = grid.h
    lo1, _, lo2, _ = grid.omega
    omega = (lo1, lo1 + e1 * h1, lo2, lo2 + e2 * h2)
    img = image[..., :e1, :e2]
    coarse = pool(img, 2)
    return coarse, Grid(omega, (e1 // 2, e2 // 2))


def detail_ratio(image: torch.Tensor) -> float:
    """Mean squared 5-point Laplacian over mean squared forward differences (cells^-2): about 1 or less for
    images smooth on the scale of a cell (FAIR's hands and MRI head at 128^2: 1.6 and 1.3, at 256^2 0.7 and
    0.5), above 2 for photographs whose detail reaches the Nyquist frequency (the camera at 128^2 / 256^2:
    2.6 / 2.2)."""
    d1 = image[..., 1:, :] - image[..., :-1, :]
    d2 = image[..., :, 1:] - image[..., :, :-1]
    lap = (image[..., 2:, 1:-1] + image[..., :-2, 1:-1] + image[..., 1:-1, 2:] + image[..., 1:-1, :-2]
           - 4 * image[..., 1:-1, 1:-1])
    grad_energy = float(d1.pow(2).mean() + d2.pow(2).mean())
    return float(lap.pow(2).mean()) / grad_energy if grad_energy > 0 else 0.0


def noise_level(image: torch.Tensor, blurred_by: float = 0.0) -> float:
    """Standard deviation of an image's white noise by Immerkaer's estimator (1996): the mean absolute response
    to the Laplacian-difference mask [[1,-2,1],[-2,4,-2],[1,-2,1]], which annihilates locally linear images,
    times sqrt(pi/2)/6. Edges and texture inflate it, so it is an upper bound on real images.

    blurred_by > 0: the image is white noise blurred by gaussian_filter(sigma=blurred_by, tail USERS_IMAGES_TAIL);
    the mask's response to blurred noise G*n has std s ||M*G||, while the blurred noise's own std is s ||G||, so
    the estimate is scaled by 6 ||G|| / ||M*G|| (4.66 at sigma 0.75, 1.52 at 0.5): the std of the blurred noise."""
    i = image
    factor = 1.0
    if blurred_by > 0:
        k = gaussian_kernel1d(blurred_by, USERS_IMAGES_TAIL, dtype=torch.float64)
        g = torch.outer(k, k)
        mask = torch.tensor([[1.0, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=torch.float64)
        mg = torch.nn.functional.conv2d(torch.nn.functional.pad(g[None, None], (1, 1, 1, 1)), mask[None, None],
                                        padding=1)
        factor = 6 * float(g.norm()) / float(mg.norm())
    resp = (i[..., :-2, :-2] - 2 * i[..., :-2, 1:-1] + i[..., :-2, 2:]
            - 2 * i[..., 1:-1, :-2] + 4 * i[..., 1:-1, 1:-1] - 2 * i[..., 1:-1, 2:]
            + i[..., 2:, :-2] - 2 * i[..., 2:, 1:-1] + i[..., 2:, 2:])
    return float(resp.abs().mean()) * math.sqrt(math.pi / 2) / 6 * factor

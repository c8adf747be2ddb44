"""elastix (itk-elastix) and pystackreg (TurboReg) as comparison peers of scripts/bench_simpleitk.py's wide suite:
regrun's arrays in, regrun's affine parameters w = (A11, A12, A21, A22, b1, b2) of y(x) = A x + b out (y maps
reference points into the template, as regrun's and SimpleITK's do).

Each runs as its user would run it on an affine pair: elastix with its default affine parameter map (Mattes
mutual information, 4-level smoothing pyramid, adaptive stochastic gradient descent on 2048 random samples, 256
iterations a level, the identity about the image centre as the start), pystackreg's StackReg.AFFINE (TurboReg's
least-squares pyramid; its own start). Both are optional `bench` dependencies, imported only here.
"""
from __future__ import annotations

import time

import numpy as np


def elastix_affine(template: np.ndarray, reference: np.ndarray, grid, threads: int = 1):
    """elastix's default affine registration of template (moving) to reference (fixed), arrays in regrun's layout
    ([i, j] = (x1_i, x2_j)) on `grid`. Returns (w, CPU seconds of the registration)."""
    import itk

    def image(arr):
        img = itk.GetImageFromArray(np.ascontiguousarray(arr.T, dtype=np.float32))  # [row=x2, col=x1]
        img.SetSpacing(tuple(float(h) for h in grid.h))
        img.SetOrigin((grid.omega[0] + grid.h[0] / 2, grid.omega[2] + grid.h[1] / 2))
        return img

    params = itk.ParameterObject.New()
    params.AddParameterMap(params.GetDefaultParameterMap("affine"))
    params.SetParameter(0, "WriteResultImage", "false")
    cpu = time.process_time()
    _, result = itk.elastix_registration_method(image(reference), image(template), parameter_object=params,
                                                log_to_console=False, number_of_threads=threads)
    cpu = time.process_time() - cpu
    # elastix's affine: y = A (x - c) + c + t, parameters (A11, A12, A21, A22, t1, t2) in physical (x1, x2) order
    p = np.array([float(v) for v in result.GetParameter(0, "TransformParameters")])
    c = np.array([float(v) for v in result.GetParameter(0, "CenterOfRotationPoint")])
    a = p[:4].reshape(2, 2)
    return np.r_[a.ravel(), c + p[4:] - a @ c], cpu


def stackreg_affine(template: np.ndarray, reference: np.ndarray, grid):
    """pystackreg's affine registration (StackReg.AFFINE) of template to reference, arrays in regrun's layout.
    Returns (w, CPU seconds). Its matrix M acts on (column, row, 1) pixel indices of the reference and gives the
    template's: with the arrays passed transposed ([row=x2, col=x1]), column = x1 / h1 - 1/2, row = x2 / h2 - 1/2."""
    from pystackreg import StackReg

    cpu = time.process_time()
    m = StackReg(StackReg.AFFINE).register(np.ascontiguousarray(reference.T), np.ascontiguousarray(template.T))
    cpu = time.process_time() - cpu
    h = np.asarray(grid.h, dtype=np.float64)
    origin = np.array([grid.omega[0], grid.omega[2]]) + h / 2  # physical position of pixel index (0, 0)
    # x = origin + h * i, y = origin + h * (M_lin i + t)  ->  y = A x + b with A = H M_lin H^-1
    scale = np.diag(h)
    a = scale @ m[:2, :2] @ np.linalg.inv(scale)
    b = origin + h * m[:2, 2] - a @ origin
    return np.r_[a.ravel(), b], cpu

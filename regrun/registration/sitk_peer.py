"""SimpleITK's affine registration as regrun's peer, in the benchmarks (scripts/bench_simpleitk.py,
scripts/bench_superres_frames.py) and on regrun-report's page (regrun/peers.py): regrun's arrays as SimpleITK
images, one configured registration, and its result as regrun's affine parameters w = (A11, A12, A21, A22, b1, b2).

The settings are the ones a SimpleITK user would pick for an affine pair: MeanSquares, cubic B-spline
interpolation, regular-step gradient descent with physical-shift scales, a pyramid (shrink factors and smoothing in
pixels), the initial transform at the identity about the grid centre. Import SimpleITK only through these functions:
it is an optional `bench` dependency.
"""
from __future__ import annotations

import time

import numpy as np


def to_sitk(arr, grid):
    """A (x2, x1)-indexed numpy array on regrun's cell-centred grid as a SimpleITK image with the same geometry."""
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.ascontiguousarray(arr.T))  # numpy [row=x2, col=x1] -> index (x1, x2)
    img.SetSpacing(grid.h)
    img.SetOrigin((grid.omega[0] + grid.h[0] / 2, grid.omega[2] + grid.h[1] / 2))
    return img


ITERATIONS = 300  # the optimizer's iteration limit per pyramid level, as every benchmark has run it
SHRINK, SIGMAS = (4, 2, 1), (2.0, 1.0, 0.0)  # the benchmarks' three-level pyramid (smoothing in pixels)


def register_pair(template, reference, grid, threads: int = 1):
    """The benchmarks' SimpleITK registration (from the identity, SHRINK/SIGMAS pyramid, ITERATIONS) of two
    arrays on regrun's grid: T(y(x)) ~ R(x). Returns (w, Execute() wall seconds, this process's CPU seconds for
    it, the optimizer's stop condition)."""
    fixed, moving = to_sitk(reference, grid), to_sitk(template, grid)
    cpu = time.process_time()
    w, wall, stop = register_affine(fixed, moving, grid.centre, ITERATIONS, list(SHRINK), list(SIGMAS),
                                    threads=threads)
    return w, wall, time.process_time() - cpu, stop


def register_affine(fixed, moving, centre, iterations: int, shrink: list[int], sigmas: list[float],
                    initial=None, threads: int | None = None, metric: str = "mean_squares"):
    """Register moving to fixed (T(y(x)) ~ R(x): the transform maps fixed points to moving ones).

    initial: a SimpleITK transform to start from (default: the identity about centre); threads: the method's
    own thread count (default: SimpleITK's global default); metric: mean_squares or mattes (Mattes mutual
    information, 32 bins, every pixel). Returns (w as a numpy array, Execute() wall seconds,
    the optimizer's stop condition)."""
    import SimpleITK as sitk

    if initial is None:
        initial = sitk.AffineTransform(2)
        initial.SetCenter(centre)
    reg = _method(iterations, shrink, sigmas, initial, threads, metric)
    t0 = time.perf_counter()
    out = reg.Execute(fixed, moving)
    wall = time.perf_counter() - t0
    return affine_parameters(out), wall, reg.GetOptimizerStopConditionDescription()


MATTES_BINS = 32  # as regrun's problem.mi_bins


def _method(iterations, shrink, sigmas, initial, threads, metric="mean_squares"):
    """The configured ImageRegistrationMethod (module docstring), not yet executed."""
    import SimpleITK as sitk

    reg = sitk.ImageRegistrationMethod()
    if metric == "mattes":
        reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=MATTES_BINS)
        reg.SetMetricSamplingStrategy(reg.NONE)
    elif metric == "mean_squares":
        reg.SetMetricAsMeanSquares()
    else:
        raise ValueError(f"metric={metric!r}: mean_squares or mattes")
    reg.SetInterpolator(sitk.sitkBSpline)
    reg.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-6, numberOfIterations=iterations,
                                                 relaxationFactor=0.5, gradientMagnitudeTolerance=1e-10)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel(list(shrink))
    reg.SetSmoothingSigmasPerLevel(list(sigmas))
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    reg.SetInitialTransform(initial, inPlace=False)
    if threads is not None:
        reg.SetNumberOfThreads(threads)
    return reg


def affine_parameters(transform) -> np.ndarray:
    """(A11, A12, A21, A22, b1, b2) of y(x) = A x + b for an affine SimpleITK transform (or a composite whose
    last transform is affine, as Execute returns with inPlace=False)."""
    import SimpleITK as sitk

    if transform.GetName() == "CompositeTransform":
        transform = sitk.CompositeTransform(transform).GetBackTransform()
    tr = sitk.AffineTransform(transform)
    A = np.array(tr.GetMatrix()).reshape(2, 2)
    c, t = np.array(tr.GetCenter()), np.array(tr.GetTranslation())
    b = c + t - A @ c
    return np.array([A[0, 0], A[0, 1], A[1, 0], A[1, 1], b[0], b[1]])


def register_affine_quarter_turns(fixed, moving, centre, iterations: int, shrink: list[int], sigmas: list[float],
                                  threads: int | None = None, metric: str = "mean_squares"):
    """register_affine from the identity and from the three other quarter turns about centre, keeping the end
    with the lowest final metric value (the robustness a user buys with four runs). Returns (w of the best,
    w from the identity alone, CPU seconds of all four Execute() calls, CPU seconds of the identity's)."""
    import SimpleITK as sitk

    results = []
    for k in range(4):
        init = sitk.AffineTransform(2)
        init.SetCenter(centre)
        c, s = (1.0, 0.0, -1.0, 0.0)[k], (0.0, 1.0, 0.0, -1.0)[k]
        init.SetMatrix((c, -s, s, c))
        cpu = time.process_time()
        reg = _method(iterations, shrink, sigmas, init, threads, metric)
        out = reg.Execute(fixed, moving)
        results.append((reg.GetMetricValue(), affine_parameters(out), time.process_time() - cpu))
    best = min(results, key=lambda r: r[0])
    return best[1], results[0][1], sum(r[2] for r in results), results[0][2]

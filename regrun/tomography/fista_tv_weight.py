"""FISTA-TV's weight chosen from the sinogram alone (solver.lam=auto): regrun.optim.parameter_choice applied to
the reconstruction x(lam) of `iters` FISTA iterations from zero (the same map a fixed-lam run computes), or
cross-validation over views (`cv`, below).

`cv` (the default, chosen by the benchmark in docs/ct.md): every `fold`-th view is held out (8 by default: with
a quarter held out, a 15-view training scan has gaps twice as wide and wants 1.6-2.4x more regularization than the
rescaling below transfers; docs/ct.md, "Second round"), FISTA-TV
reconstructs from the others at each weight tried, and the weight minimising the held-out views' squared misfit
wins. Unlike the data-space rules (discrepancy, GCV, SURE: the misfit in the measured views), the error in views
that were not measured sees what a few-view reconstruction puts in the null space of A (the projection-slice
theorem: the missing views are the missing wedges of the object's spectrum), which is where TV's benefit lies.
No noise level is needed. The weight is then rescaled to all views (lam * views / training views: the data term
sums over views, so the same balance needs a weight in proportion) and by `scale`, and one FISTA-TV run on all
the data gives the answer: `solves` training runs + 1. A first grid lowest at the range's low end hands the
remaining runs to another offset's held-out views (the guard, view_cv_search).

What the held-out views are compared with (`reference`, solver.lam_cv_reference): `resolved` (the default),
the data at the pixel model's resolution h * b (regrun.tomography.model_resolution), or `raw`, the data b.
Against b the held-out views reward a reconstruction that reproduces the object's sub-pixel detail (the model
error, alike in neighbouring views), so the weight falls as the noise falls below it: 2.2-3x under the
image-optimal one at 10^5-10^6 photons (docs/ct.md, "Why cv missed at low noise"); `raw` then needs a fitted
`scale` (1.5, measured on the tuning cases), `resolved` 0.8 (its pick was 1.26x the grid optimum in the median of
the tuning cases: docs/ct.md, "Fourth round").

How the held-out misfit is weighted along the detector (`weight`, solver.lam_cv_weight): `dose` (the default) runs
the search on the plain misfit and takes the pick from the same runs' misfit weighted by |frequency| ** (the
noise's share over NOISE_LIMITED_SHARE, at most 1): where the held-out misfit is noise, the image error deciding
the optimum is high-frequency noise, which a projection under-weights by 1/|frequency| and the ramp restores (the
held-out minimum lay at 0.57-0.97x the optimum at 1e3 photons with every reference, noise-free included); where it
is undersampling or sub-pixel model error, the ramp would reward fitting that detail (it broke the thin-walled
rings at 15 views), so none (docs/ct.md, "Eighth round"). `none`: plain; `ramp`: the ramp throughout.

The divergence tr d(A x)/db that GCV and SURE need is pushed through the whole FISTA-TV run along Rademacher
probes z, by `lam_divergence`:
- fd: (z^T A (x(b + eps z) - x(b))) / eps, eps = 1e-3 sigma (Monte-Carlo SURE as Ramani, Blu and Unser 2008
  compute it): one more FISTA run per probe;
- jvp: forward-mode AD (dual tensors) through every FISTA and prox iteration, the projector applied to primal and
  tangent (parameter_choice.linear_dual): exact, but about 9x the cost of a run on the CPU (64^2, 30 views).
Both agree to 0.3% (tests/test_parameter_choice.py); fd is the default for its cost.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Callable

import numpy as np
import torch
import torch.autograd.forward_ad as fwad

from ..errors import UserError, check_choice
from ..linalg.iterate import diff_mode
from ..optim.fista import Fista, power_method
from ..optim.parameter_choice import (
    RULES,
    Choice,
    ChoiceSettings,
    Fit,
    choose,
    hutchinson,
    linear_dual,
    noise_std_sinogram,
    rademacher,
)
from ..optim.scalar_search import golden_refine, log_grid, parabola_min
from .model_resolution import apply_kernels, resolution_kernels

CT_RULES = RULES + ("cv",)
CV_REFERENCES = ("resolved", "raw")  # cv: cross-validation over views, implemented here
# solver.lam_cv_reference: the two references, or auto (choose_reference: the one the training runs predict better
# beyond its noise)
CV_REFERENCE_CHOICES = CV_REFERENCES + ("auto",)
CV_WEIGHTS = ("none", "ramp", "dose")  # cv: how the held-out misfit is weighted along the detector
# cv: what is held out (view_split, block_split, band_split; auto: on a limited-range fan the larger answer of
# interleaved and band, else interleaved)
CV_LAYOUTS = ("interleaved", "blocks", "band", "auto")
DIVERGENCES = ("fd", "jvp")
FD_STEP = 1e-3  # eps / sigma of the finite-difference divergence
# cv, solver.lam_cv_dose: the held-out misfit's noise share at which the data count as noise-limited (the scale
# fully off). Even there the held-out views' prediction error is mostly propagated noise, about as large as their
# own noise: the share was 0.15-0.85 (median 0.46) on the eight 1e3-photon cases of seeds 3101-3103, where the
# training scans peak at 0.99-1.18x the all-view optimum; 1/2 was chosen on those seeds and 2029 (docs/ct.md,
# "Sixth round")
NOISE_LIMITED_SHARE = 0.5
# angular_coverage: a gap between views wider than this many times their median gap is a range no view measured
# (jittered lists of +-2 degrees at 6 degrees and golden-angle lists stay within 1.7x)
COVERAGE_GAP = 2.0


class _SearchStopped(Exception):
    """The cv search's stop() said the run is out of time (choose's own rules stop inside choose)."""


def sinogram_noise(problem, settings: ChoiceSettings) -> tuple[float, str]:
    if settings.noise is not None:
        return settings.noise, "given"
    return noise_std_sinogram(problem.sinogram), "estimated: second differences across detector bins"


def view_split(views: int, fold: int, offset: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(training, held-out) view indices: every `fold`-th view from `offset` (default fold // 2: interior views,
    so every held-out view lies between two training views) held out, the rest trained on."""
    if fold < 2 or views < fold:
        raise UserError(f"solver.lam_cv_fold={fold}: cross-validation over views needs 2 <= fold <= views ({views})")
    offset = fold // 2 if offset is None else offset
    if not 0 <= offset < fold:
        raise ValueError(f"offset {offset} outside [0, {fold})")
    held = torch.arange(views) % fold == offset
    return torch.nonzero(~held).flatten(), torch.nonzero(held).flatten()


def block_split(angles, fold: int, offset: int | None = None, blocks: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(training, held-out) view indices with the held-out views in `blocks` runs of neighbouring angles: as many
    views held out as view_split(views, fold, offset) holds out, each run centred (offset + 1/2) / fold of the
    way through its share of the sorted angles and kept off the ends (a training view on either side of it), so
    the training scan has gaps as wide as a run, inside its range (solver.lam_cv_layout=blocks)."""
    views = len(angles)
    held_n = len(view_split(views, fold, offset)[1])
    offset = fold // 2 if offset is None else offset
    blocks = max(1, min(blocks, held_n, (views - 2) // 2))
    order = torch.argsort(torch.as_tensor(angles, dtype=torch.float64).cpu())
    sizes = [held_n // blocks + (j < held_n % blocks) for j in range(blocks)]
    held = []
    for j, m in enumerate(sizes):
        centre = (j + (offset + 0.5) / fold) * views / blocks
        start = min(max(1, round(centre - m / 2)), views - 1 - m)
        held.extend(range(start, start + m))
    held = sorted(set(held))
    mask = torch.zeros(views, dtype=torch.bool)
    mask[order[held]] = True
    return torch.nonzero(~mask).flatten(), torch.nonzero(mask).flatten()


def ray_lines(geometry) -> tuple[np.ndarray, np.ndarray]:
    """Each ray's line as (direction theta in [0, pi), signed offset s from the centre), flattened in sinogram
    order; 2-D scans (parallel or fan)."""
    origin, d, _ = geometry.rays(slice(None), torch.float64, "cpu")
    d = torch.where(((d[:, 1] < 0) | ((d[:, 1] == 0) & (d[:, 0] < 0)))[:, None], -d, d)
    theta = torch.remainder(torch.atan2(d[:, 1], d[:, 0]), math.pi)
    return theta.numpy(), (origin[:, 0] * d[:, 1] - origin[:, 1] * d[:, 0]).numpy()


def ray_directions(geometry) -> torch.Tensor | None:
    """Each ray's line direction in [0, pi), in sinogram order (views, n_u); None but for 2-D scans."""
    if getattr(geometry, "kind", None) not in ("parallel", "fan"):
        return None
    return torch.as_tensor(ray_lines(geometry)[0]).reshape(geometry.views, -1)


def band_split(geometry, fold: int, offset: int | None = None) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(training, held-out) ray masks (views, n_u): every ray whose line direction lies in the band the central
    rays of block_split's one run of views span (widened by half a view spacing), from every view
    (solver.lam_cv_layout=band). A parallel beam's band is that run of views; a fan's is a wedge of directions
    spread over the views within a fan angle of it, which no training ray measures (a run of fan views narrower
    than the fan angle leaves its directions measured by its neighbours' other rays). None where the rays'
    directions are not known (a cone beam)."""
    theta = ray_directions(geometry)
    if theta is None:
        return None
    views = theta.shape[0]
    centre = theta[:, theta.shape[1] // 2]
    c = centre[block_split(geometry.angles, fold, offset, 1)[1]]
    mid = torch.atan2(torch.sin(2 * c).mean(), torch.cos(2 * c).mean()) / 2  # circular: directions wrap at pi

    def off(t):
        return torch.remainder(t - mid + math.pi / 2, math.pi) - math.pi / 2

    spacing = float(np.median(np.diff(np.sort(centre.numpy())))) if views > 1 else 0.0
    held = off(theta).abs() <= off(c).abs().max() + spacing / 2
    return ~held, held


def unmeasured_distance(geometry) -> tuple[np.ndarray, float, float, float] | None:
    """How near the lines no ray of a 2-D scan measures lie: over a grid of lines (theta in [0, pi), s in [-r, r],
    r the volume's half width; cells of half a pixel in s and of that length / r in theta, so that the taxicab
    distance in cells times the cell is |ds| + r |dtheta|, the bound on two lines' distance inside the disc), each
    cell's distance (volume units) to the nearest line farther than g = r x the median view spacing (at least 3
    cells) from every ray of the scan (unmeasured). Returns (that distance (n_theta, n_s), the cell, r, g), or None where the rays are
    not known (a cone beam) or no line is unmeasured (a full scan). theta wraps at pi with s negated."""
    from scipy.ndimage import distance_transform_cdt

    if getattr(geometry, "kind", None) not in ("parallel", "fan") or len(geometry.angles) < 3:
        return None
    r = geometry.volume.shape[0] * geometry.volume.voxel / 2
    cell = geometry.volume.voxel / 2
    n_t, n_s = math.ceil(math.pi * r / cell), 2 * math.ceil(r / cell) + 1
    theta, s = ray_lines(geometry)
    inside = np.abs(s) <= r
    measured = np.zeros((n_t, n_s), dtype=bool)
    measured[np.minimum((theta[inside] * r / cell).astype(int), n_t - 1),
             np.rint((s[inside] + r) / cell).astype(int).clip(0, n_s - 1)] = True

    def around(m):  # theta over [-pi, 2pi): the line (theta +- pi, -s) is the line (theta, s)
        return np.concatenate((m[:, ::-1], m, m[:, ::-1]))

    def distance_to(m):  # each cell's taxicab distance (cells) to the nearest True cell of m, wrap included
        return distance_transform_cdt(~around(m), metric="taxicab")[n_t:2 * n_t]

    angles = np.sort(np.mod(np.asarray(geometry.angles, dtype=float), 2 * math.pi))
    g = r * float(np.median(np.diff(angles)))
    # at least 3 cells: a measured line is rounded onto the grid by up to a cell in theta and half a cell in s, and
    # the detector's bins lie up to a pixel apart, so inside the measured lines of a dense scan (g under a pixel)
    # some cells lie 2 cells from the nearest one
    unmeasured = distance_to(measured) * cell > max(g, 3 * cell)
    if not unmeasured.any():
        return None
    return distance_to(unmeasured) * cell, cell, r, g


def coverage_weights(geometry, held: torch.Tensor, k: float) -> tuple[torch.Tensor, str] | None:
    """solver.lam_cv_weighting=k: each held-out view's ray (views held, n_u) weighted 1 / (1 + d / (k g)), d its
    line's distance to the nearest unmeasured line and g the view spacing at the object's edge
    (unmeasured_distance), the weights' mean 1 over the held-out rays (white noise keeps its variance). Why: on a
    limited-range fan the held-out views' misfit is mostly of lines their neighbours nearly measure, and the
    answer falls short where the lines no view measures (a wedge sheared by the fan angle) want more TV; the rays
    near that wedge are the held-out ones whose prediction depends on what TV fills there (docs/ct.md,
    "Held-out rays weighted by how near the unmeasured lines lie (ctcover)"). None where nothing is unmeasured
    (a full scan: unweighted, bit for bit) or the rays are not known."""
    far = unmeasured_distance(geometry)
    if far is None:
        return None
    dist, cell, r, g = far
    theta, s = ray_lines(geometry)
    at = dist[np.minimum((theta * r / cell).astype(int), dist.shape[0] - 1),
              np.rint((s.clip(-r, r) + r) / cell).astype(int).clip(0, dist.shape[1] - 1)]
    w = 1 / (1 + at.reshape(geometry.views, -1)[held.cpu().numpy()] / (k * g))
    w = w / w.mean()
    return torch.as_tensor(w), (f"held-out rays x 1 / (1 + d / ({k:g} x {g:.3g})), d the distance to the nearest "
                                f"unmeasured line; weights {w.min():.3g}-{w.max():.3g}")


def held_residual(proj: torch.Tensor, target: torch.Tensor, held: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The held-out residual as (views, n_u[, n_v]) and how many held-out values it holds: view indices give their
    views; a ray mask (band_split) the views with a held-out ray, zero at their training rays."""
    if held.dtype != torch.bool:
        r = proj[held] - target[held]
        return r, r.numel()
    rows = held.flatten(1).any(1)
    return ((proj - target) * held)[rows], int(held.sum())


def training_fista(problem, fista: Fista, train: torch.Tensor, power_iters: int) -> Fista:
    """FISTA-TV on the training views only: A restricted to those views, the back-projection of a sinogram that is
    zero in the held-out views, its own step 1/L (power method, as a fixed-lam run on that data would take)."""
    b = problem.sinogram
    train = train.to(b.device)
    # the cached projector's products on the training views alone: the same numbers, 1/fold less work
    views = getattr(problem.A, "view_products", None)
    products = views(train, b.dtype, b.device) if views is not None and train.dtype != torch.bool else None

    def project(x):
        return problem.A.project(x)[train]

    def backproject(y):
        full = torch.zeros_like(b)
        full[train] = y
        return problem.A.backproject(full)

    if products is not None:
        project, backproject = products

    mask = fista.mask

    # solver.data_weight's weights on the training rays: the training objective is the all-view one restricted
    w = None if fista.weights is None else fista.weights[train]

    def normal(x):
        y = backproject(project(x) if w is None else w * project(x))
        return y if mask is None else y * mask

    L = power_method(normal, torch.ones(problem.shape, dtype=b.dtype, device=b.device), power_iters)
    return Fista(project, backproject, b[train], problem.shape, fista.prox, fista.inner_iters, mask=mask,
                 lipschitz=L, tv_scale=fista.tv_scale, warm_start=fista.warm_start, weights=w)


def cv_reference(problem, reference: str) -> tuple[torch.Tensor, str]:
    """What the held-out views' predictions are compared with: the data (`raw`) or the data at the pixel
    model's resolution (`resolved`, h * b: regrun.tomography.model_resolution)."""
    target, against, _ = reference_and_gain(problem, reference)
    return target, against


def reference_and_gain(problem, reference: str) -> tuple[torch.Tensor, str, torch.Tensor]:
    """cv_reference, and per view the factor by which the reference scales white noise's variance (1 for `raw`;
    sum of h^2 for `resolved`: the centre tap squared plus twice each symmetric pair's)."""
    check_choice("solver.lam_cv_reference", reference, CV_REFERENCES)
    b = problem.sinogram
    if reference == "raw":
        return b, "the measured views", torch.ones(b.shape[0], dtype=b.dtype, device=b.device)
    kernels = resolution_kernels(problem.A.project, problem.geometry, b.dtype, b.device)
    gain = kernels[:, 0] ** 2 + 2 * kernels[:, 1:].pow(2).sum(1)
    return apply_kernels(b, kernels), "the measured views at the pixel model's resolution", gain


def noise_variance_view_sums(sinogram: torch.Tensor, kind: str | None) -> float | None:
    """The noise variance per detector bin, averaged over the bins, from the spread of the views' sums: in a
    parallel beam every view's sum along u is the same (the object's mass in that detector row, whatever the
    angle), exactly so for bin-integrated line integrals and for detail finer than the pixel, so the sums vary
    over the views by the noise alone: var(sum) = the sum of the bins' variances (independent noise), over n_u
    the mean one. Why not the second differences across bins (noise_std_sinogram): the object's detail at the
    bin scale reads as noise there, 1.0-8.9x the Poisson truth at 1e3-1e4 photons and 1.4-36000x at 1e5-1e7
    (docs/ct.md, "Sixth round"); the sums' spread is 0.5-1.8x at every dose. None for fan and cone beams (the
    sum over a view's bins weights the object by its distance from the source: not constant; they have
    noise_variance_source_pairs), for data that are no sinogram (kind None) and below 4 views."""
    if kind != "parallel" or sinogram.ndim < 2 or sinogram.shape[0] < 4:
        return None
    sums = sinogram.sum(1)  # (views[, n_v]): each detector row's sum over u
    return float(sums.var(dim=0, unbiased=True).mean()) / sinogram.shape[1]


def noise_variance_fan_pairs(sinogram: torch.Tensor, geometry) -> float | None:
    """The noise variance per detector bin of a fan beam, from a consistency condition between neighbouring views
    (the fan's counterpart of noise_variance_view_sums, whose plain view sums a fan does not keep constant: they
    weight the object by 1 / its distance from the source). For two sources s, s' and the line through both
    (the baseline, direction e), a view's rays weighted by 1 / sin(psi), psi the ray's angle from e, integrate to
    int p(psi) / sin(psi) dpsi = int f(x) / d(x) dx, d(x) the signed distance of x from the baseline (x = s + t r:
    dx = t dt dpsi and d = t sin psi), the same for every source on that line. So G(s) - G(s') holds the noise
    alone, wherever the object is, provided the baseline misses the object (no ray of either view within 3 degrees of
    it: neighbouring views on a circular orbit, whose chord passes outside the fan) and the detector covers the
    object. Per bin, the data being bin averages along u, the weight is the exact integral of 1 / sin over the
    bin's angular extent: log|tan(psi / 2)| at its edges. var(G - G') = sum of w^2 sigma^2 over both views' bins,
    so sum (G - G')^2 / sum (w^2 + w'^2) over the pairs is a mean of the bins' variances (weighted by w^2, which
    varies by under 2x across a fan of 20 degrees). None for other geometries, below 4 views, and where no pair of
    neighbouring views qualifies. The fan is the cone beam's mid-plane: noise_variance_source_pairs computes both
    (here with one detector row in the plane of the orbit)."""
    if getattr(geometry, "kind", None) != "fan" or sinogram.ndim != 2:
        return None
    return noise_variance_source_pairs(sinogram, geometry)


def _as_3d(geometry, sinogram: torch.Tensor, dtype, device):
    """(source, detector centre, u, v) per view as (V, 3) tensors and the sinogram as (V, n_u, n_v): a fan beam
    is a cone beam with one detector row in the plane of its orbit (v the axis out of it)."""
    parts = geometry.parts(slice(None), dtype, device)
    if geometry.kind == "cone":
        return (*parts, sinogram)
    zero = torch.zeros(len(parts[0]), 1, dtype=dtype, device=device)
    source, centre, u = (torch.cat((a, zero), -1) for a in parts)
    v = torch.zeros_like(u)
    v[:, 2] = 1.0
    return source, centre, u, v, sinogram[..., None]


def noise_variance_source_pairs(sinogram: torch.Tensor, geometry) -> float | None:
    """The noise variance per detector bin of a fan or cone beam from neighbouring views' epipolar consistency
    (noise_variance_fan_pairs: the fan's 1/sin-weighted sums, which this extends). In a cone beam the condition
    holds in every plane through the baseline of two sources (an epipolar plane: each of its rays leaves one
    source and lies in the plane, so the plane's own fan integral int f(x) / d(x) dx is seen by both views). Such
    a plane meets each view's flat detector in a line; the one through detector row j at u = 0 of the first view
    is taken, for every row j, and sampled at every bin along u, the value interpolated linearly between the two
    rows it crosses (the line slants a little across rows: the baseline of neighbouring sources is not parallel
    to the detector). Each sample's weight is the integral of 1 / sin over its bin's angular extent in the plane,
    its noise variance ((1 - f)^2 + f^2) sigma^2 for an interpolation at fraction f (independent rows), so
    sum (G - G')^2 / sum (W + W') over the planes is again a mean of the bins' variances (W: sum of w^2 times the
    interpolation's factor). A plane counts where its line stays on the detector's rows over the whole width,
    the baseline lies outside both views' fans (3 degrees), and the volume's corners project onto both detectors.
    For a fan beam the one plane is the orbit's and the result is noise_variance_fan_pairs'. Row interpolation
    leaves the object's structure between rows in the differences (on regrun's projection of a smooth object,
    tests/test_ct_dose.py); none below 4 views or where no plane qualifies."""
    kind = getattr(geometry, "kind", None)
    if kind not in ("fan", "cone") or sinogram.ndim != (2 if kind == "fan" else 3) or sinogram.shape[0] < 4:
        return None
    dtype, device = sinogram.dtype, sinogram.device
    source, centre, u, v, sino = _as_3d(geometry, sinogram, dtype, device)
    views, n_u, n_v = sino.shape
    nxt = torch.roll(torch.arange(views, device=device), -1)
    # the last view pairs with the first only where the orbit closes (360 degrees): the checks drop it if not
    e = source[nxt] - source
    e = e / e.norm(dim=-1, keepdim=True)
    a_mid = torch.arange(n_u, dtype=dtype, device=device) - (n_u - 1) / 2  # bin centres along u, in bins
    a_edge = torch.arange(n_u + 1, dtype=dtype, device=device) - n_u / 2  # bin edges
    rows = torch.arange(n_v, dtype=dtype, device=device) - (n_v - 1) / 2
    # each pair's planes: through both sources and the first view's detector point (u = 0, row j)
    q = centre[:, None, :] + rows[None, :, None] * v[:, None, :]  # (V, n_v, 3)
    normal = torch.linalg.cross(e[:, None, :].expand_as(q), q - source[:, None, :], dim=-1)
    normal = normal / normal.norm(dim=-1, keepdim=True)  # (V pairs, n_v planes, 3)
    inside = volume_inside_detectors(geometry, source, centre, u, v, (n_u, n_v))

    def line(view: torch.Tensor):
        """The planes' lines on `view`'s detector: rows (in row units) at the bin centres and edges, the in-plane
        angle psi from the baseline at the edges, and whether the baseline lies outside the fan."""
        s, c, du, dv = source[view][:, None, :], centre[view][:, None, :], u[view][:, None, :], v[view][:, None, :]
        nu, nv, n0 = (normal * du).sum(-1), (normal * dv).sum(-1), (normal * (c - s)).sum(-1)  # (V, n_v)

        def height(a):  # row offset (row units) where the plane crosses the detector at u = a (bins)
            return -(n0[..., None] + a * nu[..., None]) / nv[..., None]

        t_mid, t_edge = height(a_mid), height(a_edge)  # (V, n_v, n_u[+1])
        r = (c[:, :, None, :] + a_edge[None, None, :, None] * du[:, :, None, :]
             + t_edge[..., None] * dv[:, :, None, :]) - s[:, :, None, :]  # rays to the bin edges
        ee = e[:, None, None, :]
        psi = torch.atan2((torch.linalg.cross(ee.expand_as(r), r, dim=-1) * normal[:, :, None, :]).sum(-1),
                          (ee * r).sum(-1))
        ok = (psi.sin().abs() > math.sin(math.radians(3))).all(-1) & ((psi > 0).all(-1) | (psi < 0).all(-1))
        return t_mid + (n_v - 1) / 2, torch.diff(torch.log(torch.tan(psi / 2).abs()), dim=-1), ok

    def weighted(view: torch.Tensor):
        """Per plane: the weighted sum G of the view's samples on the plane's line, its noise factor W, and
        whether the line stays on the detector's rows."""
        row, w, ok = line(view)
        on = (row >= -1e-9).all(-1) & (row <= n_v - 1 + 1e-9).all(-1)
        row = row.clamp(0, n_v - 1)
        lo = row.floor().clamp(max=max(n_v - 2, 0)).long()
        f = row - lo
        hi = (lo + 1).clamp(max=n_v - 1)
        data = sino[view].transpose(1, 2)  # (V, n_v rows, n_u): row i of bin a at [.., i, a]
        p = (1 - f) * data.gather(1, lo) + f * data.gather(1, hi)
        noise = ((1 - f) ** 2 + f**2) * (hi != lo) + (hi == lo)  # one row: the sample's own variance
        return (w * p).sum(-1), (w.pow(2) * noise).sum(-1), ok & on

    g0, w0, ok0 = weighted(torch.arange(views, device=device))
    g1, w1, ok1 = weighted(nxt)
    ok = ok0 & ok1 & (inside & inside[nxt])[:, None]
    if int(ok.sum()) < 4:
        return None
    return float((g0 - g1)[ok].pow(2).sum() / (w0[ok] + w1[ok]).sum())


def volume_inside_detectors(geometry, source, centre, u, v, detector) -> torch.Tensor:
    """Per view: whether every corner of the volume projects onto the detector (no truncated ray sum); 3-D
    parts as _as_3d gives them (a fan's volume is its plane's rectangle)."""
    dtype, device = source.dtype, source.device
    shape = tuple(geometry.volume.shape) + ((1,) if len(geometry.volume.shape) == 2 else ())
    half = torch.tensor(shape, dtype=dtype, device=device) * geometry.volume.voxel / 2
    if len(geometry.volume.shape) == 2:
        half[2] = 0.0
    signs = torch.tensor([[a, b, c] for a in (1, -1) for b in (1, -1) for c in (1, -1)], dtype=dtype, device=device)
    corners = signs * half  # (8, 3)
    normal = torch.linalg.cross(u, v, dim=-1)  # the detector plane's normal
    ray = corners[None, :, :] - source[:, None, :]  # (V, 8, 3)
    lam = ((centre - source) * normal).sum(-1, keepdim=True) / (ray * normal[:, None, :]).sum(-1)  # to the plane
    hit = source[:, None, :] + lam[..., None] * ray - centre[:, None, :]
    a = (hit * u[:, None, :]).sum(-1) / u.pow(2).sum(-1, keepdim=True)
    b = (hit * v[:, None, :]).sum(-1) / v.pow(2).sum(-1, keepdim=True)
    return ((a.abs() <= detector[0] / 2) & (b.abs() <= detector[1] / 2)
            & (lam > 0)).all(1)


def noise_variance(sinogram: torch.Tensor, geometry) -> tuple[float | None, str]:
    """The noise variance per detector bin by the geometry's consistency condition, and how it was estimated:
    the views' sums for a parallel beam (noise_variance_view_sums), neighbouring views' weighted sums in their
    epipolar planes for fan and cone beams (noise_variance_source_pairs); None for data without a geometry."""
    kind = getattr(geometry, "kind", None)
    if kind == "fan":
        return noise_variance_source_pairs(sinogram, geometry), "neighbouring views' 1/sin-weighted sums"
    if kind == "cone":
        return (noise_variance_source_pairs(sinogram, geometry),
                "neighbouring views' 1/sin-weighted sums in their epipolar planes")
    return noise_variance_view_sums(sinogram, kind), "spread of the views' sums"


def held_out_misfit(residual: torch.Tensor, weight: str) -> float:
    """Mean squared held-out residual (views, n_u[, n_v]): plain (`none`) or `ramp`, each view's spectrum along u
    weighted by |frequency| (zero-padded to twice the detector, the weights' mean 1 so white noise keeps its
    variance). Why ramp: by the projection-slice theorem an image's squared error is the integral over angles of
    its projections' spectra weighted by |frequency| (the density of the Fourier slices), so the ramp-weighted
    misfit of a held-out view samples the reconstruction's image error; the plain one under-weights the high
    frequencies that over-smoothing loses."""
    check_choice("solver.lam_cv_weight", weight, CV_WEIGHTS)
    if weight in ("none", "dose"):  # dose: the search runs on the plain misfit (choose_by_view_cv reweights after)
        return float(residual.pow(2).mean())
    return weighted_misfit(residual_spectrum(residual), 1.0, residual.numel())


def residual_spectrum(residual: torch.Tensor) -> torch.Tensor:
    """The held-out residual's power along u (zero-padded to twice the detector), summed over views and rows:
    what held_out_misfit weights, kept so that another weighting costs no run."""
    spec = torch.fft.rfft(residual, n=2 * residual.shape[1], dim=1).abs().pow(2)
    return spec.transpose(0, 1).reshape(spec.shape[1], -1).sum(1)


def weighted_misfit(spectrum: torch.Tensor, power: float, numel: int) -> float:
    """The mean squared residual with its spectrum along u weighted by |frequency| ** power (1: the ramp, 0: plain),
    the weights' mean over [0, 1/2] 1 so that white noise keeps its variance ((1/2)^p / (p + 1))."""
    n2 = 2 * (spectrum.shape[0] - 1)
    f = torch.fft.rfftfreq(n2, dtype=spectrum.dtype, device=spectrum.device)
    fold = torch.full_like(f, 2.0)  # each interior rfft bin stands for itself and its mirror
    fold[0] = 1.0
    fold[-1] = 1.0
    w = fold * f.pow(power) / (0.5**power / (power + 1))
    return float((spectrum * w).sum()) / n2 / numel


def cv_offsets(fold: int, count: int) -> list[int]:
    """The `count` offsets of a fold whose held-out views are pooled, spread evenly from fold // 2 (fold 8,
    count 2: views 4, 12, ... and 0, 8, ...; count 1: the single interior fold)."""
    if not 1 <= count <= fold:
        raise UserError(f"solver.lam_cv_offsets={count}: needs 1 <= offsets <= the fold ({fold})")
    return sorted({(fold // 2 + (j * fold) // count) % fold for j in range(count)})


def view_cv_search(f, lo: float, hi: float, weights: int, points: int, second=None,
                   second_runs: int = 0) -> tuple[float, np.ndarray]:
    """choose_by_view_cv's search on a criterion f(lam) (the held-out misfit at an all-view weight): a log grid of
    `points` weights over [lo, hi], `weights - points` golden-section steps inside the best grid point's bracket,
    and the vertex of the parabola through the best three weights tried, in log lam (no more runs). Returns that
    vertex and the grid's values.

    The guard (`second`: the held-out misfit of another offset of the fold, one training run a call): when the
    grid's best weight is its lowest, the held-out views have shown no minimum at all. A low optimum (a texture
    TV does not help) gives that, and so do two held-out views that mislead (15 views, thin walls: docs/ct.md,
    "Fourth round"); the golden-section steps would only refine the range's edge. Then the `second_runs` runs go
    to `second` at the grid's lowest weights instead: where the other views have their minimum inside, its
    parabola's vertex is the answer; where they too are lowest at the edge, the edge stays. (Pooling the two
    offsets' misfit there instead kept the edge on the case that motivated it: docs/ct.md.)"""
    lams = log_grid(lo, hi, points)
    values = np.array([f(float(lam)) for lam in lams])
    if second is not None and int(np.argmin(values)) == 0 and second_runs >= 3:
        near = lams[:min(second_runs, points)]
        other = [second(float(lam)) for lam in near]
        return (parabola_min(near, other) if int(np.argmin(other)) > 0 else float(lams[0])), values
    seen = list(zip(lams, values))

    def step(lam: float) -> float:
        seen.append((lam, f(lam)))
        return seen[-1][1]

    golden_refine(step, lams, values, weights - points)
    return parabola_min([s[0] for s in seen], [s[1] for s in seen]), values


PIXEL_GRID_PICKS = ("min", "one_se")  # solver.lam_cv_pixel_grid_pick


def one_se_pick(lams: np.ndarray, per_view: np.ndarray) -> tuple[float | None, str]:
    """The one-standard-error rule of cross-validation (Hastie, Tibshirani and Friedman, 7.10) where the held-out
    curve cannot tell its lowest weight from the range's bottom: the largest weight whose held-out misfit is within
    one standard error of the lowest, the error over the held-out views (each view's mean squared residual at the
    lowest weight, sd / sqrt(views)). `lams` sorted (the range's bottom first), `per_view` (weights, views). Applied
    only where the curve at the range's bottom is within that error of its lowest (a minimum inside the range, the
    low side flat): there the lowest point is one of many the views cannot tell apart, and on the pixel grid of
    4x-simulated files at 1e4 photons it lay 7x under the image's optimum (gear 128^2/60: 0.355, 22.67 dB, against
    2.41, 26.40); where the curve rises on both sides its lowest point stands (the rule everywhere lost 0.17-0.88 dB
    on all 12 radon dev files, whose curves rise 1.2-69 errors to the bottom). Opt-in: a held-out radon file flat
    below had its optimum below the lowest (truss 76^2/60/0.7%, -0.91 dB; docs/ct.md "(ctpixgrid)"). Walks up
    from the lowest weight while the curve stays within; the crossing between the last weight within and the first
    above on the straight line between them in log lam (the range's top where it never leaves). Returns the weight
    (None: the curve's lowest stands) and what it read."""
    curve = per_view.mean(1)
    best = int(np.argmin(curve))
    se = float(per_view[best].std(ddof=1) / math.sqrt(per_view.shape[1]))
    limit = curve[best] + se
    read = (f"{per_view.shape[1]} held-out views, the lowest held-out misfit {curve[best]:.6g} at {lams[best]:.6g}, "
            f"one standard error {se:.4g}, the range's bottom {curve[0]:.6g}")
    if best == 0 or curve[0] > limit:
        return None, f"the lowest stands ({read}: a rise to the bottom)"
    k = best
    while k + 1 < len(lams) and curve[k + 1] <= limit:
        k += 1
    if k + 1 == len(lams):
        lam = float(lams[-1])
    else:
        t = (limit - curve[k]) / (curve[k + 1] - curve[k])
        lam = float(math.exp(math.log(lams[k]) + t * (math.log(lams[k + 1]) - math.log(lams[k]))))
    return lam, f"{lam:.6g}, the largest weight within one standard error of the lowest ({read}: flat below)"


def outlier_views(misfits: np.ndarray, limit: float) -> tuple[np.ndarray, str]:
    """The held-out views to leave out of cv's pick (solver.lam_cv_view_outlier): those whose misfit at the search's
    best weight (`misfits`, one per held-out view) is over `limit` x the held-out views' median, where at least 4
    views are held out and 3 stay; and what it read. Why: a view that looks along a long thin feature (a crack
    1-2 pixels wide seen edge-on) holds a deep narrow notch that views 3 degrees off do not predict; its misfit,
    5.9-8.3x the other views', falls as the weight falls and drags the mean's minimum 3x under the image's
    optimum (ctcounts' core 128^2/60/1e4: 0.058 against 0.18, -2.9 dB), where the other offsets of the fold, which
    hold no such view, pick 0.15-0.22 (docs/ct.md "(ctcore)")."""
    misfits = np.asarray(misfits, dtype=float)
    median = float(np.median(misfits))
    out = misfits > limit * median
    if len(misfits) < 4 or len(misfits) - int(out.sum()) < 3:
        out[:] = False
    ratios = " ".join(f"{v / median:.3g}" for v in misfits)
    left = ", ".join(str(i) for i in np.flatnonzero(out))
    return out, (f"{'held-out view(s) ' + left + ' left out' if out.any() else 'none left out'}: each held-out "
                 f"view's misfit over their median {median:.4g} at the best weight: {ratios} (limit {limit:g})")


def choose_by_view_cv(problem, fista: Fista, iters: int, settings: ChoiceSettings, fold: int, power_iters: int,
                      scale: float, reference: str, weight: str, progress=None, offsets: int = 1,
                      grid: int | None = None, guard: bool = False, dose: bool = False,
                      stop: Callable[[], bool] | None = None, fit_cap: float | None = None,
                      fit_cap_share: float | None = None, coverage_power: float | None = None,
                      layout: str = "interleaved", blocks: int = 1, weighting: float | None = None,
                      repick_guarded: bool = False, compare_raw: bool = False, final: bool = True,
                      cache: dict | None = None, pick_rule: str = "min",
                      view_outlier: float | None = None) -> Choice:
    """The weight minimising the held-out views' squared misfit against `reference` (cv_reference; see the module
    docstring), pooled over `offsets` folds (cv_offsets: each weight costs one training run per offset): a log
    grid of `grid` of the `settings.solves // offsets` weights (None: about half), golden-section steps with
    the rest, the
    parabola through the best three in log lam, one run on all views at its vertex (rescaled to all views, times
    `scale`). `guard`: view_cv_search's guard, another offset's held-out views consulted when the grid's best
    weight is the range's low end (its misfit in /stats/lam_cv_guard). `dose`: the scale fades with the noise's
    share of the held-out misfit (dose_scale). The curve is in all-view units before the scale.
    `stop` (the run's time limit, RunContext.out_of_time): asked before each new weight once one is solved, as
    parameter_choice.choose asks it; when it says so the search ends at the lowest held-out misfit solved so far
    (no ramp re-pick, no parabola: those need the weights not solved), still rescaled to all views and by the
    scale, and the one run on all views gives the answer (`lam_search_stopped` in the details).
    `fit_cap` (solver.lam_cv_fit_cap, tau; None: off): the answer at most the weight where the training views' own
    misfit per bin has risen above its lowest by the noise variance sigma^2 plus tau times the held-out misfit's
    part that is not noise (at the best weight, less sigma^2 x the reference's gain; tau x the whole held-out misfit
    without a noise estimate) (fit_cap_weight; the same runs, no more), and the training views' misfit at every
    weight in the details either way (`lam_cv_train_fit`). `fit_cap_share` (solver.lam_cv_fit_cap_share, s0; None:
    off): that rise divided by min(1, share / s0), share the noise's part of the held-out misfit at the best weight
    (fit_cap_rise), so the cap widens where the noise is a small part of it. `coverage_power`
    (solver.lam_cv_coverage_power, p; None: off): on a scan measuring a share c < 1 of the line directions
    (angular_coverage: a limited range, a missing wedge) the answer times c ** -p, after the cap. `layout`
    (solver.lam_cv_layout): what is held out: every fold-th view (`interleaved`), as many views in `blocks` runs
    of neighbouring angles (block_split), the rays of a band of line directions (band_split: ray masks, the
    held-out residual's views zero at their training rays), or `auto`: on a limited-range fan the larger answer
    of interleaved and band (larger_of_layouts), else interleaved. `weighting` (solver.lam_cv_weighting, k; None:
    off): on a scan with unmeasured lines each held-out view's ray's residual times the square root of
    coverage_weights (k: the weight's fall-off, in view spacings from the unmeasured lines); held-out ray masks
    (band) are not weighted. `repick_guarded` (solver.lam_cv_repick_guarded): weight `dose`'s ramp re-pick (on
    the primary folds' grid spectra) runs also where the guard was consulted and kept the range's bottom; false:
    the guard's answer stands. `reference` auto: choose_reference (`compare_raw`: the held-out misfit against the
    raw views too, from the same runs, in the details for it). `final` false: the run on all views is left to the
    caller (final_solve; the Choice's state None), for a search whose answer may not be kept. `cache`: training
    reconstructions by (layout, offset, weight), shared with another search on the same problem and FISTA (the
    same folds): a run found there is not run again, its reconstruction bit for bit the same (`solves` counts the
    runs made, `lam_cv_runs_reused` the others). `view_outlier` (solver.lam_cv_view_outlier, R; None: off): held-out
    views whose misfit at the search's best weight is over R x the held-out views' median are left out of the pick
    and of what reads the pick's misfit after it (the ramp re-pick, the noise share, the cap): outlier_views."""
    if reference == "auto":
        return choose_reference(problem, fista, iters, settings, fold, power_iters, scale, weight, progress=progress,
                                offsets=offsets, grid=grid, guard=guard, dose=dose, stop=stop, fit_cap=fit_cap,
                                fit_cap_share=fit_cap_share, coverage_power=coverage_power, layout=layout,
                                blocks=blocks, weighting=weighting, repick_guarded=repick_guarded, final=final,
                                view_outlier=view_outlier)
    b = problem.sinogram
    target, against, gain = reference_and_gain(problem, reference)
    fold = min(fold, b.shape[0])  # fewer views than the fold: one view held out
    primary = cv_offsets(fold, offsets)

    trained: dict[int, torch.Tensor] = {}  # id(training FISTA) -> its views (for the training misfit)
    ray_weight: dict[int, torch.Tensor] = {}  # id(training FISTA) -> sqrt of its held-out rays' weights
    fold_key: dict[int, tuple] = {}  # id(training FISTA) -> what names its folds in `cache`
    reused = [0]  # training runs taken from `cache`
    notes: dict[str, str] = {}

    angles = getattr(getattr(problem, "geometry", None), "angles", None)
    check_choice("solver.lam_cv_layout", layout, CV_LAYOUTS)

    geometry = getattr(problem, "geometry", None)
    if layout == "auto":
        if getattr(geometry, "kind", None) == "fan" and angular_coverage(geometry) < 1:
            return larger_of_layouts(problem, fista, iters, settings, fold, power_iters, scale, reference, weight,
                                     progress, offsets, grid, guard, dose, stop, fit_cap, fit_cap_share,
                                     coverage_power, weighting=weighting, repick_guarded=repick_guarded,
                                     final=final, view_outlier=view_outlier)
        layout = "interleaved"
    bands = layout == "band" and angles is not None and len(angles) == b.shape[0] and b.ndim == 2

    def make_fold(k: int):  # (training FISTA, held-out views or rays, all-view / training views)
        split = band_split(geometry, fold, k) if bands else None
        if split is not None:
            train, held = split
        elif layout == "blocks" and angles is not None and len(angles) == b.shape[0]:
            train, held = block_split(angles, fold, k, blocks)
        else:
            train, held = view_split(b.shape[0], fold, k)
        sub = training_fista(problem, fista, train, power_iters)
        trained[id(sub)] = train.to(b.device)
        fold_key[id(sub)] = (layout, bands, k)
        weighted = (coverage_weights(geometry, held, weighting)
                    if weighting is not None and held.dtype != torch.bool and b.ndim == 2 else None)
        if weighted is not None:
            ray_weight[id(sub)] = weighted[0].sqrt().to(b.device, b.dtype)
            notes["lam_cv_weighting"] = weighted[1]
        share = b.shape[0] / len(train) if train.dtype != torch.bool else b.numel() / int(train.sum())
        return sub, held.to(b.device), share

    def held_views(h: torch.Tensor) -> float:  # the held-out part in views (a ray mask's rays over a view's)
        return h.numel() if h.dtype != torch.bool else int(h.sum()) / b[0].numel()

    def held_gain(runs) -> float:  # the reference's mean gain over the held-out values (gain is per view)
        return float(torch.cat([gain[h] if h.dtype != torch.bool else
                                torch.repeat_interleave(gain, h.flatten(1).sum(1)) for _, h, _ in runs]).mean())

    folds = [make_fold(k) for k in primary]
    # a training weight lam is lam * views / training views on all views; the offsets can differ by a view
    # (15 views, fold 8), so each is run at the same all-view weight
    m_held = sum(len(h) * b[0].numel() if h.dtype != torch.bool else int(h.sum()) for _, h, _ in folds)
    seen: list[tuple[float, float]] = []

    spectra: dict[float, torch.Tensor] = {}  # weight "dose": the primary folds' residual spectra per weight
    train_fit: dict[float, float] = {}  # the primary folds' misfit per bin in their own (training) views, raw data
    train_fit_ref: dict[float, float] = {}  # the same against the reference (resolved: h * b), as the held-out views
    raw_held: dict[float, float] = {}  # compare_raw: the primary folds' held-out misfit against the raw views
    raw_spectra: dict[float, torch.Tensor] = {}  # the primary folds' raw held-out spectra (pixel_grid_check's ramp)
    view_err: dict[float, torch.Tensor] = {}  # pick_rule one_se: the primary folds' held-out misfit per view
    raw_views: dict[float, torch.Tensor] = {}  # the primary folds' held-out raw misfit per view (pixel_grid_check)
    view_fit: dict[float, torch.Tensor] = {}  # view_outlier: the primary folds' held-out misfit per view
    view_spectra: dict[float, torch.Tensor] = {}  # view_outlier, weight dose: their residual spectra per view

    def misfit(lam_all: float, runs) -> float:
        """The held-out misfit pooled over the folds `runs` (summed over their held-out views over their number)."""
        total = 0.0
        spectrum = 0.0
        fit, fit_ref, n_fit = 0.0, 0.0, 0
        raw_total = 0.0
        raw_spectrum = 0.0
        per_view: list[torch.Tensor] = []
        raw_view: list[torch.Tensor] = []
        own_view: list[torch.Tensor] = []
        own_spectra: list[torch.Tensor] = []
        with torch.no_grad():
            for sub, held, views in runs:
                key = (*fold_key[id(sub)], lam_all)
                if cache is not None and key in cache:
                    x = cache[key]
                    reused[0] += 1
                else:
                    x = sub.solve(torch.tensor(lam_all / views, dtype=b.dtype, device=b.device), iters)
                    if cache is not None:
                        cache[key] = x
                proj = problem.A.project(x)
                tr = trained[id(sub)]
                fit += float((proj[tr] - b[tr]).pow(2).sum())
                fit_ref += float((proj[tr] - target[tr]).pow(2).sum())
                n_fit += proj[tr].numel()
                residual, count = held_residual(proj, target, held)
                if id(sub) in ray_weight:
                    residual = residual * ray_weight[id(sub)]
                m = held_out_misfit(residual, weight)  # a ray mask's residual holds zeros: per held-out value
                if reference == "raw" and runs is folds and residual.ndim >= 2:
                    raw_spectrum = raw_spectrum + residual_spectrum(residual)
                    if held.dtype != torch.bool:
                        raw_view.append(residual.pow(2).flatten(1).mean(1))
                total += (m if held.dtype != torch.bool else m * residual.numel() / count) * held_views(held)
                if compare_raw and runs is folds:
                    raw_res, raw_count = held_residual(proj, b, held)
                    if id(sub) in ray_weight:
                        raw_res = raw_res * ray_weight[id(sub)]
                    m_raw = held_out_misfit(raw_res, "none")
                    raw_total += (m_raw if held.dtype != torch.bool else m_raw * raw_res.numel() / raw_count) \
                        * held_views(held)
                    if raw_res.ndim >= 2:
                        raw_spectrum = raw_spectrum + residual_spectrum(raw_res)
                        if held.dtype != torch.bool:
                            raw_view.append(raw_res.pow(2).flatten(1).mean(1))
                if weight == "dose" and residual.ndim >= 2:  # a detector axis to weight along (a sinogram)
                    spectrum = spectrum + residual_spectrum(residual)
                if pick_rule != "min" and runs is folds and held.dtype != torch.bool:
                    per_view.append(residual.pow(2).flatten(1).mean(1))
                if view_outlier is not None and runs is folds and held.dtype != torch.bool:
                    own_view.append(residual.pow(2).flatten(1).mean(1))
                    if weight == "dose" and residual.ndim >= 2:
                        own_spectra += [residual_spectrum(residual[i:i + 1]) for i in range(residual.shape[0])]
        if weight == "dose" and runs is folds and torch.is_tensor(spectrum):
            spectra[lam_all] = spectrum
        if runs is folds:
            train_fit[lam_all] = fit / n_fit
            train_fit_ref[lam_all] = fit_ref / n_fit
        err = total / sum(held_views(h) for _, h, _ in runs)
        if compare_raw and runs is folds:
            raw_held[lam_all] = raw_total / sum(held_views(h) for _, h, _ in runs)
        if torch.is_tensor(raw_spectrum):
            raw_spectra[lam_all] = raw_spectrum
        if per_view:
            view_err[lam_all] = torch.cat(per_view)
        if own_view:
            view_fit[lam_all] = torch.cat(own_view)
        if own_spectra:
            view_spectra[lam_all] = torch.stack(own_spectra)
        if raw_view:
            raw_views[lam_all] = torch.cat(raw_view)
        if progress is not None:
            progress(lam_all, err)
        return err

    def out_of_time() -> None:
        if stop is not None and (seen or guarded) and stop():
            raise _SearchStopped

    def f(lam_all: float) -> float:
        out_of_time()
        seen.append((lam_all, misfit(lam_all, folds)))
        return seen[-1][1]

    guarded: list[tuple[float, float]] = []
    other = None
    if guard:  # the next offset of the spread (fold 8: offset 0 beside the default's 4); built only if consulted
        spare = [k for k in cv_offsets(fold, min(fold, 2 * len(primary))) if k not in primary]
        other = spare[0] if spare else None

    other_fold = []

    def second(lam_all: float) -> float:
        out_of_time()
        if not other_fold:
            other_fold.append(make_fold(other))
        guarded.append((lam_all, misfit(lam_all, other_fold)))
        return guarded[-1][1]

    weights = max(3, settings.solves // len(folds))  # weights tried
    points = max(3, weights // 2) if grid is None else min(max(3, grid), weights)
    if weights - points < 2:
        points = weights
    details = dict(notes)
    try:
        pick, values = view_cv_search(f, settings.lo, settings.hi, weights, points,
                                      second if other is not None else None,
                                      second_runs=(weights - points) * len(folds))
        stopped = False
    except _SearchStopped:  # the run's time limit: the best weight of those solved (the guard's fold aside)
        stopped = True
        pick = min(seen, key=lambda s: s[1])[0]
        values = np.array([s[1] for s in seen])
        tried = len(seen) + len(guarded)
        details["lam_search_stopped"] = f"time limit, after {tried} weight{'s' if tried != 1 else ''}"
    best = min(range(len(seen)), key=lambda i: seen[i][1])
    held_best = seen[best][1]  # the held-out misfit at the pick, as the noise share and the cap read it
    m_pick = m_held  # the held-out values the ramp re-pick's spectra hold
    if view_outlier is not None and guarded:  # the guard's other offset decided where the first grid had no minimum
        details["lam_cv_view_outlier"] = "not read: the guard was consulted (the first grid lowest at its bottom)"
    elif view_outlier is not None and not stopped and len(view_fit) >= 3:
        lams_v = sorted(view_fit)
        per = np.array([view_fit[a].cpu().numpy() for a in lams_v])
        out, details["lam_cv_view_outlier"] = outlier_views(per[lams_v.index(seen[best][0])], view_outlier)
        if out.any():
            details["lam_cv_pick_all_views"] = f"{pick:.6g}"
            trimmed = per[:, ~out].mean(1)
            pick, held_best = parabola_min(lams_v, trimmed), float(trimmed.min())
            if view_spectra:
                spectra = {a: view_spectra[a][torch.as_tensor(~out, device=b.device)].sum(0) for a in lams_v}
                m_pick = m_held * int((~out).sum()) // len(out)
    used = scale
    if dose or weight == "dose":
        noise, how = noise_variance(b, getattr(problem, "geometry", None))
        gain_held = held_gain(folds)
        if dose:
            used, details["lam_cv_dose"] = dose_scale(scale, noise, gain_held, held_best, how)
        if weight == "dose":
            # the ramp's power is the noise's share over NOISE_LIMITED_SHARE (what the scale fades by): where the
            # held-out misfit is noise-limited, the image error that decides the optimum is mostly noise at high
            # frequencies, which a projection under-weights by 1/|frequency| (projection-slice) and the ramp
            # restores; where it is undersampling or model error (sub-pixel detail, high in frequency too), the
            # ramp would reward fitting that detail, so none (docs/ct.md, "Eighth round"). Same runs: the spectra
            # of the residuals the search computed, reweighted
            power = noise_limited(noise, gain_held, held_best)
            details["lam_cv_pick_plain"] = f"{pick:.6g}"
            details["lam_cv_ramp_power"] = f"{power:.3f}"
            # repick_guarded: also where the guard was consulted and kept the range's bottom (both folds lowest
            # there); where it found the other fold's minimum inside, that stands (the primary fold's spectra have
            # their minimum at the bottom, and re-picking on them undid it: metal 256^2/15/1e4 -0.18 dB,
            # docs/ct.md "(ctguard)")
            kept_bottom = bool(guarded) and pick <= settings.lo * (1 + 1e-9)
            if power > 0 and (not guarded or repick_guarded and kept_bottom) and not stopped and len(spectra) >= 3:
                lams_seen = sorted(spectra)
                pick = parabola_min(lams_seen, [weighted_misfit(spectra[a], power, m_pick) for a in lams_seen])
    if layout == "blocks":
        details["lam_cv_layout"] = f"blocks: the held-out views in {blocks} run(s) of neighbouring angles"
    elif layout == "band":
        details["lam_cv_layout"] = ("band: the rays of a band of line directions held out" if bands else
                                    "band: not a 2-D scan's rays, every fold-th view held out instead")
    if pick_rule != "min" and not stopped and len(view_err) >= 3:
        check_choice("solver.lam_cv_pixel_grid_pick", pick_rule, PIXEL_GRID_PICKS)
        lams_v = sorted(view_err)
        per = np.array([view_err[a].cpu().numpy() for a in lams_v])
        details["lam_cv_view_misfits"] = "; ".join(f"{a:.6g}: " + " ".join(f"{v:.6g}" for v in row)
                                                   for a, row in zip(lams_v, per))
        if per.shape[1] >= 2 and not guarded:
            wide, details["lam_cv_one_se"] = one_se_pick(np.array(lams_v), per)
            if wide is not None:
                details["lam_cv_pick_min"] = f"{pick:.6g}"
                pick = wide
    lam = pick * used
    details["lam_cv_pick"] = f"{pick:.6g}"  # the held-out views' best weight (all-view units), before the scale
    # the figure draws the plain held-out misfit; where the ramp's re-pick or the scale moved the weight off its
    # pick, the legend and the summary say so (newuser19: "chosen lam = 4.42" beside a curve lowest at 3.37, its
    # parabola's pick 3.77, without a word of the ramp-weighted re-pick that took 4.42)
    ramped = float(details.get("lam_cv_pick_min", pick))  # the pick before the one-standard-error rule moved it
    plain = float(details.get("lam_cv_pick_plain", ramped))
    whole = float(details.get("lam_cv_pick_all_views", plain))  # the pick before outlier views were left out
    moves = ([f"held-out views left out, their pick {plain:.3g} (lam_cv_view_outlier)"]
             if "lam_cv_pick_all_views" in details else []) + \
        ([f"ramp-weighted re-pick {ramped:.3g} (lam_cv_ramp_power {details['lam_cv_ramp_power']})"]
             if abs(ramped / plain - 1.0) > 1e-3 else []) + \
        ([f"one-standard-error pick {pick:.3g} (lam_cv_pixel_grid_pick)"] if "lam_cv_pick_min" in details else []) + \
        ([f"x {used:.3g} (lam_cv_dose)"] if used != 1.0 else [])
    if moves:
        details["lam_moved_by"] = f"{', '.join(moves)} from this curve's pick {whole:.3g}"
    details["lam_cv_train_fit"] = ", ".join(f"{a:.4g}: {train_fit[a]:.5g}" for a in sorted(train_fit))
    details["lam_cv_train_fit_ref"] = ", ".join(f"{a:.4g}: {train_fit_ref[a]:.5g}" for a in sorted(train_fit_ref))
    if reference == "raw":  # the lowest held-out misfit against the raw views (pixel_grid_check compares it)
        details["lam_cv_raw_min"] = f"{seen[best][1]:.6g}"
        if seen[best][0] in raw_views:  # its held-out views' own misfits, for pixel_grid_check's margin `se`
            details["lam_cv_raw_views"] = " ".join(f"{v:.6g}" for v in raw_views[seen[best][0]].tolist())
    # the same views' lowest ramp-weighted misfit against the raw views (pixel_grid_check's `ramp`): the image's
    # error as the held-out views sample it, where the plain misfit under-weights its high frequencies
    if raw_spectra:
        ramp = {a: weighted_misfit(v, 1.0, m_held) for a, v in raw_spectra.items()}
        details["lam_cv_raw_ramp_min"] = f"{min(ramp.values()):.6g}"
        details["lam_cv_raw_ramp_argmin"] = f"{min(ramp, key=ramp.get):.6g}"  # judging only (docs/ct.md "(ctcheck)")
    if compare_raw and raw_held:
        noise_raw, _ = noise_variance(b, getattr(problem, "geometry", None))
        details["lam_cv_held_raw"] = ", ".join(f"{a:.4g}: {raw_held[a]:.5g}" for a in sorted(raw_held))
        details["_compare"] = (min(raw_held.values()), seen[best][1], held_gain(folds), noise_raw)
        at = min(raw_held, key=raw_held.get)
        if at in raw_views:
            details["_compare_views"] = " ".join(f"{v:.6g}" for v in raw_views[at].tolist())
    if fit_cap is not None and not stopped:
        noise_fc = noise_variance(b, getattr(problem, "geometry", None))[0]
        held_fc = held_best
        gain_fc = held_gain(folds)
        rise, widen = fit_cap_rise(fit_cap, noise_fc, gain_fc, held_fc, fit_cap_share)
        if widen > 1:
            details["lam_cv_fit_cap_widened"] = (f"x {widen:.4g}: the noise's share of the held-out misfit "
                                                 f"{noise_fc * gain_fc / held_fc:.4g} below {fit_cap_share:g}")
        cap = fit_cap_weight(train_fit, rise, 1.0)
        details["lam_cv_fit_cap"] = (f"{cap:.4g} (the training views' misfit {rise:.4g} above its lowest: "
                                     + ("" if noise_fc is None else f"noise variance {noise_fc:.4g} + ")
                                     + f"{fit_cap:g} x the held-out misfit {held_fc:.4g}"
                                     + ("" if noise_fc is None else f" less its noise {noise_fc * gain_fc:.4g}")
                                     + ")" + (": the pick capped" if cap < lam else ": not binding"))
        if cap < lam:
            details["lam_cv_uncapped"] = f"{lam:.6g}"
            lam = cap
    if coverage_power is not None:
        # a limited angular range (or a missing wedge): the held-out views lie inside the measured range, so their
        # misfit does not see the error in the directions no view measured, which more TV reduces (docs/ct.md,
        # "Limited-range scans (ctlimited)"): the answer times coverage ** -power, after the cap (the training
        # views' fit does not see those directions either); a full scan's is untouched
        coverage = angular_coverage(getattr(problem, "geometry", None))
        if coverage < 1:
            details["lam_cv_coverage"] = (f"{coverage:.4g} of the half turn measured: x "
                                          f"{coverage ** -coverage_power:.4g} (coverage ** -{coverage_power:g})")
            lam *= coverage ** -coverage_power
    if reused[0]:
        details["lam_cv_runs_reused"] = (f"{reused[0]} training run(s) taken from the search before on the same "
                                         f"folds (not run again)")
    x = final_run(fista, lam, iters, b) if final else None
    # at the range's edge: the grid's best there, unless the guard found the other views' minimum inside
    # (the grid's ends are exp(log lo), exp(log hi): equal to lo and hi only to rounding)
    inside = settings.lo * (1 + 1e-9) < pick < settings.hi * (1 - 1e-9)
    at_edge = int(np.argmin(values)) in (0, len(values) - 1) and not (guarded and inside) and not stopped
    if guard:
        details["lam_cv_guard"] = ("not needed" if not guarded else f"offset {other}: " + ", ".join(
            f"{a:.3g}: {v:.4g}" for a, v in guarded))
    err = np.array([s[1] for s in seen])
    curve = {"lam": np.array([s[0] for s in seen]), "criterion": err, "rss": err * m_held,
             "trace": np.full(len(seen), math.nan)}
    # the held-out RMS misfit at the winner: noise + model error + what the training views could not predict,
    # an upper bound of the noise level (cv needs none) where the reference is the raw views; a resolved reference
    # keeps only `gain` of the noise's variance, so the bound is of that part (newuser19: 0.4619 read "an upper
    # bound" where the noise drawn was 0.479 per bin, the reference's gain 0.806)
    sigma = math.sqrt(seen[best][1])
    kept = held_gain(folds)
    bound = ("an upper bound" if kept >= 1.0 - 1e-9 else
             f"an upper bound of the noise that reference keeps ({kept:.3g} of its variance): the views' own noise "
             f"may be up to {1.0 / math.sqrt(max(kept, 1e-12)):.3g}x it")
    return Choice(lam=lam, rule="cv", sigma=sigma,
                  solves=len(seen) * len(folds) + len(guarded) - reused[0] + int(final),
                  at_edge=bool(at_edge), curve=curve,
                  details={"lam_cv_reference": reference, "lam_cv_scale": f"{scale:g}", "lam_cv_fold": str(fold),
                           "lam_cv_offsets": str(len(folds)), "lam_cv_grid": str(points), "lam_cv_weight": weight,
                           **details},
                  noise_source=f"cv: RMS misfit of the held-out views (every {fold}th, {len(folds)} offset(s)) "
                               f"against {against} at the chosen weight, {bound}", state=x)


def choose_reference(problem, fista, iters, settings, fold, power_iters, scale, weight, **kw) -> Choice:
    """solver.lam_cv_reference=auto: the search against `resolved` (the default's, its answer bit for bit), the
    same runs' held-out misfit against the raw views beside; where the raw views' lowest misfit less their noise
    variance is below the resolved views' less theirs (noise x the reference's gain), the pixel model predicts the
    data as they are better than their blur: data with no detail below the pixel (a projection of a pixel image,
    scikit-image's radon of an N^2 array), which h * b over-corrects; the search is then run again against `raw`
    (its runs counted too). Why: on such files the resolved views' held-out minimum lay 5x above the image optimum
    (fibres 144^2 radon, 60 views, 1e6 photons: pick 2.31, capped to 0.888, 34.30 dB; raw 0.435, 36.57 dB, the
    optimum 0.44), in a field cropped to the object alike (docs/ct.md "(ctsmallw)"). No noise estimate: resolved.
    The raw search takes the resolved search's training runs where it tries the same weights (its first grid: the
    same folds, the same reconstructions), and the resolved answer's run on all views is made only if it is kept
    (docs/ct.md "(ctcost)")."""
    final = kw.pop("final", True)
    cache: dict = {}
    first = choose_by_view_cv(problem, fista, iters, settings, fold, power_iters, scale, "resolved", weight,
                              compare_raw=True, final=False, cache=cache, **kw)
    raw_min, res_min, gain, noise = first.details.pop("_compare", (None, None, None, None))
    raw_views = first.details.pop("_compare_views", None)
    if noise is None:
        first.details["lam_cv_reference_auto"] = "resolved (no noise estimate for this geometry)"
        return final_solve(first, fista, iters, problem.sinogram) if final else first
    raw_excess, res_excess = raw_min - noise, res_min - noise * gain
    why = (f"the held-out misfit less its noise: raw views {raw_excess:.4g}, resolved {res_excess:.4g} "
           f"(noise variance {noise:.4g} x gain 1 and {gain:.4g})")
    if raw_excess >= res_excess:
        first.details["lam_cv_reference_auto"] = f"resolved: {why}"
        first.details["lam_cv_raw_min"] = f"{raw_min:.6g}"
        if raw_views is not None:
            first.details["lam_cv_raw_views"] = raw_views
        return final_solve(first, fista, iters, problem.sinogram) if final else first
    second = choose_by_view_cv(problem, fista, iters, settings, fold, power_iters, scale, "raw", weight, final=final,
                               cache=cache, **kw)
    second.details["lam_cv_reference_auto"] = f"raw: {why}"
    second.details["lam_cv_resolved_answer"] = f"{first.lam:.6g}"
    return Choice(lam=second.lam, rule=second.rule, sigma=second.sigma, solves=first.solves + second.solves,
                  at_edge=second.at_edge, curve=second.curve, details=second.details,
                  noise_source=second.noise_source, state=second.state)


def final_run(fista: Fista, lam: float, iters: int, b: torch.Tensor) -> torch.Tensor:
    """cv's one FISTA-TV run on all views at the chosen weight (the answer)."""
    with torch.no_grad():
        return fista.solve(torch.tensor(lam, dtype=b.dtype, device=b.device), iters)


def final_solve(choice: Choice, fista: Fista, iters: int, b: torch.Tensor) -> Choice:
    """A search made with final=False, its run on all views made now (counted in its solves); a Choice that
    has its state is returned as it is."""
    if choice.state is None:
        choice.state = final_run(fista, choice.lam, iters, b)
        choice.solves += 1
    return choice


PIXEL_GRID_MISFITS = ("plain", "ramp")  # solver.lam_cv_pixel_grid_misfit
PIXEL_GRID_EDGES = ("keep", "finer", "se")  # solver.lam_cv_pixel_grid_edge
PIXEL_GRID_MARGINS = ("none", "se")  # solver.lam_cv_pixel_grid_margin, or a number in (0, 1]


def check_margin(margin) -> str | float:
    """solver.lam_cv_pixel_grid_margin: `none`, `se` or a number m, 0 < m <= 1 (a UserError naming the value)."""
    if isinstance(margin, str) and margin in PIXEL_GRID_MARGINS:
        return margin
    try:
        m = float(margin) if not isinstance(margin, bool) else math.nan
    except (TypeError, ValueError):
        m = math.nan
    if not 0.0 < m <= 1.0:
        raise UserError(f"solver.lam_cv_pixel_grid_margin={margin!r} is not allowed: none, se or a number m with "
                        f"0 < m <= 1 (the pixel grid kept where its lowest held-out raw misfit is below m x the finer "
                        f"grid's)")
    return m


def pixel_grid_lead(pixel: Choice, fine: Choice, a: float, f: float) -> tuple[float, float | None, str]:
    """The pixel grid's lead in the held-out raw misfit: the ratio a / f of the two grids' lowest, and the
    standard error of their difference over the held-out views (each view's misfit at each grid's lowest weight,
    paired: the same folds hold out the same views; sd / sqrt(views) of the per-view differences), None without
    both grids' per-view misfits or with fewer than two views. Returns (ratio, se, what it read)."""
    ratio = a / f if f > 0 else math.inf
    pv, fv = pixel.details.get("lam_cv_raw_views"), fine.details.get("lam_cv_raw_views")
    d = (np.array(pv.split(), dtype=float) - np.array(fv.split(), dtype=float)
         if pv and fv and len(pv.split()) == len(fv.split()) else np.array([]))
    if len(d) < 2:
        return ratio, None, f"ratio {ratio:.4g}"
    se = float(d.std(ddof=1) / math.sqrt(len(d)))
    return ratio, se, (f"ratio {ratio:.4g}, the lead {f - a:.4g} = {(f - a) / se if se > 0 else math.inf:.3g} "
                       f"standard errors ({se:.4g}) over {len(d)} held-out views")


def pixel_bottom(pixel: Choice) -> bool:
    """Whether the pixel grid's search picked the range's bottom: flagged at the range's edge, its held-out curve
    lowest at the smallest weight it tried (no minimum inside lam_range)."""
    lams, crit = pixel.curve.get("lam"), pixel.curve.get("criterion")
    if not pixel.at_edge or lams is None or crit is None or len(lams) == 0:
        return False
    lams = np.asarray(lams, dtype=float)
    return bool(lams[int(np.argmin(np.asarray(crit, dtype=float)))] <= lams.min() * (1 + 1e-9))


def pixel_grid_check(fine: Choice, search_pixel: Callable[[], Choice], misfit: str = "plain",
                     edge: str = "keep", margin: str | float = "none") -> tuple[Choice, bool]:
    """solver.lam_cv_pixel_grid: after the search on the finer unknown (solver.tv_grid=auto's 2x grid), the same
    search on the output's pixel grid against the raw views (`search_pixel`); its answer replaces the finer grid's
    where its held-out views' lowest misfit against the raw views is below the finer grid's (the same folds; both
    searches record it as lam_cv_raw_min). Returns (the answer kept, whether it is the pixel grid's). Why: a
    sinogram made by projecting a pixel image (scikit-image's radon of an N^2 array, the way most users make one)
    holds no detail below the pixel; the finer unknown's own projector then fits detail the data do not have, and
    the pixel grid both predicts the held-out views better and reconstructs better (a 96^2 Shepp-Logan radon file,
    60 views, 1%: the grid optimum 29.57 dB on the 2x grid against 32.99 on the pixel grid, whose raw search picks
    it; docs/ct.md "(ctskradon)"). On data with detail below the pixel the finer grid predicted them better on 4 of
    5 dev files and was kept (its answer bit for bit), but not on 4x-simulated files at 1e4 photons (below). Where
    the finer search has no raw misfit (a reference that does not compute one) or was stopped by the time limit, it
    stands and the pixel search is not run. Both searches may come without their run on all views (final=False):
    the caller then makes the kept one's (final_solve), one run instead of two (docs/ct.md "(ctcost)"). `misfit`
    (solver.lam_cv_pixel_grid_misfit): `plain` compares the plain misfits, `ramp` the ramp-weighted ones
    (lam_cv_raw_ramp_min, the same runs): on 4x-simulated files at 1e4 photons the pixel grid's answer predicted the
    held-out views better (its image's error lower below 1/8 cycle per pixel, where a projection weights most) while
    its image was 3.5 dB worse, its error above 1/4 cycle per pixel twice the finer grid's (gear 128^2/60/1e4;
    docs/ct.md "(ctcheck)"); ramp did not tell them apart either (gear 1.348 against 1.525: moved as plain) and is
    kept for judging. Without a ramp-weighted misfit on either grid the finer grid stands. `edge`
    (solver.lam_cv_pixel_grid_edge): `keep` decides as above; `finer` keeps the finer grid's answer where the pixel
    grid's pick is the range's bottom (pixel_bottom), whatever the misfits: on FD's bone 128^2/60/1e5 that answer
    was 2 dB worse, but on 7986's radon foam 1.05 dB better (docs/ct.md "(ctedge)"), so `keep` stays; `se` keeps
    the finer grid's answer there only where the pixel grid's lead is within one standard error of the per-view
    difference (pixel_grid_lead; without per-view misfits as `keep`): a pick at the bottom is where the pixel
    grid's curve has no minimum and its lead is least sure; on the 31 dev files the check moved it returned both
    bones (4x-simulated, +2.47 dB) and kept the radon foam (4.77 errors) and FD's battery, but on 11 held-out files
    it moved none: a 4x-simulated battery -1.54 dB on the pixel grid led by 1.11 errors (docs/ct.md
    "(ctbottom)"), so `keep` stays. `margin`
    (solver.lam_cv_pixel_grid_margin): `none` decides as above; a number m keeps the pixel grid only where its
    lowest misfit is below m x the finer grid's; `se` only where its lead exceeds one standard error of the
    difference over the held-out views (pixel_grid_lead; without per-view misfits as `none`). Neither separates
    the kinds on the 31 files the check moved: se +5.98 dB on the 4x-simulated, -2.02 on the radon files (leads of
    0.33 and 0.86 errors on radon gains, 1.03-1.23 on 4x-simulated losses), so `none` stays. The ratio and the
    lead are recorded either way (lam_cv_pixel_grid_lead, metrics lam_cv_pixel_grid_ratio) (docs/ct.md
    "(ctmargin)")."""
    check_choice("solver.lam_cv_pixel_grid_edge", edge, PIXEL_GRID_EDGES)
    margin = check_margin(margin)
    key = "lam_cv_raw_min" if misfit == "plain" else "lam_cv_raw_ramp_min"
    if key not in fine.details or "lam_search_stopped" in fine.details:
        return fine, False
    pixel = search_pixel()
    if key not in pixel.details:
        fine.solves += pixel.solves
        return fine, False
    a, f = float(pixel.details[key]), float(fine.details[key])
    why = (f"the held-out views' lowest {'ramp-weighted ' if misfit == 'ramp' else ''}misfit against the raw views "
           f"{a:.4g} on the pixel grid, {f:.4g} on the finer grid")
    other = "lam_cv_raw_ramp_min" if misfit == "plain" else "lam_cv_raw_min"
    if other in pixel.details and other in fine.details:  # both comparisons in the record (judging them apart)
        why += f"; {'ramp' if misfit == 'plain' else 'plain'}: {pixel.details[other]} and {fine.details[other]}"
    ratio, se, lead = pixel_grid_lead(pixel, fine, a, f)
    for c in (pixel, fine):
        c.details["lam_cv_pixel_grid_lead"] = lead
        c.details["lam_cv_pixel_grid_ratio"] = f"{ratio:.6g}"
    if a < f and (margin == "se" and se is not None and f - a <= se
                  or not isinstance(margin, str) and a >= margin * f):
        fine.details["lam_cv_pixel_grid"] = (f"finer grid kept (the pixel grid's lam {pixel.lam:.6g}: its lead "
                                             f"within lam_cv_pixel_grid_margin={margin}, {lead}): {why}")
        fine.solves += pixel.solves
        return fine, False
    if a < f and (edge == "finer" or edge == "se" and se is not None and f - a <= se) and pixel_bottom(pixel):
        fine.details["lam_cv_pixel_grid"] = (f"finer grid kept (the pixel grid's lam {pixel.lam:.6g} at lam_range's "
                                             f"bottom, lam_cv_pixel_grid_edge={edge}"
                                             f"{f', {lead}' if edge == 'se' else ''}): {why}")
        fine.solves += pixel.solves
        return fine, False
    if a < f:
        pixel.details["lam_cv_pixel_grid"] = f"pixel grid (lam {pixel.lam:.6g}; the finer grid's {fine.lam:.6g}): {why}"
        pixel.solves += fine.solves
        if "lam_cv_runs_reused" in fine.details:  # lam_solves counts the finer search's runs: so are those not run
            pixel.details["lam_cv_runs_reused"] = f"the finer grid's search: {fine.details['lam_cv_runs_reused']}"
        return pixel, True
    fine.details["lam_cv_pixel_grid"] = f"finer grid kept (the pixel grid's lam {pixel.lam:.6g}): {why}"
    fine.solves += pixel.solves
    return fine, False


def larger_of_layouts(problem, fista, iters, settings, *args, weighting: float | None = None,
                      repick_guarded: bool = False, final: bool = True,
                      view_outlier: float | None = None) -> Choice:
    """solver.lam_cv_layout=auto on a limited-range fan: both searches (every fold-th view held out, and a band
    of line directions, band_split), the larger answer (its reconstruction, its curve; the runs of both counted).
    Why: on a limited-range fan the held-out views see only the measured directions, and the answer falls short
    of the optimum where the unmeasured ones want more TV (V's tablet and dental fans, dev polygons: 0.26-0.37x);
    a held-out band of directions sees TV filling a wedge and picks up to it there, but picks far lower on
    textures and some low-noise scans (wood, breast at 1e6), where the views' answer was right (docs/ct.md,
    "Held-out blocks of views for limited-range fans? (ctfanblock)")."""
    both = {k: choose_by_view_cv(problem, fista, iters, settings, *args, layout=k, weighting=weighting,
                                 repick_guarded=repick_guarded, final=False, view_outlier=view_outlier)
            for k in ("interleaved", "band")}
    win = max(both.values(), key=lambda c: c.lam)
    win.solves = sum(c.solves for c in both.values())
    if final:  # the kept answer's run on all views alone (docs/ct.md "(ctcost)")
        final_solve(win, fista, iters, problem.sinogram)
    win.details["lam_cv_layout"] = ("auto (a limited-range fan): the larger of " + ", ".join(
        f"{k} {c.lam:.6g}" for k, c in both.items()))
    return win


def angular_coverage(geometry) -> float:
    """The share of the line directions a 2-D scan measures, in (0, 1]: 1 for a full scan. Parallel beam: the
    views' angles folded onto the half turn, their sorted gaps (the wrap-around one included); a gap wider than
    COVERAGE_GAP x the median gap is a range no view measured (a limited range's rest of the half turn, a missing
    wedge), less the one spacing it would hold anyway. Fan beam: the sources' arc so found on the full turn, as a
    share of a half turn, at most 1 (a fan over 150 degrees of sources sees its central rays' directions over 150;
    from a half turn on, every direction has a source). Jittered and golden-angle lists (gaps within 1.7x the
    median) and evenly spread ones are 1 exactly. Other geometries (cone) and under 3 views: 1."""
    kind = getattr(geometry, "kind", None)
    angles = getattr(geometry, "angles", ())
    if kind not in ("parallel", "fan") or len(angles) < 3:
        return 1.0
    turn = math.pi if kind == "parallel" else 2 * math.pi
    a = np.sort(np.mod(np.asarray(angles, dtype=float), turn))
    gaps = np.diff(np.concatenate((a, a[:1] + turn)))
    spacing = float(np.median(gaps))
    missing = float(np.sum(gaps[gaps > COVERAGE_GAP * spacing] - spacing))
    if missing <= 0:
        return 1.0
    return min(1.0, (turn - missing) / math.pi)


def fit_cap_rise(tau: float, noise: float | None, gain: float, held: float,
                 share_floor: float | None = None) -> tuple[float, float]:
    """The training views' misfit rise the cap allows, and the factor it was widened by: the noise variance + tau x
    the held-out misfit's part that is not noise (tau x the held-out misfit without a noise estimate), divided by
    min(1, share / share_floor), share = the noise variance x the reference's gain / the held-out misfit (None: not
    widened). Why widen: where the held-out misfit is hardly noise (1e6 photons and more) the training views'
    misfit is the model's (sub-pixel detail fitted at small weights), which any TV weight near the optimum gives up
    at a rise the small held-out misfit does not cover (pipes fan 240^2, 1e6: capped at 1.08 against the optimum
    2.41, -1.02 dB; docs/ct.md, "Sixteenth round")."""
    if noise is None:
        return tau * held, 1.0
    rise = noise + tau * max(0.0, held - noise * gain)
    if share_floor is None:
        return rise, 1.0
    widen = 1.0 / max(min(1.0, noise * gain / max(held, 1e-300) / share_floor), 1e-12)
    return rise * widen, widen


def fit_cap_weight(train_fit: dict[float, float], held_out: float, tau: float) -> float:
    """The largest weight (all-view units) at which the training views' misfit per bin stays within tau x
    `held_out` (the rise allowed, per bin) of its lowest over the weights tried, log-linear between the last
    weight within and the first beyond (the misfit grows with the weight). Why: where TV erases a texture finer
    than the views resolve (battery 160^2, 90 views: thin layers merged at lam 17 against the optimum 3), the
    held-out views hardly see it while the views trained on lose their fit: their misfit rose by 1.8x the held-out
    misfit there, by 0.3-0.5x at the optimum (docs/ct.md, "Fifteenth round"). The rise allowed: the noise
    variance alone capped low-noise scans far below their optimum (dental 224^2 at 1e6 photons: 0.12 against 1.7:
    the misfit there is the model's), half the held-out misfit capped noise-limited ones (foliage 224^2 at 1e3:
    12.8 against 49); choose_by_view_cv allows the noise variance plus a share of the rest."""
    lams = sorted(train_fit)
    fits = [train_fit[a] for a in lams]
    if len(lams) < 2:
        return float(lams[-1]) if lams else math.inf
    limit = min(fits) + tau * held_out
    for i in range(1, len(lams)):
        if fits[i] > limit and fits[i - 1] <= limit:
            t = (limit - fits[i - 1]) / (fits[i] - fits[i - 1])
            return float(math.exp(math.log(lams[i - 1]) + t * (math.log(lams[i]) - math.log(lams[i - 1]))))
    return float(lams[-1]) if fits[-1] <= limit else float(lams[0])


def noise_limited(noise: float | None, gain: float, misfit: float) -> float:
    """How noise-limited the held-out misfit at the best weight is, in [0, 1]: the noise's share of it (the
    variance per bin times the reference's gain on it, over the misfit) over NOISE_LIMITED_SHARE, at most 1; 0
    without a noise estimate."""
    if noise is None:
        return 0.0
    return min(1.0, noise * gain / max(misfit, 1e-300) / NOISE_LIMITED_SHARE)


def dose_scale(scale: float, noise: float | None, gain: float, misfit: float,
               how: str = "spread of the views' sums") -> tuple[float, str]:
    """`scale` ** (1 - min(1, share / NOISE_LIMITED_SHARE)), share = the noise's part of the held-out misfit at the
    best weight (the noise variance per bin, noise_variance_view_sums, times the reference's gain on it, over that
    misfit), and a line for /stats/lam_cv_dose. Why: the scale < 1 corrects the training scan's wider gaps, which
    drive its best weight above the all-view one where the error is undersampling (docs/ct.md, "Fourth round");
    where the error is the noise, the held-out views' minimum lies at or below the all-view optimum already
    (0.6-1.0x on six of eight 1e3-photon cases) and the scale under-regularizes (docs/ct.md, "Sixth round"). The
    held-out misfit is the held-out views' own noise (independent of the training reconstruction) plus the
    prediction error, so its noise share says which regime the data are in; in between, the correction is
    interpolated in log lam. No estimate (no consistency condition for the geometry, or too few views): the scale
    as given."""
    if noise is None:
        return scale, "not estimated (no consistency condition used for this geometry): the scale as given"
    share = noise * gain / max(misfit, 1e-300)
    power = 1.0 - noise_limited(noise, gain, misfit)
    used = scale ** power
    return used, (f"noise variance {noise:.4g} per bin ({how}) x {gain:.4g} (reference) = "
                  f"{share:.3f} of the held-out misfit {misfit:.4g}: scale {scale:g} ** {power:.3f} = {used:.4g}")


def fista_runs(choice: Choice, settings: ChoiceSettings) -> int:
    """FISTA runs a search took: cv's `solves` count its final run; gcv/sure add one run per probe per weight."""
    if choice.rule == "cv":
        return choice.solves
    return choice.solves * (1 + (settings.probes if settings.needs_trace else 0))


def few_views_pool(views: int, fold: int, offsets: int, settings: ChoiceSettings, few_views: int | None,
                   few_offsets: int) -> tuple[int, ChoiceSettings]:
    """(offsets, settings) for a scan of `views` views: at most `few_views` of them (None: never), `few_offsets`
    offsets of the fold pooled (at most the fold's, at least `offsets`), each offset at the full weight count: the
    search's solves times the offsets. At 15 views fold 8 holds out two views an offset, and which two decides
    the held-out curve's dip (EX's cat: the eight offsets' picks 0.32-1.91, docs/ct.md "(ctcat15)"); pooling at
    the same runs (solver.lam_cv_offsets) halves the weights and lost more than it gained ("Third round"), so the
    pool pays a training run per offset per weight where a run is cheap (few views: docs/ct.md "(ct15dip)")."""
    if few_views is None or views > few_views:
        return offsets, settings
    pooled = max(offsets, min(few_offsets, min(fold, views)))
    if pooled == offsets:
        return offsets, settings
    return pooled, replace(settings, solves=settings.solves // offsets * pooled)


def choose_fista_weight(problem, fista: Fista, iters: int, settings: ChoiceSettings, divergence: str,
                        generator: torch.Generator, progress=None, cv_fold: int | None = None,
                        cv_scale: float | None = None, power_iters: int | None = None,
                        cv_reference: str | None = None, cv_weight: str | None = None,
                        cv_offsets: int = 1, cv_grid: int | None = None, cv_guard: bool = False,
                        cv_dose: bool = False, stop: Callable[[], bool] | None = None,
                        cv_fit_cap: float | None = None, cv_fit_cap_share: float | None = None,
                        cv_coverage_power: float | None = None, cv_layout: str = "interleaved",
                        cv_blocks: int = 1, cv_weighting: float | None = None,
                        cv_repick_guarded: bool = False, cv_final: bool = True, cv_few_views: int | None = None,
                        cv_few_offsets: int = 1, cv_pick: str = "min",
                        cv_view_outlier: float | None = None) -> Choice:
    """The weight by `settings.rule`: cv here (cv_fold, cv_offsets, cv_scale, cv_guard, cv_dose, cv_repick_guarded
    and power_iters: solver.lam_cv_fold, solver.lam_cv_offsets, solver.lam_cv_scale, solver.lam_cv_guard,
    solver.lam_cv_dose, solver.lam_cv_repick_guarded and solver.power_iters), the others by regrun.optim.parameter_choice.choose with the
    divergence through FISTA (`divergence`). stop: the run's time limit (RunContext.out_of_time), which ends
    either search with the best weight solved so far. cv_final false: cv's run on all views left to the caller
    (final_solve). `cv_few_views`, `cv_few_offsets` (solver.lam_cv_few_views, solver.lam_cv_few_offsets): on a scan
    of at most cv_few_views views, cv_few_offsets offsets of the fold pooled, each at the full `settings.solves`
    (few_views_pool). `cv_pick`: cv's pick on its curve, `min` or `one_se` (one_se_pick; the pixel-grid check's
    search under solver.lam_cv_pixel_grid_pick). `cv_view_outlier`: solver.lam_cv_view_outlier (outlier_views)."""
    if settings.rule == "cv":
        if None in (cv_fold, cv_scale, power_iters, cv_reference, cv_weight):
            raise ValueError("rule cv needs cv_fold, cv_scale, cv_reference, cv_weight and power_iters")
        cv_offsets, settings = few_views_pool(problem.sinogram.shape[0], cv_fold, cv_offsets, settings, cv_few_views,
                                              cv_few_offsets)
        return choose_by_view_cv(problem, fista, iters, settings, cv_fold, power_iters, cv_scale, cv_reference,
                                 cv_weight, progress, cv_offsets, cv_grid, cv_guard, cv_dose, stop, cv_fit_cap,
                                 cv_fit_cap_share, cv_coverage_power, cv_layout, cv_blocks, cv_weighting,
                                 repick_guarded=cv_repick_guarded, final=cv_final, pick_rule=cv_pick,
                                 view_outlier=cv_view_outlier)
    check_choice("solver.lam_divergence", divergence, DIVERGENCES)
    b = problem.sinogram
    sigma, source = sinogram_noise(problem, settings)
    probes = rademacher(settings.probes, b.shape, generator, b.dtype, b.device) if settings.needs_trace else None
    dual = None

    def run(data, lam):
        fista.data = data
        try:
            with torch.no_grad():
                return fista.solve(torch.tensor(lam, dtype=b.dtype, device=b.device), iters)
        finally:
            fista.data = b

    def jvp(z, lam):
        nonlocal dual
        if dual is None:
            dual = Fista(linear_dual(problem.A.project), linear_dual(problem.A.backproject), b, problem.shape,
                         fista.prox, fista.inner_iters, mask=fista.mask, lipschitz=fista.L,
                         tv_scale=fista.tv_scale, warm_start=fista.warm_start, weights=fista.weights)
        with fwad.dual_level(), torch.no_grad():
            dual.data = fwad.make_dual(b, z)
            x = dual.solve(torch.tensor(lam, dtype=b.dtype, device=b.device), iters, diff_mode("unrolled"))
            return fwad.unpack_dual(x).tangent

    def evaluate(lam: float) -> Fit:
        x = run(b, lam)
        pred = problem.A.project(x)
        fit = Fit(rss=float((pred - b).pow(2).sum()), m=b.numel(), state=x)
        if probes is not None:
            if divergence == "fd":
                eps = FD_STEP * sigma
                fit.trace = hutchinson(lambda z: (problem.A.project(run(b + eps * z, lam)) - pred) / eps, probes)
            else:
                fit.trace = hutchinson(lambda z: problem.A.project(jvp(z, lam)), probes)
        return fit

    return choose(evaluate, settings, sigma, source, progress, stop=stop)

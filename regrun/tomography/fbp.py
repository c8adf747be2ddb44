"""Filtered back-projection: FBP for parallel and flat-detector fan beams, FDK for the circular cone beam.

One formula serves all three (Kak and Slaney 1988, ch. 3; Feldkamp, Davis and Kress 1984), with the sinogram
seen on a virtual detector through the rotation axis (spacing du / M, M = SDD / SOD the magnification; M = 1
for parallel beams):

    f(x) = (pi / V) * sum_views  U(x)^-2 * Q(s(x), t(x)),   Q = ramp *_s (cos_weight * p)

- cos_weight = SDD / sqrt(SDD^2 + s^2 (+ t^2)) in physical detector coordinates measured from the principal
  point (1 for parallel beams); the ramp filter runs along detector rows (u), in virtual-detector units;
- U(x) = (distance from the source to x along the central ray) / SOD (1 for parallel beams);
- s(x), t(x): where the ray through x meets the detector, interpolated linearly (bilinearly in 3-D);
- pi / V holds for V views spread evenly over pi (parallel) or 2 pi (any beam). Uneven angle lists (a user's
  file: jittered, golden-angle, a missing wedge; ctuser) weight each view by its share of the orbit instead,
  half the gap to each angular neighbour (view_weights), scaled to sum to pi as pi / V does. Short fan scans
  would need Parker weights, which are not implemented.

The ramp is built in the spatial domain (h(0) = 1/(4 tau^2), h(odd n) = -1/(n pi tau)^2), zero-padded to at least
twice the detector, so the DC term is right (Kak and Slaney eq. 3.61); `shepp-logan` multiplies its response by
sinc(f) and `hann` by (1 + cos(2 pi f)) / 2, f in cycles per sample (as scikit-image's iradon).
The back-projection is pixel driven (interpolation on the detector): not the transpose of the Joseph
projector, whose transpose is a poorer back-projector (it aliases when rays are as dense as voxels).
"""
from __future__ import annotations

import math

import torch

from ..errors import check_choice
from .geometry import Geometry

FILTERS = ("ramp", "shepp-logan", "hann")


def ramp_response(n_det: int, spacing: float, window: str, dtype, device) -> tuple[torch.Tensor, int]:
    """rfft response of the discrete ramp convolution (times the sample spacing) and the padded length."""
    check_choice("filter", window, FILTERS)
    n_pad = max(64, 2 ** math.ceil(math.log2(2 * n_det)))
    k = torch.arange(n_pad, dtype=torch.float64, device=device)
    k = torch.minimum(k, n_pad - k)  # circular distance
    h = torch.where(k % 2 == 1, -1.0 / (math.pi * k.clamp(min=1) * spacing) ** 2, torch.zeros_like(k))
    h[0] = 1.0 / (4 * spacing**2)
    response = torch.fft.rfft(h).real * spacing
    f = torch.fft.rfftfreq(n_pad, device=device, dtype=torch.float64)
    if window == "shepp-logan":
        response = response * torch.sinc(f)
    elif window == "hann":
        response = response * 0.5 * (1 + torch.cos(2 * math.pi * f))
    return response.to(dtype), n_pad


def filter_rows(sino: torch.Tensor, spacing: float, window: str, dim: int) -> torch.Tensor:
    """Ramp-filter a sinogram along detector dimension `dim` (zero padding, linear convolution)."""
    x = sino.movedim(dim, -1)
    n = x.shape[-1]
    response, n_pad = ramp_response(n, spacing, window, sino.dtype, sino.device)
    out = torch.fft.irfft(torch.fft.rfft(x, n=n_pad) * response, n=n_pad)[..., :n]
    return out.movedim(-1, dim)


def _frame(geometry: Geometry, views: slice, dtype, device):
    """Per view: source (or ray direction), detector centre, detector axes and the unit normal pointing from
    the source side to the detector."""
    parts = geometry.parts(views, dtype, device)
    first, centre, axes = parts[0], parts[1], parts[2:]
    if len(axes) == 1:
        u = axes[0]
        normal = torch.stack((-u[:, 1], u[:, 0]), -1)
    else:
        normal = torch.linalg.cross(axes[0], axes[1])
    normal = normal / normal.norm(dim=-1, keepdim=True)
    toward = first if geometry.kind == "parallel" else centre - first
    normal = normal * torch.sign((normal * toward).sum(-1, keepdim=True))
    return first, centre, axes, normal


def _distances(geometry: Geometry, dtype, device):
    """(SOD, SDD) of view 0 along its central ray; (1, 1) for parallel beams."""
    if geometry.kind == "parallel":
        return 1.0, 1.0
    src, centre, _, normal = _frame(geometry, slice(0, 1), dtype, device)
    return float((-src * normal).sum()), float(((centre - src) * normal).sum())


def weight_and_filter(geometry: Geometry, sino: torch.Tensor, window: str = "ramp") -> torch.Tensor:
    """Cosine weighting (divergent beams) and ramp filtering along u in virtual-detector units."""
    sod, sdd = _distances(geometry, torch.float64, sino.device)
    _, centre, axes, normal = _frame(geometry, slice(None), sino.dtype, sino.device)
    if geometry.divergent:
        src = geometry.parts(slice(None), sino.dtype, sino.device)[0]
        principal = src + sdd * normal  # foot of the perpendicular from the source on the detector
        coords = []
        for k, (n, ax) in enumerate(zip(geometry.detector, axes)):
            # detector position along axis k relative to the principal point, in length units
            rel = ((centre - principal) * ax).sum(-1) / ax.norm(dim=-1)
            steps = (torch.arange(n, dtype=sino.dtype, device=sino.device) - (n - 1) / 2)
            c = rel[:, None] + steps[None, :] * ax.norm(dim=-1)[:, None]
            shape = [sino.shape[0]] + [1] * len(axes)
            shape[k + 1] = n
            coords.append(c.reshape(shape))
        r2 = sum(c * c for c in coords)
        sino = sino * (sdd / torch.sqrt(sdd**2 + r2))
    du = float(axes[0][0].norm()) * sod / sdd
    return filter_rows(sino, du, window, dim=1)


def backproject_pixels(geometry: Geometry, q: torch.Tensor, max_values: int = 2**21) -> torch.Tensor:
    """sum over views of U(x)^-2 * q(view, detector position of x), interpolated linearly on the detector
    (zero beyond it).

    Detector coordinates are affine (parallel) or projective (fan, cone) in x: with homogeneous voxel centres
    (x, 1), coordinate k = (a_k . (x, 1)) / (b . (x, 1)) per view, so one matrix product gives numerators and
    the denominator (the distance from the source along the central ray, for the U weight), and grid_sample
    interpolates. Views are taken in chunks of about max_values samples."""
    vol = geometry.volume
    dtype, device = q.dtype, q.device
    points = vol.points(dtype, device).reshape(-1, vol.ndim)
    homog = torch.cat((points, torch.ones_like(points[:, :1])), -1)  # (N, d + 1)
    sod, _ = _distances(geometry, torch.float64, device)
    out = torch.zeros(points.shape[0], dtype=dtype, device=device)
    step = max(1, max_values // points.shape[0])
    # grid_sample wants (V, C, H, W) images and (x, y) = (u, v) coordinates in [-1, 1]
    image = q[:, None, None, :] if q.ndim == 2 else q.transpose(1, 2)[:, None]
    dot = lambda a, b: (a * b).sum(-1, keepdim=True)  # noqa: E731
    for v0 in range(0, geometry.views, step):
        views = slice(v0, min(v0 + step, geometry.views))
        first, centre, axes, normal = _frame(geometry, views, dtype, device)
        rows = []
        if geometry.kind == "parallel":
            d = first / first.norm(dim=-1, keepdim=True)
            denom = torch.cat((torch.zeros_like(normal), torch.ones_like(normal[:, :1])), -1)
            for ax in axes:
                # (x.u - c.u + t d.u) / |u|^2 with t = (c.n - x.n) / (d.n)
                g = dot(d, ax) / dot(d, normal)
                lin = ax - g * normal
                const = g * dot(centre, normal) - dot(centre, ax)
                rows.append(torch.cat((lin, const), -1) / dot(ax, ax))
        else:
            denom = torch.cat((normal, -dot(first, normal)), -1)  # x.n - s.n: distance along the central ray
            depth = dot(centre - first, normal)
            for ax in axes:
                # (D (x.u - s.u) - ((c - s).u)(x.n - s.n)) / (|u|^2 (x.n - s.n))
                num = depth * torch.cat((ax, -dot(first, ax)), -1) - dot(centre - first, ax) * denom
                rows.append(num / dot(ax, ax))
        # to grid_sample's [-1, 1]: 2 (index) / (n - 1) - 1 with index = coordinate + (n - 1) / 2
        rows = [r * (2 / (n - 1)) for r, n in zip(rows, geometry.detector)]
        mats = torch.stack((*rows, denom), 1)  # (V, naxes + 1, d + 1)
        proj = torch.einsum("nd,vkd->vnk", homog, mats)  # (V, N, naxes + 1)
        den = proj[..., -1:]
        grid = proj[..., :-1] / den
        if len(axes) == 1:
            grid = torch.cat((grid, torch.zeros_like(grid)), -1)
        vals = torch.nn.functional.grid_sample(image[views], grid[:, None], mode="bilinear", padding_mode="zeros",
                                               align_corners=True)[:, 0, 0]  # (V, N)
        if geometry.divergent:
            vals = vals * (sod / den[..., 0]) ** 2
        out = out + vals.sum(0)
    return out.reshape(vol.shape)


WEDGE_GAP = 3.0  # a gap between angular neighbours over this many times the median gap is a missing wedge


def view_weights(geometry: Geometry, device: torch.device | str = "cpu") -> float | torch.Tensor:
    """The back-projection's weight of each view: pi / V for views evenly spread over the orbit or a limited
    range of it (or angles not recorded), else each view's share, (gap before + gap after) / 2 in the sorted
    angles (modulo pi for a parallel beam, 2 pi otherwise), a gap over WEDGE_GAP times the median (a missing
    wedge, a limited range's ends) counted as the median gap, all scaled to sum to pi. A tensor (V,) on `device`
    in the order of the views."""
    views = geometry.views
    period = math.pi if geometry.kind == "parallel" else 2 * math.pi
    if len(geometry.angles) != views or views < 3:
        return math.pi / views
    a = torch.tensor(geometry.angles, dtype=torch.float64, device=device) % period
    order = torch.argsort(a)
    ahead = a[order]
    gaps = torch.diff(torch.cat((ahead, ahead[:1] + period)))  # after each sorted view, the last one wrapping
    typical = gaps.median()
    gaps = torch.where(gaps > WEDGE_GAP * typical, typical, gaps)
    if torch.allclose(gaps, typical.expand_as(gaps), rtol=0.0, atol=1e-9):
        return math.pi / views  # evenly spread (over a limited range too): the formula's weight, to the bit
    weights = torch.empty_like(a)
    weights[order] = (gaps + torch.roll(gaps, 1)) / 2
    return weights * (math.pi / float(weights.sum()))  # summing to pi as pi / V does: a limited range's views
    # stand for the whole half turn, which keeps the image's level (a disk's FBP at 120 degrees: 1.000, 0.667
    # with the shares alone)


def fbp(geometry: Geometry, sino: torch.Tensor, window: str = "ramp") -> torch.Tensor:
    """FBP (parallel, fan) or FDK (cone) reconstruction of `sino` (views, n_u[, n_v]) on the geometry's grid."""
    if tuple(sino.shape) != geometry.sinogram_shape:
        raise ValueError(f"sinogram shape {tuple(sino.shape)} does not match the geometry's "
                         f"{geometry.sinogram_shape}")
    q = weight_and_filter(geometry, sino, window)
    weights = view_weights(geometry, sino.device)
    if isinstance(weights, float):
        return backproject_pixels(geometry, q) * weights
    return backproject_pixels(geometry, q * weights.to(q).reshape(-1, *([1] * (q.ndim - 1))))

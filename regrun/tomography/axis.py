"""Where the rotation axis projects onto the detector, estimated from a parallel-beam sinogram.

A user's sinogram file does not say which convention made it (the grid's geometric centre, as regrun and ASTRA,
or bin n_u // 2, as scikit-image's radon), and a real scanner's axis sits anywhere. In a parallel beam the
centre of mass of each projection is the projection of the object's centre of mass, so over the views it
follows the sinusoid c(theta) = c0 + a cos theta + b sin theta, whatever the object; c0 is where the axis
projects. It is fitted by least squares over all views (sub-bin: every bin of every view contributes).
This needs line integrals of an object the detector sees whole from every view (the total attenuation is then
the same in every view, which is checked); fan beams break the sinusoid (magnification varies along the ray).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import UserError

METHOD = "centre_of_mass_sinusoid"
SUPPORT_FRACTION = 0.02  # a bin belongs to the object when some view sees this fraction of the peak there ...
SUPPORT_MARGIN = 3  # ... and the window keeps this many bins more on each side
MASS_SPREAD_MAX = 0.05  # above this relative spread of per-view totals the object is truncated or the data odd


@dataclass(frozen=True)
class AxisEstimate:
    offset_bins: float  # where the axis projects, in detector bins from the detector's centre ((n_u - 1) / 2)
    fit_rms_bins: float  # rms of the per-view centres of mass about the fitted sinusoid
    mass_spread: float  # std / mean of the per-view total attenuation
    method: str = METHOD
    # the offset's standard error from the fit's residual (bins; inf with 3 views, whose fit is exact): the
    # sinusoid's constant is ill-determined over a limited angular range (cos and sin then nearly match it) and
    # the centres of mass are noisy at low counts (ctuser: 0.25 bins at 120 degrees and 1e3 photons, 128^2; on
    # 20 draws each of four such scans the error's rms was 0.99-1.23 standard errors, at most 2.7)
    standard_error: float = 0.0


def estimate_axis(sino: torch.Tensor, angles, what: str = "problem.sinogram") -> AxisEstimate:
    """Fit the centre-of-mass sinusoid to a (views, n_u) parallel-beam sinogram taken at `angles` (radians).
    Unusable data (no positive attenuation, fewer than 3 views, views not spread over angle, a truncated
    object) raise UserError, naming `what`."""
    p = torch.as_tensor(sino, device="cpu").to(torch.float64)  # a few kB of bookkeeping, not the run's math
    if p.ndim != 2:
        raise UserError(f"{what}: the rotation axis is estimated from a 2-D (views, n_u) sinogram, got shape "
                        f"{tuple(p.shape)}")
    theta = torch.as_tensor(angles, dtype=torch.float64, device="cpu").reshape(-1)
    views, n_u = p.shape
    mass = p.sum(1)
    fix = "set problem.rotation_centre=geometric or index"
    if views < 3:
        raise UserError(f"{what}: {views} view(s) cannot place the rotation axis (problem.rotation_centre=auto "
                        f"needs 3 or more); {fix}")
    if not bool(torch.isfinite(p).all()):
        raise UserError(f"{what}: a non-finite value cannot place the rotation axis (problem.rotation_centre="
                        f"auto); {fix}")
    empty = torch.nonzero(mass <= 0).flatten().tolist()
    if empty:  # named, so that the user can drop them (newuser12: a dead view in an otherwise good scan)
        shown = ", ".join(map(str, empty[:8])) + (f" and {len(empty) - 8} more" if len(empty) > 8 else "")
        which = ("no view" if len(empty) == views else
                 f"view{'s' if len(empty) > 1 else ''} {shown} (of {views}: a view the detector missed? leave it "
                 "out of the file with its angle)")
        raise UserError(f"{what}: {which} without positive attenuation cannot place the rotation axis "
                        f"(problem.rotation_centre=auto); {fix}")
    spread = float(mass.std() / mass.mean())
    if spread > MASS_SPREAD_MAX:
        raise UserError(f"{what}: the total attenuation varies by {spread:.1%} between views (allowed "
                        f"{MASS_SPREAD_MAX:.0%} for problem.rotation_centre=auto): the object is cut off by the "
                        f"detector or these are not line integrals; {fix}")
    basis = torch.stack((torch.ones_like(theta), torch.cos(theta), torch.sin(theta)), -1)
    if int(torch.linalg.matrix_rank(basis)) < 3:
        raise UserError(f"{what}: the views' angles do not span enough of the circle to estimate the rotation "
                        f"axis (problem.rotation_centre=auto); {fix}")
    k = torch.arange(n_u, dtype=torch.float64)
    c0, _ = _fit(p, k, basis)
    # second pass without the bins no view's object reaches: their noise only moves the centres of mass (weight
    # |k - c|). The window is symmetric about the first estimate, so what it drops cannot pull the axis aside.
    # Measured on 30 Poisson sinograms (1e4 photons; scikit-image's radon of held-out images, 128^2 and 256^2,
    # 60 views): worst error 0.057 -> 0.032 bins.
    profile = p.abs().amax(0)
    reach = (k[profile > SUPPORT_FRACTION * float(profile.max())] - c0).abs().max() + SUPPORT_MARGIN
    c0, rms = _fit(p * ((k - c0).abs() <= reach), k, basis)
    gain = float(torch.linalg.inv(basis.T @ basis)[0, 0])  # var(c0) = sigma^2 (B^T B)^-1_00, sigma^2 = rss/(V-3)
    se = rms * math.sqrt(gain * views / (views - 3)) if views > 3 else math.inf
    return AxisEstimate(c0 - (n_u - 1) / 2, rms, spread, standard_error=se)


def _fit(p: torch.Tensor, k: torch.Tensor, basis: torch.Tensor) -> tuple[float, float]:
    """c0 of the least-squares sinusoid through the views' centres of mass (in bins), and the fit's rms."""
    com = (p * k).sum(1) / p.sum(1)
    coef = torch.linalg.lstsq(basis, com[:, None]).solution[:, 0]
    return float(coef[0]), float((basis @ coef - com).pow(2).mean().sqrt())


def convention_offset_bins(n_u: int, convention: str) -> float:
    """Where `geometric` (0) and `index` (bin n_u // 2) put the axis, in bins from the detector's centre."""
    return 0.0 if convention == "geometric" else n_u // 2 - (n_u - 1) / 2


def conventions_within(estimate: float, n_u: int, tolerance: float) -> list[str]:
    """The conventions whose axis lies within `tolerance` bins of the estimate (geometric first); where both
    put the axis at the same place (an odd detector) only geometric."""
    names = ["geometric"] if n_u % 2 == 1 else ["geometric", "index"]
    return [name for name in names if math.isclose(estimate, convention_offset_bins(n_u, name), abs_tol=tolerance)]


# A parallel beam over more than 180 degrees sees every line twice: the view at theta + 180 is the view at theta
# mirrored about the axis, up to the noise. A fan beam's is not (a ray through a point differs from the opposite
# source's), so a fan-beam file run without problem.geometry=fan misfits its opposite views by more than the noise
# (newuser10: FBP 30.1 dB against 36.7 with the geometry given, without a word). That misfit d changes slowly
# from one pair of views to the next, the noise does not (it is independent between views, whatever a detector's
# blur does along u): RMS(d) against RMS(d's change between neighbouring pairs) / sqrt(2) is ~1 for noise alone.
OPPOSITE_WHITENESS = 1.25  # above this the misfit is more than noise (dev: parallel scans 0.98-1.12, fans >= 1.43)
OPPOSITE_SHARE = 0.02  # ... and RMS(d) over the object's RMS line integral above this: enough to matter (dev:
# noise-free parallel radon 0.0014-0.0018, whose interpolation misfit reads 1.38-1.44 above; fans >= 0.057)
OPPOSITE_INSIDE = 0.1  # bins whose line integral (in both views) exceeds this fraction of the peak: the object's
OPPOSITE_SEARCH_BINS, OPPOSITE_STEP_BINS = 2.0, 0.05  # the mirror axis, searched within +-2 bins of the centre


@dataclass(frozen=True)
class OppositeViews:
    pairs: int  # views in [0, 180) degrees whose opposite (within 1e-3 degrees) the scan holds
    whiteness: float  # RMS(d) / (RMS(d's change between neighbouring pairs) / sqrt(2)) at the best mirror axis
    share: float  # RMS(d) / RMS(line integral), over the object's bins
    axis_bins: float  # the best mirror axis, bins from the detector's centre

    @property
    def inconsistent(self) -> bool:
        return self.whiteness > OPPOSITE_WHITENESS and self.share > OPPOSITE_SHARE


def opposite_views(sino, angles) -> OppositeViews | None:
    """How a (views, n_u) sinogram's opposite views (angles in radians) depart from a parallel beam's mirror
    symmetry (OppositeViews); None where fewer than 3 views have their opposite or the object covers too few bins."""
    # a check of the file, once, on the CPU in float64 as estimate_axis (not every device has float64): 2.5 CPU-s
    # on a 1440 x 2048 scan
    p = torch.as_tensor(sino, device="cpu").to(torch.float64)
    deg = torch.as_tensor(angles, dtype=torch.float64, device="cpu").reshape(-1).rad2deg()
    n_u = p.shape[1]
    gap = lambda a, b: ((a - b + 180.0) % 360.0 - 180.0).abs()  # noqa: E731
    i, j = [], []
    for k in (deg % 360.0).argsort().tolist():  # by angle, so neighbouring pairs are neighbouring views
        m = int(gap(deg, deg[k] + 180.0).argmin())
        if float(deg[k] % 360.0) < 180.0 and float(gap(deg[m], deg[k] + 180.0)) < 1e-3:
            i.append(k)
            j.append(m)
    if len(i) < 3:
        return None
    a, b = p[i], p[j]
    u = torch.arange(n_u, dtype=torch.float64)
    peak = float(p.max())
    best = None
    steps = int(round(2 * OPPOSITE_SEARCH_BINS / OPPOSITE_STEP_BINS))
    for s in range(steps + 1):
        offset = -OPPOSITE_SEARCH_BINS + s * OPPOSITE_STEP_BINS
        src = 2 * ((n_u - 1) / 2 + offset) - u  # the mirrored bin, linearly interpolated
        ok = (src >= 0) & (src <= n_u - 1)
        lo = src[ok].floor().clamp(max=n_u - 2).long()
        t = src[ok] - lo
        flipped = a[:, lo] * (1 - t) + a[:, lo + 1] * t
        d = b[:, ok] - flipped
        inside = torch.minimum(b[:, ok], flipped) > OPPOSITE_INSIDE * peak
        both = inside[1:] & inside[:-1]
        if int(both.sum()) < 8:
            continue
        rms = float(d[inside].pow(2).mean().sqrt())
        if best is None or rms < best[0]:
            change = float(d.diff(dim=0)[both].pow(2).mean().sqrt()) / math.sqrt(2)
            level = float(b[:, ok][inside].pow(2).mean().sqrt())
            best = (rms, change, level, offset)
    if best is None:
        return None
    rms, change, level, offset = best
    return OppositeViews(len(i), rms / change if change > 0 else math.inf, rms / level, offset)


# A file without angles has its views spread over problem.angle_range, 180 degrees for a parallel beam; a scan over
# 360 degrees read so gave FBP 15.6 dB against 33.7 with problem.angle_range=360, without a word (newuser13). Over
# 360 degrees view k and view k + n/2 are opposite, so they mirror each other up to the noise (opposite_views'
# share); over 180 degrees they are 90 degrees apart and differ as much as any two views do. The share is judged
# against how much the views differ from their mean view (over the object's bins): a rotationally symmetric object
# mirrors under any reading, and is not named.
FULL_TURN_RATIO = 0.5  # warned below this: mirror misfit / views' spread (dev: 360-degree parallel scans 0.006-0.21,
# 180-degree ones 1.2-1.7; a fan over 360 read as parallel 0.45, which is a full turn too)
HALF_TURN_RATIO = 0.9  # problem.angle_range=360 given to a file without angles: warned at this and above (newuser14's
# dev: 180-degree parallel scans 1.19-2.13, 360-degree ones 0.006-0.18; set below the 180-degree class with a margin,
# since a warning on a right setting costs more than a miss: newuser13's batches had a 360-degree scan at 0.61 and
# a 180-degree one at 1.00)


@dataclass(frozen=True)
class FullTurn:
    share: float  # opposite_views' share with the views read over 360 degrees (view k against view k + n/2)
    spread: float  # RMS(view - mean view) / RMS(line integral), over the object's bins
    pairs: int

    @property
    def ratio(self) -> float:
        return self.share / self.spread if self.spread > 0 else math.inf

    @property
    def likely(self) -> bool:
        return self.ratio < FULL_TURN_RATIO

    @property
    def half_turn(self) -> bool:
        """Read over 360 degrees, view k and view k + n/2 differ as much as any two views: a 180-degree scan."""
        return self.ratio >= HALF_TURN_RATIO


def full_turn(sino) -> FullTurn | None:
    """How a (views, n_u) sinogram without angles mirrors itself read as a parallel scan over 360 degrees
    (FullTurn); None for an odd number of views, fewer than 8, or too small an object (opposite_views)."""
    p = torch.as_tensor(sino, device="cpu").to(torch.float64)
    n = p.shape[0]
    if n % 2 or n < 8:
        return None
    found = opposite_views(p, torch.arange(n, dtype=torch.float64) * (2 * math.pi / n))
    if found is None:
        return None
    inside = p.mean(dim=0) > OPPOSITE_INSIDE * float(p.max())
    level = float(p[:, inside].pow(2).mean().sqrt())
    spread = float((p[:, inside] - p[:, inside].mean(dim=0)).pow(2).mean().sqrt()) / level if level > 0 else 0.0
    return FullTurn(found.share, spread, found.pairs)


# A scan whose turn was measured at both ends (numpy.linspace(0, 360, n), tomopy.angles(n, 0, 360)) holds its first
# view twice, at 0 and 360 degrees: a file of it without angles, spread evenly, has every view off by up to a whole
# step, and read over 180 degrees (the parallel default) is ruined. newuser28's 121 views 3 degrees apart, 0 to 360
# inclusive: FBP 7.23 dB, no word (full_turn pairs view k with k + n/2 and so reads even counts only), against 17.63
# with its angles. The last view's misfit to the first is judged against how much neighbouring views differ: a repeat
# differs by the noise alone, a turn's last step as much as any two neighbours, and a half turn's last view is the
# first one mirrored.
AIR_LEVEL = 0.01  # bins whose mean line integral is under this share of the largest read air: noise alone
NOISE_FLOOR = 0.25  # repeated_end judges only where neighbouring views differ by more than this share of their noise
REPEATED_END_RATIO = 0.35  # named below this. Dev (newuser28, dev_repeat: camera and moon crops in a disk, 31-361
# views, noise 0-3% of the largest line integral): every 0-to-360-inclusive scan judged 0-0.31; every other (120, 90
# and 360 views over 360 degrees, 60 over 180, 61 over 180 inclusive, whose last view mirrors the first) 0.51-13.6,
# newuser14's three discs, 48 views over 360, 0.52; 4 of the 54 not judged (NOISE_FLOOR: 3% noise). A thin margin on
# either side: seen scans only, no held-out batch


MIRROR_AXIS_SEARCH = 1.0  # bins either side of the estimated axis searched for the mirror's
MIRROR_NOISE_FLOOR = 1.0  # the mirrored check judges only where neighbouring views differ by more than their noise.
# Dev (newuser29, dev_mirror: blobs, cell, camera, retina and coins in a disk at 64 and 96 px, scikit-image radon,
# 31-181 views, noise 0-3% of the largest line integral, the axis on scikit-image's pixel or half a bin off; 1280
# scans, seed 8048): of 320 half turns 0-180 inclusive 222 judged, 216 named below REPEATED_END_RATIO (the 6 others
# 0.35-0.51; 98 not judged, at 1-3% noise mostly); of 960 others (0-180 without the endpoint, 0-360 with and without)
# none named. At the default floor (0.25) 5 of them read 0.0-0.21: steps within the noise, the noise's share taken
# off twice; seen scans only, no held-out batch


def mirrored_view(view: torch.Tensor, axis_bin: float) -> torch.Tensor:
    """A parallel view as seen half a turn later: mirrored about the rotation axis at detector bin `axis_bin`
    (counted from 0), linearly interpolated, zero past the detector's ends."""
    u = 2.0 * axis_bin - torch.arange(view.shape[0], dtype=torch.float64, device=view.device)
    lo = torch.floor(u)
    frac = u - lo
    lo = lo.long()

    def at(k):
        ok = (k >= 0) & (k < view.shape[0])
        return torch.where(ok, view[k.clamp(0, view.shape[0] - 1)], torch.zeros((), dtype=view.dtype))

    return (1 - frac) * at(lo) + frac * at(lo + 1)


def repeated_end(sino, mirror_about: float | None = None, floor: float = NOISE_FLOOR) -> float | None:
    """RMS(last view - first view) / the RMS difference of the views beside them (view 1 from view 0, the last from
    the one before), over the object's bins (OPPOSITE_INSIDE), the noise's share taken off each, of a (views, n_u)
    sinogram; None for fewer than 8 views or where those steps are within `floor` of the noise. mirror_about: the
    axis's detector bin, where the last view is to be compared with the first one mirrored (a parallel half turn
    measured at both ends, numpy.linspace(0, 180, n): newuser29), the least misfit within MIRROR_AXIS_SEARCH bins of
    it."""
    p = torch.as_tensor(sino, device="cpu").to(torch.float64)
    if p.ndim != 2 or p.shape[0] < 8:
        return None
    inside = p.mean(dim=0) > OPPOSITE_INSIDE * float(p.max())
    if int(inside.sum()) < 4:
        return None
    # the noise's share of a difference of two views, 2 sigma^2, taken off both: sigma^2 the median over the bins
    # the object never shades (air, the detector's ends) of their variance over the views; none where there are
    # too few such bins. The detector's second differences overstated it on discs' sharp rims (newuser14's scan)
    air = p.mean(dim=0) < AIR_LEVEL * float(p.max())
    sigma2 = float(p[:, air].var(dim=0).median()) if int(air.sum()) >= 4 else 0.0
    q = p[:, inside]
    # the steps beside the ends, not the median step: how fast views change varies along the turn (newuser14's
    # three discs over 360 degrees, 48 views: the first and last views differ by 0.20 of the median step)
    step = 0.5 * float((q[1] - q[0]).pow(2).mean() + (q[-1] - q[-2]).pow(2).mean()) - 2 * sigma2
    if step <= 2 * sigma2 * floor:  # neighbouring views differ by their noise alone: a repeat cannot be told
        return None
    if mirror_about is None:
        return math.sqrt(max(float((q[-1] - q[0]).pow(2).mean()) - 2 * sigma2, 0.0) / step)
    # the axis estimated from views spread a step off is itself up to ~0.3 bins off (dev), which alone misfits a
    # mirrored view by half a step: the least misfit near it. The interpolation averages the mirrored view's noise
    # (weights 1 - f and f: sigma^2 ((1 - f)^2 + f^2))
    best = math.inf
    for d in torch.linspace(-MIRROR_AXIS_SEARCH, MIRROR_AXIS_SEARCH, 41, dtype=torch.float64).tolist():
        c = mirror_about + d
        frac = (2.0 * c) % 1.0
        misfit = float((q[-1] - mirrored_view(p[0], c)[inside]).pow(2).mean())
        best = min(best, misfit - sigma2 * (1 + (1 - frac) ** 2 + frac ** 2))
    return math.sqrt(max(best, 0.0) / step)


# A fan beam over a full turn sees every line twice too: the ray from the source at angle beta through a point
# returns from the source where that line meets the orbit again. Which view and which bin that is depends on the
# detector's direction against the rotation's: a file whose detector runs the other way (a ray tracer's or a
# scanner's u mirrored, or a clockwise orbit read as counterclockwise) reads with that pairing broken, and no turn
# or mirror of the image makes up for it: newuser17's own fan ran 12.9-16.8 dB against 27.63 read right, without a
# word, and the truth file's orientation check (turns and mirrors of the image) cannot see it. The pairing is
# measured on the file as read and with its detector reversed, from the scan's own vectors.
FAN_MIRROR_FACTOR = 1.5  # warned where the reversed detector pairs its rays this many times better. Dev (newuser18,
# seed 9095: ASTRA fanflat scans of a camera crop and a Shepp-Logan, 36-360 views, noise 0-5%, SOD/ODD 120-400/50-120
# px, and regrun's own fan): read right, the reversed reading misfits 1.6-16.7 times more (never less); reversed,
# 1.6-16.7 times less, so 1.5 names all 9 reversed files and none of the 9 read right (3 would name 4 of 9).


@dataclass(frozen=True)
class FanPairing:
    as_read: float  # RMS(ray - its opposite ray) / RMS(line integral), over the object's rays, the file as read
    reversed: float  # the same with the detector's bins in reverse order
    rays: int  # rays whose opposite ray lies on the detector, in the object

    @property
    def mirrored(self) -> bool:
        return self.reversed * FAN_MIRROR_FACTOR < self.as_read


FAN_PAIRING_VIEWS = 180  # the rays compared are those of at most about this many views (every bin of each): a
# 1440 x 2048 scan took 1.1 GB and 2.6 CPU-s with every view


def _opposite_ray_misfit(p, src, det, u) -> tuple[float, int]:
    """RMS misfit of a full-turn fan scan's rays against their opposite rays (the same line, from the other source
    it passes), interpolated between the two nearest views and bins; over the object's rays, relative."""
    views, n_u = p.shape
    centre = src.mean(dim=0)  # the orbit's centre: the sources of a full, even turn average to it
    phi0 = math.atan2(float(src[0, 1] - centre[1]), float(src[0, 0] - centre[0]))
    step = 2 * math.pi / views
    c = (n_u - 1) / 2
    rows = torch.arange(0, views, max(1, views // FAN_PAIRING_VIEWS))
    s_i, q = src[rows], p[rows]
    j = torch.arange(n_u, dtype=torch.float64)
    ray = det[rows, None, :] + (j[None, :, None] - c) * u[rows, None, :] - s_i[:, None, :]  # source to each bin
    t = -2 * (ray * (s_i[:, None, :] - centre)).sum(-1) / ray.pow(2).sum(-1)
    other = s_i[:, None, :] + t[..., None] * ray  # where the line meets the orbit again
    x = ((torch.atan2(other[..., 1] - centre[1], other[..., 0] - centre[0]) - phi0) / step) % views
    k0 = x.floor().long() % views
    w = x - x.floor()
    # the opposite ray's bin: where the ray from each neighbouring view's source through this ray's source meets
    # that view's detector (S_k + s (S_i - S_k) = D_k + b u_k), weighted to the opposite source's angle; the value
    # is then read bilinearly at (view, bin), as the scan samples (beta, u)
    k1 = (k0 + 1) % views
    at = torch.zeros_like(q)
    for k, weight in ((k0, 1 - w), (k1, w)):
        s_k, d_k, u_k = src[k], det[k], u[k]
        a = s_i[:, None, :] - s_k
        rhs = d_k - s_k
        den = a[..., 1] * u_k[..., 0] - a[..., 0] * u_k[..., 1]
        at += weight * ((a[..., 0] * rhs[..., 1] - a[..., 1] * rhs[..., 0]) / den + c)
    ok = (at >= 0) & (at <= n_u - 1)
    lo = at.clamp(0, n_u - 1).floor().clamp(max=n_u - 2).long()
    f = at.clamp(0, n_u - 1) - lo
    value = ((1 - w) * (p[k0, lo] * (1 - f) + p[k0, lo + 1] * f)
             + w * (p[k1, lo] * (1 - f) + p[k1, lo + 1] * f))
    peak = float(p.max())
    use = ok & (q > OPPOSITE_INSIDE * peak) & (value > OPPOSITE_INSIDE * peak)
    if int(use.sum()) < 8:
        return math.inf, 0
    return float((q - value)[use].pow(2).mean().sqrt() / q[use].pow(2).mean().sqrt()), int(use.sum())


def fan_pairing(sino, vectors) -> FanPairing | None:
    """How a 2-D fan scan's rays (views, n_u) match their opposite rays as read and with the detector reversed
    (FanPairing), from the geometry's vector rows (source, detector centre, u); None unless its views are evenly
    spaced over a full turn (the opposite ray's view is then found by its angle) or the object covers too few rays."""
    p = torch.as_tensor(sino, device="cpu").to(torch.float64)
    v = torch.as_tensor(vectors, dtype=torch.float64, device="cpu")
    if p.ndim != 2 or v.shape != (p.shape[0], 6) or p.shape[0] < 8:
        return None
    src, det, u = v[:, 0:2], v[:, 2:4], v[:, 4:6]
    phi = torch.atan2(src[:, 1] - src[:, 1].mean(), src[:, 0] - src[:, 0].mean())
    turn = torch.diff(phi, append=phi[:1]).remainder(2 * math.pi)  # each view's step to the next, the last to the first
    if float((turn - 2 * math.pi / p.shape[0]).abs().max()) > 1e-6:
        return None
    as_read, rays = _opposite_ray_misfit(p, src, det, u)
    reversed_, _ = _opposite_ray_misfit(p.flip(1), src, det, u)
    if rays == 0:
        return None
    return FanPairing(as_read, reversed_, rays)

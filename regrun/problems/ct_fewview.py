"""Few-view CT (seed 003, Guerrero, Bellens and Dewulf; notes/ct_bilevel.md): recover a volume x from few
X-ray projections b = A x + noise, judged against a ground truth inside a disk mask.

Data: a phantom (modified Shepp-Logan, or an additively manufactured metal part drawn from a seed) projected on
a grid `oversample` times finer than the reconstruction (so the reconstruction operator does not generate its own
data; oversample=1 commits the inverse crime on purpose), with Gaussian or Poisson noise; or the user's own
sinogram (.npy / .h5) with its geometry in this config. The ground truth is the phantom's cell average on the
reconstruction grid, or, as in the paper, an FBP/FDK of a dense-view scan (`truth=dense_fbp`).
Geometry conventions: docs/ct.md, "Geometry and projector".
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from ..errors import UserError, check_bool, check_choice, check_float, check_int, check_truth_varies
from ..imaging.io import array_shapes, check_values, read_array, read_optional_array, resolve_data_path, slices_hint, write_png16
from ..metrics import psnr, rel_error, ssim, truth_scale
from ..plots import image_grid
from ..registry import register_problem
from ..solve_result import SolveResult
from ..tomography.axis import (MIRROR_NOISE_FLOOR, REPEATED_END_RATIO, conventions_within, estimate_axis, fan_pairing,
                               full_turn, opposite_views, repeated_end)
from ..tomography.counts import (Fields, air_correct, counts_keys, files_keys, normalise, read_counts,
                                 take_slice)
from ..tomography.fbp import FILTERS, fbp
from ..tomography.gaps import gap_warning
from ..tomography.geometry import (
    CENTRES,
    KINDS,
    Geometry,
    Volume,
    cone_beam,
    covering_detector,
    fan_beam,
    parallel_beam,
    rotation_centre,
    uniform_angles,
)
from ..tomography.phantoms import PHANTOMS, phantom_function, render
from ..tomography.xray import XRayTransform
from .base import Problem

# what a file is saved as, told from an array name in problem.angles_key or a kind in problem.truth
FILE_SUFFIXES = (".npy", ".npz", ".h5", ".hdf5", ".txt", ".csv", ".dat", ".mat", ".json", ".png", ".tif", ".tiff")


DATA = ("synthetic", "file")
NOISE = ("none", "gaussian", "poisson")
TRUTHS = ("phantom", "dense_fbp", "none")
PROJECTORS = ("torch", "astra")
SUPPORTS = ("auto", "disk", "square")  # the region FISTA-TV solves on and the metrics keep (problem.support)
SIZE_READINGS = ("square", "disk")  # data=file, parallel, no size: what a detector reading must hold (file_grid)
# a fan or cone whose rays spread less than this (degrees, half the fan over the grid) is a nearly parallel beam: the
# distances were likely typed in voxels, though they count in grid widths (newuser17: 300 and 200 pixels typed for
# a 128-pixel grid ran as 38400 widths away, 16.35 dB against 27.63 with the same distances in widths, no warning)
FAN_MIN_HALF_ANGLE_DEG = 1.0
AXIS_SNAP_BINS = 0.05  # an estimated axis this close to a convention's is that convention (estimates err <= 0.02)
AXIS_SNAP_ERRORS = 3.0  # ... or this many of its standard errors, where larger (a limited angle, few counts: ctuser)


def baseline_offset(edge: np.ndarray, peak: float, what: str) -> str:
    """A warning when the detector's ends, where rays miss the object and line integrals are 0, sit below 0 by
    more than their noise can explain: a dark or flat-field correction that left an offset, which every
    reconstruction then carries as a bias. Noise alone leaves the ends' mean within a few standard errors of 0
    (after -log of counts, slightly above it), so the bar is 5 standard errors and 0.5% of the peak's height. '' if not."""
    mean = float(edge.mean())
    standard_error = float(edge.std()) / np.sqrt(edge.size) if edge.size > 1 else 0.0
    height = peak - mean  # the object's largest line integral, measured from the offset
    if not (mean < -0.005 * abs(height) and mean < -5 * standard_error):
        return ""
    below = f"{-mean / standard_error:.0f} standard errors below 0" if standard_error > 0 else "all below 0"
    return (f"{what}: the detector's ends, where rays miss the object, average {mean:.3g} "
            f"({100 * -mean / abs(height):.1f}% of the peak's height {height:.3g} above them; {below}); line integrals there are 0, so an "
            f"offset (dark or flat-field correction?) biases every reconstruction: subtract it (sinogram - ({mean:.3g}))")


def beyond_grid(sino: np.ndarray, reach: float, size: int, width: float, what: str) -> str:
    """A warning when a parallel beam's detector reaches past the grid's shadow (`reach` bins about its centre) and
    the bins there read the object: the object is wider than the reconstruction grid, whose image then misses what
    lies outside it and misfits the views that cross it. A user's 256-pixel scan at the default problem.size (128)
    ran to a 128 x 128 crop with no word, `auto`'s weight 8.26 against 2.32 at problem.size=256 (docs/ct.md,
    "(ctissue)"). The views' mean profile beyond the shadow (1 bin of margin for the axis) must rise 5% of the
    profile's height above the detector's ends: a wide detector round a small object reads ~0 there. `width`: the
    detector's width in voxels, for the grid that fits it. '' if not."""
    n_u = sino.shape[1]
    outer = np.abs(np.arange(n_u) - (n_u - 1) / 2) > reach / 2 + 1
    if not outer.any():
        return ""
    profile = sino.mean(axis=0)
    base = max(float(profile[[0, -1]].mean()), 0.0)
    height = float(profile.max()) - base
    past = float(profile[outer].max()) - base
    if height <= 0 or past < 0.05 * height:
        return ""
    fit = fitting_size(size, width)
    grid = (f"problem.size={fit} reconstructs on the grid this detector covers" if fit > size else
            "a larger problem.size or problem.voxel takes in the whole object")
    # a detector finer than the grid (1024 bins of half a voxel round a 512 grid, newuser28) reads the same way: the
    # object's shadow then counts twice the bins it would at one voxel a bin. Named where the detector's width in bins
    # is a whole multiple of the grid's and the object, at that many bins a voxel, fits the grid's shadow
    k, finer = n_u / size, ""
    inside = np.flatnonzero(profile - base > 0.05 * height)
    if width == n_u and k >= 2 and k == int(k) and (inside[-1] - inside[0] + 1) / k <= reach:
        finer = (f"; or, if its bins are 1/{k:g} of a voxel (a detector finer than the grid: {n_u} bins across "
                 f"{size} voxels), problem.detector_spacing={1 / k:g} reads them so")
    return (f"{what}: its {n_u} detector pixels reach past the {size}-voxel grid's shadow ({reach:.0f} pixels), and "
            f"there they read up to {100 * past / height:.0f}% of the largest line integral: the object is wider than "
            f"the grid, so the reconstruction misses what lies outside it (problem.size, problem.voxel); {grid}"
            f"{finer}")


GRID_MARGIN_BINS = 4.0  # a reading's square may hold an object whose measured width passes its shadow by this
# much (the 5% bar, the axis's half bin, a bin-averaged edge at each end): 0 read regrun's own square-filling 256^2
# file as 258
AXIS_TOLERANCE_BINS = 0.5  # the default grid's solvers hold an object whose views pass their disk by this much:
# the axis at the detector's centre or half a bin off (scikit-image's); docs/ct.md "(ctsize)"


def object_bounds(sino: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each view's first and last bin of the object: where the view (a running median of 3 bins, which drops a lone
    noise spike and leaves an edge where it is) stands 5% of the sinogram's height above the detector's ends,
    beyond_grid's bar; first > last for a view that nowhere does."""
    padded = np.pad(sino, ((0, 0), (1, 1)), mode="edge")
    prof = np.median(np.stack([padded[:, :-2], padded[:, 1:-1], padded[:, 2:]]), axis=0)
    base = max(float(prof[:, [0, -1]].mean()), 0.0)
    above = prof > base + 0.05 * (float(prof.max()) - base)
    seen = above.any(axis=1)
    first = np.where(seen, np.argmax(above, axis=1), sino.shape[1])
    last = np.where(seen, sino.shape[1] - 1 - np.argmax(above[:, ::-1], axis=1), -1)
    return first, last


def disk_holds(first: np.ndarray, last: np.ndarray, n_u: int, radius: float) -> bool:
    """Whether the object lies in the centred disk of `radius` voxels, the one FISTA-TV and the metrics keep
    (problem.mask_radius of the grid's half width): no view's object passes radius + AXIS_TOLERANCE_BINS from the
    detector's centre (a bin's centre half a bin inside its edge)."""
    centre = (n_u - 1) / 2
    seen = first <= last
    reach = np.maximum(centre - first[seen], last[seen] - centre) + 0.5
    return bool(np.all(reach <= radius + AXIS_TOLERANCE_BINS))


def fills_square(sino: np.ndarray, n: int, voxel: float, spacing: float, radius: float) -> bool:
    """Whether a parallel file (views, bins) holds a picture filling the n x n square: its detector reaches the
    square's diagonal shadow (scikit-image's radon(circle=False), regrun's covering detector) and its bins beyond the
    centred disk of `radius` times the half width read the object (disk_holds fails). Such data cannot be fit on the
    disk: the corners' mass is in every view (held-out moon 128^2 ran 4.3 dB under ASTRA CGLS+TV on the disk,
    docs/ct.md "(ctskradon)", "(ctsquare)")."""
    n_u = sino.shape[1]
    if n_u * spacing < math.sqrt(2) * n * voxel * (1 - 1e-9):
        return False
    first, last = object_bounds(sino)
    return not disk_holds(first, last, n_u, radius * n * voxel / (2 * spacing))


def square_holds(widths: np.ndarray, angles: np.ndarray, n: int, margin: float) -> bool:
    """Whether an object of these view widths (bins of one voxel) can lie in an n x n grid, whose shadow at angle t
    is n (|cos t| + |sin t|) wide: never where a view reads it wider by more than `margin` bins."""
    return bool(np.all(widths <= n * (np.abs(np.cos(angles)) + np.abs(np.sin(angles))) + margin))


def detector_readings(n_u: int) -> list[tuple[int, str]]:
    """The grids N whose parallel detector of unit bins has n_u bins by a common convention, in the order they win
    a tie: regrun's covering detector, scikit-image's radon(circle=False) (the image padded to its diagonal),
    ASTRA's examples' 1.5 N, and a detector as wide as the grid (radon(circle=True), ASTRA's N)."""
    out = []
    for extra, made, name in ((2, lambda n: covering_detector((n, n), 1.0)[0][0], "regrun's covering detector"),
                              (0, lambda n: n + int(np.ceil(np.sqrt(2) * n - n)),  # radon's pad to the diagonal
                               "scikit-image's radon(circle=False)")):
        n = int(math.floor((n_u - extra) / math.sqrt(2)))  # ceil(sqrt(2) N) + extra bins: the one N it can be
        if n >= 1 and made(n) == n_u:
            out.append((n, name))
    if 2 * n_u % 3 == 0:
        out.append((2 * n_u // 3, "ASTRA's 1.5 N bins"))
    out.append((n_u, "a detector as wide as the grid: radon(circle=True), ASTRA's N bins"))
    return out


def matlab_radon_width(n: int) -> int:
    """The bins MATLAB's radon writes for an n x n image, 2 ceil(norm(size - floor((size - 1) / 2) - 1)) + 3."""
    return 2 * math.ceil(math.hypot(*(2 * [n - (n - 1) // 2 - 1]))) + 3


def matlab_radon_grid(n_u: int) -> int | None:
    """The N whose N x N image MATLAB's radon projects onto n_u bins (2 ceil(norm(size - floor((size - 1) / 2) - 1))
    + 3, its documented width: 2 ceil(N / sqrt 2) + 3 for even N, 2 ceil((N - 1) / sqrt 2) + 3 for odd N), the
    roundest where two do, or None."""
    found = [n for n in range(max(1, int((n_u - 3) / 2 * math.sqrt(2)) - 3), int((n_u - 3) / 2 * math.sqrt(2)) + 5)
             if matlab_radon_width(n) == n_u]
    return max(found, key=lambda n: ((n & -n), n)) if found else None


def read_matlab_radon(path: Path, key: str) -> dict | None:
    """MATLAB's `save scan.mat R xp theta` after `[R, xp] = radon(I, theta)` (or the same three in an .npz): R (bins
    x views), xp (its bins' positions) and theta (degrees), as MATLAB's shapes have them; None where the file is not
    that (no R, xp and theta, or it holds `key`: the reading regrun had). Such a file was refused (.mat) or needed a
    transpose, size and centre typed by hand (newuser24, docs/ct.md "(ctmatlab)")."""
    suffix = path.suffix.lower()
    if suffix not in (".mat", ".npz") or not path.is_file():
        return None
    names = ("R", "xp", "theta")
    try:
        if suffix == ".npz":
            with np.load(path) as data:
                if key in data.files or not all(n in data.files for n in names):
                    return None
                found = {n: np.asarray(data[n], dtype=np.float64) for n in names}
        else:
            import h5py

            if h5py.is_hdf5(path):  # MATLAB's -v7.3: HDF5 with each array's axes reversed
                with h5py.File(path, "r") as data:
                    if key in data or not all(n in data for n in names):
                        return None
                    found = {n: np.asarray(data[n][()], dtype=np.float64).T for n in names}
            else:
                from scipy.io import loadmat

                data = loadmat(str(path))
                if key in data or not all(n in data for n in names):
                    return None
                found = {n: np.asarray(data[n], dtype=np.float64) for n in names}
    # scipy's loadmat raises NotImplementedError for MATLAB formats it cannot read (not a stub of ours)
    except (OSError, ValueError, TypeError, NotImplementedError):
        return None  # unreadable: read_array says so, as for any file
    r, xp, theta = found["R"], found["xp"].ravel(), found["theta"].ravel()
    what = f"problem.sinogram={path.name}"
    if r.ndim != 2 or len(xp) != r.shape[0] or len(theta) != r.shape[1]:
        raise UserError(f"{what}: read as MATLAB's radon output, R {r.shape} needs one row per xp value ({len(xp)}) "
                        f"and one column per theta ({len(theta)}), as [R, xp] = radon(I, theta) returns them")
    b = (len(xp) - 1) // 2
    if len(xp) % 2 == 0 or not np.allclose(xp, np.arange(-b, b + 1)):
        raise UserError(f"{what}: its xp ({xp[0]:g} to {xp[-1]:g}, {len(xp)} values) is not MATLAB radon's unit "
                        f"bins -b..b; regrun reads R's rows as those (save R.T as 'sinogram' with its 'angles' for "
                        f"another detector)")
    return {"R": r, "xp": xp, "theta": theta}


def file_grid(n_u: int, widths: np.ndarray, angles: np.ndarray,
              disk: tuple[np.ndarray, np.ndarray, float] | None = None) -> tuple[int, str]:
    """The grid a parallel file's detector implies (docs/ct.md "(ctsize)"): of detector_readings, those whose square
    can hold the object (square_holds), the one whose N is roundest, as people choose sizes (its factors of 2, a
    multiple of 8 or of 50 as round as any), the as-wide reading one factor of 2 behind; ties in detector_readings'
    order. Counted over the even N = 32-1024 for an object 0.9 of the grid across, it gives back all 125
    multiples of 8 from regrun's covering detector, 124 from radon(circle=False)'s, 101 from ASTRA's 1.5 N and all
    from the as-wide one; the misses are grids within 6% (ASTRA's 160 reads as regrun's 168).
    `disk` (problem.size_reading=disk): the object's (first, last) bins per view and the disk's radius as a fraction
    of the half width; of the readings whose square holds the object, those whose disk also holds it (disk_holds),
    where any does. Why: a reading's square held an object its disk, the part FISTA-TV and the metrics keep, does
    not: a 100-px object on a 144-bin radon(circle=True) file read as regrun's covering 100 (24.67 dB against 34.59
    on 144, held-out 9433, docs/ct.md "(ctsmallobj)", "(ctsmallw)")."""
    readings = detector_readings(n_u)
    held = [square_holds(widths, angles, n, GRID_MARGIN_BINS) for n, _ in readings]
    if disk is not None:
        first, last, fraction = disk
        in_disk = [h and disk_holds(first, last, n_u, fraction * n / 2) for h, (n, _) in zip(held, readings)]
        held = in_disk if any(in_disk) else held  # an object past every reading's disk: the squares decide
    return roundest(readings, held)


def roundest(readings: list[tuple[int, str]], held: list[bool], exact: int | None = None) -> tuple[int, str]:
    """Of the readings held, the one whose N is roundest, as people choose sizes (its factors of 2 up to 8, a
    multiple of 50 as round as any), the readings after the first `exact` (default: all but the last, the as-wide
    one) one factor of 2 behind; ties in the readings' order (docs/ct.md "(ctsize)", "(ctfangrid)")."""
    exact = len(readings) - 1 if exact is None else exact

    def score(item):
        k, (n, _) = item
        round_ = 3 if n % 50 == 0 else min((n & -n).bit_length() - 1, 3)
        return round_ + (k < exact), -k
    return max([(k, r) for k, r in enumerate(readings) if held[k]], key=score)[1]


def fan_half_width(radius: float, sod: float, odd: float) -> float:
    """Half the width a centred disk of `radius` casts on a fan beam's flat detector (its tangent rays)."""
    return (sod + odd) * radius / math.sqrt(sod**2 - radius**2)


def fan_readings(n_u: int, source_origin: float, origin_detector: float, spacing: float | None, voxel: float
                 ) -> list[tuple[int, str]]:
    """The grids N whose fan-beam detector of n_u bins has that count by a common convention, at the typed
    distances (problem.source_origin, problem.origin_detector: in grid widths, so the geometry scales with N) and
    bin width (`spacing`; None: regrun's default, the voxel magnified to the detector): regrun's covering detector
    (the square's circumscribed disk, ceil + 2 bins, as covering_detector), then a detector covering the object's
    disk (the grid's inscribed disk, its shadow within 2 bins of n_u: an ASTRA fanflat scan whose det_count was set
    to cover the object), and last a detector of N bins of the magnified voxel (ASTRA's N). docs/ct.md
    "(ctfangrid)"."""
    width = voxel * (source_origin + origin_detector) / source_origin if spacing is None else spacing
    out, disk = [], []
    for n in range(4, 4 * n_u + 8):
        sod, odd = source_origin * n * voxel, origin_detector * n * voxel
        if sod <= voxel * math.hypot(n, n) / 2:
            return []  # the source inside the grid's corners at every N: no fan geometry of these distances
        if spacing is None:
            covering = covering_detector((n, n), voxel, sod, odd)[0][0]
        else:
            covering = int(math.ceil(2 * fan_half_width(voxel * math.hypot(n, n) / 2, sod, odd) / width)) + 2
        if covering == n_u:
            out.append((n, "regrun's covering detector"))
        shadow = 2 * fan_half_width(voxel * n / 2, sod, odd) / width
        if n_u - 2 <= shadow <= n_u + 1e-9:
            disk.append((n, "a detector covering the object's disk (ASTRA fanflat)"))
        if shadow > n_u + 2:
            break
    out += disk
    as_wide = n_u * width * source_origin / (voxel * (source_origin + origin_detector))
    if abs(as_wide - round(as_wide)) < 1e-6 and round(as_wide) >= 4:
        out.append((int(round(as_wide)), "as many bins as the grid's voxels, magnified (ASTRA's N)"))
    return out


def fan_square_widths(n: int, angles: np.ndarray, source_origin: float, origin_detector: float,
                      spacing: float | None, voxel: float) -> np.ndarray:
    """Each view's width, in bins, of the n x n grid's shadow on a fan beam's flat detector (the central projection
    of its corners from the source at -SOD d onto the detector along u = (cos t, sin t))."""
    sod, odd = source_origin * n * voxel, origin_detector * n * voxel
    width = voxel * (sod + odd) / sod if spacing is None else spacing
    half = voxel * n / 2
    corners = np.array([[-half, -half], [-half, half], [half, -half], [half, half]])
    e = np.stack((np.cos(angles), np.sin(angles)), -1)
    d = np.stack((-np.sin(angles), np.cos(angles)), -1)
    u = (sod + odd) * (e @ corners.T) / (sod + d @ corners.T) / width
    return u.max(axis=1) - u.min(axis=1)


def cone_slices(n: int, n_v: int, source_origin: float, origin_detector: float, spacing: float | None,
                voxel: float) -> int | None:
    """The slice count whose covering cone detector (covering_detector) has n_v rows on an n x n grid at the
    typed distances and bin width; None if none has."""
    sod, odd = source_origin * n * voxel, origin_detector * n * voxel
    width = voxel * (sod + odd) / sod if spacing is None else spacing
    radius = voxel * math.hypot(n, n) / 2
    for k in range(1, 4 * n_v + 8):
        if spacing is None:
            rows = covering_detector((n, n, k), voxel, sod, odd)[0][1]
        else:
            rows = int(math.ceil(2 * (sod + odd) * (voxel * k / 2) / (sod - radius) / width)) + 2
        if rows == n_v:
            return k
        if rows > n_v:
            return None
    return None


def fitting_size(size: int, width: float) -> int:
    """The largest grid (at least `size`) whose covering parallel detector (the volume's circumscribed disk, unit
    voxels) is no wider than `width` voxels: regrun's own detector for that grid, so its files give their grid back."""
    fit = size
    while covering_detector((fit + 1, fit + 1), 1.0)[0][0] <= width:
        fit += 1
    return fit


def wrapped_negatives(sino: np.ndarray) -> str:
    """A sinogram with small negative values (noise about 0 where rays miss the object) saved as unsigned 16-bit
    integers: each wraps to 65536 - |v|, far above every line integral, and the file was refused as "raw detector
    counts; give -log(counts / ...)", advice that is wrong for it (newuser13). Named where the values are
    integers in [0, 65535] split by a gap of at least a quarter of that range, with at least 3 distinct values
    above it (a saturated 65535 alone is one value: raw counts, left to that check) that, read as negatives, lie
    within half the largest value below it and make the views at least 4x smoother along the detector (wrapped
    noise jumps by ~65536 between neighbours; raw counts' unattenuated beam read as negatives would jump further).
    The 5% bound this replaced missed 2% noise (negatives to -6% of the largest value: newuser19's file); '' otherwise."""
    if sino.size == 0 or sino.min() < 0 or sino.max() > 65535 or not np.array_equal(sino, np.round(sino)):
        return ""
    if sino.max() <= 255:
        return _wrapped_8_bit(sino)
    values = np.unique(sino)
    if values.size < 4:
        return ""
    k = int(np.argmax(np.diff(values)))
    low, high = values[:k + 1], values[k + 1:]
    if values[k + 1] - values[k] < 16384 or high.size < 3 or 65536 - high.min() > 0.5 * low.max():
        return ""
    unwrapped = np.where(sino >= high.min(), sino - 65536.0, sino)
    if np.abs(np.diff(unwrapped, axis=-1)).sum() > 0.25 * np.abs(np.diff(sino, axis=-1)).sum():
        return ""
    count = int((sino >= high.min()).sum())
    return (f"{count} values at {high.min():.0f}-{high.max():.0f} beside the rest at {low.min():.0f}-"
            f"{low.max():.0f}, nothing between: negative values (noise about 0) saved as unsigned 16-bit integers "
            f"wrap to 65536 - |v|; save the line integrals as float (a float32 TIFF, .npy), or clip them at 0 "
            f"before saving as 16 bits")


def _wrapped_8_bit(sino: np.ndarray) -> str:
    """wrapped_negatives for values in [0, 255]: an 8-bit PNG scaled to its full range puts the object's peak at 255
    too, so the wrapped noise (256 - |v|) leaves no gap to find, and the file was refused as "the total attenuation
    varies by 6.9% between views ... not line integrals" (newuser20, newuser21). The jumps say it instead: wrapped
    noise beside noise about 0 jumps by ~255 between detector neighbours, which differences taken modulo 256 undo;
    a true 8-bit sinogram's neighbours differ by far less than half the range, so modulo 256 changes nothing
    (newuser21's file: the views 12x smoother modulo 256, 1246 jumps of 128 or more; clipped at 0: 1.0x, none)."""
    step = np.diff(sino, axis=-1)
    jumps = int((np.abs(step) >= 128).sum())
    plain = float(np.abs(step).sum())
    if jumps < 3 or plain == 0 or float(np.abs((step + 128) % 256 - 128).sum()) > 0.5 * plain:
        return ""
    return (f"{jumps} pairs of neighbouring detector bins jump by 128 or more (of 255), which differences taken "
            f"modulo 256 undo: negative values (noise about 0 where rays miss the object) saved as unsigned 8-bit "
            f"integers wrap to 256 - |v|; save the line integrals as float (a float32 TIFF, .npy), or clip them at 0 "
            f"before saving as 8 bits")


def axis_bin(value) -> float | None:
    """problem.rotation_centre typed as a number (the axis's detector bin counted from 0, the first bin's centre
    at 0: TomoPy's `center`; tomopy/tomopy#409 on its pixel coordinates), else None (a convention's name)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if not math.isfinite(number):
        raise UserError(f"problem.rotation_centre={value} is not a detector bin; allowed: a finite bin number "
                        f"(counted from 0), or {', '.join(CENTRES)}, auto")
    return number


def stuck_bins(views: np.ndarray) -> list[tuple[int, int]]:
    """(bin, row) of a (views, n_u, n_v) scan's detector pixels that read one value in every view while pixels on
    both sides of them along the row vary (dead_readings)."""
    still = np.ptp(views, axis=0) == 0
    bins = []
    for row in range(still.shape[1]):
        moving = np.flatnonzero(~still[:, row])
        if moving.size >= 2:
            bins.extend((int(u), row) for u in np.flatnonzero(still[moving[0]:moving[-1], row]) + moving[0])
    return bins


def fill_dead_bins(sino: np.ndarray) -> tuple[np.ndarray, list[int], list[float]]:
    """A (views, n_u) scan with its dead detector bins (NaN in every view, or one value in every view between
    varying bins: stuck_bins) replaced in each view by the straight line between the nearest live bins on either
    side (the nearest one's value past the last): (scan, the bins filled, the values they read). Two dead bins of a
    257-bin radon scan took FBP from 28.41 to 7.09 dB as read; filled, 28.37 (newuser27)."""
    gone = ~np.isfinite(sino).any(axis=0)
    if sino.shape[0] < 3 or sino.shape[1] < 3 or gone.all():
        return sino, [], []
    live = np.where(gone, 0.0, sino)
    dead = sorted(set(np.flatnonzero(gone).tolist()) | {u for u, _ in stuck_bins(live[:, :, None])})
    if not dead:
        return sino, [], []
    values = [float("nan") if gone[u] else float(sino[0, u]) for u in dead]
    keep = np.setdiff1d(np.arange(sino.shape[1]), dead)
    if keep.size < 2:
        return sino, [], []
    out = sino.copy()
    for k in range(sino.shape[0]):
        out[k, dead] = np.interp(dead, keep, sino[k, keep])
    return out, dead, values


TRUNCATION_SHARE = 0.05  # both detector ends above this share of the peak: the object reaches past them (a scan's
# ends read 0.0-1.4% of its peak on newuser27's ten untruncated files at 0.5-1% noise; its interior scan 68%)


def truncated_views(sino: np.ndarray, what: str) -> str:
    """A warning when both ends of a 2-D scan's detector read the object in most views (rays that miss it read 0):
    the object reaches past the field of view, a truncated (interior) scan. regrun's model takes the object as 0
    outside the grid, so the answer comes out offset and cupped: newuser27's 256^2 interior scan ran to an FBP of
    1.83 dB against its truth without a word (rotation_centre=geometric, as the axis estimate's refusal said). ''
    if not."""
    if sino.ndim != 2 or sino.shape[0] < 3 or sino.shape[1] < 8:
        return ""
    peak = float(np.abs(sino).max())
    ends = np.minimum(sino[:, :2].mean(axis=1), sino[:, -2:].mean(axis=1))
    cut = ends > TRUNCATION_SHARE * peak
    if peak <= 0 or cut.mean() < 0.5:
        return ""
    return (f"{what}: both ends of the detector read the object in {int(cut.sum())} of {len(cut)} views (up to "
            f"{100 * float(ends.max()) / peak:.0f}% of the largest line integral; rays that miss the object read 0, "
            f"unless an offset was left): the object reaches past the detector's field of view, a truncated "
            f"(interior) scan. regrun takes the object as 0 beyond the grid, so the reconstruction comes out offset "
            f"and cupped (an interior 256x256 scan: FBP 1.8 dB against its truth; its views extended smoothly past "
            f"their ends in the file and reconstructed on a grid that covers them, 8.8): compare values within the "
            f"image, not against other scans; regrun has no interior-tomography model")


def dead_readings(sino: np.ndarray, what: str) -> str:
    """A warning naming detector bins that read the same value in every view while bins on both sides of them
    vary (a dead or stuck detector pixel), and views that read one value in every bin while others vary (a view
    the detector missed). Both pass every other check and FBP and FISTA take them for line integrals: three
    dead bins in a 64-pixel scan drew rings that took FBP from 34.1 to 11.2 dB (newuser12). A measured bin is never
    exactly constant (its noise varies), and on noise-free data a bin between two varying ones sweeps, as the object
    turns, parts of it that the view changes (a rotationally symmetric object varies nowhere and is not named; the
    detector's ends, 0 where rays miss the object, have no varying bin beyond them). '' if none."""
    views = sino.reshape(sino.shape[0], sino.shape[1], -1)  # (views, n_u, n_v): a cone's rows of the detector
    if views.shape[0] < 3 or views.shape[1] < 3:
        return ""
    bins = stuck_bins(views)
    flat_views = np.ptp(views.reshape(views.shape[0], -1), axis=1) == 0
    dead_views = np.flatnonzero(flat_views) if not flat_views.all() else np.array([], dtype=int)
    parts = []
    if bins:
        cone = views.shape[2] > 1
        names = [f"({u}, {v})" if cone else str(u) for u, v in bins]
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        values = sorted({float(views[0, u, v]) for u, v in bins})
        parts.append(f"detector {'pixels (u, v)' if cone else 'bins'} {shown} (of {views.shape[1]}) read "
                     f"{', '.join(f'{x:.4g}' for x in values[:3])} in every view while bins on both sides vary: "
                     "dead or stuck detector pixels, which draw rings; problem.dead_bins=fill interpolates them "
                     "from their neighbours along the detector (or do so in the file)")
    if dead_views.size:
        shown = ", ".join(str(int(k)) for k in dead_views[:8]) + (
            f" and {dead_views.size - 8} more" if dead_views.size > 8 else "")
        parts.append(f"view{'s' if dead_views.size > 1 else ''} {shown} (of {views.shape[0]}) read one value in "
                     "every bin: a view the detector missed; leave it out of the file with its angle")
    return f"{what}: " + "; ".join(parts) if parts else ""


CLIP_COUNTS = "clipped to a small positive floor first (-log is undefined there)"


TRANSMISSION_ENDS = (0.8, 1.25)  # the unobstructed rays of I/I0 read 1 up to the flat's drift and the noise
TRANSMISSION_MAX = 1.5  # no count ratio lies further above 1 than its noise allows; raw counts reach 10^3 and more


def transmission_hint(sino: np.ndarray, ends: float, name: str) -> str:
    """Where a sinogram that is highest at the detector's ends holds I/I0 (the counts already divided by the flat
    field: its ends read 1), what to type; '' for raw counts. A transmission file was told "these look like raw
    detector counts ... -numpy.log(counts / flat), flat a flat-field scan's mean", a flat it had divided by already
    (newuser29)."""
    top = float(sino.max())
    if not (TRANSMISSION_ENDS[0] <= ends <= TRANSMISSION_ENDS[1] and top <= TRANSMISSION_MAX):
        return ""
    low = int((sino <= 0).sum())
    read = f"numpy.load('{Path(name).name}')" if Path(name).suffix.lower() == ".npy" else "transmission"
    # the floor the file's smallest positive value: 1e-6 made each dead ray a spike of 13.8 that the axis's check
    # then refused as 26% of the views' total attenuation
    floor = float(sino[sino > 0].min()) if low else 0.0
    arg = f"numpy.clip({read}, {floor:.3g}, None)" if low else read
    clip = f"; its {low} values <= 0 are raised to its smallest positive one, {floor:.3g} (-log is undefined there)" if low else ""
    return (f"every value within [{float(sino.min()):.4g}, {top:.4g}], the rays that miss it about 1: these look like "
            f"transmission I/I0 (counts already divided by the flat field), not line integrals; give -log(I/I0)"
            f"{clip}: numpy.save('scan.npy', -numpy.log({arg}))")


def negative_values(sino: np.ndarray) -> str:
    """What a sinogram's values below 0 say, for a message about data that are not line integrals: dark-subtracted
    raw counts fall below 0 where the object absorbs most, through the detector's middle; the noise of true line
    integrals falls below 0 only where they are 0, at the ends, where rays miss the object (newuser7). '' when no
    value in the middle half is below 0."""
    n_u = sino.shape[1]
    below = int((sino[:, n_u // 4: n_u - n_u // 4] < 0).sum())
    if below == 0:
        return ""
    total = int((sino < 0).sum())
    return (f"; it holds {total} negative value{'s' if total != 1 else ''} (down to {float(sino.min()):.4g}; {below} "
            "in the detector's middle half, where line integrals of an object are > 0): raw counts after a dark "
            f"subtraction? give line integrals -log(counts / counts_without_object), the counts <= 0 {CLIP_COUNTS}")


@register_problem("ct_fewview")
class CTFewView(Problem):
    """What solvers use (every tensor on ctx.device in ctx.dtype; the run's dtype is float64 unless
    `dtype=float32`, which is what the paper computed in):

    - `A`: the projector of the scan (regrun.tomography.xray.Projector: the torch XRayTransform, or ASTRA's with
      `projector=astra`). `A(x)` / `A.adjoint(y)` are differentiable (autograd's backward of one
      is the other), `A.project` / `A.backproject` are plain products, `A.operator(dtype, device)` is the
      LinearOperator on flattened vectors.
    - `geometry`: the scan (regrun.tomography.geometry.Geometry); `shape`: the volume's shape.
    - `sinogram`: the measured data b, shape geometry.sinogram_shape.
    - `truth`: the ground truth on the reconstruction grid, or None (user data without one).
    - `mask`: boolean volume, the support solvers keep and metrics are computed on: the disk (cylinder in 3-D) of
      radius mask_radius times the half width in x1-x2, or the whole grid (`support` "square": problem.support).
    - `fbp(sinogram=None, window="ramp")`: FBP (parallel, fan) or FDK (cone) of the data.
    """

    offers = frozenset({"ct", "least_squares"})

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        check_choice("problem.data", cfg.data, DATA)
        if cfg.data != "file" and cfg.sinogram is not None:  # it reconstructed the phantom, never reading the file
            raise UserError(f"problem.sinogram={cfg.sinogram!r} is a file but problem.data={cfg.data} does not read "
                            "it: add problem.data=file to reconstruct your sinogram")
        check_choice("problem.geometry", cfg.geometry, KINDS)
        check_choice("problem.noise", cfg.noise, NOISE)
        if cfg.truth not in TRUTHS and (Path(str(cfg.truth)).suffix.lower() in FILE_SUFFIXES
                                        or Path(str(cfg.truth)).is_file()):
            # superres takes its truth as problem.truth=PATH; CT's key names the kind of truth (newuser12)
            raise UserError(f"problem.truth={cfg.truth} names a file, but for CT problem.truth is the kind of truth "
                            f"({', '.join(TRUTHS)}); a truth of your own goes in problem.truth_file={cfg.truth}")
        check_choice("problem.truth", cfg.truth, TRUTHS)
        check_choice("problem.truth_filter", cfg.truth_filter, FILTERS)
        self.kind = str(cfg.geometry)
        cone = self.kind == "cone"
        self._truth_file = self._read_truth_file(cfg)
        size, slices = cfg.size, cfg.slices
        if size is None and self._truth_file is not None:
            # a truth of your own gives the grid its answer is judged on (the default 128 refused a 256^2 truth)
            size = int(self._truth_file.shape[0])
            slices = int(self._truth_file.shape[2]) if cone and slices is None and self._truth_file.dim() == 3 else slices
        # the default grid may grow to the file's detector where the object reaches past it (_check_sinogram);
        # where the grid came from is recorded (/data/grid_from)
        self._size_default = size is None
        self.grid_from = ("problem.size" if cfg.size is not None else
                          "problem.truth_file" if size is not None else "default")
        size = check_int("problem.size", (64 if cone else 128) if size is None else size, 4)
        slices = check_int("problem.slices", size if slices is None else slices, 1)
        self.shape = (size, size, slices) if cone else (size, size)
        self.voxel = check_float("problem.voxel", cfg.voxel, 0.0, strict=True)
        self.mask_radius = check_float("problem.mask_radius", cfg.mask_radius, 0.0, strict=True)
        check_choice("problem.size_reading", cfg.size_reading, SIZE_READINGS)
        check_choice("problem.support", cfg.support, SUPPORTS)
        self.size_reading = cfg.size_reading
        self.gen = ctx.generator(int(cfg.data_seed))
        # rotation_centre=auto: the estimate and how it was made (/data/rotation_axis), and a fallback's warning
        self.axis: dict | None = None
        self.axis_warning = ""
        self.truth_warning = ""
        self.truth_scale_off: float | None = None  # a truth file on another scale: the factor (_truth_scale)
        self.baseline_warning = ""
        self.dead_warning = ""  # data=file: detector bins or views that read one value throughout
        self.size_warning = ""  # data=file: an object wider than the grid (its detector reads it past the shadow)
        self.truncation_warning = ""  # data=file: a truncated (interior) scan, both detector ends reading the object
        self.lam_range_warning = ""  # fista_tv lam=auto at lam_range's bottom on an answer in small units
        # data=file, parallel: how the views 180 degrees apart mirror each other (/data/opposite_views), and the
        # warning where they do not as a parallel beam's do (a fan-beam file run as parallel: newuser10)
        self.opposite: dict | None = None
        self.geometry_warning = ""
        # data=file without angles, parallel, angle_range unset: whether the views mirror themselves read over 360
        # degrees (/data/full_turn), and the warning where they do (a 360-degree scan read over 180: newuser13)
        self.full_turn: dict | None = None
        self.full_turn_warning = ""
        self.repeated_end: float | None = None  # data=file, no angles: the last view's misfit to the first (/data)
        self.repeated_end_warning = ""
        self.repeated_end_mirrored: float | None = None  # the same against the first view mirrored (/data)
        self.turns_warning = ""  # data=file: views given more than one turn, or two views one angle (_check_turns)
        self.start_warning = ""  # data=file: an angle_start that reads as radians (_check_turns)
        # data=file, fan over a full turn: how its rays match their opposite rays as read and with the detector
        # reversed (/data/fan_pairing), and the warning where reversed fits far better (newuser17's leftover)
        self.fan_pairing: dict | None = None
        self.fan_pairing_warning = ""
        self.file_angles: torch.Tensor | None = None  # data=file: the views' angles the file carries (radians)
        self.dead_bins: dict | None = None  # data=file, dead_bins=fill: the bins filled and what they read
        self.matlab: dict | None = None  # data=file: MATLAB's radon R, xp, theta read as such (/data/matlab_radon)
        # data=file of counts with flat and dark fields: what was read and done (/data/counts), and the warning for
        # counts at or below the dark (tomography.counts)
        self.counts: dict | None = None
        self.counts_warning = ""
        self.gap_warning = ""  # data=file, parallel, no angles: a view that seems missing (_check_gap, ctgap)
        dtype, device = ctx.dtype, ctx.device
        if cfg.data == "synthetic":
            self.views = check_int("problem.views", cfg.views, 1)
            self.geometry = self._geometry(self.views, None)
            self.label = f"{cfg.phantom} {'x'.join(map(str, self.shape))}, {self.kind}, {self.views} views"
            sino, truth, fine = self._simulate()
            phantom = truth
        else:
            sino, truth = self._read_user_data()
            phantom = fine = None
        check_choice("problem.projector", cfg.projector, PROJECTORS)
        if cfg.projector == "astra":
            from ..tomography.astra import AstraTransform

            self.A = AstraTransform(self.geometry)
        else:
            self.A = XRayTransform(self.geometry, cache_mb=check_float("problem.cache_mb", cfg.cache_mb, 0.0))
        self.sinogram = sino.to(dtype=dtype, device=device)
        self.support = self._support(sino)
        self.mask = self._support_mask(device)
        if cfg.truth == "dense_fbp" and cfg.data == "synthetic":
            truth = self._dense_fbp_truth(fine)
        elif cfg.truth == "none":
            truth = None
        self.truth = None if truth is None else truth.to(dtype=dtype, device=device) * self.mask
        # the phantom's cell average on the reconstruction grid (synthetic data), for figures and comparisons
        self.phantom = None if phantom is None else phantom.to(dtype=dtype, device=device)
        self.distance_warning = self._distance_warning()

    def _distance_warning(self) -> str:
        """Fan and cone: the distances typed as voxels where they count in grid widths (FAN_MIN_HALF_ANGLE_DEG)."""
        if self.kind == "parallel":
            return ""
        sod, odd = float(self.cfg.source_origin), float(self.cfg.origin_detector)
        half = math.degrees(math.atan(0.5 / sod))
        if half >= FAN_MIN_HALF_ANGLE_DEG:
            return ""
        width = self.shape[0] * self.voxel
        return (f"problem.source_origin={sod:g} counts in grid widths (problem.size x problem.voxel = {width:g}): the "
                f"source stands {sod * width:g} from the axis and the {self.kind} spreads {2 * half:.2g} degrees over "
                f"the grid, a nearly parallel beam; if {sod:g} and problem.origin_detector={odd:g} are in problem.voxel's "
                f"unit (pixels when it is 1), type problem.source_origin={sod / width:.4g} problem.origin_detector={odd / width:.4g} "
                f"(docs/ct.md, 'Fan and cone')")

    # --- set-up -------------------------------------------------------------------------------------------
    def _angle_range(self) -> float:
        """problem.angle_range in degrees, its default the beam's: 180 (parallel) or 360 (fan, cone)."""
        span = 180.0 if self.kind == "parallel" else 360.0
        return check_float("problem.angle_range", span if self.cfg.angle_range is None else self.cfg.angle_range,
                           0.0, True)

    def _view_angles(self, views: int) -> torch.Tensor:
        """The views' angles in radians: the file's own where it holds as many, else evenly over angle_range; plus
        angle_start."""
        start = math.radians(check_float("problem.angle_start", self.cfg.angle_start))
        if self.file_angles is not None and views == len(self.file_angles):  # the file's own angles
            return self.file_angles + start
        span = self._angle_range()
        if views > 8 and span <= 2 * math.pi + 1e-9:
            # angle_range=3.14159 spread 30 views over 3.1 degrees and ran (newuser22); a file's angle list of
            # 9 or more views within 6.3 degrees is refused so (_read_angles)
            raise UserError(f"problem.angle_range={self.cfg.angle_range:g} spreads {views} views over {span:g} "
                            "degrees, which reads as radians: regrun takes degrees (180 for a half turn, 360 for a "
                            "full one; left out, the beam's own)")
        return uniform_angles(views, False) * (math.radians(span) / math.pi) + start

    def _geometry(self, views: int, detector, centre: str | None = None, axis_bins: float | None = None) -> Geometry:
        """The scan from the config: `views` angles over angle_range, `detector` pixel counts (None: the
        config's, else covering the volume); `centre` (default the config's rotation_centre) places the axis on
        the grid and detector, `axis_bins` (from the data) overrides where it projects onto the detector."""
        cfg = self.cfg
        shape, voxel = self.shape, self.voxel
        angles = self._view_angles(views)
        width = self.shape[0] * self.voxel
        sod = check_float("problem.source_origin", cfg.source_origin, 0.0, True) * width
        odd = check_float("problem.origin_detector", cfg.origin_detector, 0.0) * width
        if self.kind == "parallel":
            counts, spacing = covering_detector(self.shape, self.voxel)
        else:
            counts, spacing = covering_detector(self.shape, self.voxel, sod, odd)
        if detector is None and cfg.detector is not None:
            detector = [cfg.detector] if isinstance(cfg.detector, int) else list(cfg.detector)
        if detector is not None:
            counts = tuple(check_int("problem.detector", int(n), 2) for n in detector)
            if len(counts) != len(self.shape) - 1:
                raise UserError(f"problem.detector={list(counts)} needs {len(self.shape) - 1} pixel count(s) "
                                f"for a {self.kind} beam")
        if cfg.detector_spacing is not None:
            spacing = check_float("problem.detector_spacing", cfg.detector_spacing, 0.0, True)
        typed_bin = axis_bin(cfg.rotation_centre) if centre is None else None
        if typed_bin is not None:
            # a number is the axis's detector bin, as TomoPy's `center` gives it (newuser27: refused as "not valid",
            # though it is what a TomoPy user knows of the scan); the grid's centre stays on the axis, as for an
            # estimated axis (_axis_geometry)
            if self.kind == "cone":
                raise UserError(f"problem.rotation_centre={typed_bin:g} covers 2-D scans (parallel, fan); "
                                "a cone beam takes geometric")
            if not 0 <= typed_bin <= counts[0] - 1:
                raise UserError(f"problem.rotation_centre={typed_bin:g} is off the detector: a number is the "
                                f"rotation axis's detector bin counted from 0, so 0 to {counts[0] - 1} for "
                                f"{counts[0]} bins; or geometric, index, matlab, auto")
            centre, axis_bins = "geometric", typed_bin - (counts[0] - 1) / 2
        if centre is None:
            check_choice("problem.rotation_centre", cfg.rotation_centre, CENTRES + ("auto",))
            if cfg.rotation_centre == "auto":
                raise UserError("problem.rotation_centre=auto estimates the axis from a file's sinogram "
                                "(problem.data=file); synthetic data is made in geometric or index")
            centre = str(cfg.rotation_centre)
        if self.kind == "cone":
            if centre != "geometric":
                raise UserError(f"problem.rotation_centre={centre} covers 2-D scans (parallel, fan); "
                                "a cone beam takes geometric")
            return cone_beam(shape, angles, counts, spacing, sod, odd, voxel)
        # index: the axis at pixel n // 2 of the grid and at bin n_u // 2 of the detector (scikit-image's radon)
        offset = -rotation_centre(counts, spacing, centre)[0] if axis_bins is None else -axis_bins * spacing
        centre = rotation_centre(shape, voxel, centre)
        if self.kind == "parallel":
            return parallel_beam(shape, angles, counts[0], spacing, voxel, offset, centre)
        return fan_beam(shape, angles, counts[0], spacing, sod, odd, voxel, offset, centre)

    def _fine(self, geometry: Geometry, factor: int) -> Geometry:
        """The same scan seen by a grid `factor` times finer (same detector and orbit)."""
        fine = Volume(tuple(n * factor for n in self.shape), self.voxel / factor)
        return Geometry(geometry.kind, fine, geometry.detector, geometry.vectors, geometry.sod, geometry.odd,
                        geometry.angles)

    def _simulate(self):
        """Sinogram from the phantom on the fine grid, plus noise; the truth is the phantom's cell average on the
        reconstruction grid. Returns (sinogram, truth, fine phantom). Like every data set in regrun this is made
        on the CPU in float64 (docs/devices.md), so a seed gives the same data on every device."""
        cfg = self.cfg
        check_choice("problem.phantom", cfg.phantom, PHANTOMS)
        self.oversample = check_int("problem.oversample", cfg.oversample, 1)
        device = torch.device("cpu")
        fn = phantom_function(str(cfg.phantom), int(cfg.phantom_seed))
        fine_shape = tuple(n * self.oversample for n in self.shape)
        # cell averages of 2^ndim samples per fine voxel; in 3-D with oversample >= 2 the fine grid's own point
        # samples (8 per reconstruction voxel) suffice and render 8 times faster
        sub = 1 if len(self.shape) == 3 and self.oversample > 1 else 2
        fine = render(fn, fine_shape, sub=sub, device=device)
        truth = fine
        for k in range(len(self.shape)):
            truth = truth.unflatten(k, (self.shape[k], self.oversample)).mean(k + 1)
        return self._add_noise(self._project_fine(self.geometry, fine)), truth, fine

    def _project_fine(self, geometry: Geometry, fine: torch.Tensor) -> torch.Tensor:
        op = XRayTransform(self._fine(geometry, self.oversample), cache_mb=0)
        return op.project(fine)

    def _add_noise(self, clean: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        if cfg.noise == "none":
            return clean
        if cfg.noise == "gaussian":
            # beyond 10 times the largest line integral the data is noise alone
            level = check_float("problem.noise_level", cfg.noise_level, 0.0, maximum=10.0)
            noise = torch.randn(clean.shape, generator=self.gen, dtype=torch.float64).to(clean.device)
            return clean + level * float(clean.abs().max()) * noise
        # under one photon per pixel no signal is left; torch.poisson samples exactly up to 1e15 (measured: above,
        # its spread is 20-30% too wide, and from 1e19 the counts overflow)
        photons = check_float("problem.photons", cfg.photons, 1.0, maximum=1e15)
        floor = check_float("problem.min_transmission", cfg.min_transmission, 0.0, strict=True)
        if floor >= 1:
            raise UserError(f"problem.min_transmission={floor} must be in (0, 1)")
        # attenuation units: the largest line integral transmits `floor` of the photons
        kappa = -math.log(floor) / max(float(clean.max()), 1e-12)
        rate = photons * torch.exp(-kappa * clean.cpu())
        counts = torch.poisson(rate, generator=self.gen).clamp(min=1.0)
        return (-torch.log(counts / photons) / kappa).to(clean.device)

    def _dense_fbp_truth(self, fine: torch.Tensor) -> torch.Tensor:
        """FBP/FDK of a dense-view scan of the same phantom and noise model (the paper's ground truth)."""
        views = check_int("problem.dense_views", self.cfg.dense_views, 1)
        geo = self._geometry(views, list(self.geometry.detector))
        sino = self._add_noise(self._project_fine(geo, fine))
        return fbp(geo, sino, str(self.cfg.truth_filter))

    def _read_user_data(self):
        cfg = self.cfg
        if cfg.sinogram is None:
            raise UserError("problem.data=file needs problem.sinogram=PATH (.npy, .npz or .h5, shape (views, n_u) "
                            "or (views, n_u, n_v); or a grey TIFF/PNG, one view per row)")
        path = resolve_data_path(str(cfg.sinogram))
        check_choice("problem.dead_bins", cfg.dead_bins, ("fill", "keep"))
        fill = cfg.dead_bins == "fill"
        fields = self._typed_fields()
        matlab = read_matlab_radon(path, str(cfg.sinogram_key)) if self.kind == "parallel" and not fields else None
        keys = None if matlab is not None else counts_keys(path, str(cfg.sinogram_key), cfg.flat_key, cfg.dark_key,
                                                           cfg.angles_key)
        if keys is None and fields is not None:
            if not fields.flat:
                typed = "problem.dark" if cfg.dark is not None else "problem.flat_positions"
                raise UserError(f"{typed}={cfg.get(typed.split('.')[1])} applies to counts, and {path.name} holds no "
                                f"flat fields: give them too, problem.flat=PATH (a file or a folder of TIFFs); a file "
                                f"of line integrals needs neither")
            keys = files_keys(path, str(cfg.sinogram_key), cfg.angles_key)
        if matlab is not None:
            sino = torch.as_tensor(check_values(np.ascontiguousarray(matlab["R"].T), f"problem.sinogram: {path}:R.T",
                                                axes=("view", "detector bin"), dead_bins=fill), device="cpu")
            self._read_matlab(matlab, path.name)
        elif keys is not None:
            sino = torch.as_tensor(self._read_counts(path, keys, fields), device="cpu")
        else:
            sino = read_array(path, str(cfg.sinogram_key), "problem.sinogram", axes=("view", "detector bin"),
                              dead_bins=fill)
            if sino.ndim == 3 and self.kind == "parallel" and cfg.slice is not None:
                row, rows = self._slice_row(sino.shape)
                sino = sino[:, row]
                self.counts_line(path.name, f"row {row} of its {rows}-row stack (views, rows, columns), "
                                 f"problem.slice={cfg.slice}")
            sino = torch.as_tensor(sino, device="cpu")  # to the run's device later
        if fill and sino.ndim == 2:
            sino = self._fill_dead_bins(sino, path.name)
        if sino.ndim != len(self.shape):
            raise UserError(f"problem.sinogram has shape {tuple(sino.shape)}; a {self.kind} beam needs "
                            f"{len(self.shape)} dimensions (views, n_u{', n_v' if self.kind == 'cone' else ''})"
                            f"{slices_hint() if sino.ndim == 3 else ''}")
        total = sino.shape[0]
        if matlab is None:  # before the checks: the grid read from the detector needs them
            self._read_angles(total, tuple(sino.shape), *(() if keys is None else (keys.angles, keys.data)))
        fan_line = ""
        if self.kind != "parallel" and self._size_default and cfg.detector is None:
            fan_line = self._grid_from_fan_detector(sino.numpy(), Path(str(cfg.sinogram)).name)
        self._check_sinogram(sino.numpy(), str(cfg.sinogram))
        if fan_line:
            self.ctx.reporter.line(fan_line)
        self.views = total if cfg.views is None else check_int("problem.views", cfg.views, 1)
        if self.views > total:  # before the axis estimate: this is the mistake to name first
            angles = ", with as many angles" if self.file_angles is not None else ""
            raise UserError(f"problem.views={self.views} but the sinogram holds only {total} views "
                            f"({Path(str(cfg.sinogram)).name}{angles}): leave it out or give problem.views=null "
                            f"to use all {total}, or at most {total}")
        if cfg.views is None:  # ux4: a user's scan has the views it has; the count is the file's, said once
            key = ("'theta' + 90" if self.matlab else f"'{keys.angles}'" if keys is not None and keys.angles
                   else f"'{cfg.angles_key}'")
            got = (f"its {len(self.file_angles)} angles ({key}, "
                   f"{math.degrees(float(self.file_angles[0])):.4g} to {math.degrees(float(self.file_angles[-1])):.4g}"
                   " degrees)" + (f", each plus problem.angle_start={float(cfg.angle_start):g}"
                                  if float(cfg.angle_start) != 0.0 else "") if self.file_angles is not None else
                   # the angles assumed were not said: a clockwise or 360-degree scan read wrong without a word
                   f"its shape {tuple(sino.shape)}; the file holds no angles: the views are spread evenly over "
                   f"{self._angle_range():g} degrees from {float(cfg.angle_start):g} (problem.angle_range, "
                   f"problem.angle_start; /data/angles_deg)")
            self.ctx.reporter.line(f"regrun: problem.views={total}: every view of {Path(str(cfg.sinogram)).name}, "
                                   f"counted from {got}{'' if self.matlab else self._radon_hint(sino.shape[1])}")
        if sino.numel() and float(sino.max()) == float(sino.min()):
            # an all-zero file was told "no view without positive attenuation cannot place the rotation axis ...;
            # set problem.rotation_centre=geometric", advice that runs FISTA-TV on nothing (newuser20); checked after
            # problem.views, so that too many views asked of a file is still named first
            raise UserError(f"problem.sinogram={cfg.sinogram}: every value is {float(sino.max()):g}: no object was "
                            "scanned, or the file was saved before its data (line integrals vary across the detector "
                            "where rays cross an object)")
        if self.matlab and cfg.rotation_centre == "auto":  # the file's maker says where its axis is
            self.axis = {"method": "matlab_file", "convention": "matlab"}
            dense = self._geometry(total, list(sino.shape[1:]), "matlab")
        else:
            dense = self._axis_geometry(sino, total) if cfg.rotation_centre == "auto" else \
                self._geometry(total, list(sino.shape[1:]))
        typed_bin = axis_bin(cfg.rotation_centre)
        if typed_bin is not None:
            n_u = sino.shape[1]
            self.axis = {"method": "typed", "axis_bin": typed_bin, "offset_bins": typed_bin - (n_u - 1) / 2,
                         "convention": "typed"}
            self.ctx.reporter.line(f"regrun: problem.rotation_centre={typed_bin:g}: the rotation axis at detector bin "
                                   f"{typed_bin:g} counted from 0 (TomoPy's center), "
                                   f"{typed_bin - (n_u - 1) / 2:+g} bins from the detector's centre "
                                   f"({(n_u - 1) / 2:g}); the grid's centre on it (/data/rotation_axis)")
        keep = [int(round(k * total / self.views)) for k in range(self.views)]
        self.geometry = Geometry(dense.kind, dense.volume, dense.detector, tuple(dense.vectors[k] for k in keep),
                                 dense.sod, dense.odd, tuple(dense.angles[k] for k in keep))
        self.label = f"{Path(str(cfg.sinogram)).name}, {self.kind}, {self.views} of {total} views"
        self._check_opposite_views(sino, dense.angles)
        self._check_full_turn(sino)
        self._check_repeated_end(sino)
        self._check_turns(total)
        self._check_fan_pairing(sino, dense)
        self._check_gap(sino)
        truth = None
        if cfg.truth_file is not None:
            truth = self._truth_file
            if tuple(truth.shape) != self.shape:
                raise UserError(f"problem.truth_file has shape {tuple(truth.shape)}, the reconstruction grid is "
                                f"{self.shape} (problem.size, problem.slices)")
        elif cfg.truth == "dense_fbp":
            truth = fbp(dense, sino, str(cfg.truth_filter))
        sino = sino[keep]
        return sino, truth

    def _fill_dead_bins(self, sino: torch.Tensor, name: str) -> torch.Tensor:
        """problem.dead_bins=fill: the scan's dead detector bins interpolated along the detector (fill_dead_bins),
        said in one line and recorded in /data/dead_bins."""
        filled, dead, values = fill_dead_bins(sino.numpy())
        if not dead:
            return sino
        self.dead_bins = {"bins": dead, "read": values}
        shown = ", ".join(map(str, dead[:8])) + (f" and {len(dead) - 8} more" if len(dead) > 8 else "")
        read = sorted({"NaN" if math.isnan(v) else f"{v:.4g}" for v in values})
        self.ctx.reporter.line(
            f"regrun: problem.sinogram={name}: detector bin{'s' if len(dead) > 1 else ''} {shown} (of "
            f"{sino.shape[1]}) read {', '.join(read[:3])} in every view while bins on both sides vary (dead or "
            f"stuck detector pixels, which draw rings): each view's value there interpolated from the nearest live "
            f"bins along the detector (problem.dead_bins=fill; keep reads them as they are; /data/dead_bins)")
        return torch.as_tensor(filled)

    def _slice_row(self, shape: tuple) -> tuple[int, int]:
        """problem.slice for a parallel beam's stack of `shape` (views, rows, columns): (its row, the rows); the
        middle row where none is typed."""
        typed = self.cfg.slice
        rows = shape[1]
        row = rows // 2 if typed is None else check_int("problem.slice", typed, 0)
        if row >= rows:
            raise UserError(f"problem.slice={row} is outside the stack's {rows} detector rows (shape {tuple(shape)}, "
                            f"views x rows x columns): 0 to {rows - 1}, or null for the middle row, {rows // 2}")
        return row, rows

    def counts_line(self, name: str, what: str) -> None:
        """The one console line that says how a stack's slice or a counts file was read."""
        self.ctx.reporter.line(f"regrun: problem.sinogram={name}: {what}")

    def _typed_fields(self) -> Fields | None:
        """problem.flat (a path or a list of them), problem.dark and problem.flat_positions as typed; None where none
        is (the counts file's own fields, averaged: every earlier reading)."""
        cfg = self.cfg
        flat, dark, positions = cfg.get("flat"), cfg.get("dark"), cfg.get("flat_positions")
        if flat is None and dark is None and positions is None:
            return None
        if isinstance(flat, str) or flat is None:
            flat = None if flat is None else [flat]
        elif not flat or not all(isinstance(p, str) for p in flat):
            raise UserError(f"problem.flat={flat}: a file or folder of flat fields, or a list of them "
                            f"(problem.flat=[before.tif,after.tif])")
        if dark is not None and not isinstance(dark, str):
            raise UserError(f"problem.dark={dark}: one file or folder of dark fields")
        if isinstance(positions, str) or positions is None:
            typed = positions
        else:
            typed = list(positions) if OmegaConf.is_list(positions) or isinstance(positions, (list, tuple)) \
                else [positions]
        return Fields([resolve_data_path(p) for p in flat] if flat else None,
                      None if dark is None else resolve_data_path(dark), typed)

    def _read_counts(self, path: Path, keys, fields: Fields | None = None) -> np.ndarray:
        """A counts file (tomography.counts) as line integrals: a parallel beam's stack (views, rows, columns) cut to
        problem.slice's row first (the middle row by default), then -log((data - dark) / (flat - dark)) with the
        fields' means (problem.flat and problem.dark where typed; each projection's own flat interpolated between
        those taken before and after it where problem.flat_positions says when). Says what it did in one line;
        recorded as /data/counts."""
        counts = read_counts(path, keys, fields)
        stack = ""
        if counts.data.ndim == 3 and self.kind == "parallel":
            row, rows = self._slice_row(counts.data.shape)
            take_slice(counts, row)
            stack = (f"; row {row} of its {rows} detector rows" +
                     (f" (problem.slice={self.cfg.slice})" if self.cfg.slice is not None else
                      " (the middle row; problem.slice=ROW for another)"))
        elif counts.data.ndim == 3:
            # a detector's stack is (views, rows, columns), a cone file regrun's (views, n_u, n_v): which way its
            # rows run along the axis is not in the file
            raise UserError(f"{path.name}'s counts are a stack {counts.data.shape} (views, rows, columns): regrun "
                            f"reconstructs one slice of it with a parallel beam (problem.geometry=parallel, "
                            f"problem.slice=ROW); for a {self.kind} beam save its line integrals in regrun's layout "
                            f"(docs/ct.md '(ctcounts)')")
        elif self.cfg.slice is not None:
            raise UserError(f"problem.slice={self.cfg.slice} takes a row of a parallel beam's stack (views, rows, "
                            f"columns); {path.name}'s counts have shape {counts.data.shape}: leave problem.slice out")
        line, info, self.counts_warning = normalise(counts)
        air = ""
        if check_bool("problem.counts_air_correction", self.cfg.counts_air_correction):
            line, extra, warning = air_correct(line, counts)
            info.update(extra)
            self.counts_warning = "; ".join(w for w in (self.counts_warning, warning) if w)
            if extra["air_corrected"]:
                air = (f"; each view scaled so that its {extra['air_columns_left']} + {extra['air_columns_right']} "
                       f"air columns read transmission 1 (line integrals shifted by {extra['view_offset_min']:.3g} "
                       f"to {extra['view_offset_max']:.3g})")
        if stack:
            info.update(slice=row, rows=rows)
        self.counts = info
        layout = "Data Exchange" if keys.layout == "data_exchange" else f"'{keys.data}', '{keys.flat}'"
        dark = f" and {counts.darks} dark{'s' if counts.darks != 1 else ''}" if keys.dark else ", no dark field"
        flats = f"the mean of its {counts.flats} flat{'s' if counts.flats != 1 else ''}{dark}"
        if fields is not None:
            layout, flats = self._fields_said(keys, counts, info, fields)
        self.counts_line(path.name, f"counts ({layout}) read as -log((data - dark) / (flat - dark)), "
                         f"{flats}; incident counts per ray "
                         f"{info['incident_counts_mean']:.4g} above the dark (mean; {info['incident_counts_min']:.4g}"
                         f" to {info['incident_counts_max']:.4g}){stack}{air} (/data/counts)")
        return line

    def _read_matlab(self, matlab: dict, name: str) -> None:
        """A MATLAB radon file (read_matlab_radon) read as MATLAB wrote it: its angles theta + 90 degrees (MATLAB's x'
        at theta 0 runs along the columns, regrun's u along x1, the rows, at 0: u = (-sin, cos) of theta in rows and
        columns, regrun's u at theta + 90), no size typed the grid whose MATLAB width is its bins, and the axis at
        MATLAB's centre pixel unless rotation_centre is typed (_read_user_data). Read as regrun's own scan with
        the size typed, an emulated 64^2 file lost 2.88 dB to the half-pixel centre alone (newuser24). Says it in
        one line; recorded as /data/matlab_radon."""
        cfg = self.cfg
        n_u, views = matlab["R"].shape
        # as problem.angle_start=90 adds it: the same answer as those settings typed, to the last bit
        self.file_angles = torch.as_tensor(np.radians(matlab["theta"]), dtype=torch.float64) + math.radians(90.0)
        self.turns_warning = repeated_angles_warning(matlab["theta"], name, "theta")
        grid = matlab_radon_grid(n_u)
        if self._size_default and grid is not None:
            self.shape = (grid, grid)
            self._size_default = False
            self.grid_from = f"the MATLAB file's xp ({n_u} bins: MATLAB's radon of {grid}x{grid})"
            also = [n for n in range(grid - 2, grid + 3) if n != grid and matlab_radon_width(n) == n_u]
            size = (f"the grid {grid}x{grid}, whose radon MATLAB writes on {n_u} bins (2 ceil(norm(size - "
                    f"floor((size - 1) / 2) - 1)) + 3" + (f"; {also[0]}x{also[0]} too: problem.size={also[0]} for "
                                                          "that" if also else "") + ")")
        else:
            size = f"the grid {self.shape[0]}x{self.shape[1]} of {self.grid_from}"
        typed = str(cfg.rotation_centre) != "auto"
        pixel = (self.shape[0] + 1) // 2 - 1
        centre = (f"the rotation axis of problem.rotation_centre={cfg.rotation_centre}" if typed else
                  f"the rotation axis at MATLAB's centre pixel floor((N + 1) / 2) ({pixel} counted from 0; "
                  "problem.rotation_centre=matlab)")
        self.matlab = {"R_shape": [n_u, views], "theta_offset_deg": 90.0, "grid": list(self.shape),
                       "grid_from": self.grid_from, "centre": str(cfg.rotation_centre) if typed else "matlab"}
        self.ctx.reporter.line(
            f"regrun: {name} read as MATLAB's [R, xp] = radon(I, theta) wrote it: R ({n_u}, {views}) turned to "
            f"{views} views of {n_u} bins, each view at theta + 90 degrees (MATLAB's theta 0 projects onto the "
            f"columns, regrun's 90), {size}, {centre}; reconstruction.npy comes out as I was stored "
            f"(/data/matlab_radon)")

    @staticmethod
    def _read_truth_file(cfg) -> torch.Tensor | None:
        """problem.truth_file (data=file), on the CPU as read; None without one."""
        if cfg.data != "file" or cfg.truth_file is None:
            return None
        truth = torch.as_tensor(read_array(resolve_data_path(str(cfg.truth_file)), str(cfg.truth_key),
                                           "problem.truth_file"), device="cpu")
        check_truth_varies(f"problem.truth_file={cfg.truth_file}", truth)
        return truth

    def _check_opposite_views(self, sino: torch.Tensor, angles) -> None:
        """A parallel scan's views 180 degrees apart (axis.opposite_views), measured where the scan has them."""
        if self.kind != "parallel" or sino.ndim != 2 or not angles:
            return
        found = opposite_views(sino, angles)
        if found is None:
            return
        self.opposite = {"pairs": found.pairs, "whiteness": found.whiteness, "share": found.share,
                         "axis_bins": found.axis_bins}
        if found.inconsistent:
            self.geometry_warning = (
                f"problem.geometry=parallel, but the sinogram's views 180 degrees apart do not mirror each other "
                f"as a parallel beam's do: over {found.pairs} pairs they differ by {found.share:.1%} of the line "
                f"integrals, {found.whiteness:.2f} times what noise alone would (/data/opposite_views): a fan beam "
                f"(problem.geometry=fan, with problem.source_origin and problem.origin_detector) or an object that "
                f"moved during the scan")

    def _check_fan_pairing(self, sino: torch.Tensor, dense) -> None:
        """A fan file over a full turn: do its rays match their opposite rays as read, or with the detector reversed
        (axis.fan_pairing)? A detector running the other way against the rotation reads wrong whatever the turn, and
        the truth file's orientation check cannot see it."""
        if self.kind != "fan" or sino.ndim != 2:
            return
        found = fan_pairing(sino, dense.vectors)
        if found is None:
            return
        self.fan_pairing = {"as_read": found.as_read, "reversed": found.reversed, "rays": found.rays}
        if found.mirrored:
            self.fan_pairing_warning = (
                f"problem.geometry=fan, but the sinogram's rays match the rays opposite them (the same line from the "
                f"source across the turn) {found.as_read / found.reversed:.2g} times better with its detector "
                f"reversed ({found.reversed:.3f} of the line integrals against {found.as_read:.3f} as read; "
                f"/data/fan_pairing): its detector runs the other way round against the rotation (or the orbit is "
                f"clockwise), which no turn of problem.angle_start makes up for: save numpy.fliplr(sinogram) and run "
                f"that (a clockwise orbit then gives the image mirrored; a truth file's orientation check names it)")

    def _check_turns(self, views: int) -> None:
        """A file without angles spread over more than a turn (problem.angle_range > 360): views a turn apart then
        claim one position. newuser21's 180-degree file of 36 views at angle_range=720 ran without a word, views
        k and k + 18 told to be at one angle; a scan turning twice is rare, a typo or degrees-for-radians is not.
        Also an angle_start that reads as radians (RADIAN_START_TOLERANCE), file angles or not."""
        start = float(self.cfg.angle_start)
        quarter = round(start / (math.pi / 2))
        if quarter and abs(start - quarter * math.pi / 2) < RADIAN_START_TOLERANCE:
            # angle_start=1.5708 (radon's 90 degrees typed in radians) turned the scan 1.6 degrees (newuser22)
            named = QUARTER_NAMES.get(quarter, f"{quarter} pi/2")
            self.start_warning = (f"problem.angle_start={start:g} is {named} in radians, but regrun takes degrees: "
                                  f"the views start {start:g} degrees from regrun's 0; for a quarter-turn offset type "
                                  f"problem.angle_start={quarter * 90:g}")
        given = self.cfg.angle_range
        if self.file_angles is not None or given is None or self._angle_range() <= 360.0:
            return
        turns = self._angle_range() / 360.0
        apart = views / turns
        pair = (f": view k and view k + {apart:g} stand at one angle" if apart == int(apart) and apart < views
                else "")
        self.turns_warning = (
            f"problem.angle_range={given:g} spreads the {views} views of problem.sinogram="
            f"{Path(str(self.cfg.sinogram)).name} (no angles in it) over {turns:.3g} turns{pair}; a scan of one turn "
            f"or less is read with problem.angle_range at its span (180 for a parallel beam's half turn, 360 for a "
            f"full one; left out, the beam's own)")

    def _check_full_turn(self, sino: torch.Tensor) -> None:
        """A parallel file without angles, its views spread over 180 degrees by default: read over 360 instead,
        do they mirror each other as opposite views do (axis.full_turn)?"""
        given = self.cfg.angle_range
        if (self.kind != "parallel" or sino.ndim != 2 or self.file_angles is not None
                or (given is not None and self._angle_range() != 360.0)):
            return
        found = full_turn(sino)
        if found is None:
            return
        self.full_turn = {"share": found.share, "spread": found.spread, "ratio": found.ratio, "pairs": found.pairs}
        n = sino.shape[0]
        if given is not None:
            # the reverse: a 180-degree file given angle_range=360 ran at a fraction of its quality (newuser13:
            # 19.23 dB against 33.62) under the opposite views' warning, which names a fan beam or a moving object,
            # not the setting given; rule and batches in docs/sweeps.md (newuser14)
            if found.half_turn:
                self.geometry_warning = ""
                self.full_turn_warning = (
                    f"problem.angle_range=360 spreads the {n} views of problem.sinogram="
                    f"{Path(str(self.cfg.sinogram)).name} (no angles in it) over 360 degrees; but view k and view "
                    f"k + {n // 2}, 180 degrees apart so read, do not mirror each other as a parallel beam's opposite "
                    f"views do (they differ by {found.share:.1%} of the line integrals, {found.ratio:.2f} times how "
                    f"much the views differ from their mean; /data/full_turn): a scan over 180 degrees? Without "
                    f"problem.angle_range (180 for a parallel beam) it is read so (else a fan beam, "
                    f"problem.geometry=fan, or an object that moved during the scan)")
            return
        if found.likely:
            self.full_turn_warning = (
                f"problem.sinogram={Path(str(self.cfg.sinogram)).name} holds no angles, so its {n} views were spread "
                f"over 180 degrees; but view k and view k + {n // 2} mirror each other as a parallel beam's views 180 "
                f"degrees apart do (they differ by {found.share:.1%} of the line integrals, {found.ratio:.2f} of how "
                f"much the views differ from their mean; /data/full_turn): a scan over 360 degrees? "
                f"problem.angle_range=360 reads it so (a fan beam: problem.geometry=fan)")

    def _check_repeated_end(self, sino: torch.Tensor) -> None:
        """A file without angles whose last view repeats its first (axis.repeated_end): a turn measured at both
        ends, its views spread evenly a step off. Said with the way to read it; the views are read as before."""
        if sino.ndim != 2 or self.file_angles is not None or self.matlab:
            return
        self.repeated_end = repeated_end(sino)
        n, span, name = sino.shape[0], self._angle_range(), Path(str(self.cfg.sinogram)).name
        if self.repeated_end is None or self.repeated_end >= REPEATED_END_RATIO:
            self._check_mirrored_end(sino, n, span, name)
            return
        self.full_turn_warning = ""  # this names the full turn, and how to read it
        self.repeated_end_warning = (
            f"problem.sinogram={name} holds no angles, so its {n} views were spread over {span:g} degrees, "
            f"{span / n:.4g} apart; but view {n - 1} repeats view 0 (their difference is {self.repeated_end:.2f} of "
            f"neighbouring views', /data/repeated_end): a turn measured at both ends, as numpy.linspace(0, 360, {n}) "
            f"or tomopy.angles({n}, 0, 360) give, whose views stand {360 / (n - 1):.4g} degrees apart? Leave the last "
            f"view out of the file (a[:-1]) and type problem.angle_range=360, or save the views' angles with it "
            f"(numpy.savez('scan.npz', sinogram=a, angles=numpy.linspace(0, 360, {n})))")

    def _check_mirrored_end(self, sino: torch.Tensor, n: int, span: float, name: str) -> None:
        """A parallel file without angles read over 180 degrees whose last view is its first mirrored about the axis:
        a half turn measured at both ends (numpy.linspace(0, 180, n)), its views spread a step off. newuser29's 61
        views of a cell crop: FBP 29.55 dB without a word, 30.97 with the last view left out, 30.99 with its angles."""
        if self.kind != "parallel" or span != 180.0 or self.axis is None or "offset_bins" not in self.axis:
            return
        self.repeated_end_mirrored = repeated_end(sino, (sino.shape[1] - 1) / 2 + float(self.axis["offset_bins"]),
                                                  floor=MIRROR_NOISE_FLOOR)
        if self.repeated_end_mirrored is None or self.repeated_end_mirrored >= REPEATED_END_RATIO:
            return
        self.repeated_end_warning = (
            f"problem.sinogram={name} holds no angles, so its {n} views were spread over 180 degrees, "
            f"{180 / n:.4g} apart; but view {n - 1} is view 0 mirrored about the rotation axis (their difference is "
            f"{self.repeated_end_mirrored:.2f} of neighbouring views', /data/repeated_end_mirrored): a half turn "
            f"measured at both ends, as numpy.linspace(0, 180, {n}) gives, whose views stand {180 / (n - 1):.4g} "
            f"degrees apart? Leave the last view out of the file (a[:-1]), or save the views' angles with it "
            f"(numpy.savez('scan.npz', sinogram=a, angles=numpy.linspace(0, 180, {n})))")

    def _check_gap(self, sino: torch.Tensor) -> None:
        """A parallel file without angles whose views' centres of mass fit the sinusoid far better with a view
        put back (tomography/gaps.py): newuser27's 60-view scan less view 23 ran 1.45 dB below the same views with
        their angles, without a word. Not where the views were read as another turn (_check_full_turn's warning)."""
        if (not check_bool("problem.missing_views", self.cfg.missing_views) or self.kind != "parallel"
                or sino.ndim != 2 or self.file_angles is not None or self.matlab or self.full_turn_warning
                or self.repeated_end_warning):
            return
        self.gap_warning = gap_warning(sino.numpy(), self._angle_range(),
                                       f"problem.sinogram={Path(str(self.cfg.sinogram)).name}")[0]

    def _radon_hint(self, n_u: int) -> str:
        """The angle_start a file from scikit-image's radon needs, said where the file may be one: a parallel beam
        read from angle 0 whose detector has radon's bins for the grid (circle=True: N, circle=False: ceil(sqrt(2)
        N)). Read from 0, newuser16's two radon files (96^2, 90 views) came out a quarter turn and a pixel off, the
        disk's outer ring (radii 0.9-0.95) lost: at lambda 1, FISTA-TV 5.3 and 6.8 dB under angle_start=90 inside
        the 0.95 disk (0.7 and 1.3 inside 0.9), FBP 3.2 and 4.5 (equal inside 0.9) (docs/sweeps.md,
        "newuser16"); the README's rule, which the run did not say."""
        n = self.shape[0]
        if self.kind != "parallel" or float(self.cfg.angle_start) != 0.0:
            return ""
        # ASTRA's parallel scans start 90 degrees from regrun's too: newuser18's N- and 1.5 N-bin ASTRA files (96^2)
        # fitted their truth as stored at angle_start=90 (FBP 28.17, 28.16 dB) and turned a quarter from 0, and the
        # hint named radon alone (none for 1.5 N)
        makers = [name for name, bins in (("scikit-image's radon(circle=True) and ASTRA (N bins)", (n,)),
                                          ("scikit-image's radon(circle=False)", (math.ceil(math.sqrt(2) * n),)),
                                          ("ASTRA (1.5 N bins)", (int(1.5 * n), math.ceil(1.5 * n))))
                  if n_u in bins]
        if n_u == covering_detector((n, n), 1.0)[0][0]:  # regrun's own width, read right from 0 (1.5 N at 24-32)
            makers = [m for m in makers if not m.startswith("ASTRA (1.5")]
        if not makers:
            return ""
        return (f"; {n_u} bins is also the detector of {makers[0]} for {n}x{n}, whose angles start 90 degrees from "
                f"regrun's: for a file from scikit-image's radon or ASTRA type problem.angle_start=90, which gives "
                f"reconstruction.npy as radon's or ASTRA's input image was stored (read from 0 it comes out turned a "
                f"quarter; a radon file also shifted, the disk's rim lost)")

    @staticmethod
    def _fields_said(keys, counts, info: dict, fields: Fields) -> tuple[str, str]:
        """(where the counts were read from, how the flats and darks were used), for the console line, where
        problem.flat, problem.dark or problem.flat_positions is typed."""
        layout = ("Data Exchange" if keys.layout == "data_exchange" else f"'{keys.data}', '{keys.flat}'"
                  if keys.layout == "keys" else f"projections: {info['data_read']}")
        flat = f"{counts.flats} flat{'s' if counts.flats != 1 else ''}"
        if fields.flat:
            flat += f" (problem.flat: {'; '.join(info['flat_read'])})"
        dark = (f"{counts.darks} dark{'s' if counts.darks != 1 else ''}" if counts.darks else "no dark field")
        if fields.dark is not None:
            dark += f" (problem.dark: {info['dark_read'][0]})"
        if counts.flat_groups is None:
            return layout, f"the mean of its {flat}; the mean of its {dark}"
        at = " and ".join(f"{int(p)} ({n} frame{'s' if n != 1 else ''})" for p, n in
                          zip(counts.flat_at, info["flat_frames_at"]))
        return layout, (f"its {flat} taken at projections {at} interpolated linearly over the projection index "
                        f"(problem.flat_positions; their level changes by {info['flat_level_change']:+.2%} from the "
                        f"first to the last); the mean of its {dark}")

    def _read_angles(self, views: int, shape: tuple = (), key: str | None = None, data_key: str | None = None) -> None:
        """The views' angles an .npz/.h5 sinogram carries under problem.angles_key (degrees, one per view), or
        under `key` (a Data Exchange file's exchange/theta; a counts file's projections are `data_key`): checked
        against the sinogram's views and kept for the geometry (self.file_angles, radians)."""
        cfg = self.cfg
        if cfg.angles_key is None:  # the user's word that the file holds no angles: angle_range's even spread
            return
        key = str(cfg.angles_key) if key is None else key
        path = resolve_data_path(str(cfg.sinogram))
        if (Path(str(cfg.angles_key)).suffix.lower() in FILE_SUFFIXES
                or resolve_data_path(str(cfg.angles_key)).is_file()):
            # angles in a file beside the sinogram, `problem.angles_key=angles.npy`, ran with the views spread
            # evenly and no word of the file (newuser11)
            raise UserError(f"problem.angles_key={cfg.angles_key} names a file, but it is the name of the angles' "
                            f"array inside the sinogram's .npz/.h5 file: regrun reads no angles from a file beside "
                            f"{path.name}; save both in one, numpy.savez('scan.npz', sinogram=S, angles=A) (A in "
                            f"degrees, one per view), and give problem.sinogram=scan.npz")
        angles = read_optional_array(path, key, "problem.angles_key")
        where = f"problem.sinogram={cfg.sinogram}"
        if angles is None:
            # angles under another name were ignored without a word: 10.9 dB against 19.2 with them (newuser5)
            per_view = [name for name, shape in array_shapes(path)
                        if tuple(shape) in ((views,), (1, views), (views, 1))
                        and name.strip("/") != str(cfg.sinogram_key).strip("/")]
            if per_view:
                raise UserError(f"{where} holds no '{key}' array but '{per_view[0]}' holds {views} values, "
                                f"one per view: if they are the views' angles in degrees give "
                                f"problem.angles_key={per_view[0]}; if not, problem.angles_key=null spreads the views "
                                f"evenly over problem.angle_range")
            return
        if angles.ndim == 2 and 1 in angles.shape:  # a vector MATLAB saved as a row, (1, n): "60 angles (shape
            angles = angles.reshape(-1)           # (1, 60)) but ... 60 views" refused it (newuser15)
        if angles.ndim != 1 or len(angles) != views:
            # a (n_u, views) array, as MATLAB's radon and fanbeam write it, was told the counts alone: the way out
            # is a transpose (newuser24: a .mat saved as the hint then said, 30 angles against 95 "views")
            flipped = (f"; its second axis holds {shape[1]}: if the array is (n_u, views), as MATLAB's radon and "
                       f"fanbeam and scikit-image's radon write it, save sinogram.T"
                       if len(shape) == 2 and angles.size == shape[1] != views else "")
            raise UserError(f"{where}: its '{key}' holds {angles.size} angles (shape {angles.shape}) "
                            f"but its '{data_key or cfg.sinogram_key}' {views} views: one angle per view, in degrees{flipped}")
        span = float(angles.max() - angles.min())
        if views > 1 and span == 0:
            # all one angle was "span 0, which reads as radians" (newuser20): a filler array, not a unit
            raise UserError(f"{where}: its {views} '{key}' are all {float(angles[0]):g}: one angle per "
                            "view, each view's own, in degrees (or problem.angles_key=null to spread the views evenly "
                            "over problem.angle_range)")
        if views > 8 and span <= 2 * math.pi + 1e-9:
            # 9 or more views within 6.3 degrees is no CT scan; radians are the likely unit
            raise UserError(f"{where}: its {views} angles span {span:.4g}, which reads as radians: regrun takes "
                            f"degrees (save numpy.degrees(angles))")
        self.file_angles = torch.as_tensor(np.radians(angles), dtype=torch.float64)
        self.turns_warning = repeated_angles_warning(angles, Path(str(cfg.sinogram)).name, key)

    def _axis_geometry(self, sino: torch.Tensor, total: int) -> Geometry:
        """rotation_centre=auto: the scan with the rotation axis where the data put it on the detector
        (regrun.tomography.axis, parallel beams). An estimate within AXIS_SNAP_BINS of a convention's is taken as
        that convention, grid placement included (an even detector's bin n_u // 2 is scikit-image's radon: its
        grid's axis is pixel n // 2, as for an odd detector of the ceil(sqrt(2) n) bins its radon writes);
        otherwise the grid's centre stays on the axis (which grid pixel the axis passes through is not in the
        data). Fan and cone beams take geometric, said in one plain line: auto is the default for every file, and
        a warning on each fan-beam run was about a choice the user never made (newuser8)."""
        detector = list(sino.shape[1:])
        if self.kind != "parallel":
            self.axis = {"method": "none", "convention": "geometric"}
            self.ctx.reporter.line(f"regrun: problem.rotation_centre=auto: this {self.kind} beam's axis is taken at "
                                   "the detector's centre (geometric; the estimate from the data is for parallel "
                                   "beams; problem.rotation_centre=index names the other convention)")
            return self._geometry(total, detector, "geometric")
        angles = self._geometry(total, detector, "geometric").angles
        try:
            est = estimate_axis(sino, angles, f"problem.sinogram={self.cfg.sinogram}")
        except UserError as exc:  # the file's negative values, where they say what the file holds instead
            # a truncated scan's varying totals sent the user to a typed centre, which ran to 1.8 dB unwarned
            cut = f"; {self.truncation_warning}" if self.truncation_warning else ""
            raise UserError(f"{exc}{negative_values(sino.numpy())}{cut}") from None
        n, n_u = self.shape[0], detector[0]
        # a convention is taken when the estimate cannot tell it from the true axis: within AXIS_SNAP_BINS or
        # AXIS_SNAP_ERRORS standard errors. Where both conventions are (0.5 bins apart, the estimate's error
        # larger: a 120-degree scan at 1e3 photons) the data cannot choose: geometric, regrun's and ASTRA's, said
        tolerance = max(AXIS_SNAP_BINS, AXIS_SNAP_ERRORS * est.standard_error)
        near = conventions_within(est.offset_bins, n_u, tolerance)
        snapped = near[0] if near else None
        if len(near) == 2:
            self.axis_warning = (
                f"problem.rotation_centre=auto: the rotation axis estimated at {est.offset_bins:+.2f} ± "
                f"{est.standard_error:.2f} bins from the detector's centre (a limited angular range or few counts "
                f"leave it that uncertain) cannot tell the detector's centre (geometric) from bin {n_u // 2} "
                "(index, scikit-image's radon): using geometric; give problem.rotation_centre=index if your "
                "scan's axis is at that bin")
        if snapped == "geometric" and n % 2 == 0 and n_u % 2 == 1 and n_u == math.ceil(math.sqrt(2) * n):
            # an odd detector's centre is both conventions' axis, so the data leave the grid's placement open; this
            # is the size scikit-image's radon writes for an n x n image (circle=False), whose axis is pixel n // 2
            snapped = "index"
        self.axis = {"method": est.method, "offset_bins": est.offset_bins, "fit_rms_bins": est.fit_rms_bins,
                     "mass_spread": est.mass_spread, "standard_error_bins": est.standard_error,
                     "convention": snapped or "estimated"}
        if snapped is not None:
            return self._geometry(total, detector, snapped)
        return self._geometry(total, detector, "geometric", est.offset_bins)

    def _check_sinogram(self, sino: np.ndarray, name: str) -> None:
        """Mistakes a sinogram from another program is prone to, caught before they run to a meaningless
        PSNR: the (n_u, views) layout scikit-image's radon writes, a detector narrower than the grid, the sign
        flipped, and raw detector counts instead of line integrals. Line integrals of an object inside the
        field of view are >= 0, near 0 where the rays miss it (the detector's ends) and largest through it."""
        what = f"problem.sinogram={name}"
        wrapped = wrapped_negatives(sino)
        if wrapped:  # before the raw-counts check, whose advice (-log) would be wrong for these (newuser13)
            raise UserError(f"{what}: {wrapped}")
        n_u = sino.shape[1]
        sod = self.cfg.source_origin * self.shape[0] * self.voxel if self.kind != "parallel" else 0.0
        odd = self.cfg.origin_detector * self.shape[0] * self.voxel if self.kind != "parallel" else 0.0
        spacing = covering_detector(self.shape, self.voxel, sod, odd)[1]
        if self.cfg.detector_spacing is not None:
            spacing = float(self.cfg.detector_spacing)
        grid_line = ""
        if (self.kind == "parallel" and sino.ndim == 2 and self._size_default and self.cfg.detector is None
                and self.cfg.detector_spacing is None):
            grid_line = self._grid_from_detector(sino, Path(name).name, what)
        needed = self.shape[0] * covering_detector(self.shape, self.voxel, sod, odd)[1]
        if self.kind == "parallel" and sino.ndim == 2:
            # the total attenuation is the same from every angle: constant along views, not along u
            def spread(sums):
                return float(np.std(sums) / max(abs(float(np.mean(sums))), 1e-300))
            if spread(sino.sum(axis=1)) > 0.2 and spread(sino.sum(axis=0)) < 0.05:
                raise UserError(f"{what}: shape {sino.shape} looks transposed (the sum over each row varies, over "
                                "each column it is constant): regrun reads (views, n_u); save sinogram.T "
                                "(scikit-image's radon writes (n_u, views))")
        if n_u * spacing < needed * (1 - 1e-9):
            hint = ("; if the array is (n_u, views) as scikit-image's radon writes it, save sinogram.T"
                    if sino.shape[0] * spacing >= needed else "")
            fit = int(n_u * spacing / (needed / self.shape[0]) + 1e-9)
            if self.kind == "parallel" and not hint and fit >= 8:
                # the usual cause: the default size (128) with a smaller scan; say the size that fits it
                hint = f"; problem.size={fit} reconstructs on the grid this detector covers"
            if self.cfg.detector_spacing is not None and self.voxel == 1.0 and spacing < 1.0:
                # ASTRA's det_width in mm typed with the voxel left at 1 was told problem.size=80 for a 256-voxel
                # scan of 0.25 mm voxels (newuser27): the spacing counts in problem.voxel's unit
                hint += (f"; if problem.detector_spacing={spacing:g} is in a physical unit (ASTRA's det_width in "
                         f"its volume geometry's unit, e.g. mm), give the voxel's edge in that unit too, "
                         f"problem.voxel=...")
            raise UserError(f"{what}: {n_u} detector pixels of width {spacing:g} cover {n_u * spacing:g}, less "
                            f"than the {self.shape[0]}-voxel grid's width {needed:g} (problem.size, problem.voxel, "
                            f"problem.detector_spacing){hint}")
        if float(sino.mean()) < 0:
            raise UserError(f"{what}: mean value {float(sino.mean()):.3g} < 0; line integrals of attenuation are "
                            ">= 0 (was the sign flipped? save -sinogram)")
        edge = np.concatenate([sino[:, 0].ravel(), sino[:, -1].ravel()])
        ends = float(edge.mean())
        centre = float(sino[:, n_u // 2].mean())
        if ends > 0.5 * float(sino.max()) and ends > centre:
            low = int((sino <= 0).sum())  # dark-subtracted counts: -log of these fails (newuser7)
            clip = f", its {low} counts <= 0 (down to {float(sino.min()):.4g}) {CLIP_COUNTS}" if low else ""
            transmission = transmission_hint(sino, ends, name)
            if transmission:
                raise UserError(f"{what}: highest at the detector's ends ({ends:.4g}) where rays miss the object, "
                                f"lower through it ({centre:.4g}): {transmission}")
            raise UserError(f"{what}: highest at the detector's ends ({ends:.4g}) where rays miss the object, "
                            f"lower through it ({centre:.4g}): these look like raw detector counts; give line "
                            f"integrals -log(counts / counts_without_object){clip}: numpy.save('scan.npy', "
                            f"-numpy.log(counts / flat)), flat a flat-field scan's mean over its frames (a dark "
                            f"scan subtracted from both first), or without one the unobstructed ends' level, "
                            f"{ends:.4g} here")
        self.baseline_warning = baseline_offset(edge, float(sino.max()), what)
        if self.kind == "parallel" and sino.ndim == 2:
            shadow = covering_detector(self.shape, self.voxel)[0][0] * self.voxel / spacing  # the corners' rays too
            width = n_u * spacing / self.voxel
            self.size_warning = beyond_grid(sino, shadow, self.shape[0], width, what)
        self.dead_warning = dead_readings(sino, what)
        self.truncation_warning = truncated_views(sino, what) if self.kind != "cone" else ""
        if grid_line:
            self.ctx.reporter.line(grid_line)

    def _grid_from_detector(self, sino: np.ndarray, name: str, what: str) -> str:
        """No size typed, no truth file, a parallel file on unit bins: the grid its detector implies (file_grid),
        whenever read, a small object in a wide field too (as a fan's). Where the object lies well inside the
        default grid, 128 had run it below its own grid (held-out 9430-9440: 0.34-4.36 dB on 9 of 9 moved): the 2x
        unknown tv_grid=auto puts on grids up to 128, and on radon(circle=False) files a grid half a pixel off the
        object's, whose axis convention is read only on the file's own grid (docs/ct.md "(ctsmallobj)").
        Sets the grid and /data/grid_from; returns the console line naming the grid and how to set another."""
        n, n_u = self.shape[0], sino.shape[1]
        reach = covering_detector(self.shape, 1.0)[0][0]
        first, last = object_bounds(sino)
        widths = np.maximum(last - first + 1, 0)
        angles = self._view_angles(sino.shape[0]).numpy()
        # the object reaches past the grid's shadow, or past the disk the solvers reconstruct (FISTA-TV keeps
        # problem.mask_radius of the half width): an object 126 px across on 128^2 ran 11 dB below its own grid
        crops = (bool(beyond_grid(sino, reach, n, n_u, what))
                 or not disk_holds(first, last, n_u, self.mask_radius * n * self.voxel / 2))
        disk = (first, last, self.mask_radius) if self.size_reading == "disk" else None
        grid, convention = file_grid(n_u, widths, angles, disk)
        matlab = matlab_radon_grid(n_u)
        # MATLAB's radon writes 2 ceil(N / sqrt 2) + 3 bins: a 64^2 image's 95 read as radon(circle=False)'s 67
        # (newuser24); not a reading of its own (untested on MATLAB's own files), a word where it differs
        also = (f"; {n_u} bins is also MATLAB's radon of a {matlab}x{matlab} image: type problem.size={matlab} for a "
                f"file from MATLAB" if matlab and matlab != grid else "")
        if grid == n:
            return (f"regrun: problem.size={n}: the default, the grid {name}'s {n_u}-pixel detector implies "
                    f"({convention}){also}")
        narrower = grid < n and n_u < reach
        why = (f"since the object reaches past the default {n}-voxel grid" if crops and grid > n else
               f"since it is narrower than the covering detector of the default {n}-voxel grid" if narrower else
               f"the file's own, though the object also lies inside the default {n}-voxel grid")
        self.shape = (grid, grid)
        self.grid_from = f"the file's {n_u}-pixel detector ({convention})"
        return (f"regrun: problem.size={grid}: the grid {name}'s {n_u}-pixel detector implies ({convention}), "
                f"{why} (problem.size=N sets it){also}")

    def _grid_from_fan_detector(self, sino: np.ndarray, name: str) -> str:
        """No size typed, no truth file, a fan (or cone) file: the grid its detector implies at the typed distances
        (fan_readings), of those whose square's shadow holds the object in every view (its measured width, in the
        fan's magnification), the roundest; a cone's slices from its rows by regrun's covering detector. Taken
        whenever read, a small object too: the distances count in grid widths, so on another grid the run's rays
        are not the file's (a 200^2 fan file ran on 128: 6.49 dB against 27.44, docs/ct.md "(ctfangrid)"). Sets
        the grid and /data/grid_from; returns the console line."""
        cfg, cone = self.cfg, self.kind == "cone"
        s = check_float("problem.source_origin", cfg.source_origin, 0.0, True)
        o = check_float("problem.origin_detector", cfg.origin_detector, 0.0)
        spacing = (None if cfg.detector_spacing is None else
                   check_float("problem.detector_spacing", cfg.detector_spacing, 0.0, True))
        n, n_u = self.shape[0], sino.shape[1]
        distances = (f"problem.source_origin={s:g} and problem.origin_detector={o:g} grid widths"
                     + ("" if spacing is None else f", problem.detector_spacing={spacing:g}"))
        readings = [] if cone and sino.ndim != 3 else fan_readings(n_u, s, o, spacing, self.voxel)
        if cone and readings:  # regrun's covering detector only: its rows give the slices
            readings = [r for r in readings if r[1] == "regrun's covering detector"]
        if readings:
            first, last = object_bounds(sino.max(axis=2) if cone else sino)
            widths = np.maximum(last - first + 1, 0)
            angles = self._view_angles(sino.shape[0]).numpy()
            held = [bool(np.all(widths <= fan_square_widths(k, angles, s, o, spacing, self.voxel)
                                + GRID_MARGIN_BINS)) for k, _ in readings]
            readings = [r for r, h in zip(readings, held) if h]
        slices = None
        if readings:
            # regrun's covering count is exact; the object's disk and N bins are read within bins (one factor of 2
            # behind, as file_grid's as-wide reading)
            exact = sum(r[1] == "regrun's covering detector" for r in readings)
            grid, convention = roundest(readings, [True] * len(readings), exact)
            if cone:
                slices = (self.shape[2] if cfg.slices is not None else
                          cone_slices(grid, sino.shape[2], s, o, spacing, self.voxel))
                if slices is None:
                    readings = []
        if not readings:
            return (f"regrun: problem.size={n} (the default): {name}'s {n_u}-pixel detector reads as no grid at "
                    f"{distances} by regrun's covering detector{'' if cone else ', one covering the object or one of N bins'}; "
                    f"problem.size=N sets the grid {name} was made on (a {self.kind} beam's distances count in its "
                    f"widths)")
        self.shape = (grid, grid, slices) if cone else (grid, grid)
        self.grid_from = f"the file's {n_u}-pixel detector ({convention}, at {distances})"
        grid_text = f"{grid}{f' problem.slices={slices}' if cone else ''}"
        if self.shape[0] == n and (not cone or slices == n):
            return (f"regrun: problem.size={grid_text}: the default, the grid {name}'s {n_u}-pixel detector implies "
                    f"({convention}, at {distances})")
        return (f"regrun: problem.size={grid_text}: the grid {name}'s {n_u}-pixel detector implies ({convention}, at "
                f"{distances}): a {self.kind} beam's distances count in grid widths, so the default {n} would not "
                f"be the file's scan (problem.size=N sets it)")

    def _support(self, sino: torch.Tensor) -> str:
        """problem.support as run: typed, or (auto) the square where a user's parallel file holds a picture filling
        it (fills_square), else the disk of problem.mask_radius, as generated data and every other file."""
        typed = str(self.cfg.support)
        if typed != "auto":
            return typed
        if self.cfg.data != "file" or self.kind != "parallel" or sino.dim() != 2:
            return "disk"
        spacing = self.voxel if self.cfg.detector_spacing is None else float(self.cfg.detector_spacing)
        if not fills_square(sino.cpu().numpy(), self.shape[0], self.voxel, spacing, self.mask_radius):
            return "disk"
        self.ctx.reporter.line(f"regrun: problem.support=square: the file's bins beyond the disk of "
                               f"{self.mask_radius:g} of the half width read the object (a picture filling the "
                               f"square): the solvers and the metrics keep the whole {self.shape[0]}-voxel grid "
                               f"(problem.support=disk keeps the disk)")
        return "square"

    def _support_mask(self, device) -> torch.Tensor:
        if self.support == "square":
            return torch.ones(self.shape, dtype=torch.bool, device=device)
        return self._disk_mask(device)

    def support_region(self) -> str:
        """Where the reconstruction is solved and psnr, ssim and rel_error are computed (/data/support)."""
        return "square" if self.support == "square" else f"disk {self.mask_radius:g}"

    def _disk_mask(self, device) -> torch.Tensor:
        pts = Volume(self.shape, self.voxel).points(torch.float64, device)
        radius = self.mask_radius * self.shape[0] * self.voxel / 2
        return pts[..., 0] ** 2 + pts[..., 1] ** 2 < radius**2

    # --- for solvers ------------------------------------------------------------------------------------
    def fbp(self, sinogram: torch.Tensor | None = None, window: str = "ramp") -> torch.Tensor:
        return fbp(self.geometry, self.sinogram if sinogram is None else sinogram, window)

    def residual_norm(self, x: torch.Tensor) -> float:
        """||A x - b|| / ||b||."""
        return float((self.A.project(x) - self.sinogram).norm() / self.sinogram.norm())

    def warnings(self, metrics):
        return [w for w in (self.distance_warning, self.geometry_warning, self.full_turn_warning,
                            self.repeated_end_warning, self.turns_warning,
                            self.start_warning,
                            self.fan_pairing_warning, self.axis_warning, self.truth_warning, self.baseline_warning, self.dead_warning, self.size_warning,
                            self.truncation_warning, self.lam_range_warning, self.counts_warning, self.gap_warning) if w]

    def _truth_orientation(self, x: torch.Tensor) -> str:
        """A user's truth file against the reconstruction turned and mirrored (2-D): a sinogram whose angles start
        elsewhere than regrun's (scikit-image's radon starts 90 degrees off) reconstructs the object turned, and
        every metric against the truth then reads a failure. Names the turn and the angle_start that undoes it
        when a turned or mirrored truth fits at most half as badly; else ''."""
        if self.cfg.data != "file" or self.cfg.truth_file is None or len(self.shape) != 2 or self.truth is None:
            return ""
        m = self.mask.cpu().numpy()
        est = x.detach().cpu().numpy() * m
        tru = self.truth.cpu().numpy()
        variants = {(k, mirrored): np.rot90(tru.T if mirrored else tru, k) for k in range(4) for mirrored in (0, 1)}
        errors = {key: rel_error(est, t * m, m) for key, t in variants.items()}
        (k, mirrored), best = min(errors.items(), key=lambda item: item[1])
        as_given = errors[(0, 0)]
        if (k, mirrored) == (0, 0) or best > 0.5 * as_given:
            return ""
        turn = ["", "turned a quarter counterclockwise", "turned by half a turn", "turned a quarter clockwise"][k]
        how = (f"{turn}{' and ' if turn else ''}mirrored (transposed)" if mirrored else turn)
        start = float(self.cfg.angle_start) + 90.0 * ((4 - k) % 4)
        start = (start + 180.0) % 360.0 - 180.0
        fix = ("the sinogram's angles (or its detector) run the other way round than regrun's, which turn "
               "counterclockwise from x1" if mirrored else
               f"the sinogram's first view is not at regrun's angle 0: problem.angle_start={start:g} turns it back")
        return (f"problem.truth_file fits the reconstruction {how} (as np.rot90 turns an array shown row 0 up; rel_error {best:.3g}, as given {as_given:.3g}): "
                f"{fix} (docs/ct.md, 'Angles')")

    def _truth_scale(self, x: torch.Tensor) -> str:
        """A user's truth file against the reconstruction scaled: a sinogram saved as a 16-bit or 8-bit image holds
        its line integrals times whatever factor filled the image's range, and every metric against a truth in
        the object's units then read as a failure without a word (newuser9: PSNR -57 dB, rel_error 1218 from a
        16-bit PNG of a sinogram whose .npy gave 24 dB). Names the least-squares scale where it lies outside
        [1/TRUTH_SCALE, TRUTH_SCALE] and the scaled truth fits at most half as badly (metrics.truth_scale); else
        ''."""
        self.truth_scale_off = None
        if self.cfg.data != "file" or self.cfg.truth_file is None or self.truth is None:
            return ""
        m = self.mask.cpu().numpy()
        est, tru = x.detach().cpu().numpy() * m, self.truth.cpu().numpy() * m
        found = truth_scale(est, tru, m)
        voxel = float(self.cfg.voxel)
        if found is None and voxel != 1.0:
            found = self._voxel_scale(est, tru, m, voxel)
            if found:
                self.truth_scale_off = found[0]
                scale, as_given, scaled = found
                return (f"the reconstruction is {scale:.4g} times problem.truth_file (rel_error {scaled:.3g} against "
                        f"the truth so scaled, {as_given:.3g} as given), about 1/problem.voxel: problem.voxel={voxel:g} "
                        f"reads the line integrals as per unit of length and gives the reconstruction per that unit "
                        f"(1/{voxel:g} times per pixel); a truth per pixel compares with problem.voxel=1, or give "
                        f"the truth divided by {voxel:g}")
        if found is None:
            return ""
        scale, as_given, scaled = found
        self.truth_scale_off = scale  # the figure then draws the reconstruction on its own range (display_range)
        return (f"the reconstruction is {scale:.4g} times problem.truth_file (rel_error {scaled:.3g} against the truth so "
                f"scaled, {as_given:.3g} as given): the sinogram is not in the truth's units (line integrals in units "
                f"of problem.voxel; an image file holds them times the factor it was saved with: divide by it), "
                f"so psnr, ssim and rel_error compare two scales")

    @staticmethod
    def _voxel_scale(est: np.ndarray, tru: np.ndarray, m: np.ndarray, voxel: float):
        """(scale, rel_error as given, so scaled) where a typed problem.voxel explains the truth file's scale (within
        VOXEL_SCALE_TOLERANCE of 1/voxel, the scaled truth fitting at most half as badly), inside truth_scale's
        [1/2, 2]: voxel 0.5 (a pixel size in mm) gave PSNR 7.3 dB against 24.1 at 1 without a word (newuser24)."""
        power = float((tru * tru).sum())
        if power <= 0:
            return None
        scale = float((est * tru).sum()) / power
        as_given, scaled = rel_error(est, tru, m), rel_error(est, scale * tru, m)
        if abs(scale * voxel - 1.0) > VOXEL_SCALE_TOLERANCE or scaled > 0.5 * as_given:
            return None
        return scale, as_given, scaled

    # --- judging a solution -------------------------------------------------------------------------------
    def inputs(self):
        out = {"sinogram": self.sinogram.cpu().numpy(), "mask": self.mask.cpu().numpy(),
               "support": self.support_region()}
        if self.geometry.angles:  # the views' angles used, whether a file's own or the even spread (newuser10)
            out["angles_deg"] = np.degrees(np.asarray(self.geometry.angles, dtype=np.float64))
        if self.axis is not None:
            out["rotation_axis"] = self.axis
        if self.opposite is not None:
            out["opposite_views"] = self.opposite
        if self.full_turn is not None:
            out["full_turn"] = self.full_turn
        if self.repeated_end is not None:
            out["repeated_end"] = self.repeated_end
        if self.repeated_end_mirrored is not None:
            out["repeated_end_mirrored"] = self.repeated_end_mirrored
        if self.fan_pairing is not None:
            out["fan_pairing"] = self.fan_pairing
        if self.cfg.data == "file":
            out["grid_from"] = self.grid_from
        if self.matlab is not None:
            out["matlab_radon"] = self.matlab
        if self.dead_bins is not None:
            out["dead_bins"] = self.dead_bins
        if self.counts is not None:
            out["counts"] = self.counts
        if self.truth is not None:
            out["truth"] = self.truth.cpu().numpy()
        return out

    def quality(self, x: torch.Tensor, suffix: str = "") -> dict[str, float]:
        """PSNR, SSIM and relative error against the truth inside the mask (outside it both count as 0)."""
        if self.truth is None:
            return {}
        m = self.mask.cpu().numpy()
        est = x.detach().cpu().numpy() * m
        tru = self.truth.cpu().numpy()
        return {f"psnr{suffix}": psnr(est[m], tru[m]), f"ssim{suffix}": ssim(est, tru),
                f"rel_error{suffix}": rel_error(est, tru, m)}

    def evaluate(self, result: SolveResult):
        x = torch.as_tensor(result.solution["x"], dtype=self.ctx.dtype, device=self.ctx.device)
        if tuple(x.shape) != self.shape:
            raise ValueError(f"solution of shape {tuple(x.shape)}, expected {self.shape}")
        metrics = {**self.quality(x), "residual": self.residual_norm(x)}
        if self.support == "square" and self.truth is not None:  # the disk's PSNR beside, as a disk run scores it
            disk = self._disk_mask(self.ctx.device).cpu().numpy()
            metrics["psnr_disk"] = psnr(x.detach().cpu().numpy()[disk], self.truth.cpu().numpy()[disk])
        self.truth_warning = self._truth_orientation(x) or self._truth_scale(x)
        if self.truth_scale_off is not None:  # the console marks the metrics that compare the two scales
            metrics["truth_scale"] = self.truth_scale_off
        if result.solution.get("label") == "fbp":
            reference = x
        else:
            reference = self.fbp() * self.mask
            metrics.update(self.quality(reference, "_fbp"))
        arrays = {"reconstruction": x.detach().cpu().numpy(), "fbp": reference.cpu().numpy()}
        if self.truth is not None:
            arrays["error"] = ((x.detach() - self.truth) * self.mask).cpu().numpy()
        self._evaluated = arrays
        return metrics, arrays

    def answer(self, arrays):
        """Your sinogram's reconstruction as reconstruction.npy, in the layout problem.truth_file is read in (the
        array as regrun holds it: regrun.imaging.answer.ANSWERS); CT wrote it only inside results.h5."""
        return np.asarray(arrays["reconstruction"]) if self.cfg.data == "file" else None

    def display_range(self, rec: np.ndarray) -> tuple[float, float]:
        """The grey range of the reconstruction's panels: the truth's, else (or where the truth is on another scale,
        truth_scale_off) 0 to the reconstruction's largest value inside the mask. It was 0-1 without a truth, which
        drew a user's scan in other units (a sinogram 0.02 times the pixel-unit one) black, and the truth's range
        with one 255 times the reconstruction (an 8-bit PNG truth), black again (newuser17)."""
        if self.truth is not None and self.truth_scale_off is None:
            return float(self.truth.min()), float(self.truth.max())
        m = self.mask.cpu().numpy()
        inside = rec[m[..., rec.shape[-1] // 2] if m.ndim > rec.ndim else m]
        top = float(inside.max()) if inside.size else 0.0
        return 0.0, (top if top > 0 and math.isfinite(top) else 1.0)

    def error_title(self) -> str:
        """The error panel's title: where the error is scored (support_region), in words. "inside the mask" titled
        a file solved and scored on the whole square too (problem.support=auto on a picture filling it: newuser21)."""
        if self.support == "square":
            return "error (the whole square)"
        return f"error (inside the disk of {self.mask_radius:g} of the half width)"

    def figures(self, result, metrics, fig_dir: Path):
        arrays = getattr(self, "_evaluated", None) or self.evaluate(result)[1]
        mid = (lambda a: a[..., a.shape[-1] // 2]) if self.kind == "cone" else (lambda a: a)  # noqa: E731
        rec, ref = mid(np.asarray(arrays["reconstruction"])), mid(np.asarray(arrays["fbp"]))
        shown = self.truth if self.truth is not None else None
        lo, hi = self.display_range(rec)
        tlo, thi = (lo, hi) if shown is None else (float(shown.min()), float(shown.max()))
        panels = []
        if self.phantom is not None:
            panels.append(dict(image=mid(self.phantom.cpu().numpy()), title="phantom", vmin=tlo, vmax=thi))
        if shown is not None and (self.phantom is None or self.cfg.truth != "phantom"):
            source = "truth_file" if self.cfg.data == "file" and self.cfg.truth_file is not None else self.cfg.truth
            panels.append(dict(image=mid(shown.cpu().numpy()), title=f"ground truth ({source})",
                               vmin=tlo, vmax=thi))
        label = result.solution.get("label", "reconstruction")
        if label != "fbp":
            fbp_title = "FBP" if "psnr_fbp" not in metrics else f"FBP, PSNR {metrics['psnr_fbp']:.2f} dB"
            panels.append(dict(image=ref, title=fbp_title.replace("FBP", "FDK") if self.kind == "cone" else
                               fbp_title, vmin=lo, vmax=hi))
        title = label
        if "psnr" in metrics:
            title += f", PSNR {metrics['psnr']:.2f} dB"
        panels.append(dict(image=rec, title=title, vmin=lo, vmax=hi))
        if "error" in arrays:
            err = mid(np.asarray(arrays["error"]))
            bound = float(np.abs(err).max()) or 1.0
            panels.append(dict(image=err, title=self.error_title(), cmap="RdBu_r", vmin=-bound, vmax=bound,
                               colorbar=True))
        # your sinogram's 2-D images are drawn as reconstruction.npy and problem.truth_file are stored, row 0 at the
        # top: in regrun's layout (x1 right, x2 up) a user's own truth file was drawn a quarter turn from how it was
        # saved, and so was an answer read the right way round (newuser17, newuser18); show_image draws
        # numpy.rot90(image), so each panel's array is turned back by a quarter. Phantoms, defined in x1 and x2,
        # and a cone's slices keep regrun's layout.
        stored = self.cfg.data == "file" and self.kind != "cone"
        if stored:
            for panel in panels:
                panel["image"] = np.rot90(panel["image"], -1)
        sino = self.sinogram.cpu().numpy()
        sino = sino[:, :, sino.shape[2] // 2] if sino.ndim == 3 else sino
        # show_image draws image.T from the bottom: the (views, n_u) array itself puts u up and the views to the
        # right, as the title says (its transpose drew them the other way round: newuser13)
        panels.append(dict(image=sino, title="sinogram (u up, views right)" + (", central row" if
                                                                               self.kind == "cone" else "")))
        suffix = (", central slice" if self.kind == "cone" else
                  ", drawn as reconstruction.npy is stored (row 0 at the top)" if stored else "")
        paths = [image_grid(panels, fig_dir / "ct_fewview.png", ncols=3, suptitle=self.label + suffix)]
        answer = self.answer(arrays)
        if answer is not None:
            paths.append(self.answer_png(mid(np.asarray(answer)), (lo, hi), fig_dir))
        return paths

    @staticmethod
    def answer_png(image: np.ndarray, span: tuple[float, float], fig_dir: Path) -> Path:
        """figures/reconstruction.png: the answer as reconstruction.npy stores it (row 0 at the top; a cone's
        central slice), 16 bits from 0 to the panels' top (display_range), to look at beside the float
        reconstruction.tif; CT wrote no picture of the reconstruction alone (newuser22, newuser24)."""
        top = span[1] if span[1] > 0 else 1.0
        path = fig_dir / "reconstruction.png"
        write_png16(path, np.clip(np.rint(np.nan_to_num(image) / top * 65535), 0, 65535))
        return path


VOXEL_SCALE_TOLERANCE = 0.15  # a truth file this near 1/problem.voxel times the answer is named as the voxel's
# scale: FBP and FISTA-TV keep an object's mean within a few percent (newuser24's 64^2 file: 2.03 at voxel 0.5)
RADIAN_START_TOLERANCE = 1e-3  # an angle_start this near a multiple of pi/2 (1.5708, 3.1416, -1.571) reads as
# radians: no scan starts 1.57 degrees off a convention's 0 by design, and 1.571 is pi/2 to 4e-4
QUARTER_NAMES = {1: "pi/2", 2: "pi", 3: "3 pi/2", 4: "2 pi", -1: "-pi/2", -2: "-pi"}


def repeated_angles_warning(angles: np.ndarray, name: str, key: str) -> str:
    """Views of a file's angle list at one angle (within 1e-6 degrees, a turn apart counted as one): ran without a
    word (newuser21). A view measured twice is data, so it is a warning; an angle list off by one is the likelier
    cause. '' where every view has its own angle."""
    where = np.round(np.mod(np.asarray(angles, dtype=np.float64), 360.0), 6)
    where[where == 360.0] = 0.0
    _, first, counts = np.unique(where, return_index=True, return_counts=True)
    if counts.max() < 2:
        return ""
    at = where[first[np.argmax(counts)]]
    views = np.flatnonzero(where == at)
    shown = (" and ".join(map(str, views)) if len(views) == 2 else ", ".join(map(str, views[:4]))
             + (", ..." if len(views) > 4 else ""))
    turn = ", a turn apart counted as one" if len(set(np.asarray(angles)[views].round(6))) > 1 else ""
    extra = int((counts - 1).sum()) - (len(views) - 1)
    more = f"; {extra} more view(s) share an angle with another" if extra else ""
    return (f"problem.sinogram={name}: views {shown} are {'both' if len(views) == 2 else 'all'} at {at:g} degrees "
            f"(its '{key}'{turn}{more}): a view measured twice is used as given, but an "
            f"angle list shifted or repeated by a slip reads the views at the wrong angles")

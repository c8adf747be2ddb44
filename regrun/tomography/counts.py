"""A scan as a detector records it: the counts of each projection, flat (white) fields taken without the object and
dark fields taken with the beam off, read into the line integrals regrun reconstructs (docs/ct.md, "Raw counts,
flat and dark fields, a slice of a stack (ctcounts)").

The normalisation is the field's (TomoPy's tomopy.prep.normalize.normalize, then minus_log): the flats and the
darks averaged over their frames, then -log((data - dark) / (flat - dark)). Two files hold such a scan:

- APS's Data Exchange HDF5 (TomoPy, dxchange, tomocupy): /exchange/data (projections, rows, columns),
  /exchange/data_white and /exchange/data_dark (frames, rows, columns), /exchange/theta (degrees, one per
  projection);
- an .npz or .h5 of regrun's names: the counts under `data`, the flats under problem.flat_key (`flat`), the darks
  under problem.dark_key (`dark`, optional), the angles under problem.angles_key (`angles`, degrees, optional);
  a file that holds problem.sinogram_key (`sinogram`) is line integrals, as before.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..imaging.io import array_shapes, read_array

# Data Exchange's names (dxchange's writer and readers, TomoPy's tutorials)
EXCHANGE = {"data": "exchange/data", "flat": "exchange/data_white", "dark": "exchange/data_dark",
            "angles": "exchange/theta"}
COUNTS_DATA_KEY = "data"  # an .npz/.h5 of counts: its projections' name


@dataclass
class CountsKeys:
    """Where a counts file keeps its arrays; `layout` is "data_exchange" or "keys" (regrun's names); `angles` the
    views' angles' name there, None where the file holds none (or problem.angles_key=null)."""
    layout: str
    data: str
    flat: str
    dark: str | None
    angles: str | None


def counts_keys(path: Path, sinogram_key: str, flat_key: str | None, dark_key: str | None,
                angles_key: str | None) -> CountsKeys | None:
    """The arrays of a counts file, or None for a file of line integrals (no flat field in it): the reading every
    other file had stays as it was, bit for bit."""
    if path.suffix.lower() not in (".npz", ".h5", ".hdf5") or not path.is_file():
        return None
    try:
        names = {name.strip("/") for name, _ in array_shapes(path)}
    except (OSError, ValueError):
        return None  # read_array names what is wrong with the file
    key = sinogram_key.strip("/")
    if EXCHANGE["data"] in names and EXCHANGE["flat"] in names and (key == EXCHANGE["data"] or key not in names):
        # without its flats a Data Exchange file is read as before (line integrals under problem.sinogram_key)
        return CountsKeys("data_exchange", EXCHANGE["data"], EXCHANGE["flat"],
                          EXCHANGE["dark"] if EXCHANGE["dark"] in names else None,
                          None if angles_key is None else EXCHANGE["angles"] if EXCHANGE["angles"] in names else None)
    # a file holding problem.sinogram_key is read as before, a flat beside it or not: line integrals saved with
    # the flat they came from stay line integrals
    if flat_key is None or flat_key.strip("/") not in names or key in names:
        return None
    if COUNTS_DATA_KEY not in names:
        raise UserError(f"problem.sinogram={path.name} holds a flat field '{flat_key}' but no '{sinogram_key}' "
                        f"and no counts under '{COUNTS_DATA_KEY}' (arrays: {', '.join(sorted(names))}): save the "
                        f"projections' counts as '{COUNTS_DATA_KEY}' beside '{flat_key}'")
    dark = dark_key if dark_key is not None and dark_key.strip("/") in names else None
    angles = angles_key if angles_key is not None and angles_key.strip("/") in names else None
    return CountsKeys("keys", COUNTS_DATA_KEY, flat_key, dark, angles)


def _frames_mean(field: np.ndarray, frame: tuple, name: str, where: str) -> tuple[np.ndarray, int]:
    """A flat's or dark's frames averaged: (frames, *frame) or one frame of the projections' shape."""
    if field.shape == frame:
        return field, 1
    if field.ndim == len(frame) + 1 and field.shape[1:] == frame and field.shape[0] >= 1:
        return field.mean(axis=0), field.shape[0]
    raise UserError(f"{where}: its {name} has shape {field.shape}, its projections {frame} each: give frames "
                    f"of one projection's shape, (frames, {', '.join(map(str, frame))}), or one such frame")


@dataclass
class Counts:
    """A counts scan read: the projections, the mean flat and dark (one projection's shape), their frame counts."""
    data: np.ndarray
    flat: np.ndarray
    dark: np.ndarray
    flats: int
    darks: int
    # the flat frames' variance over their mean counts above the dark: 1 for a photon-counting detector's Poisson
    # flats, the counts per photon (a gain) for an integrating one; a gain drift between frames adds to it
    flat_scatter: float | None
    keys: CountsKeys
    flat_top: float  # the flat frames' largest reading (a saturated detector's ceiling)


def read_counts(path: Path, keys: CountsKeys) -> Counts:
    """The arrays of a counts file, the fields averaged over their frames; a flat or dark of another shape than a
    projection's is a one-line UserError."""
    where = f"problem.sinogram={path.name}"
    data = read_array(path, keys.data, "problem.sinogram")
    if data.ndim not in (2, 3):
        raise UserError(f"{where}: its counts '{keys.data}' have shape {data.shape}: projections (views, columns) "
                        f"or a stack (views, rows, columns)")
    frame = data.shape[1:]
    flat_frames = read_array(path, keys.flat, "problem.flat_key")
    flat, flats = _frames_mean(flat_frames, frame, f"flat field '{keys.flat}'", where)
    if keys.dark is None:
        dark, darks = np.zeros(frame), 0
    else:
        dark, darks = _frames_mean(read_array(path, keys.dark, "problem.dark_key"), frame,
                                   f"dark field '{keys.dark}'", where)
    scatter = None
    if flats > 1:
        above = flat_frames - dark
        means = above.reshape(flats, -1).mean(axis=1)
        if (means > 0).all():
            # each frame scaled to the frames' mean level first: a beam's or gain's drift between frames (a few %)
            # read as 3.7 counts of variance per count on 1e4-count Poisson flats, 1.0 so
            level = float(means.mean())
            scaled = above * (level / means).reshape((flats,) + (1,) * len(frame))
            scatter = float(np.mean(scaled.var(axis=0, ddof=1)) / level)
    return Counts(data, flat, dark, flats, darks, scatter, keys, float(flat_frames.max()))


def take_slice(counts: Counts, row: int) -> None:
    """Row `row` of a stack (views, rows, columns): the counts and fields become that row's, (views, columns)."""
    counts.data, counts.flat, counts.dark = counts.data[:, row], counts.flat[row], counts.dark[row]


CEILING_BITS = (8, 10, 12, 14, 16)  # detectors' integer ranges: a reading at 2^bits - 1 is the ceiling


def saturated(counts: Counts, flat_frames_top: float) -> str:
    """The warning for a detector that saturated ('' if none): flats or projections at the ceiling of an integer
    range. A 16-bit detector's flats at 1e5 counts all read 65535, so every ray that crossed little of the object read
    a transmission of 1 (ctcounts' held-out 144^2 scan: FBP 22.46 dB, `auto` 22.30, where the unsaturated scans gave
    34-39)."""
    top = max(float(counts.data.max()), flat_frames_top)
    bits = [b for b in CEILING_BITS if top == 2**b - 1]
    if not bits:
        return ""
    share_flat = float((counts.flat >= top).mean())
    share_data = float((counts.data >= top).mean())
    if max(share_flat, share_data) < 1e-3:
        return ""
    return (f"the detector saturated: {share_flat:.1%} of the mean flat's pixels and {share_data:.1%} of the counts "
            f"read {top:.0f}, the ceiling of {bits[0]} bits; a saturated ray reads less attenuation than it had (a "
            f"saturated flat and projection read none): lower the beam or the exposure so that the flats stay under "
            f"it")


def normalise(counts: Counts) -> tuple[np.ndarray, dict, str]:
    """-log((data - dark) / (flat - dark)): (line integrals, what was done, the warning for counts at or below
    the dark). Readings at or below the dark are clipped to the smallest reading above it, so that a ray the
    object stopped reads the largest attenuation the scan measured rather than an infinite one."""
    incident = counts.flat - counts.dark
    dead = int((incident <= 0).sum())
    if dead:
        first = int(np.argwhere(incident <= 0)[0][-1])
        raise UserError(f"problem.sinogram: its mean flat field is at or below its mean dark field at {dead} "
                        f"detector pixel{'s' if dead != 1 else ''} (the first column {first}): no beam reaches "
                        f"them, so no transmission can be read there; crop those columns from the data, flats and "
                        f"darks")
    above = counts.data - counts.dark
    low = above <= 0
    clipped = int(low.sum())
    warning = ""
    if clipped:
        if clipped == above.size:
            raise UserError("problem.sinogram: every count is at or below the dark field: no beam reached the "
                            "detector through the object (or the dark and the data are swapped)")
        floor = float(above[~low].min())
        above = np.where(low, floor, above)
        warning = (f"{clipped} of {above.size} counts ({clipped / above.size:.2%}) are at or below the dark field: "
                   f"clipped to the smallest count above it ({floor:.4g} above the dark), the largest attenuation "
                   f"the scan measured (-log is undefined at 0)")
    ceiling = saturated(counts, counts.flat_top)
    warning = "; ".join(w for w in (warning, ceiling) if w)
    line = -np.log(above / incident)
    info = {"normalisation": "-log((data - mean dark) / (mean flat - mean dark))", "layout": counts.keys.layout,
            "data_key": counts.keys.data, "flat_key": counts.keys.flat, "dark_key": counts.keys.dark or "none",
            "flats": counts.flats, "darks": counts.darks, "clipped": clipped,
            "incident_counts_mean": float(incident.mean()), "incident_counts_min": float(incident.min()),
            "incident_counts_max": float(incident.max()), "dark_mean": float(counts.dark.mean())}
    if counts.flat_scatter is not None and counts.flat_scatter > 0:
        # the dose in photons where the detector integrates (counts per photon = the variance per count)
        info["flat_variance_per_count"] = counts.flat_scatter
        info["incident_photons_estimate"] = float(incident.mean()) / counts.flat_scatter
    return line, info, warning


AIR_SIGMAS = 5.0  # a column is air while its mean over the views stays within this many noise deviations of the end's
AIR_MARGIN = 2  # columns dropped at the inner edge of each air run: the object's edge reaches them in part
AIR_MIN = 4  # fewer free columns than this at both ends together: not corrected (the offsets' own noise)


def air_correct(line: np.ndarray, counts: Counts) -> tuple[np.ndarray, dict, str]:
    """Each view (row of `line`, views x columns) shifted so that its air columns read zero line integral: the
    counts of a view scaled by its beam's intensity as the air beside the object saw it (TomoPy's normalize_bg and
    normalize_roi, tomopy/prep/normalize.py: the air at both ends set to transmission 1; here one factor per view,
    the mean over both ends' air, as a gain drift scales the whole detector). The air columns are read from the
    data: from each end of the detector, the columns whose mean over the views stays within AIR_SIGMAS deviations
    (each ray's Poisson noise from the flat's counts and the flats' variance per count, over the views and the flat
    frames) of the end column's, the last AIR_MARGIN of the run dropped. The two end columns must agree likewise (else the object
    reaches one of them). (line, what was done, a warning where too few columns are free: then nothing is
    changed)."""
    views, n = line.shape
    per_count = counts.flat_scatter if counts.flat_scatter else 1.0
    incident = np.maximum(counts.flat - counts.dark, 1e-12)
    mean = line.mean(axis=0)
    # a column's mean over the views: the views' Poisson noise over `views` and its mean flat's over `flats` frames
    # (the flat's error is the column's own, the same in every view: with 10 flats and 60 views the larger part)
    tol = AIR_SIGMAS * np.sqrt(per_count / incident * (1 / views + 1 / max(counts.flats, 1)))
    runs = []
    for cols in (np.arange(n), np.arange(n)[::-1]):
        end = cols[0]
        dev = np.abs(mean[cols] - mean[end]) > np.hypot(tol[cols], tol[end])
        run = int(np.argmax(dev)) if dev.any() else n
        runs.append(max(run - AIR_MARGIN, 0))
    agree = abs(mean[0] - mean[-1]) <= np.hypot(tol[0], tol[-1])
    left, right = runs if agree else (0, 0)
    if left + right > n // 2:  # no object in the slice, or noise too large to tell: read as given
        left = right = 0
    info = {"air_correction": True, "air_columns_left": left, "air_columns_right": right}
    if left + right < AIR_MIN:
        info["air_corrected"] = False
        why = ("the detector's two end columns read different mean line integrals, so the object reaches at least "
               "one of them" if not agree else f"only {left + right} columns at the detector's ends read air")
        return line, info, (f"problem.counts_air_correction=true: {why}; the views are not corrected (leave "
                            f"{AIR_MIN} or more columns of air beside the object, or set it false)")
    air = np.r_[np.arange(left), np.arange(n - right, n)]
    offset = line[:, air].mean(axis=1)
    info.update(air_corrected=True, view_offset_min=float(offset.min()), view_offset_max=float(offset.max()),
                view_offset_span=float(offset.max() - offset.min()))
    return line - offset[:, None], info, ""

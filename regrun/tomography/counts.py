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

Flats and darks in files of their own, as beamlines write them (docs/ct.md "Flat and dark fields as a beamline
gives them (ctflats)"): problem.flat=PATH and problem.dark=PATH, each a file the sinogram reader reads or a folder
of TIFF/PNG frames (ANKA's radios/, flats/, darks/; ALS 8.3.2's *bak_*.tif and *drk_*.tif), replace the fields a
counts file holds; with problem.flat typed the projections may be a folder of TIFFs or a multi-page TIFF too.
Flats taken at several points of the scan (before and after, or every N projections) are interpolated linearly
over the projection index where problem.flat_positions says where each was taken, as ESRF's nabu does
(FlatFieldArrays, interpolation="linear"; TomoPy's normalize_nf takes the nearest set instead).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..imaging.io import (ARRAY_IMAGE_SUFFIXES, IMAGE_SUFFIXES, array_shapes, frame_files, from_fair_layout,
                          read_array, read_image_pages)

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


def files_keys(path: Path, sinogram_key: str, angles_key: str | None) -> CountsKeys:
    """Where the projections' counts are when problem.flat is typed and their file holds no flats of its own: a
    folder of TIFFs or an image file (read_frames), an .npy's array, or an .npz/.h5's problem.sinogram_key, `data`
    or /exchange/data, the first it holds; its angles as counts_keys finds them."""
    names = {name.strip("/") for name, _ in array_shapes(path)} if path.is_file() else set()
    key = next((k for k in (sinogram_key.strip("/"), COUNTS_DATA_KEY, EXCHANGE["data"]) if k in names),
               sinogram_key)
    angles = (None if angles_key is None else EXCHANGE["angles"] if key == EXCHANGE["data"] and
              EXCHANGE["angles"] in names else angles_key if angles_key.strip("/") in names else None)
    return CountsKeys("files", key, "", None, angles)


def _as_frames(field: np.ndarray, frame: tuple, name: str, where: str) -> np.ndarray:
    """A flat's or dark's frames, (frames, *frame), from (frames, *frame) or one frame of the projections' shape."""
    if field.shape == frame:
        return field[None]
    if field.ndim == len(frame) + 1 and field.shape[1:] == frame and field.shape[0] >= 1:
        return field
    raise UserError(f"{where}: its {name} has shape {field.shape}, its projections {frame} each: give frames "
                    f"of one projection's shape, (frames, {', '.join(map(str, frame))}), or one such frame")


def _frames_mean(field: np.ndarray, frame: tuple, name: str, where: str) -> tuple[np.ndarray, int]:
    """A flat's or dark's frames averaged: (frames, *frame) or one frame of the projections' shape."""
    frames = _as_frames(field, frame, name, where)
    return (field, 1) if field.shape == frame else (frames.mean(axis=0), frames.shape[0])


# an .npz/.h5 given as problem.flat or problem.dark: the names its fields may have (regrun's, then Data Exchange's)
FIELD_NAMES = {"problem.flat": ("flat", EXCHANGE["flat"]), "problem.dark": ("dark", EXCHANGE["dark"]),
               "problem.sinogram": (COUNTS_DATA_KEY, EXCHANGE["data"])}


def read_frames(path: Path, what: str, key: str | None = None) -> tuple[np.ndarray, str]:
    """A detector's frames as a beamline writes them, in their own layout (row 0 the top row): a folder of TIFF/PNG
    images, one or more frames each, in natural order (image_2 before image_10) -> (frames, rows, columns); one
    image file, its pages (a multi-page TIFF: (pages, rows, columns); one page: (rows, columns)); an .npy its
    array; an .npz/.h5 the array `key` or the first of FIELD_NAMES[what] it holds, else its one array. (the array,
    what was read, said in the console line and /data/counts)."""
    if path.is_dir():
        files = frame_files(path)
        if not files:
            raise UserError(f"{what}={path} is a folder without an image file ({', '.join(IMAGE_SUFFIXES)}) in it: "
                            f"give the folder of the TIFF frames, or one file (.tif of one or more pages, .npy, "
                            f".npz, .h5)")
        pages = [(f.name, page) for f in files for page in read_image_pages(f)]
        source = f"a folder of {len(files)} image file{'s' if len(files) != 1 else ''}, {len(pages)} frames"
    elif path.is_file() and path.suffix.lower() in ARRAY_IMAGE_SUFFIXES:
        pages = [(f"page {k}", page) for k, page in enumerate(read_image_pages(path))]
        source = f"{len(pages)} page{'s' if len(pages) != 1 else ''}"
    else:
        names = [n.strip("/") for n, _ in array_shapes(path)] if path.is_file() else []
        if key is None:
            key = next((n for n in FIELD_NAMES.get(what, ()) if n in names), names[0] if len(names) == 1 else
                       FIELD_NAMES.get(what, ("",))[0])
        arr = read_array(path, key, what)
        return arr, "its array" if path.suffix.lower() == ".npy" else f"its '{key}'"
    for name, page in pages:
        if page.ndim != 2:
            raise UserError(f"{what}={path}: {name} is a colour image: a detector's frames are grey (8/16-bit or "
                            f"float)")
        if page.shape != pages[0][1].shape:
            # FAIR's layout holds (columns, rows): reversed, rows come first
            raise UserError(f"{what}={path}: {name} has shape {page.shape[::-1]}, {pages[0][0]} "
                            f"{pages[0][1].shape[::-1]} (rows, columns): every frame of one detector's size")
    stack = from_fair_layout(np.stack([page for _, page in pages]))
    return (stack[0] if len(pages) == 1 and not path.is_dir() else stack), source


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
    # problem.flat_positions: the flats' means at each projection index they were taken at, (groups, *frame), and
    # those indices, increasing; None: the mean flat serves every projection
    flat_groups: np.ndarray | None = None
    flat_at: np.ndarray | None = None
    sources: dict = field(default_factory=dict)  # what problem.flat, problem.dark and a TIFF stack were read as


@dataclass
class Fields:
    """problem.flat (its files or folders), problem.dark and problem.flat_positions as typed: None keeps the
    counts file's own fields and their mean."""
    flat: list[Path] | None = None
    dark: Path | None = None
    positions: object = None


def flat_positions(typed, frames: int, per_file: list[int] | None, views: int) -> np.ndarray | None:
    """problem.flat_positions as each flat frame's projection index, or None (every flat averaged, as TomoPy's
    normalize does). `ends`: flats taken before the projections and after them, at index 0 and views - 1 (ALS 8.3.2's
    numbering of such flats, dxchange's read_als_832: 0000 and the last projection's), the first and second
    problem.flat file's frames where two are listed, else the first and second half of the frames; a list: one
    index per frame, or one per problem.flat file."""
    if typed is None:
        return None
    allowed = (f"null (the mean of every flat), ends (the first half of the flats' frames, or the first of two "
               f"problem.flat files, before the projections, the rest after), or a list of projection indices, 0 to "
               f"{views}, one per flat frame ({frames} here)" + (f" or per problem.flat file ({len(per_file)})"
                                                                  if per_file and len(per_file) > 1 else ""))
    if isinstance(typed, str):
        if typed != "ends":
            raise UserError(f"problem.flat_positions={typed}: give {allowed}")
        if per_file is not None and len(per_file) == 2:
            return np.repeat([0, views - 1], per_file)
        if per_file is not None and len(per_file) > 2 or frames % 2:
            raise UserError(f"problem.flat_positions=ends splits the flats into those before and those after the "
                            f"projections, but {frames} frames in {len(per_file or [1])} file(s) do not halve: give "
                            f"{allowed}")
        return np.repeat([0, views - 1], frames // 2)
    try:
        values = [int(v) for v in typed]
        exact = all(not isinstance(v, bool) and float(v) == int(v) for v in typed)
    except (TypeError, ValueError):
        raise UserError(f"problem.flat_positions={typed}: give {allowed}") from None
    if not exact:
        raise UserError(f"problem.flat_positions={list(typed)}: give {allowed}")
    if per_file is not None and len(values) == len(per_file) != frames:
        values = list(np.repeat(values, per_file))
    if len(values) != frames:
        raise UserError(f"problem.flat_positions holds {len(values)} position(s), the flat fields {frames} frames: "
                        f"give {allowed}")
    if min(values) < 0 or max(values) > views:
        raise UserError(f"problem.flat_positions={list(typed)}: a position outside the scan's {views} projections; "
                        f"give {allowed}")
    return np.asarray(values)


def flat_weights(at: np.ndarray, views: int) -> np.ndarray:
    """(views, groups): each projection's flat as a linear interpolation over the projection index between the
    flats taken before and after it, the nearest one beyond the first or last (nabu's FlatFieldArrays,
    interpolation="linear": w1 = 1 - (idx - prev) / delta, w2 = 1 - (next - idx) / delta)."""
    index = np.arange(views, dtype=np.float64)
    return np.stack([np.interp(index, at, np.eye(len(at))[g]) for g in range(len(at))], axis=1)


def _typed_frames(paths: list[Path], what: str, frame: tuple, name: str,
                  sources: dict) -> tuple[np.ndarray, list[int]]:
    """Every frame of problem.flat's or problem.dark's files, (frames, *frame), and each file's frame count; what
    each was read as in `sources` (`flat_read`, `dark_read`)."""
    parts = []
    for path in paths:
        arr, said = read_frames(path, what)
        parts.append(_as_frames(arr, frame, name, f"{what}={path}"))
        sources.setdefault(f"{what.split('.')[1]}_read", []).append(f"{path.name}: {said}")
    return np.concatenate(parts), [len(part) for part in parts]


def read_counts(path: Path, keys: CountsKeys, fields: Fields | None = None) -> Counts:
    """The arrays of a counts file, the fields averaged over their frames (problem.flat and problem.dark, typed,
    in place of the file's own); a flat or dark of another shape than a projection's is a one-line UserError."""
    where = f"problem.sinogram={path.name}"
    fields = fields or Fields()
    sources: dict = {}
    if keys.layout == "files":
        data, sources["data_read"] = read_frames(path, "problem.sinogram", None if path.is_dir() else keys.data)
    else:
        data = read_array(path, keys.data, "problem.sinogram")
    if data.ndim not in (2, 3):
        raise UserError(f"{where}: its counts '{keys.data}' have shape {data.shape}: projections (views, columns) "
                        f"or a stack (views, rows, columns)")
    frame = data.shape[1:]
    per_file = None
    if fields.flat:
        flat_frames, per_file = _typed_frames(fields.flat, "problem.flat", frame, "flat field", sources)
        flat, flats = flat_frames.mean(axis=0), flat_frames.shape[0]
    else:
        flat_frames = read_array(path, keys.flat, "problem.flat_key")
        flat, flats = _frames_mean(flat_frames, frame, f"flat field '{keys.flat}'", where)
    if fields.dark is not None:
        dark_frames, _ = _typed_frames([fields.dark], "problem.dark", frame, "dark field", sources)
        dark, darks = dark_frames.mean(axis=0), dark_frames.shape[0]
    elif keys.dark is None:
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
    counts = Counts(data, flat, dark, flats, darks, scatter, keys, float(flat_frames.max()), sources=sources)
    at = flat_positions(fields.positions, flats, per_file, data.shape[0])
    if at is not None:
        frames = _as_frames(flat_frames, frame, "flat field", where)
        counts.flat_at = np.unique(at)
        counts.flat_groups = np.stack([frames[at == p].mean(axis=0) for p in counts.flat_at])
        sources["flat_frames_at"] = [int((at == p).sum()) for p in counts.flat_at]
    return counts


def take_slice(counts: Counts, row: int) -> None:
    """Row `row` of a stack (views, rows, columns): the counts and fields become that row's, (views, columns)."""
    counts.data, counts.flat, counts.dark = counts.data[:, row], counts.flat[row], counts.dark[row]
    if counts.flat_groups is not None:
        counts.flat_groups = counts.flat_groups[:, row]


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
    # each group of flats' own level where they are interpolated: a convex mix of levels above the dark stays above
    lowest = incident if counts.flat_groups is None else (counts.flat_groups - counts.dark).min(axis=0)
    if (lowest <= 0).mean() > 0.5:
        # most of the detector "dead": not pixels but the two fields swapped (problem.flat=darks/ problem.dark=flats/)
        raise UserError(f"problem.sinogram: its dark field reads above its flat field at {(lowest <= 0).mean():.0%} "
                        f"of the detector's pixels (means {float(counts.dark.mean()):.4g} and "
                        f"{float(counts.flat.mean()):.4g} counts): are the flat (beam on, no object) and the dark "
                        f"(beam off) swapped? problem.flat names the flats, problem.dark the darks")
    dead = int((lowest <= 0).sum())
    if dead:
        first = int(np.argwhere(lowest <= 0)[0][-1])
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
    if counts.flat_groups is None:
        line = -np.log(above / incident)
    else:
        per_view = np.tensordot(flat_weights(counts.flat_at, len(above)), counts.flat_groups, axes=1) - counts.dark
        line = -np.log(above / per_view)
    info = {"normalisation": "-log((data - mean dark) / (mean flat - mean dark))", "layout": counts.keys.layout,
            "data_key": counts.keys.data, "flat_key": counts.keys.flat, "dark_key": counts.keys.dark or "none",
            "flats": counts.flats, "darks": counts.darks, "clipped": clipped,
            "incident_counts_mean": float(incident.mean()), "incident_counts_min": float(incident.min()),
            "incident_counts_max": float(incident.max()), "dark_mean": float(counts.dark.mean())}
    if counts.flat_scatter is not None and counts.flat_scatter > 0:
        # the dose in photons where the detector integrates (counts per photon = the variance per count)
        info["flat_variance_per_count"] = counts.flat_scatter
        info["incident_photons_estimate"] = float(incident.mean()) / counts.flat_scatter
    info.update(counts.sources)
    if counts.flat_groups is not None:
        levels = (counts.flat_groups - counts.dark).reshape(len(counts.flat_at), -1).mean(axis=1)
        info.update(flat_interpolation="linear over the projection index", flat_positions=counts.flat_at,
                    flat_levels=levels, flat_level_change=float(levels[-1] / levels[0] - 1))
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

"""Hot and dead pixels of a camera: sensor pixels that read far above (or below) their neighbours in every frame of a
burst, fixed to the camera while the scene moves. newuser29's 12 frames of 32x32 (16-bit TIFFs, 1% noise) with 5
pixels stuck at 65535 and 3 warm ones ran to 13.80 dB against bicubic's 15.09 without a word (the same frames clean:
28.64 against 25.02); docs/ct.md "A new user's pass (newuser29)"."""
from __future__ import annotations

import warnings

import numpy as np

HOT_FACTOR = 8.0  # a pixel's excess over its neighbours' prediction, in robust noise units, in every frame. Dev
# (newuser29): 13 seen bursts (lead batch FK's ten, 8-16 frames of 10-32 px, 0.5-3% noise, a deep field's stars and a
# clock's edge among them; newuser29's own clean two; make_sr_frames' 8 frames): none named; newuser29's 8 planted
# (5 at 65535, 3 warm at 0.6 of full scale): 7 named, the warm one missed dips to 7.8 units in one frame
HOT_FLOOR = 0.01  # the noise unit is at least this share of the frames' range: a noise-free drawing's MAD is 0
HOT_MIN_FRAMES = 4  # fewer frames can put one scene feature on one pixel by chance
HOT_MAX_CLUSTER = 2  # pixels side by side (a defect's cluster); a larger patch is the scene's
HOT_MAX_SHARE = 0.01  # more than this share of a frame's pixels is a texture fixed to the camera, not defects ...
HOT_MAX_FEW = 8  # ... where that is more than this many (a 12x12 frame's 1% is 1.4 pixels)


def _neighbour_median(planes: np.ndarray) -> np.ndarray:
    """Each pixel's value as its neighbours predict it, per plane (..., rows, columns): the median of the means of
    its opposite neighbours (above and below, left and right, the two diagonals) and of the 8 straight lines in from
    two pixels away (2 a - b, a the neighbour, b the one beyond), each exact on a linear ramp, those that lie in the
    frame. Reflected edges counted a pixel as its own neighbour and missed a hot pixel on the edge, which alone kept
    newuser29's filled frames 5 dB under the clean ones; an edge pixel's 5 neighbours' median named a seen clock's
    ramp; the along-edge pair alone named a hot pixel's two edge neighbours as dead."""
    pad = [(0, 0)] * (planes.ndim - 2) + [(2, 2), (2, 2)]
    p = np.pad(planes, pad, constant_values=np.nan)
    h, w = planes.shape[-2:]

    def at(dr, dc):
        return p[..., 2 + dr:2 + dr + h, 2 + dc:2 + dc + w]

    steps = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc]
    guesses = [(at(dr, dc) + at(-dr, -dc)) / 2 for dr, dc in steps[:4]]
    guesses += [2 * at(dr, dc) - at(2 * dr, 2 * dc) for dr, dc in steps]
    stack = np.stack(guesses)
    out = np.median(stack, axis=0)  # inside, every guess lies in the frame; nanmedian there cost 2.2 CPU-s at 256^2/16
    edge = np.isnan(out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a frame of 3 px has corners with no line in
        out[edge] = np.nanmedian(stack[:, edge], axis=0)
    return out


def find_hot_pixels(frames: np.ndarray) -> np.ndarray:
    """(rows, columns) bool, True at the pixels that are hot or dead in every frame of `frames` (frames, rows,
    columns) or (frames, channels, rows, columns) (any channel). All False where fewer than HOT_MIN_FRAMES frames or
    more than HOT_MAX_SHARE of the pixels (and HOT_MAX_FEW) would be named."""
    from scipy import ndimage

    x = np.asarray(frames, dtype=np.float64)
    planes = x if x.ndim == 4 else x[:, None]
    out = np.zeros(planes.shape[-2:], dtype=bool)
    if planes.shape[0] < HOT_MIN_FRAMES or min(planes.shape[-2:]) < 3:
        return out
    excess = planes - _neighbour_median(planes)
    for c in range(planes.shape[1]):
        r = excess[:, c]
        spread = 1.4826 * float(np.median(np.abs(r - np.median(r))))
        unit = max(spread, HOT_FLOOR * float(np.ptp(planes[:, c])))
        if unit <= 0:
            continue
        out |= (r > HOT_FACTOR * unit).all(0) | (r < -HOT_FACTOR * unit).all(0)
    # a defect is a pixel or two side by side; a longer run is a scene's line that barely moved (FK's seen clock: 3
    # pixels of a dark line along its top edge at -20 to -36 units in all 8 frames)
    labels, count = ndimage.label(out, structure=np.ones((3, 3)))
    if count:
        sizes = np.bincount(labels.ravel(), minlength=count + 1)
        out &= sizes[labels] <= HOT_MAX_CLUSTER
    if out.sum() > max(HOT_MAX_SHARE * out.size, HOT_MAX_FEW):
        return np.zeros_like(out)
    return out


def fill_hot_pixels(frames: np.ndarray, hot: np.ndarray) -> np.ndarray:
    """`frames` with each `hot` pixel replaced by its 8 neighbours' median, in every frame and channel (a hot
    neighbour's value left out of that median where the pixels touch)."""
    x = np.array(frames, dtype=np.float64)
    masked = np.where(hot, np.nan, x)
    rows, cols = np.nonzero(hot)
    h, w = hot.shape
    for r, c in zip(rows, cols):
        patch = masked[..., max(r - 1, 0):r + 2, max(c - 1, 0):c + 2].reshape(*x.shape[:-2], -1)
        x[..., r, c] = np.nanmedian(patch, axis=-1) if np.isfinite(patch).any() else x[..., r, c]
    return x


# A raw Bayer burst (a colour filter array read as one grey channel) holds a 2x2 pattern fixed to the sensor: rows
# and columns alternate R/G and G/B, so every frame's alternating sums over rows and over columns both read (R - B) / 2
# of the level, in every frame, whatever the scene does. newuser29's RGGB rocket burst (12 frames of 32^2, 12-bit in an
# HDF5 file) ran as a grey scene without a word: 23.36 dB against the grey truth, the same burst in RGB 35.84.
MOSAIC_SHARE = 0.03  # both alternating sums at least this share of the frames' mean level ...
MOSAIC_Z = 10.0  # ... as steady over the frames as this many standard errors of their mean
MOSAIC_RATIO = 2.0  # ... and within this factor of each other (the two G sites read alike). Dev (newuser29): S2 and
# mosaics made of five RGB bursts (S3's coffee, FK's astronaut, deep field, immunohistochemistry, retina) in RGGB,
# GRBG and BGGR: S2, S3 and the retina named in all three (0.24-0.38 of the level), the weakly coloured others not
# (0.01-0.09, a steady z under 10 on one sum); 15 grey bursts (FK's ten as grey or luminance, S1, S1h, S3's and S2's
# luminance, make_sr_frames'): none (the largest pair 0.0035 / 0.0064, FK's clock)


def mosaic_share(frames: np.ndarray) -> tuple[float, float] | None:
    """The alternating sums over rows and over columns of grey frames (frames, rows, columns), each as a share of the
    frames' mean level, where both are steady over the frames, beyond MOSAIC_SHARE and within MOSAIC_RATIO of each
    other: a colour filter array's 2x2 pattern. None otherwise (or for fewer than HOT_MIN_FRAMES frames)."""
    x = np.asarray(frames, dtype=np.float64)
    if x.ndim != 3 or x.shape[0] < HOT_MIN_FRAMES or min(x.shape[1:]) < 4:
        return None
    x = x[:, :x.shape[1] // 2 * 2, :x.shape[2] // 2 * 2]  # an odd count leaves one row's level in the sum
    level = x.mean((1, 2))
    if np.any(level <= 0):
        return None
    rows = (-1.0) ** np.arange(x.shape[1])[:, None]
    cols = (-1.0) ** np.arange(x.shape[2])[None, :]
    sums = np.stack([(x * rows).mean((1, 2)), (x * cols).mean((1, 2))], axis=1) / level[:, None]
    mean, spread = sums.mean(0), sums.std(0) / np.sqrt(x.shape[0]) + 1e-300
    a, b = np.abs(mean)
    if min(a, b) < MOSAIC_SHARE or np.any(np.abs(mean) < MOSAIC_Z * spread) or max(a, b) > MOSAIC_RATIO * min(a, b):
        return None
    return float(mean[0]), float(mean[1])

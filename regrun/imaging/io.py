"""Reading images and frame stacks with FAIR's conventions, and the FAIR data pairs' domains and landmarks.

Layout: every image is read as FAIR reads it, flipped up-down and then transposed, so that array index [i, j]
is the cell at x1 = i-th pixel column from the left and x2 = j-th pixel row from the bottom. Arrays stored in
.npz/.h5 files are taken as images are stored (row 0 at the top, as numpy, PIL and matplotlib's imshow hold
them) and converted the same way, so a PNG folder and an array file of the same frames read identically."""
from __future__ import annotations

import os
import re
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..config import PACKAGE_DIR
from ..errors import UserError

# FAIR's domains (x1 range, x2 range) for its 2D pairs; EPIslice has none in FAIR, so pixel units.
FAIR_PAIRS = {
    "hands": {"files": ("hands-T.jpg", "hands-R.jpg"), "omega": (0.0, 20.0, 0.0, 25.0)},
    "MRIhead": {"files": ("MRIhead-T.jpg", "MRIhead-R.jpg"), "omega": (0.0, 20.0, 0.0, 20.0)},
    "HNSP": {"files": ("HNSP-T.jpg", "HNSP-R.jpg"), "omega": (0.0, 2.0, 0.0, 1.0)},
    "EPIslice": {"files": ("EPIslice-T.jpg", "EPIslice-R.jpg"), "omega": None},
}

# FAIR setup2DhandData.m, one landmark pair a row in domain coordinates: [template x1 x2 | reference x1 x2].
HAND_LANDMARKS = np.array([
    [5.5841, 17.2664, 2.6807, 12.7797],
    [10.7243, 21.6121, 7.2028, 19.6795],
    [13.2477, 21.6121, 10.1865, 20.8916],
    [15.2570, 19.2290, 12.5175, 20.0991],
    [15.8645, 15.1636, 14.3357, 16.7424],
    [5.3972, 8.1075, 7.9953, 6.3462],
    [7.5000, 5.9579, 11.8648, 5.6469],
])


def resolve_data_path(path: str | Path) -> Path:
    """A relative path is looked up from the working directory, then from the source checkout's root. An empty one
    is refused: Path("") is the working directory, so `problem.frames=$FRAMES` with FRAMES unset read "no image files
    ... in the frames folder ." and `problem.sinogram=` "problem.sinogram: . is a folder" (newuser21)."""
    if not str(path).strip():
        raise UserError("a data path is empty (KEY= with nothing after '=', or a shell variable that was not set, "
                        "as in problem.frames=$FRAMES): give the file or folder")
    p = Path(path).expanduser()
    if p.is_absolute() or p.exists():
        return p
    beside_repo = PACKAGE_DIR.parent / p
    return beside_repo if beside_repo.exists() else p


def fair_data_dir(value: str) -> Path:
    """problem.data_dir of FAIR's test images, resolved (resolve_data_path); a folder not found is one line that
    says where it was looked for and where the images come from: a fresh clone has no ../shared beside it, and
    the README's second command said "folder not found (it should hold FAIR's images, e.g. ../shared/fair_data)",
    the path it had just not found (newuser10)."""
    path = resolve_data_path(value)
    if path.is_dir():
        return path
    p = Path(value).expanduser()
    where = "" if p.is_absolute() else f" (looked for from {Path.cwd()} and from the checkout {PACKAGE_DIR.parent})"
    raise UserError(f"problem.data_dir={value}: no such folder{where}; it is to hold FAIR's test images "
                    "(hands-T.jpg, hands-R.jpg, ...: the folder kernel/data of github.com/C4IR/FAIR.m): give "
                    "problem.data_dir=PATH")


# .gif: a GIF is 8-bit palette or grey, read without loss; a folder of GIF frames was "no image files" (newuser5)
IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".gif")
# .npy holds one array (numpy.save of the stack: the first thing a user with frames in NumPy writes; it was
# refused while the message of an unreadable .h5 offered it)
ARRAY_SUFFIXES = (".npy", ".npz", ".h5", ".hdf5")
# a phone keeps a burst as a clip: named as a video, with the line that writes its frames (newuser21)
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".m4v", ".webm", ".3gp")
FRAMES_KEY = "frames"  # the (frames, rows, columns) array in a .npz / .h5 frame file
# what problem.frames may be, in every message that names it (one wording: userpass3 found one that left out .npy)
FRAMES_FORMS = f"a folder of PNG/TIFF frames, a .npy file or a .npz/.h5 file with key '{FRAMES_KEY}'"
# a file of several pages is frames too (newuser5), said where an image file is given as the frames
STACK_FORMS = "one multi-page TIFF or animated GIF/PNG"
TRUTH_KEY = "truth"    # the (rows, columns) reference image in a .npz / .h5 truth file
# Modes PIL keeps at more than 8 bits (16-bit PNG/TIFF, 32-bit integer or float TIFF): read their values as
# they are instead of through 8-bit gray, which would clip them.
_DEEP_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


# Pixel and sample values beyond this are not measurements (their squares overflow float32, and sums of them
# float64 soon after): refused at the door with the file named, instead of an overflow deep inside a solver.
VALUE_LIMIT = 1e15


# a frame stack's axes as an array file holds them (frames, rows, columns[, channels]), for check_values' words
FRAME_AXES = ("frame", "row", "column", "channel")


def check_values(arr: np.ndarray, what: str, limit: float = VALUE_LIMIT, axes: tuple | None = None,
                 dead_bins: bool = False) -> np.ndarray:
    """`arr` when every value is finite and within +-limit; else a one-line UserError naming `what` (the file
    and key), how many values are bad, the first one's index, and what is allowed. `axes`, a sinogram's
    ("view", "detector bin"): the index by those names, and whole bins or views that are bad named as such; a
    frame stack's (FRAME_AXES): the index by its axes' names. `dead_bins`: a 2-D sinogram's bins non-finite in
    every view pass (problem.dead_bins=fill interpolates them)."""
    bad = ~np.isfinite(arr)
    if dead_bins and arr.ndim == 2:
        bad &= ~bad.all(axis=0)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f"the first {arr[first]} at index {first}"
        if axes is not None and len(axes) == arr.ndim == 2:
            where = _bad_lines(bad, axes) or f"the first {arr[first]} at {axes[0]} {first[0]}, {axes[1]} {first[1]}"
        elif axes is not None and 3 <= arr.ndim <= len(axes):  # a stack of frames: index (3, 5, 7) left to count
            where = f"the first {arr[first]} at " + ", ".join(f"{a} {i}" for a, i in zip(axes, first))
        raise UserError(f"{what}: {int(bad.sum())} value(s) are NaN or infinite ({where}); every value must be a "
                        "finite number")
    big = np.abs(np.where(np.isfinite(arr), arr, 0.0)) > limit  # dead_bins: the bins let through
    if big.any():
        first = tuple(int(i) for i in np.argwhere(big)[0])
        raise UserError(f"{what}: {int(big.sum())} value(s) beyond +-{limit:g} (the first {arr[first]:g} at index "
                        f"{first}); values must lie within +-{limit:g}")
    return arr


def load_npy(path: Path, what: str) -> np.ndarray:
    """A .npy array, never unpickled; a file that is not in NumPy's format is said to be so, by name."""
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic != b"\x93NUMPY":
        raise UserError(f"{what}: {path} is not a NumPy .npy file (it does not start with NumPy's header); "
                        "save the array with numpy.save")
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:  # object arrays need pickle, which a data file must never require
        raise UserError(f"{what}: cannot read {path}: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise UserError(f"{what}: {path} holds {arr.dtype} values; it must hold numbers")
    return arr


def to_fair_layout(arr: np.ndarray) -> np.ndarray:
    """An image as stored (row 0 at the top; leading dimensions a stack) -> FAIR's [x1, x2] layout."""
    # a copy, not ascontiguousarray: an image one row high flipped is "contiguous" with a negative stride, which
    # torch refuses (a 64x1 pair failed with torch's "negative strides" ValueError, exit 1; newuser6)
    return np.swapaxes(np.flip(arr, -2), -1, -2).copy()


# Fewer pixels than this across an image or frame is a line or a dot, not a picture: registration, frames and
# scenes need two-dimensional extent (a 64x1 pair and 1-px-wide frames ended in torch errors, exit 1; newuser6)
MIN_SIDE = 4


def check_size(arr: np.ndarray, what: str) -> np.ndarray:
    """`arr` (rows, columns[, channels] as stored) when both its sides hold at least MIN_SIDE pixels; else one
    line naming `what` and its size."""
    if min(arr.shape[:2]) < MIN_SIDE:
        raise UserError(f"{what} is {arr.shape[1]}x{arr.shape[0]} pixels (width x height): regrun needs at least "
                        f"{MIN_SIDE} pixels in each direction (an image, not a line or a dot)")
    return arr


def from_fair_layout(arr: np.ndarray) -> np.ndarray:
    """Inverse of to_fair_layout: FAIR's [x1, x2] layout -> an image as stored (row 0 at the top)."""
    return np.ascontiguousarray(np.flip(np.swapaxes(arr, -1, -2), -2))


# Colour modes PIL reads as channels (alpha, when present, is dropped: the model has no use for it); other
# colour spaces (palette, CMYK, YCbCr, ...) are converted to RGB first.
_GREY_MODES = ("1", "L", "LA", "La", "I;16", "I;16B", "I;16L", "I;16N", "I", "F")
# Rec. 601 luma weights (as PIL's RGB -> L conversion): a colour burst's motion is estimated on this
LUMA = (0.299, 0.587, 0.114)


def luminance_weights(n: int) -> tuple[float, ...]:
    """The weights luminance() gives n channels: LUMA for 3, else 1/n each."""
    return LUMA if n == 3 else (1.0 / n,) * n


def luminance(channels: np.ndarray, axis: int = -3) -> np.ndarray:
    """Rec. 601 luminance of 3 channels along `axis` (any other count: their mean)."""
    channels = np.moveaxis(channels, axis, 0)
    return sum(a * v for a, v in zip(luminance_weights(channels.shape[0]), channels))


def write_png16(path: Path, arr: np.ndarray) -> None:
    """A 16-bit PNG of `arr` (rows, columns) grey or (rows, columns, 3 | 4) RGB(A), values 0..65535 (PIL
    writes 16 bits per sample only for grey images)."""
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[..., None]
    h, w, c = arr.shape
    ctype = {1: 0, 3: 2, 4: 6}[c]
    raw = b"".join(b"\x00" + np.ascontiguousarray(row).astype(">u2").tobytes() for row in arr)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def read_png16(path: Path) -> np.ndarray:
    """A 16-bit colour PNG (RGB or RGBA, not interlaced) as (rows, columns, channels) float64. PIL reads such
    files at 8 bits (it keeps each sample's high byte), which would silently lose the low byte."""
    data = Path(path).read_bytes()
    pos, idat, head = 8, [], None
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    w, h, depth, ctype, _, _, interlace = head
    if depth != 16 or ctype not in (2, 6) or interlace:
        raise UserError(f"image {path}: a {depth}-bit PNG of colour type {ctype}"
                        f"{' (interlaced)' if interlace else ''}; 16-bit RGB/RGBA PNGs must not be interlaced")
    c = 3 if ctype == 2 else 4
    bpp, stride = 2 * c, 2 * c * w
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8).reshape(h, stride + 1)
    out = np.zeros((h, stride), dtype=np.int64)
    prior = np.zeros(stride, dtype=np.int64)
    for i in range(h):  # PNG's row filters (specification section 9)
        kind, row = int(raw[i, 0]), raw[i, 1:].astype(np.int64)
        if kind == 0:
            rec = row
        elif kind == 1:  # Sub: a running sum per byte position within a pixel
            rec = np.cumsum(row.reshape(w, bpp), 0).reshape(-1) % 256
        elif kind == 2:
            rec = (row + prior) % 256
        elif kind in (3, 4):
            rec = np.zeros(stride, dtype=np.int64)
            for x in range(0, stride, bpp):
                a = rec[x - bpp:x] if x else np.zeros(bpp, dtype=np.int64)
                b = prior[x:x + bpp]
                if kind == 3:
                    pred = (a + b) // 2
                else:  # Paeth
                    cc = prior[x - bpp:x] if x else np.zeros(bpp, dtype=np.int64)
                    p = a + b - cc
                    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - cc)
                    pred = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, cc))
                rec[x:x + bpp] = (row[x:x + bpp] + pred) % 256
        else:
            raise UserError(f"image {path}: unknown PNG row filter {kind} in row {i}")
        out[i] = rec
        prior = rec
    samples = out.reshape(h, w, c, 2)
    return (samples[..., 0] * 256 + samples[..., 1]).astype(np.float64)


def upright(img):
    """The image as a viewer shows it: turned by its EXIF orientation, as a phone writes a portrait shot (pixels
    stored landscape, the tag saying turn them). Without it a phone's pair read 756x1008 against 1008x756 (ux4)."""
    from PIL import ImageOps

    orientation = img.getexif().get(0x0112, 1) if hasattr(img, "getexif") else 1
    return ImageOps.exif_transpose(img) if orientation not in (None, 1) else img


def _page_channels(img, path: Path, deep: bool) -> np.ndarray:
    """The current page of an open image as float64 in its own layout: (rows, columns) grey or (channels, rows,
    columns) colour, alpha dropped once checked (_check_opaque)."""
    if img.mode in ("LA", "La"):
        _check_opaque(np.asarray(img)[..., 1], 255, path)
    if img.mode in _GREY_MODES:
        return np.asarray(img.convert("F") if img.mode in _DEEP_MODES else img.convert("L"), dtype=np.float64)
    if deep and img.format == "PNG":
        rgba = read_png16(path)
        _check_opaque(rgba[..., 3] if rgba.shape[-1] == 4 else None, 65535, path)
        return np.moveaxis(rgba[..., :3], -1, 0)
    if deep:
        raise UserError(f"image {path}: 16-bit colour {img.format} files cannot be read without losing "
                        "the low byte; save the frames as 16-bit PNGs or as one .npz/.h5 array")
    if "A" in img.mode or "transparency" in img.info:
        rgba = np.asarray(img.convert("RGBA"))
        _check_opaque(rgba[..., 3], 255, path)
        return np.moveaxis(rgba[..., :3].astype(np.float64), -1, 0)
    return np.moveaxis(np.asarray(img.convert("RGB"), dtype=np.float64), -1, 0)


def _check_opaque(alpha: np.ndarray | None, full: int, path: Path) -> None:
    """Refuse an image with transparent pixels: regrun reads colour only, so they would count as data (black, as
    a stabiliser or a crop exports them). A burst whose frames had a 3 px transparent border completed at 10.8
    dB against 32.2 for the same frames opaque, with only a generic warning (newuser5). Only fully transparent
    pixels are refused: a translucent pixel (alpha between 0 and full, e.g. a layer exported at 80% opacity or an
    anti-aliased edge) still holds its colour, which is read; RGBA without a clear pixel reads as RGB."""
    if alpha is None or alpha.min() > 0:
        return
    clear = alpha == 0
    rows, cols = np.flatnonzero(~clear.all(1)), np.flatnonzero(~clear.all(0))
    box = (f"; its opaque part is rows {rows[0]}-{rows[-1]}, columns {cols[0]}-{cols[-1]}" if len(rows) and
           len(cols) else "; it is transparent everywhere")
    raise UserError(f"image {path}: {int(clear.sum())} of {clear.size} pixels are fully transparent (alpha 0)"
                    f"{box}: regrun reads colour only and would take them as data; crop every image to a "
                    "part opaque in all, or flatten it onto what lies behind")


def _one_page(img, path: Path) -> None:
    """Refuse a stack or an animation where one image is read: its first page was taken without a word (a TIFF
    stack as a registration image, newuser5). JPEGs are not asked: a phone's (MPO) holds a second, smaller page."""
    pages = getattr(img, "n_frames", 1) if img.format in ("TIFF", "GIF", "PNG") else 1
    if pages > 1:
        raise UserError(f"image {path} has {pages} pages (a stack or an animation) where one image is read: save "
                        "the page meant as a file of its own (a stack of frames is given whole, problem.frames=FILE)")


def _tiff_samples(path: Path) -> tuple[int, int, int] | None:
    """(bits per sample, sample format: 1 unsigned, 2 signed, 3 float, samples per pixel) of a TIFF file's first
    image, from its header, or None where the file is no TIFF or does not say."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if head[:4] not in (b"II*\0", b"MM\0*"):
                return None
            order = "<" if head[:2] == b"II" else ">"
            fh.seek(struct.unpack(order + "I", head[4:8])[0])
            tags = {}
            for _ in range(struct.unpack(order + "H", fh.read(2))[0]):
                tag, kind, count, value = struct.unpack(order + "HHI4s", fh.read(12))
                if tag in (258, 339, 277) and kind == 3:  # BitsPerSample, SampleFormat, SamplesPerPixel: SHORT
                    if count <= 2:
                        tags[tag] = struct.unpack(order + "H", value[:2])[0]
                    else:
                        here = fh.tell()
                        fh.seek(struct.unpack(order + "I", value)[0])
                        tags[tag] = struct.unpack(order + "H", fh.read(2))[0]
                        fh.seek(here)
    except (OSError, struct.error):
        return None
    return (tags[258], tags.get(339, 1), tags.get(277, 1)) if 258 in tags else None


def _tiff64(path: Path) -> str | None:
    """Where a file is a TIFF of samples Pillow cannot read (64-bit float, as tifffile.imwrite writes a float64
    array; 64-bit integers; floats several to a pixel, as tifffile.imwrite writes a float32 (3, rows, columns) stack
    of three slices: newuser19), why and what to save instead: "cannot identify image file" alone read as a broken
    file (newuser11)."""
    samples = _tiff_samples(path)
    if samples is not None and samples[0] != 64 and samples[1] == 3 and samples[2] > 1:
        return (f"its pixels hold {samples[2]} float samples each (as tifffile.imwrite writes a float array whose "
                f"first or last axis is {samples[2]} long: as colour, though it may be a stack of {samples[2]} "
                "slices), which Pillow (regrun's image reader) does not read: save the array as .npy (a sinogram "
                "for a parallel or fan beam: one 2-D slice of it)")
    if samples is None or samples[0] != 64:
        return None
    kind = {1: "unsigned integers", 2: "signed integers", 3: "floats"}.get(samples[1], "values")
    return (f"its samples are 64-bit {kind}, which Pillow (regrun's image reader) does not read: save them as 32-bit "
            f"(array.astype(numpy.float32)) or the array as .npy")


def _unreadable(path: Path, exc: Exception) -> UserError:
    if path.stat().st_size == 0:
        # Pillow's "cannot identify image file" read as a format regrun lacks; the file holds nothing (newuser20)
        return UserError(f"cannot read image {path}: the file is empty (0 bytes: a copy or download cut short?)")
    if path.suffix.lower() in ARRAY_SUFFIXES:
        # a registration pair saved with numpy.save was told Pillow's "cannot identify image file" (newuser22)
        return UserError(f"cannot read image {path}: an array file, where an image file is read here (PNG, TIFF, "
                         f"JPEG, ...): save it as a float TIFF, which keeps its values, PIL.Image.fromarray(numpy."
                         f"load('{path.name}').astype('float32')).save('{path.stem}.tif') (an .npz/.h5's array "
                         "by its name)")
    if "truncated" in str(exc).lower():
        # Pillow's "Truncated File Read" named no cause a user acts on (newuser25: a PNG cut short in a copy)
        return UserError(f"cannot read image {path}: the file ends before its image does ({path.stat().st_size} "
                         f"bytes: a copy or download cut short? Pillow: {exc})")
    return UserError(f"cannot read image {path}: {_tiff64(path) or exc}")


def read_image_channels(path: str | Path) -> np.ndarray:
    """An image as float64 in FAIR's layout, keeping its colour: (m1, m2) for grey images (8/16-bit, integer
    or float), (channels, m1, m2) for RGB and RGBA (8 or 16 bits per sample; alpha dropped, transparent pixels
    refused); other colour modes (palette, CMYK, ...) are converted to RGB. Turned upright by the EXIF
    orientation (upright)."""
    return read_image_pages(path, first_only=True)[0]


def read_image_pages(path: str | Path, first_only: bool = False) -> list[np.ndarray]:
    """Every page of an image file (a multi-page TIFF, an animated GIF or PNG; one page for other files) as
    read_image_channels reads one."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if path.is_dir():  # a truth given as the frames' folder was "image file not found" (newuser21)
        raise UserError(f"image {_folder_not_file(path)}")
    if not path.is_file():
        raise UserError(f"image file not found: {path}")
    pages = []
    try:
        with Image.open(path) as img:
            deep = any(";16" in str(t[3]) for t in (img.tile or ()) if len(t) > 3)
            if first_only:
                _one_page(img, path)
            count = 1 if first_only or deep and img.format == "PNG" else getattr(img, "n_frames", 1)
            for k in range(count):
                img.seek(k)
                page = img if deep and img.format == "PNG" else upright(img)  # read_png16 reads the file's bytes
                pages.append(_page_channels(page, path, deep))
    except (UnidentifiedImageError, OSError, EOFError, zlib.error, struct.error) as exc:
        raise _unreadable(path, exc) from None
    out = []
    for arr in pages:
        if arr.ndim == 3 and (arr == arr[:1]).all():  # a grey image stored as RGB
            arr = arr[0]
        out.append(to_fair_layout(check_values(arr, f"image {path}")))
    return out


def _near_path(path: Path) -> str:
    """"; did you mean PATH?" for a missing path whose folder holds a name it nearly spells (`sr_pgn` for
    `sr_png`: "frames not found" alone left the typo to be found by eye, newuser3), else ""."""
    import difflib

    parent = path.parent if str(path.parent) else Path(".")
    try:
        names = [p.name for p in parent.iterdir()]
    except OSError:
        return ""
    near = difflib.get_close_matches(path.name, names, n=1, cutoff=0.75)
    return f"; did you mean {parent / near[0]}?" if near else ""


def _is_deep(path: Path) -> bool:
    """Whether an image file stores more than 8 bits per sample (16-bit PNG/TIFF, 32-bit integer or float TIFF),
    from its header."""
    from PIL import Image

    with Image.open(path) as img:
        return img.mode in _DEEP_MODES or any(";16" in str(t[3]) for t in (img.tile or ()) if len(t) > 3)


def sample_bits(path: Path) -> int | None:
    """8 or 16: the bits per sample read_image keeps of an integer image file (a 16-bit RGB PNG, which PIL reads at
    8 bits, is 8); None for 32-bit integer and float images, whose values have no fixed range."""
    from PIL import Image

    with Image.open(path) as img:
        if img.mode not in _DEEP_MODES:
            return 8
        if img.mode.startswith("I;16") or img.mode == "I" and any(";16" in str(t[3]) for t in (img.tile or ())
                                                                  if len(t) > 3):
            return 16
    return None


def full_scale(path: str | Path, values: np.ndarray) -> float | None:
    """What full scale reads as in an image file or a folder of them (its first file), as read_image keeps it: 255
    (8 bits a sample), 65535 (16 bits), 1.0 (floats within [0, 1], `values` the array read from it); None where the
    file does not say (floats beyond 1, 32-bit integers, array files, whose units are what their maker chose)."""
    path = resolve_data_path(path)
    if path.is_dir():
        files = frame_files(path)
        path = files[0] if files else path
    if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
        return None
    bits = sample_bits(path)
    if bits is not None:
        return float(2 ** bits - 1)
    finite = values[np.isfinite(values)]
    return 1.0 if finite.size and float(finite.min()) >= 0.0 and float(finite.max()) <= 1.0 else None


def read_image(path: str | Path, resize: int | None = None) -> np.ndarray:
    """A grayscale image as float64 in FAIR's layout: flipped up-down, then transposed, so that [i, j] is the
    cell at x1 = i-th column from the left and x2 = j-th row from the bottom. RGB is converted to gray;
    16-bit and float images keep their values. `resize=N` resamples to N x N pixels with PIL's bicubic
    filter first (as the paper does). Turned upright by the EXIF orientation first (upright)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if path.is_dir():
        raise UserError(f"image {_folder_not_file(path)}")
    if not path.is_file():
        raise UserError(f"image file not found: {path}")
    try:
        with Image.open(path) as img:
            _one_page(img, path)
            img = upright(img)
            if "A" in img.mode or "transparency" in img.info:
                # converted to grey, transparent pixels were registered as the black under them (newuser14: a
                # template with its corners cut, 28% of it, 3.8 px off under a generic poor-fit warning)
                _check_opaque(np.asarray(img.convert("RGBA"))[..., 3], 255, path)
            img = img.convert("F") if img.mode in _DEEP_MODES else img.convert("L")
            if resize is not None:
                img = img.resize((resize, resize), Image.Resampling.BICUBIC)
            arr = np.asarray(img, dtype=np.float64)
    except (UnidentifiedImageError, OSError) as exc:
        raise _unreadable(path, exc) from None
    return to_fair_layout(check_size(check_values(arr, f"image {path}"), f"image {path}"))


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) in pixels of an image file as read_image reads it (upright: EXIF orientation applied)."""
    from PIL import Image

    with Image.open(path) as img:
        width, height = img.size
        turned = img.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # the orientations that swap width and height
        return (height, width) if turned else (width, height)


# one grey image read as a 2-D array in its own layout (row 0 at the top): a detector's 16-bit TIFF sinogram
# (ux4: a user's `sino16.tif` was refused as "not a .npy, .npz or .h5/.hdf5 file")
ARRAY_IMAGE_SUFFIXES = (".tif", ".tiff", ".png")
# the setting that names an array of an .npz/.h5 file, by the setting of the file (read_array's `what`): a file
# whose array has another name is then one setting away, said in the message that lists the arrays found
KEY_SETTINGS = {"problem.sinogram": "problem.sinogram_key", "problem.truth_file": "problem.truth_key",
                "problem.angles_key": "problem.angles_key", "frames": "problem.frames_key"}


def slices_hint() -> str:
    """How to give a 2-D reconstruction one slice of a stack (a TIFF stack of a detector's projections, or of
    slices' sinograms): newuser19's 45-page TIFF was told "save a 3-D array as .npy", and that .npy was then refused
    for a parallel beam ("needs 2 dimensions"), a circle with no way out named."""
    return (": a stack of slices? a parallel or fan beam reconstructs one slice: numpy.save one 2-D "
            "(views, n_u) sinogram of it, a[k] if the stack a is (slices, views, n_u), a[:, k, :] if it is a "
            "detector's projections (views, rows, n_u), or problem.slice=ROW reads row ROW of the latter (counts "
            "with flat fields: their file read whole, docs/ct.md '(ctcounts)'); a cone beam "
            "(problem.geometry=cone) reads the 3-D array (views, n_u, n_v) from .npy")


def _read_grey_page(path: Path, what: str) -> np.ndarray:
    """The one page of a grey PNG/TIFF as float64, row 0 the image's top row, values as stored (16-bit and float
    kept): an array written as an image, not a picture (no FAIR layout)."""
    from PIL import Image

    with Image.open(path) as img:
        pages = getattr(img, "n_frames", 1)
        if pages > 1:
            raise UserError(f"{what}: {path} has {pages} pages; one page (a 2-D array) is read from an image "
                            f"file{slices_hint() if what == 'problem.sinogram' else ': save a 3-D array as .npy'}")
        if img.mode not in _GREY_MODES:
            raise UserError(f"{what}: {path} is a colour image ({img.mode}); an array saved as an image is grey "
                            "(8/16-bit or float)")
        return np.asarray(img.convert("F") if img.mode in _DEEP_MODES else img.convert("L"), dtype=np.float64)


def array_shapes(path: Path) -> list[tuple[str, tuple]]:
    """(name, shape) of every array of a .npz or .h5/.hdf5 file; an .h5's datasets by their path, since a
    NeXus/detector file keeps its arrays in groups (entry/data/data), which were listed as "keys found: entry" and
    could not be named as a key at all (newuser5). Empty for any other file."""
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path) as data:
            return [(k, data[k].shape) for k in data.files]
    if suffix in (".h5", ".hdf5"):
        return _h5_shapes(path)
    return []


def _bad_lines(bad: np.ndarray, axes: tuple) -> str:
    """Where every bad value of a (views, bins) sinogram lies in a bin bad in every view or a view bad in every
    bin, those named with what to do ("the first nan at index (0, 40)" left a user to work out that detector bin
    40 was dead: newuser12, newuser13); '' otherwise."""
    cols, rows = np.flatnonzero(bad.all(axis=0)), np.flatnonzero(bad.all(axis=1))
    whole = np.zeros_like(bad)
    whole[:, cols] = True
    whole[rows] = True
    if not (cols.size or rows.size) or (bad & ~whole).any():
        return ""
    named = lambda idx: ", ".join(map(str, idx[:8])) + (", ..." if idx.size > 8 else "")  # noqa: E731
    parts = []
    if cols.size:
        parts.append(f"{axes[1]}{'s' if cols.size > 1 else ''} {named(cols)} in every {axes[0]}: dead detector "
                     "pixels? problem.dead_bins=fill interpolates them from their neighbours along the detector (or do "
                     "so in the file)")
    if rows.size:
        parts.append(f"{axes[0]}{'s' if rows.size > 1 else ''} {named(rows)} in every {axes[1]}: a view the "
                     "detector missed? leave it out of the file with its angle")
    return "; ".join(parts)


TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".dat")  # numbers as text, one table row a line


def text_table_hint(path: Path, frames: bool = False) -> str:
    """For numbers saved as text (a spreadsheet's or MATLAB's writematrix CSV), the line of numpy that reads it and
    saves the array regrun reads; '' for any other file. The forms alone were said (newuser21), though numpy reads
    such a table in one call."""
    if path.suffix.lower() not in TEXT_SUFFIXES:
        return ""
    sep = {".csv": "','", ".tsv": "'\\t'"}.get(path.suffix.lower())
    load = f"numpy.loadtxt('{{name}}'{'' if sep is None else f', delimiter={sep}'})"
    if frames:  # a text table is one 2-D array: one frame, so the frames are a stack of such tables
        return (f"; {path.name} is a text table, which regrun does not read (a table is one frame): stack the "
                f"frames' tables and save them, numpy.save('frames.npy', numpy.stack([{load.format(name='f0' + path.suffix)}, "
                f"{load.format(name='f1' + path.suffix)}, ...]))")
    return (f"; {path.name} is a text table, which regrun does not read: save it as an array, "
            f"numpy.save('{path.stem}.npy', {load.format(name=path.name)})")


def frame_list_hint(path: Path) -> str:
    """For a text file that lists image files, one a line (`ls frames/*.png > list.txt`, a microscope's or a script's
    frame list), what to give instead: the folder where it holds just those, in that order, else how to make one;
    '' for any other file. Such a list was told it was a text table of numbers, "a table is one frame" (newuser23)."""
    if path.suffix.lower() not in TEXT_SUFFIXES + (".lst",) or not path.is_file() or path.stat().st_size > 1 << 20:
        return ""
    try:
        lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError):
        return ""
    named = [Path(ln) if Path(ln).is_absolute() else path.parent / ln for ln in lines]
    if not named or not all(f.suffix.lower() in IMAGE_SUFFIXES for f in named):
        return ""
    missing = [ln for ln, f in zip(lines, named) if not f.is_file()]
    if missing:
        return (f"; {path.name} lists {len(lines)} image files, {len(missing)} of them not found (a path in it is "
                f"read from the list's folder): {missing[0]}")
    folders = {f.resolve().parent for f in named}
    folder = folders.pop() if len(folders) == 1 else None
    if folder is not None and [f.name for f in frame_files(folder)] == [f.name for f in named]:
        return (f"; {path.name} lists the {len(named)} image files of the folder {folder.name}, in the order regrun "
                f"reads them: give the folder, problem.frames={os.path.relpath(folder)}")
    return (f"; {path.name} lists {len(named)} image files: regrun reads a folder of frames, in the order of the "
            f"numbers in their names, so copy them into a folder of their own under names numbered in your list's "
            f"order (f00{named[0].suffix}, f01{named[0].suffix}, ...) and give that folder")


def matlab_hint(path: Path, key: str, frames: bool = False, angles: bool = False) -> str:
    """For a MATLAB .mat file (which regrun does not read: a user's sinogram or frames from MATLAB were refused as
    "not a .npy, .npz, .h5/.hdf5 ..." without a word of how to convert it, newuser13), its arrays and the line of
    Python that saves the first as the array file regrun reads; '' for any other file. With `angles` (a sinogram),
    a vector as long as one of its sides goes in that line too, as the `angles` regrun reads: the line saved the
    sinogram alone, and the run spread its views evenly over 180 degrees (newuser15)."""
    if path.suffix.lower() != ".mat":
        return ""
    import h5py

    if h5py.is_hdf5(path):  # MATLAB's -v7.3 files are HDF5, their arrays transposed (MATLAB writes columns first)
        found = [(name, tuple(reversed(shape))) for name, shape in _h5_shapes(path)]
        load = f"numpy.asarray(h5py.File('{path.name}')['{{name}}']).T"
    else:
        from scipy.io import whosmat

        try:
            found = [(name, tuple(shape)) for name, shape, _ in whosmat(str(path))]
        except (OSError, ValueError, TypeError, NotImplementedError):
            found = []
        load = f"scipy.io.loadmat('{path.name}')['{{name}}']"
    if not found:
        return f"; {path.name} is a MATLAB file, which regrun does not read, and no array could be listed from it"
    arrays = ", ".join(f"{name} {shape}" for name, shape in found[:6]) + (", ..." if len(found) > 6 else "")
    # the data is the largest array of two sides or more, not the first listed: an ASTRA user's -v7.3 workspace of
    # `angles` (1, 60) and `sino` (60, 256) was told to save its angles as the sinogram (newuser28; names sort)
    data = max(found, key=lambda item: int(np.prod(item[1])) if len(item[1]) >= 2 else -1)
    found = [data, *(item for item in found if item is not data)]
    name, shape = found[0]
    # MATLAB stacks frames last (rows x columns x frames): the line saved them so, and the .npy it wrote of 10 frames
    # of 24x24 read as 24 frames of 24x10 (newuser23); where the last side is the smallest it moves them first
    last = frames and len(shape) in (3, 4) and shape[-1] < min(shape[:2])
    read = f"numpy.moveaxis({load.format(name=name)}, -1, 0)" if last else load.format(name=name)
    save = (f"numpy.save('{path.stem}.npy', {read})" if frames else
            f"numpy.savez('{path.stem}.npz', {key}={load.format(name=name)})")
    # MATLAB saves a vector as a row, (1, n): the views' angles are n values, n one of the sinogram's sides
    per_view = [other for other, shape in found[1:] if angles and len(shape) <= 2 and shape and min(shape) >= 1
                and int(np.prod(shape)) in found[0][1] and int(np.prod(shape)) == max(shape) > 1]
    if per_view:
        views = int(np.prod(dict(found)[per_view[0]]))
        if len(found[0][1]) == 2 and found[0][1][1] == views != found[0][1][0]:
            # one column a view, as MATLAB's radon and fanbeam write R: saved as it stood, the file was then refused
            # as 30 angles against 95 views (newuser24); a -v7.3 load's own .T already turns it
            sino = load.format(name=name)
            sino = sino[:-2] if sino.endswith(".T") else sino + ".T"
            save = save.replace(f"{key}={load.format(name=name)}", f"{key}={sino}")
        angle_load = f"{load.format(name=per_view[0])}.ravel()"
        if _radians(path, per_view[0]):  # ASTRA's and most MATLAB code's angles; regrun refuses them then
            save = f"{save[:-1]}, angles=numpy.degrees({angle_load})) (its angles read as radians: regrun takes degrees)"
        else:
            save = (f"{save[:-1]}, angles={angle_load}) (angles in degrees, one per view: numpy.degrees of them if "
                    f"they are radians)")
    layout = (f" (frames first: its {shape[-1]} frames of {shape[1]}x{shape[0]} moved to the front)" if last else
              " (frames first: numpy.moveaxis(a, -1, 0) for a MATLAB stack of rows x columns x frames)" if frames else "")
    return (f"; {path.name} is a MATLAB file, which regrun does not read (its arrays: {arrays}): convert it in "
            f"Python, e.g. {save}{layout}")


def _radians(path: Path, name: str) -> bool:
    """Whether a .mat file's array `name` (the views' angles) reads as radians by the rule a sinogram file's angles
    are refused by (problems/ct_fewview.py, _read_angles): more than 8 values spanning at most 2 pi."""
    import h5py

    try:
        if h5py.is_hdf5(path):
            with h5py.File(path, "r") as data:
                values = np.asarray(data[name], dtype=np.float64).ravel()
        else:
            from scipy.io import loadmat

            values = np.asarray(loadmat(str(path), variable_names=[name])[name], dtype=np.float64).ravel()
    # NotImplementedError: what scipy's loadmat raises for a MATLAB format it cannot read (not a stub); any
    # unreadable array only means the hint cannot tell radians, so it names none
    except (OSError, ValueError, TypeError, KeyError, NotImplementedError):
        return False
    return values.size > 8 and bool(np.isfinite(values).all()) and 0 < float(np.ptp(values)) <= 2 * np.pi + 1e-9


def _h5_shapes(path: Path) -> list[tuple[str, tuple]]:
    import h5py

    found = []
    with h5py.File(path, "r") as data:
        data.visititems(lambda name, obj: found.append((name, obj.shape)) if isinstance(obj, h5py.Dataset)
                        else None)
    return found


def _folder_not_file(path: Path) -> str:
    """"PATH is a folder; give one file in it (it holds ...)": for a folder given where one file is read."""
    held = sorted((p.name for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.suffix.lower() in ARRAY_SUFFIXES + IMAGE_SUFFIXES), key=natural_key)
    names = ", ".join(held[:6]) + (f" and {len(held) - 6} more" if len(held) > 6 else "")
    return f"{path} is a folder; give one file in it" + (f" (it holds {names})" if held else
                                                           " (it holds no array or image file)")


def read_array(path: Path, key: str, what: str, ndim: int | None = None, axes: tuple | None = None,
               dead_bins: bool = False) -> np.ndarray:
    """The array `key` of a .npz or .h5/.hdf5 file, or the one array of a .npy file or of a grey PNG/TIFF (key
    unused; row 0 the image's top row), as float64 in the file's own layout. A one-line UserError starting with
    `what` (the setting or the kind of data) when the
    file is missing or unreadable, has no `key` (naming the keys found) or, with ndim, the wrong dimensions."""
    if path.is_dir():
        # a folder was "file not found: data", as if it did not exist (newuser20)
        raise UserError(f"{what}: {_folder_not_file(path)}")
    if not path.is_file():
        raise UserError(f"{what}: file not found: {path}{_near_path(path)}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            keys, arr = [], np.asarray(load_npy(path, what), dtype=np.float64)
        elif suffix == ".npz":
            keys = array_shapes(path)
            with np.load(path) as data:
                arr = np.asarray(data[key], dtype=np.float64) if key in data.files else None
        elif suffix in (".h5", ".hdf5"):
            import h5py

            keys = array_shapes(path)
            with h5py.File(path, "r") as data:
                found = key.strip("/") in data and isinstance(data[key.strip("/")], h5py.Dataset)
                arr = np.asarray(data[key.strip("/")][()], dtype=np.float64) if found else None
        elif suffix in ARRAY_IMAGE_SUFFIXES:
            if _tiff64(path):  # Pillow's "cannot identify image file" (newuser11)
                raise UserError(f"{what}: cannot read {path}: {_tiff64(path)}")
            keys, arr = [], _read_grey_page(path, what)
        else:
            raise UserError(f"{what}: {path} is not a .npy, .npz, .h5/.hdf5 or grey .tif/.png file"
                            f"{matlab_hint(path, key, angles=what == 'problem.sinogram')}{text_table_hint(path)}")
    except (OSError, ValueError, TypeError, zipfile.BadZipFile) as exc:
        raise UserError(f"{what}: cannot read {path}: {exc or type(exc).__name__} (.npy from numpy.save, .npz from "
                        "numpy.savez, .h5, or a grey .tif/.png expected)") from None
    if arr is None:
        setting = KEY_SETTINGS.get(what)
        # the arrays that could be it: angles are one value per view, images and sinograms 2-D or more (a file with
        # `angles` beside `entry/data` suggested problem.sinogram_key=angles, newuser7)
        arrays = [name for name, shape in keys if (len(shape) == 1) == (what == "problem.angles_key")]
        hint = f": name it with {setting}=NAME, e.g. {setting}={arrays[0]}" if setting and arrays else ""
        if not setting and arrays and suffix in (".h5", ".hdf5"):
            # the frames and a truth have no key setting: a link under the name read costs no copy (newuser5)
            hint = (f": regrun reads the {what} from {key!r}; link yours under that name (no copy): with "
                    f"h5py.File(PATH, 'a') as f: f[{key!r}] = f[{arrays[0]!r}]")
        elif not setting and arrays:
            hint = f": regrun reads the {what} from {key!r}; save them under that name, numpy.savez(PATH, {key}=...)"
        shapes = f" (shapes {', '.join(str(shape) for _, shape in keys)})" if keys else ""
        raise UserError(f"{path} holds no array {key!r} (the {what}); keys found: "
                        f"{', '.join(name for name, _ in keys) or 'none'}{shapes}{hint}")
    if ndim is not None and arr.ndim != ndim:
        raise UserError(f"{path}:{key} has shape {arr.shape}; the {what} must have {ndim} dimensions")
    return check_values(arr, f"{what}: {path}" + ("" if suffix == ".npy" or not keys else f":{key}"), axes=axes,
                        dead_bins=dead_bins)


def read_optional_array(path: Path, key: str, what: str) -> np.ndarray | None:
    """The array `key` of a .npz or .h5/.hdf5 file as float64, or None when the file is a .npy (one array, no
    keys) or holds no `key`: data a file may carry beside its main array (a sinogram's angles)."""
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path) as data:
            found = key in data.files
    elif suffix in (".h5", ".hdf5"):
        import h5py

        with h5py.File(path, "r") as data:
            found = key in data
    else:
        return None
    return read_array(path, key, what) if found else None


def natural_key(name: str) -> tuple:
    """Sort key of a file name with its runs of digits as numbers: f2.png before f10.png (a camera's or a user's
    unpadded numbering; by name alone f10 came second, and a true-motion file's rows paired with the wrong frames:
    newuser4). Ties (f1 and f01) fall back to the name."""
    parts = re.split(r"(\d+)", name.lower())  # text at even places, digits at odd: the tuples compare item by item
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), name


def frame_files(path: Path) -> list[Path]:
    """The image files of a frames folder in the order they are frames (natural order, natural_key); hidden files
    are never frames: a folder copied from a Mac holds `._f00.png` beside each frame (its metadata, not an image),
    and the run stopped on "cannot identify image file '._f00.png'" (newuser3)."""
    return sorted((f for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".")),
                  key=lambda f: natural_key(f.name))


def mixed_jpeg_warning(files: list[Path]) -> str:
    """Where a frames folder mixes JPEG frames with lossless ones, the sentence that says so ('' otherwise): a
    JPEG frame carries its compression's block error, which the model reads as data (JPEG frames cost a median
    3.4 dB against lossless twins, docs/superres.md "(srjpeg)"), and a folder of both ran without a word
    (newuser20)."""
    jpeg = [f.name for f in files if f.suffix.lower() in (".jpg", ".jpeg")]
    if not jpeg or len(jpeg) == len(files):
        return ""
    other = [f.name for f in files if f.suffix.lower() not in (".jpg", ".jpeg")]
    return (f"the frames mix {len(jpeg)} JPEG file(s) ({', '.join(jpeg[:3])}{', ...' if len(jpeg) > 3 else ''}) with "
            f"{len(other)} lossless one(s) ({', '.join(other[:3])}{', ...' if len(other) > 3 else ''}): JPEG's "
            f"compression error is read as data; use the lossless files alone where you have them")


def palette_warning(files: list[Path]) -> str:
    """Where a frames folder holds colour frames stored with a palette (PNG/GIF 'P' mode, 256 colours at most, as
    pngquant, an image optimiser or a GIF export writes them), the sentence that says so ('' otherwise): each pixel
    is snapped to the nearest palette colour, an error the model reads as data. newuser21's RGB burst with a
    64-colour palette per frame: 31.57 dB against 34.58 from the same frames as RGB PNGs, with no word. A grey
    palette (256 grey entries) loses nothing and is not named. One file of many pages (an animated GIF, a phone
    clip saved as GIF) is looked at page by page: every GIF page is palette-coded, though Pillow hands pages after
    the first over as RGB, and such a clip ran without a word (newuser26)."""
    from PIL import Image

    counts, total = [], 0
    for f in files:
        with Image.open(f) as img:
            pages = getattr(img, "n_frames", 1) if len(files) == 1 else 1
            for k in range(pages):
                img.seek(k)
                total += 1
                if img.mode not in ("P", "PA") and img.format != "GIF":
                    continue
                colours = img.convert("RGB").getcolors(maxcolors=256) or []
                if any(r != g or g != b for _, (r, g, b) in colours):
                    counts.append((f.name if pages == 1 else f"page {k}", len(colours)))
    if not counts:
        return ""
    most = max(n for _, n in counts)
    where = f" of {files[0].name}" if total > len(files) else ""
    return (f"{len(counts)} of the {total} frames{where} ({', '.join(name for name, _ in counts[:3])}"
            f"{', ...' if len(counts) > 3 else ''}) are colour images stored with a palette of at most {most} "
            "colours (a PNG optimiser or a GIF export): every pixel was snapped to a palette colour, an error read "
            "as data; save the frames as RGB (Pillow: image.convert('RGB')) from the camera's originals"
            + (" (a clip's from its video: ffmpeg -i clip.mp4 frames/f%03d.png)" if where else ""))


def _exif_orientation(path: Path) -> int:
    from PIL import Image

    with Image.open(path) as img:
        return int(img.getexif().get(0x0112, 1) or 1) if hasattr(img, "getexif") else 1


def turned_by_exif(a: Path, b: Path) -> str:
    """Where two frames differ in size only because one is turned by its EXIF orientation (a phone's portrait
    shot among landscape ones), the clause that says so: 'f01.jpg is 24x36, f00.jpg 36x24' of files that are all
    36x24 as stored, and so in every tool that ignores EXIF, read as a mystery (newuser11)."""
    turned = [f for f in (a, b) if f.suffix.lower() not in ARRAY_SUFFIXES and _exif_orientation(f) in (5, 6, 7, 8)]
    if len(turned) != 1:
        return ""
    f = turned[0]
    return (f" ({f.name} is turned upright by its EXIF orientation {_exif_orientation(f)}, as a viewer shows it, "
            f"and the other is not: save both with one orientation, e.g. PIL.ImageOps.exif_transpose)")


JPEG_BLOCK = 8  # JPEG's DCT block, in pixels


def jpeg_dc_share(files: list[Path], frames: np.ndarray) -> float:
    """The share of a frame's mean that JPEG's quantised block means move it by, RMS over the frames; 0 unless
    every file is a JPEG. A block's mean is its DC coefficient over 8, quantised with step q (the luminance
    table's first entry, Pillow's `quantization`): a uniform error of q / 8 / sqrt(12) per block, independent
    between blocks, so the frame's mean errs by that times sqrt(sum_b n_b^2) / N (n_b of the N pixels in block
    b), over the frame's mean (`frames`: as read, luminance, one per file). On dark scenes it is what the
    exposure check (problem.gain_again) read as an exposure change (docs/superres.md, "srjpeggain")."""
    from PIL import Image

    shares = []
    for f, frame in zip(files, frames):
        with Image.open(f) as img:
            tables = getattr(img, "quantization", None) if img.format == "JPEG" else None
            if not tables:
                return 0.0
            step, (w, h) = float(tables[0][0]), img.size
        level = float(frame.mean())
        if level <= 0:
            return 0.0
        counts = np.array([min(JPEG_BLOCK, h - i) * min(JPEG_BLOCK, w - j)
                           for i in range(0, h, JPEG_BLOCK) for j in range(0, w, JPEG_BLOCK)], dtype=np.float64)
        shares.append(step / JPEG_BLOCK / np.sqrt(12.0) * np.sqrt((counts ** 2).sum()) / (h * w) / level)
    return float(np.sqrt(np.mean(np.square(shares)))) if shares else 0.0


def _subfolders_with_frames(path: Path) -> str:
    """The end of a frames-folder error naming the subfolders that hold image files ("" where none do)."""
    held = [d for d in sorted(path.iterdir(), key=lambda d: natural_key(d.name))
            if d.is_dir() and not d.name.startswith(".") and frame_files(d)]
    return (f"; its subfolders {', '.join(f'{d.name} ({len(frame_files(d))})' for d in held)} hold image files: "
            f"regrun reads one folder's frames, e.g. problem.frames={held[0]}") if held else ""


def read_frames(path: str | Path, colour: bool = False, key: str = FRAMES_KEY) -> np.ndarray:
    """A stack of frames (frames, m1, m2), float64, in FAIR's layout, from a folder of images (PNG/TIFF/JPEG,
    in natural order of their names, f2 before f10; frame 0 first) or from a .npz/.h5 file holding `key`
    (problem.frames_key: the frames under another name, an .h5 group's data/frames, were read only after the user
    linked them as 'frames' in their own file, newuser17) as (frames, rows, columns) or from a .npy file of that
    array. Every frame must have the same size; at least two frames. colour=True: colour frames keep
    their channels, (frames, channels, m1, m2) (RGB/RGBA files, alpha dropped; an array file's
    (frames, rows, columns, channels)); grey frames stay (frames, m1, m2). colour=False: colour becomes its
    luminance (Rec. 601)."""
    path = resolve_data_path(path)
    if path.is_dir():
        files = frame_files(path)
        if not files:
            # a folder of bursts, one subfolder each (left/, right/), was "no image files in the frames folder",
            # as if empty (newuser11)
            raise UserError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in the frames folder {path}"
                            f"{_subfolders_with_frames(path)}")
        frames = [read_image_channels(f) for f in files]
        deep = [_is_deep(f) for f in files]
        if any(deep) and not all(deep):
            # 8-bit frames among 16-bit ones (exported twice, or by two programs) read 257x darker: a burst with 2
            # of 8 such frames completed without a warning, the noise estimate 3.2 against 656 (newuser3)
            odd = files[deep.index(False)] if deep[0] else files[deep.index(True)]
            depth = {True: "more than 8 bits (16-bit or float)", False: "8 bits"}
            raise UserError(f"frame {odd.name} has {depth[_is_deep(odd)]} per sample, frame {files[0].name} "
                            f"{depth[deep[0]]}: their values are on different scales; save every frame at one depth")
        # the shape most frames share is the burst's: a stray thumbnail named first (a_thumb.png) was called the
        # frame of the right size and every true frame the odd one (newuser12)
        shapes = [a.shape for a in frames]
        common = max(shapes, key=shapes.count)
        odd = [k for k, shape in enumerate(shapes) if shape != common]
        if odd:
            ref = shapes.index(common)
            f, arr, other = files[odd[0]], frames[odd[0]], files[ref]
            # FAIR's layout: [x1, x2] = (column, row), so shape[-2] is the width and shape[-1] the height
            # channels named for both, grey too: a colour burst with one frame saved grey read "1.png is
            # 20x16 pixels ..., frame 0.png 20x16 pixels, 3 channels" (userpass3)
            mixed = arr.ndim != frames[ref].ndim
            what = lambda a: f"{a.shape[-2]}x{a.shape[-1]} pixels" + (f", {a.shape[0]} channels" if a.ndim == 3 else ", grey" if mixed else "")  # noqa: E731
            few = len(odd) <= 2 and shapes.count(common) >= 2 * len(odd)
            names = " and ".join(files[k].name for k in odd)
            leave = (f"; the other {shapes.count(common)} frames are all of {other.name}'s size: leave {names} out "
                     f"of the folder (a thumbnail or another picture?)") if few else ""
            raise UserError(f"frame {f.name} is {what(arr)} (width x height), frame {other.name} "
                            f"{what(frames[ref])}: all frames must have the same size and channels"
                            f"{turned_by_exif(f, other)}{leave}")
        stack = np.stack(frames)
    elif path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        # one file holding every frame as a page: an ImageJ/microscope TIFF stack, an animated GIF or PNG (such
        # files were refused as "must be a folder of images or a .npy/.npz/.h5 file", newuser5)
        frames = read_image_pages(path)
        if len(frames) < 2:
            raise UserError(f"frames file {path} is one image of one page; the frames are {FRAMES_FORMS}, or "
                            f"{STACK_FORMS}")
        for k, arr in enumerate(frames):
            if arr.shape != frames[0].shape:
                # FAIR's layout holds (columns, rows) or (channels, columns, rows): reversed, rows come first
                raise UserError(f"page {k} of {path} has shape {arr.shape[::-1]}, page 0 {frames[0].shape[::-1]} "
                                "(rows, columns[, channels]): all frames must have the same size and channels")
        stack = np.stack(frames)
    elif path.is_file() and path.suffix.lower() in ARRAY_SUFFIXES:
        stack = read_array(path, key, "frames", axes=FRAME_AXES)
        if stack.ndim == 4 and stack.shape[-1] == 1:
            # grey frames with a channel axis of 1, as image-learning code keeps them, ran as a 1-channel colour
            # burst, solved, then failed writing reconstruction.png, exit 1 (newuser20)
            stack = stack[..., 0]
        if stack.ndim not in (3, 4):
            where = path if path.suffix.lower() == ".npy" else f"{path}:{key}"  # a .npy has no key
            raise UserError(f"{where} has shape {stack.shape}; the frames must have 3 dimensions "
                            "(frames, rows, columns) or, in colour, 4 (frames, rows, columns, channels)")
        if stack.ndim == 4 and stack.shape[1] in (1, 3, 4) and stack.shape[-1] > 4:
            # channels first, as torch keeps images: (6, 3, 16, 20) ran as six 3x16 frames of 20 channels, completed
            # without a word (userpass3)
            raise UserError(f"{path} has shape {stack.shape}: that looks like (frames, channels, rows, columns); "
                            "colour frames are (frames, rows, columns, channels): save numpy.moveaxis(frames, 1, -1)")
        if stack.ndim == 4 and stack.shape[-1] == 2:
            # grey beside a second channel (an LA export's alpha, a mask, a second sensor) was solved as a 2-channel
            # colour burst, its motion fitted on the two channels' mean (newuser21)
            raise UserError(f"{path} has shape {stack.shape}: 2 channels a pixel, which is neither grey nor colour "
                            "(regrun reads (frames, rows, columns) grey, or (frames, rows, columns, 3) RGB): if the "
                            "first is the picture and the second an alpha or a mask, save frames[..., 0]")
        if stack.ndim == 4 and stack.shape[-1] == 4 and float(np.ptp(stack[..., 3])) == 0.0:
            # RGBA frames with an opaque alpha, as an RGBA PNG's are read: the alpha ran as a fourth colour channel,
            # a quarter of the luminance the motion is fitted on and a plane of the answer (newuser22)
            stack = stack[..., :3]
        if stack.ndim == 3 and 4 * stack.shape[2] <= min(stack.shape[:2]):
            # frames last, as numpy.dstack and MATLAB stack them: (64, 64, 8) ran as 64 frames of 64x8 pixels and
            # completed, its answer blamed on "the motion or lambda_f" (newuser3); real frames are not 4x
            # narrower than both their height and their count
            raise UserError(f"{path} has shape {stack.shape}: that looks like (rows, columns, frames), "
                            f"{stack.shape[2]} frames of {stack.shape[1]}x{stack.shape[0]} pixels (width x height); "
                            "frames are (frames, rows, columns): save numpy.moveaxis(frames, -1, 0)")
        stack = to_fair_layout(np.moveaxis(stack, -1, 1) if stack.ndim == 4 else stack)
    elif path.is_file():
        # an archive of the frames, as a download or a mail brings them (newuser11)
        packed = "; regrun does not unpack archives: unpack it and give the folder" if zipfile.is_zipfile(path) or \
            path.suffix.lower() in (".zip", ".tar", ".gz", ".tgz", ".7z", ".rar") else ""
        if path.suffix.lower() in VIDEO_SUFFIXES:
            # a phone's burst kept as a clip got the list of forms alone, nothing of how to get frames (newuser21)
            packed = (f"; {path.name} is a video, which regrun does not decode: save its frames as images, e.g. "
                      f"ffmpeg -i {path.name} frames/f%03d.png, and give the folder (a video's compression, like "
                      "JPEG's, removes the detail between pixels that super-resolution recovers)")
        raise UserError(f"frames file {path} must be {FRAMES_FORMS}, or {STACK_FORMS}{packed}"
                        f"{matlab_hint(path, key, frames=True)}"
                        f"{frame_list_hint(path) or text_table_hint(path, frames=True)}")
    elif any(c in str(path) for c in "*?[") and path.parent.is_dir():
        # a pattern the shell left as typed (`problem.frames=burst/*.png`): the folder is what is meant (newuser3)
        raise UserError(f"frames not found: {path} is a pattern, and regrun reads every frame of a folder: give "
                        f"the folder, problem.frames={path.parent} ({FRAMES_FORMS})")
    else:
        raise UserError(f"frames not found: {path}{_near_path(path)} ({FRAMES_FORMS})")
    if min(stack.shape[-2:]) < MIN_SIDE:  # FAIR's layout: (..., width, height)
        raise UserError(f"problem.frames={path}: the frames are {stack.shape[-2]}x{stack.shape[-1]} pixels (width x "
                        f"height): regrun needs at least {MIN_SIDE} pixels in each direction (images, not lines)")
    if stack.shape[0] < 2:
        # a set's folder with its truth image beside a frames/ subfolder read the truth as the one frame (session 28)
        raise UserError(f"{path} holds {stack.shape[0]} frame; super-resolution needs at least 2"
                        f"{_subfolders_with_frames(path) if path.is_dir() else ''}")
    if stack.ndim == 4 and not colour:
        return luminance(stack)
    return stack


def read_truth(path: str | Path, colour: bool = False) -> np.ndarray:
    """A reference image in FAIR's layout from an image file or a .npz/.h5 file holding TRUTH_KEY (rows,
    columns) or (rows, columns, channels); colour=True keeps the channels first, (channels, m1, m2), else
    colour becomes its luminance."""
    path = resolve_data_path(path)
    if path.suffix.lower() in ARRAY_SUFFIXES:
        if not path.is_file():
            raise UserError(f"truth file not found: {path}")
        arr = read_array(path, TRUTH_KEY, "truth")
        if arr.ndim not in (2, 3):
            raise UserError(f"{path}:{TRUTH_KEY} has shape {arr.shape}; the truth must have 2 dimensions "
                            "(rows, columns) or, in colour, 3 (rows, columns, channels)")
        arr = to_fair_layout(np.moveaxis(arr, -1, 0) if arr.ndim == 3 else arr)
    else:
        arr = read_image_channels(path)
    return luminance(arr) if arr.ndim == 3 and not colour else arr


def read_gain(path: str | Path) -> np.ndarray | None:
    """Known per-frame intensity gains (key "gain", one per frame, frame 0's first) from a motion file
    (.json/.npz/.h5, as scripts/make_sr_frames.py --gain writes them); None when the file holds none."""
    path = resolve_data_path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            import json

            data = json.loads(path.read_text())
            g = data.get("gain") if isinstance(data, dict) else None
        elif suffix == ".npz":
            with np.load(path) as data:
                g = data["gain"] if "gain" in data.files else None
        else:
            import h5py

            with h5py.File(path, "r") as data:
                g = data["gain"][()] if "gain" in data else None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise UserError(f"cannot read motion file {path}: {exc or type(exc).__name__}") from None
    if g is None:
        return None
    try:
        g = np.asarray(g, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise UserError(f"motion file {path}: 'gain' = {str(g)[:60]} must be numbers (one per frame)") from None
    return check_values(g, f"motion file {path}:gain")


def read_motion(path: str | Path) -> np.ndarray:
    """Known motion parameters (6 per frame after frame 0, regrun's affine w in the problem's domain units)
    from a .json file (key "w") or a .npz/.h5 file (key "w"), as scripts/make_sr_frames.py writes them."""
    path = resolve_data_path(path)
    if not path.is_file():
        raise UserError(f"motion file not found: {path}")
    try:
        if path.suffix.lower() == ".json":
            import json

            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                raise UserError(f"motion file {path} holds a JSON {type(data).__name__}; it must be an object "
                                'with the key "w" (a list of numbers, 6 per frame after frame 0)')
            keys, w = list(data), data.get("w")
        elif path.suffix.lower() == ".npz":
            with np.load(path) as data:
                keys = list(data.files)
                w = data["w"] if "w" in keys else None
        elif path.suffix.lower() not in (".h5", ".hdf5"):
            # a truth image given as the motion (problem.true_motion=truth.png) was h5py's "Unable to synchronously
            # open file (file signature not found)" (newuser21)
            raise UserError(f"motion file {path} is not a .json, .npz or .h5/.hdf5 file: the true motion is 'w', 6 "
                            "numbers per frame after frame 0, as scripts/make_sr_frames.py writes it in motion.json"
                            + (" (an image is problem.truth's)" if path.suffix.lower() in IMAGE_SUFFIXES else ""))
        else:
            import h5py

            with h5py.File(path, "r") as data:
                keys = list(data.keys())
                w = data["w"][()] if "w" in keys else None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise UserError(f"cannot read motion file {path}: {exc or type(exc).__name__}") from None
    if w is None:
        # what 'w' is, not only that it is missing: a user's own shifts file ({"shifts": ...}) was told "holds no
        # motion 'w'; keys found: shifts" and nothing of the form to write (newuser3)
        raise UserError(f"{path} holds no motion 'w'; keys found: {', '.join(keys) or 'none'}; 'w' is 6 numbers per "
                        "frame after frame 0, regrun's affine (A11, A12, A21, A22, b1, b2) in the image's units, as "
                        "scripts/make_sr_frames.py writes it in motion.json (docs/superres.md, the pixel-position "
                        "convention)")
    try:
        w = np.asarray(w, dtype=np.float64)
    except (TypeError, ValueError):
        raise UserError(f"motion file {path}: 'w' = {str(w)[:60]} must be numbers (6 per frame after frame 0)") \
            from None
    return check_values(w, f"motion file {path}:w")

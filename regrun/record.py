"""The HDF5 results file: one per run, versioned schema, written so a crash never looks complete.

Layout (schema 1):
  attrs             schema_version, regrun_version, status, problem, solver, device, dtype, seed, run_id,
                    start_time, end_time, wall_time, git_commit, git_dirty, python/torch/numpy/scipy/h5py/
                    hydra/omegaconf versions, message, error (on failure), out_dir; once the device is known
                    device_name, cuda_version, cuda_driver_version ("none" on the CPU), and on a GPU
                    gpu_count and gpu_peak_memory_mb (torch.cuda.max_memory_allocated over the run); once the
                    solve returned solver_status (converged / max_iter / stopped / diverged) and solver_stop
                    (why it stopped on a failure, in the solver's words; "" otherwise)
  /config/resolved  the resolved config as YAML text;  /config/overrides  the command-line overrides
  /history/<col>    1-D arrays in lockstep with /history/iter
  /tables/<t>/<col> further tables (per level, per timing, ...)
  /result/<name>    final arrays;  /metrics/<name>  final scalars;  /stats/<name>  solver statistics
  /metrics/lam_learned  the regularization weight a learning solver chose (bilevel, grid_search), which
                    `solver.lam=from:PATH` reads back (`learned_lam`)
  /data/<name>      small inputs;  /paper/<name>    reference values from the paper, when a preset gives them

While the run is going the file is `results.h5.partial` with status "running"; it is renamed to
`results.h5` once its final status (completed / failed / interrupted / diverged) is written.
"""
from __future__ import annotations

import datetime as _dt
import errno
import os
import platform
import re
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from . import __version__
from .errors import UserError, check_float

SCHEMA_VERSION = 1
RUN_STATUSES = ("running", "completed", "failed", "interrupted", "diverged")
FILENAME = "results.h5"
PARTIAL_SUFFIX = ".partial"
LEARNED_LAM = "lam_learned"  # /metrics/<this>: the weight a learning solver chose
FROM_PREFIX = "from:"        # a weight setting `from:PATH` takes the learned weight of that run


def now_iso() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def git_state(path: Path) -> tuple[str, bool | None]:
    """(commit, dirty) of the git checkout holding `path`, or ("unknown", None) outside one."""
    try:
        commit = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip() != ""
        return commit, dirty
    except (OSError, subprocess.SubprocessError):
        return "unknown", None


def library_versions() -> dict[str, str]:
    import hydra
    import omegaconf
    import scipy
    import torch

    return {
        "python_version": platform.python_version(),
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "scipy_version": scipy.__version__,
        "h5py_version": h5py.__version__,
        "hydra_version": hydra.__version__,
        "omegaconf_version": omegaconf.__version__,
    }


def _nvidia_smi_driver() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10, check=True).stdout.split()
        return out[0] if out else None
    except (OSError, subprocess.SubprocessError):
        return None


def _torch_driver(torch) -> str | None:
    # torch exposes the driver's CUDA API version only privately (e.g. 12040 -> "12.4"); guarded for that reason
    try:
        v = int(torch._C._cuda_getDriverVersion())
        return f"{v // 1000}.{(v % 1000) // 10}" if v > 0 else None
    except Exception:
        return None


def cpu_name() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what the platform says, else "cpu"."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def device_facts(device) -> dict[str, str]:
    """What the run ran on: `device_name` always (the GPU's name, or the CPU's model name), and on a GPU
    `cuda_version` (torch's build), `cuda_driver_version` (nvidia-smi's driver version, else the CUDA
    version the driver supports) and `gpu_count`. On the CPU the CUDA fields say "none"."""
    import torch

    if getattr(device, "type", str(device)) != "cuda":
        return {"device_name": cpu_name(), "cuda_version": "none",
                "cuda_driver_version": "none"}
    smi = _nvidia_smi_driver()
    driver = smi or (f"CUDA {d}" if (d := _torch_driver(torch)) else "unknown")
    return {"device_name": torch.cuda.get_device_name(device), "cuda_version": str(torch.version.cuda),
            "cuda_driver_version": driver, "gpu_count": torch.cuda.device_count()}


def start_peak_memory(device) -> None:
    """Zero the GPU's peak-memory counter, so `peak_memory_mb` at the end is this run's."""
    import torch

    if getattr(device, "type", None) == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device) -> float | None:
    """The most GPU memory torch's allocator held for tensors since start_peak_memory (MiB); None on the CPU."""
    import torch

    if getattr(device, "type", None) != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


# What each part of the file means, written beside it as a `description` attribute, so that a reader with h5py alone
# (no regrun, no README) learns what a dataset holds and in which units (newuser6: none of a burst's 64 datasets
# said). Groups always; datasets by name where the name means the same in every problem, by unit suffix otherwise.
GROUP_MEANINGS = {
    "config": "the run's configuration: /config/resolved the resolved config (YAML text), /config/overrides the "
              "command-line overrides",
    "data": "the run's inputs, when small; images in FAIR's layout ([i, j]: column i, row j from the bottom; "
            "numpy.flipud(a.T) is the image as stored)",
    "history": "one value per solver iteration, every dataset in lockstep with /history/iter",
    "tables": "further tables, one subgroup per table, its columns of equal length",
    "result": "the run's final arrays; images in FAIR's layout ([i, j]: column i, row j from the bottom; "
              "numpy.flipud(a.T) is the image as stored)",
    "metrics": "the run's final scalars",
    "stats": "the solver's statistics (counts, timings, settings it chose)",
    "paper": "values the paper reports, for comparison with /metrics of the same name",
    "first_solve": "the first answer of a run its problem solved again (/metrics/solved_again; the reason is in the "
                   "status message): /first_solve/result and /first_solve/metrics as /result and /metrics (the "
                   "same answer where the run kept it, /metrics/motion_model_kept_affine)",
}
FIELD_MEANINGS = {
    "iter": "iteration number (0 = the start)",
    "time": "seconds since the solve began (wall clock)",
    "level": "the multiscale level (scale) the iteration belongs to",
    "J": "the objective value the solver minimises",
    "grad_norm": "norm of the objective's gradient",
    "psnr": "peak signal-to-noise ratio against the known truth, in dB (higher is better)",
    "psnr_bicubic": "super-resolution from your frames: the PSNR of frame 0 upsampled by bicubic convolution against "
                    "the same truth, in dB: the baseline psnr is held to",
    "truth_rescaled": "super-resolution from your frames: the factor problem.truth was read at, where its image file "
                      "holds another full scale than the frames' (8 bits, 16 bits, floats in [0, 1]) and fits them "
                      "at that ratio: the truth compared at the frames' scale",
    "ssim": "structural similarity against the known truth, 0-1 (higher is better)",
    "rel_error": "relative error ||x - x_true|| / ||x_true|| against the known truth (lower is better)",
    "tre": "target registration error: mean distance of the landmarks after registration, in domain units",
    "tre_initial": "target registration error before registration, in domain units",
    "disp_rmse": "RMS distance between the found and the true transformation over the grid, in pixels",
    "w": "the transformation or motion parameters found (registration: as the solver parametrises it; "
         "super-resolution: each frame's motion after frame 0, six numbers a frame, (A11, A12, A21, A22, b1, b2): frame "
         "j shows at a point x what the reconstruction holds at A x + b, before its blur and sampling, x and A x + b "
         "in the domain's units (problem.omega))",
    "w_affine": "the affine y = A x + b found, as (a11, a12, a21, a22, b1, b2), x in the reference's and y in "
                "the template's coordinates (FAIR's: x1 column, x2 row from the bottom)",
    "w_true": "the true transformation's parameters (synthetic data)",
    "fit_quality": "0-1: the share of the removable misfit removed (after an intensity gain and offset)",
    "misfit_px": "the misalignment, in pixels, that the residual left would correspond to",
    "reconstruction": "the super-resolved image (FAIR's layout; reconstruction.npy beside the file is it as stored)",
    "registered": "the template transformed onto the reference",
    "template": "the template image (FAIR's layout)",
    "reference": "the reference image (FAIR's layout)",
    "omega": "the image domain [x1 min, x1 max, x2 min, x2 max], in domain units",
    "frames": "the low-resolution frames (frames, [channels,] columns, rows-from-the-bottom: FAIR's layout)",
    "frame_files": "the frame files in the order used (frame 0 is the reference pose)",
    "grid_from": "CT, your sinogram: where the reconstruction grid's size came from (problem.size typed, "
                 "problem.truth_file's shape, the default, or the file's detector where the object reaches past "
                 "the default grid)",
    "matlab_radon": "CT, your sinogram: a MATLAB radon file (R, xp, theta) read as MATLAB wrote it: R's shape (bins, "
                    "views), the degrees added to theta, the grid and where it came from, the rotation centre used",
    "support": "CT: the region the reconstruction is solved on and psnr, ssim and rel_error are computed over: "
               "'square' (the whole grid) or 'disk R' (the disk of R times the grid's half width; problem.support)",
    "psnr_disk": "CT, problem.support square: psnr inside the disk of problem.mask_radius, as a disk run computes it, "
                 "in dB",
    "angles_deg": "CT: the views' angles used, in degrees (a file's own angles plus problem.angle_start, else spread "
                  "evenly over problem.angle_range from problem.angle_start)",
    "lam_chosen": "the regularisation weight the run chose (lambda_f or solver.lam)",
    "noise_sigma": "the noise standard deviation used or estimated, in the data's intensity units",
    "score": "the detection score: the root's occurrence map summed (about the number of objects)",
    "n_detected": "the number of instances found (rows of /tables/detections)",
}
# the weight search's curve, /tables/lam_curve (figures/lam_curve.png): its columns were "column 'criterion' of the
# table 'lam_curve'", which a reader who did not run it could not read (newuser23)
TABLE_COLUMN_MEANINGS = {
    ("lam_curve", "lam"): "a weight the search tried (problem.lambda_f or solver.lam), in the order tried",
    ("lam_curve", "criterion"): "the rule's value at that weight (problem.lam_rule or solver.lam_rule, named in the "
                                "status message), lower is better: the search takes its least before any walk from "
                                "it; the weight the run kept is /metrics/lam_chosen",
    ("lam_curve", "rss"): "the squared data misfit ||r||^2 at that weight (CT's cv: of the held-out views)",
    ("lam_curve", "trace"): "tr H, the influence matrix's trace (the fit's degrees of freedom) at that weight, as the "
                            "rule estimated it; NaN where the rule needs none",
}
# a name whose meaning differs by problem: CT's reconstruction was described as "the super-resolved image" with a
# reconstruction.npy beside it as stored (newuser13); CT's, since newuser17, is the array as held
# Detection keeps its images as drawn, not in FAIR's layout (newuser14: flipud(a.T) of the scene gave a mirrored,
# channels-last-as-rows array).
DETECTION_LAYOUT = ("images as drawn: (channels, rows, columns) or (rows, columns), row 0 at the top, in the pixels of "
                    "the scene searched (problem.scale 2: half the photo's size; divided again by problem.scene.object_scale, a "
                    "list's scenes side by side)")
PROBLEM_GROUP_MEANINGS = {
    "crab_detection": {"data": f"the run's inputs, when small; {DETECTION_LAYOUT}",
                       "result": f"the run's final arrays; {DETECTION_LAYOUT}; /result/occurrence/<part> each part's "
                                 "occurrence map, /result/poses (row, col, angle, loss, weight) per /result/pose_nodes"},
}
PROBLEM_FIELD_MEANINGS = {
    "crab_detection": {"template": f"the template image; {DETECTION_LAYOUT}",
                       "scene": f"the scene searched; {DETECTION_LAYOUT}",
                       # summary.md listed poses = [[81.6, 57.9, -69.7, 4.3e-06, 1.0], ...] unnamed (newuser16)
                       "poses": "the strongest instance's pose per node, one row per /result/pose_nodes (the root "
                                "first): row, col, angle (degrees, + clockwise), loss, weight, in the pixels of the "
                                "scene searched (half the photo's at problem.scale 2); every instance, in the "
                                "photo's pixels: /tables/detections"},
    "ct_fewview": {
        "reconstruction": "the reconstructed image (2-D: [i, j] = (x1_i, x2_j), as the figures draw it with x1 to "
                          "the right and x2 up; 3-D: x3 the rotation axis; docs/ct.md, 'Geometry and projector'); "
                          "problem.truth_file is compared with it in this layout; a run on your sinogram also "
                          "writes it as reconstruction.npy beside this file, the same array",
    },
}
UNIT_SUFFIXES = {"_px": "in pixels", "_s": "in seconds", "_seconds": "in seconds", "_deg": "in degrees",
                 "_db": "in dB", "_mb": "in MiB"}
PROBLEM_DOCS = {"multiscale_affine": "docs/registration.md", "superres": "docs/superres.md",
                "ct_fewview": "docs/ct.md", "crab_detection": "docs/detection.md", "motif_pose": "docs/detection.md",
                "spike_pair": "docs/detection.md"}
ROOT_MEANINGS = ("status: running / completed / failed / interrupted / diverged (a .partial file left 'running' "
                 "is a run killed outright); message: what the solver did; error: why it failed; start_time, "
                 "end_time: ISO 8601 with the UTC offset; wall_time: seconds; run_id: sha256 of the resolved "
                 "config; pid, host: the process that wrote the file; git_dirty: the checkout had uncommitted changes; solver_status: converged / max_iter / "
                 "stopped / diverged; gpu_peak_memory_mb: MiB. Every group and dataset carries a 'description'.")


def describe(group: str, key: str, problem: str | None = None) -> str:
    """The `description` attribute of /group/key: its meaning where the name is known (FIELD_MEANINGS), else
    its group's meaning and the unit its suffix says, and where the problem documents it."""
    top = group.split("/")[0]
    if key in PROBLEM_FIELD_MEANINGS.get(problem, {}):
        return PROBLEM_FIELD_MEANINGS[problem][key]
    if key in FIELD_MEANINGS:
        return FIELD_MEANINGS[key]
    unit = next((u for suffix, u in UNIT_SUFFIXES.items() if key.endswith(suffix)), "")
    where = f"; {PROBLEM_DOCS[problem]} describes the problem's names" if problem in PROBLEM_DOCS else ""
    if top == "tables" and (group.split("/", 1)[-1], key) in TABLE_COLUMN_MEANINGS:
        return TABLE_COLUMN_MEANINGS[group.split("/", 1)[-1], key]
    if top == "tables" and group != "tables":
        return f"column {key!r} of the table {group.split('/', 1)[1]!r}" + (f", {unit}" if unit else "") + where
    return f"{group_meaning(top, problem)}: {key!r}" + (f", {unit}" if unit else "") + where


def group_meaning(name: str, problem: str | None = None) -> str:
    """The `description` of the group `name`, the problem's own where its layout differs."""
    return PROBLEM_GROUP_MEANINGS.get(problem, {}).get(name, GROUP_MEANINGS.get(name, name))


def process_facts() -> dict[str, Any]:
    """The writing process (pid, host): a reader tells a run still going from one killed outright, whose
    results.h5.partial says "running" for ever (regrun-collect)."""
    return {"pid": os.getpid(), "host": platform.node()}


def _write_group(f: h5py.File, name: str, items: dict[str, Any]) -> None:
    group = f.require_group(name)
    problem = f.attrs.get("problem")
    problem = problem if isinstance(problem, str) else None
    if name in GROUP_MEANINGS:
        group.attrs["description"] = group_meaning(name, problem)
    for key, value in items.items():
        if key in group:
            del group[key]
        if isinstance(value, dict):
            _write_group(f, f"{name}/{key}", value)
        elif isinstance(value, str):
            group.create_dataset(key, data=value, dtype=h5py.string_dtype())
        else:
            arr = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value)
            if arr.dtype.kind in "OU":
                group.create_dataset(key, data=arr.astype(object), dtype=h5py.string_dtype())
            elif arr.size > 1024:
                # byte shuffle, then gzip's fastest level: noisy float64 arrays (frames, images) compress by their
                # exponent bytes; gzip's default level 4 alone took 0.35 CPU-s for a 256x256 colour run's 16 MB to
                # 14.0 MB, this 0.22 s to 12.9 MB (docs/superres.md, "Eleventh round (srspeed)")
                group.create_dataset(key, data=arr, compression="gzip", compression_opts=1, shuffle=True)
            else:
                group.create_dataset(key, data=arr)
        if not isinstance(value, dict):
            group[key].attrs["description"] = describe(name, key, problem)


MAX_SUFFIX = 1000


def claim_folder(path: str | Path) -> Path:
    """Make `path` (or `path_2`, `path_3`, ... when it is taken) this run's own folder, and return it.

    Run folders are named by time to the second and config hash, so identical runs started together pick the
    same name. Ownership is decided by exclusive creation: `mkdir` of a new folder, and in every case the
    exclusive creation of its `results.h5.partial` (status "running"), which also settles two runs that both
    found the same empty folder. A folder holding a results file or anything else already is someone else's.
    An OSError other than "exists" (read-only place, full disk, a file in the way) propagates."""
    path = Path(os.path.abspath(path))
    blocker = next((p for p in [path, *path.parents] if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise NotADirectoryError(errno.ENOTDIR, f"{blocker} is a file, not a folder", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, MAX_SUFFIX + 1):
        candidate = path if n == 1 else path.with_name(f"{path.name}_{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            if not candidate.is_dir() or any(candidate.iterdir()):
                continue
        try:
            with h5py.File(candidate / (FILENAME + PARTIAL_SUFFIX), "w-") as f:
                f.attrs["schema_version"] = SCHEMA_VERSION
                f.attrs["status"] = "running"
                f.attrs["start_time"] = now_iso()
                _set_attrs(f, process_facts())
        except FileExistsError:
            continue
        return candidate
    raise OSError(errno.EEXIST, f"{MAX_SUFFIX} folders named {path.name}[_N] exist already", str(path))


# numpy's ndarray.tofile on a full disk raises an OSError with no errno, only this text (np.save of a run's answer)
SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")
DISK_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


# h5py's OSError carries HDF5's whole error stack as its text, the system's words inside it
HDF5_REASON = re.compile(r"error message = '([^']+)'")


def os_reason(exc: BaseException) -> str:
    """The reason an OSError gives: its own text, but HDF5's error stack ("Unable to synchronously create file
    (unable to open file: name = ..., errno = 30, error message = 'Read-only file system', ...)") only by the
    system's words inside it, and a short write without an errno (numpy's) as the full disk it is (newuser10)."""
    text = str(getattr(exc, "strerror", None) or exc)
    found = HDF5_REASON.search(text)
    if found:
        return found.group(1)
    if SHORT_WRITE.search(text):
        return os.strerror(errno.ENOSPC)
    return text


def disk_full(exc: BaseException) -> bool:
    """An exception (or one it was raised from) that says the disk or the user's quota is full."""
    while exc is not None:
        if isinstance(exc, OSError) and (exc.errno in DISK_FULL or SHORT_WRITE.search(str(exc))):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class ResultsWriteError(OSError):
    """The results file could not be written (full disk, quota, the folder gone); the message says where."""


@contextmanager
def _writing(path: Path, what: str):
    try:
        yield
    except ResultsWriteError:
        raise
    except OSError as exc:
        raise ResultsWriteError(f"cannot write {what} to {path}: {os_reason(exc)}") from exc


def _open(path: Path, mode: str, wait_s: float = 10.0) -> h5py.File:
    """h5py.File, waiting while another process holds the file's lock: HDF5 refuses to open a file for writing
    while anyone has it open, and a reader (regrun-collect, a sweep looking for completed runs) may have it open
    for a moment between two of this run's writes."""
    import time

    deadline = time.monotonic() + wait_s
    while True:
        try:
            return h5py.File(path, mode)
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _set_attrs(f: h5py.File, attrs: dict[str, Any]) -> None:
    for key, value in attrs.items():
        f.attrs[key] = value if isinstance(value, (bool, int, float)) else str(value)


class ResultsFile:
    """Writes one run's results file under out_dir."""

    def __init__(self, out_dir: Path):
        self.path = Path(out_dir) / FILENAME
        self.partial = Path(out_dir) / (FILENAME + PARTIAL_SUFFIX)

    def begin(self, attrs: dict[str, Any], resolved_yaml: str, overrides: list[str], versions: bool = True) -> None:
        """versions=False leaves out the libraries' versions: a Ctrl-C inside `import torch` leaves torch half
        imported, and importing it again to ask its version crashed the process (SystemError, a segfault)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self.path.unlink()
        # Kept in memory so that a file a failed write damaged can be replaced by one that still says what ran.
        self._head = {"schema_version": SCHEMA_VERSION, "regrun_version": __version__, "status": "running",
                      "about": ROOT_MEANINGS, **process_facts(),
                      "start_time": now_iso(), **(library_versions() if versions else {}), **attrs}
        self._config = {"resolved": resolved_yaml, "overrides": np.array(overrides, dtype=object)}
        with _open(self.partial, "w") as f:  # the folder's claim made it: a sweep or collect may be reading it
            _set_attrs(f, self._head)
            _write_group(f, "config", self._config)

    def set_attrs(self, attrs: dict[str, Any]) -> None:
        self._head.update(attrs)
        with _writing(self.partial, "attributes"), _open(self.partial, "a") as f:
            _set_attrs(f, attrs)

    def write(self, group: str, items: dict[str, Any]) -> None:
        if items:
            with _writing(self.partial, f"/{group}"), _open(self.partial, "a") as f:
                _write_group(f, group, items)

    def finish(self, status: str, wall_time: float, message: str = "", error: str = "") -> Path:
        """Write the final status and rename the file to results.h5. When the file cannot take it (full disk,
        a file damaged by a failed write), it is replaced by a small one holding the attributes, the config and
        the status (deleting the big one first frees the space for it); when even that fails, nothing is left
        that could pass for a run in progress and ResultsWriteError says why."""
        if status not in RUN_STATUSES[1:]:
            raise ValueError(f"final status {status!r} not in {RUN_STATUSES[1:]}")
        final = {"status": status, "end_time": now_iso(), "wall_time": float(wall_time), "message": message}
        if error:
            final["error"] = error
        try:
            with _open(self.partial, "a") as f:
                _set_attrs(f, final)
            with h5py.File(self.partial, "r") as f:  # readable as a whole, not only writable
                if f.attrs["status"] != status or "config" not in f:
                    raise OSError(errno.EIO, "the final status did not read back")
            self.partial.replace(self.path)
        except OSError as exc:
            self._rewrite_small(final, exc)
        return self.path

    def _rewrite_small(self, final: dict[str, Any], cause: OSError) -> None:
        why = f"results file rewritten without its data after: {os_reason(cause)}"
        final = {**final, "error": f"{final.get('error', '')}\n{why}".strip()}
        for path in (self.partial, self.path):
            path.unlink(missing_ok=True)
        try:
            with h5py.File(self.path, "w") as f:
                _set_attrs(f, {**self._head, **final})
                _write_group(f, "config", self._config)
        except OSError as exc:
            self.path.unlink(missing_ok=True)
            raise ResultsWriteError(f"cannot write the results file {self.path}: {os_reason(exc)} "
                                    f"(run status {final['status']})") from exc


def _read(node) -> Any:
    if isinstance(node, h5py.Group):
        return {key: _read(child) for key, child in node.items()}
    value = node[()]
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.dtype == object:
        return [v.decode() if isinstance(v, bytes) else v for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def load(path: str | Path) -> dict[str, Any]:
    """Everything in a results file as a dict: {"attrs": {...}, "config": {...}, "history": {...}, ...}.
    `path` may be the file or its run folder."""
    path = Path(path)
    if path.is_dir():
        path = path / FILENAME if (path / FILENAME).exists() else path / (FILENAME + PARTIAL_SUFFIX)
    with h5py.File(path, "r") as f:
        out = {"attrs": {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}}
        for key in f:
            out[key] = _read(f[key])
    return out


def _sweep_runs(folder: Path, path: str | Path, key: str, names: tuple[str, ...], problem: str | None) -> str:
    """Where `folder` is a sweep's (its runs in subfolders): which of its runs (of `problem`) hold one of the weights
    `names`,
    and the setting that takes one; a sweep's folder given to from: was told only to "give a run folder"
    (newuser13). '' for a folder without runs."""
    runs = sorted(d for d in folder.iterdir() if (d / FILENAME).is_file())
    if not runs:
        return ""

    def holds(run: Path) -> bool:
        try:
            with h5py.File(run / FILENAME, "r") as f:
                return (str(f.attrs.get("status")) == "completed" and any(f"metrics/{n}" in f for n in names)
                        and problem in (None, str(f.attrs.get("problem"))))
        except OSError:
            return False

    with_weight = [run for run in runs if holds(run)]
    listed = ", ".join(run.name for run in (with_weight or runs)[:4]) + (", ..." if len(with_weight or runs) > 4
                                                                          else "")
    example = f"{key}={FROM_PREFIX}{Path(path) / (with_weight or runs)[0].name}"
    if with_weight:
        return (f"; it is a sweep's folder of {len(runs)} runs, {len(with_weight)} of them completed with a weight "
                f"({listed}): give one, e.g. {example}")
    typed = sorted({v for run in runs if (v := _typed_weight(run, key)) is not None})
    if typed:
        # a sweep over typed weights (solver.lam=0.5,2) learned none: "give the run folder of one that has it"
        # sent the user looking for a run that is not there (newuser15)
        values = ", ".join(f"{v:g}" for v in typed)
        return (f"; it is a sweep's folder of {len(runs)} runs ({listed}) whose weights were typed ({key} = "
                f"{values}), none learned ({', '.join('/metrics/' + n for n in names)}): type the one you choose, "
                f"e.g. {key}={typed[0]:g} (regrun-collect {path} puts the runs side by side)")
    return (f"; it is a sweep's folder of {len(runs)} runs ({listed}), none completed with a weight "
            f"({', '.join('/metrics/' + n for n in names)}): give the run folder of one that has it")


def _typed_weight(run: Path, key: str) -> float | None:
    """The number a completed run had for `key` in its resolved config (a weight typed, not learned), else None."""
    import yaml

    try:
        with h5py.File(run / FILENAME, "r") as f:
            if str(f.attrs.get("status")) != "completed" or "config/resolved" not in f:
                return None
            node = yaml.safe_load(_read(f["config/resolved"]))
    except (OSError, yaml.YAMLError):
        return None
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return float(node) if isinstance(node, (int, float)) and not isinstance(node, bool) else None


def learned_lam(path: str | Path, key: str = "solver.lam", names: tuple[str, ...] = (LEARNED_LAM,),
                problem: str | None = None) -> float:
    """The weight a completed learning run chose (/metrics/lam_learned), `path` its results file or run folder.
    Each way this can fail is a one-line UserError naming `key`: no such path, a folder without a results file,
    a file that is not a regrun results file, a run whose status is not completed, a run that learned no
    weight. `names`: the metrics read, first found wins (super-resolution also takes a weight chosen from other
    frames, /metrics/lam_chosen); `problem`: the problem the run must have solved (a weight's units belong to
    its problem), None for any."""
    where = f"{key}={FROM_PREFIX}{path}"
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(f"{where}: no such file or folder (give a run's results.h5 or its run folder)")
    if p.is_dir():
        if (p / FILENAME).exists():
            p = p / FILENAME
        elif (p / (FILENAME + PARTIAL_SUFFIX)).exists():
            p = p / (FILENAME + PARTIAL_SUFFIX)  # a run still going (or killed): its status says so below
        else:
            raise UserError(f"{where}: the folder holds no {FILENAME} (give a run folder of regrun)"
                            f"{_sweep_runs(p, path, key, names, problem)}")
    try:
        f = h5py.File(p, "r")
    except OSError:
        raise UserError(f"{where}: {p.name} is not a results file (not HDF5)") from None
    with f:
        if "schema_version" not in f.attrs or "status" not in f.attrs:
            raise UserError(f"{where}: {p.name} is not a regrun results file (no schema_version / status)")
        status = str(f.attrs["status"])
        if status != "completed":
            raise UserError(f"{where}: that run's status is {status!r}, not 'completed'")
        if problem is not None and str(f.attrs.get("problem", "?")) != problem:
            raise UserError(f"{where}: that run solved problem {str(f.attrs.get('problem', '?'))!r}, not "
                            f"{problem!r} (a weight belongs to its problem's units)")
        found = [f"metrics/{n}" for n in names if f"metrics/{n}" in f]
        if not found:
            solver = str(f.attrs.get("solver", "?"))
            # a run whose weight was typed was told "learned no weight" alone (newuser23)
            value = _typed_weight(p.parent, key) if p.name == FILENAME else None
            typed = "" if value is None else f"; its weight was typed, {key}={value:g}: type it here too, {key}={value:g}"
            if names == (LEARNED_LAM,):
                raise UserError(f"{where}: that run (solver {solver}) learned no weight: no /metrics/{LEARNED_LAM} "
                                f"(the solvers bilevel and grid_search write it){typed}")
            raise UserError(f"{where}: that run (solver {solver}) learned no weight: none of "
                            f"{', '.join('/metrics/' + n for n in names)} (a run with the weight auto writes "
                            f"lam_chosen){typed}")
        value = float(f[found[0]][()])
    if not np.isfinite(value) or value < 0:
        raise UserError(f"{where}: the stored weight {value!r} is not a finite number >= 0")
    return value


def run_values(path: str | Path, names: tuple[str, ...]) -> dict:
    """The datasets `names` ("metrics/lam_chosen", "stats/tv_grid") of the run at `path` (its results file or run
    folder, as `learned_lam` read it: call that first, it says what is wrong with the path), those it holds,
    bytes read as text. A weight carried from: another run is solved as that run solved it (newuser24)."""
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / FILENAME if (p / FILENAME).exists() else p / (FILENAME + PARTIAL_SUFFIX)
    with h5py.File(p, "r") as f:
        found = {name: f[name][()] for name in names if name in f}
    return {k: (v.decode() if isinstance(v, bytes) else v.item() if isinstance(v, np.generic) else v)
            for k, v in found.items()}


def weight_setting(key: str, value: Any, **read) -> tuple[float, str | None]:
    """A fixed regularization weight from its setting: a number >= 0, or `from:PATH` (the weight a learning run
    stored, `learned_lam`, which `read` is passed on to). Returns (weight, PATH or None)."""
    if isinstance(value, str) and value.startswith(FROM_PREFIX):
        path = value[len(FROM_PREFIX):]
        if not path:
            raise UserError(f"{key}={value}: give the path after from:, e.g. {key}=from:outputs/RUN")
        return learned_lam(path, key, **read), path
    allowed = (f"must be a number >= 0, auto (chosen from the data) or {FROM_PREFIX}PATH (a learning run's results "
               "file or run folder)")
    if isinstance(value, str):
        raise UserError(f"{key}={value!r} {allowed}")
    try:
        return check_float(key, value, 0.0), None
    except UserError:  # a negative weight: name every form the setting takes, as a wrong word does
        raise UserError(f"{key}={value} {allowed}") from None

"""On-disk cache of a HierarchicalDetector's extraction (App. A.4): the non-leaf (spike) motifs and the canonical
Detection on the template, so that runs with the same template and settings skip the extraction (issue 11 §7
times a detection "with the template's motifs cached"; in a crab_eval sweep extraction is ~40% of each job).

The key is a SHA-256 of everything extract() reads: the template (image, parts' images, masks, offsets and pivots,
tree, root), every node's NodeSettings after calibration (so the loaded gammas and alphas), sigma0, aggregate,
the extraction padding, the registrar (its qualified name and its `settings`), dtype, device type, the torch
version and the source of regrun's imaging/detection/optim/linalg packages (an edit to the extraction code is a miss, not a
stale hit). Files hold CPU tensors; loading moves them to the template's device and dtype (the run's). A file
that cannot be read or was written for another key is ignored with a warning and rewritten after extraction.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path

import torch

from ..errors import UserError
from .detector import Detection, HierarchicalDetector, Motif, NodeResult
from .rotation_search import StrideFit

FORMAT = 1
SOURCE_PACKAGES = ("imaging", "detection", "optim", "linalg")  # the code an extraction runs (regrun/<name>/**/*.py)


class MotifCacheWarning(UserWarning):
    """A cache file was unreadable or stale: the motifs were extracted again."""


def cache_dir(spec) -> Path | None:
    """solver.motif_cache as a directory: auto -> $XDG_CACHE_HOME/regrun/crab_motifs (~/.cache when unset),
    none (or null) -> None (no cache), anything else -> that directory."""
    if spec is None or str(spec) == "none":
        return None
    if not isinstance(spec, (str, os.PathLike)) or not str(spec):
        raise UserError(f"solver.motif_cache={spec!r} is not valid; allowed: auto, none, or a directory")
    if str(spec) == "auto":
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return Path(base) / "regrun" / "crab_motifs"
    return Path(spec).expanduser()


@lru_cache(maxsize=1)
def _source_digest() -> str:
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for pkg in SOURCE_PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _tensor_bytes(h, t: torch.Tensor) -> None:
    t = t.detach().to("cpu").contiguous()
    h.update(f"{tuple(t.shape)}{t.dtype}".encode())
    h.update(t.numpy().tobytes())


def _registrar_id(registrar) -> str:
    kind = registrar if callable(registrar) and not hasattr(registrar, "settings") else type(registrar)
    name = f"{getattr(kind, '__module__', '?')}.{getattr(kind, '__qualname__', repr(kind))}"
    settings = getattr(registrar, "settings", None)
    return name if settings is None else f"{name}({settings!r})"


def extraction_key(det: HierarchicalDetector) -> str:
    """SHA-256 (hex) of everything det.extract() depends on (module docstring)."""
    tpl = det.template
    h = hashlib.sha256()
    h.update(f"format {FORMAT}; torch {torch.__version__}; code {_source_digest()};".encode())
    h.update(f"dtype {tpl.image.dtype}; device {tpl.image.device.type};".encode())
    h.update(f"tree {sorted((k, tuple(v)) for k, v in tpl.tree.items())}; root {tpl.root};".encode())
    _tensor_bytes(h, tpl.image)
    for name, part in sorted(tpl.parts.items()):
        h.update(f"part {name} {tuple(part.offset)} {tuple(float(v) for v in part.pivot)};".encode())
        _tensor_bytes(h, part.image)
        _tensor_bytes(h, part.mask)
    for node in sorted(det.settings):
        h.update(f"{node}: {dataclasses.asdict(det.settings[node])!r};".encode())
    h.update(f"sigma0 {det.sigma0!r}; aggregate {det.aggregate}; pad {det.pad}; "
             f"registrar {_registrar_id(det.registrar)}; extraction {_registrar_id(det.extraction_registrar)}".encode())
    return h.hexdigest()


def cache_file(directory: Path, det: HierarchicalDetector, key: str) -> Path:
    """The file for det's extraction: readable template name (synthetic/2 -> synthetic_s2), then the key."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", det.template.name.replace("/", "_s"))
    return directory / f"{name}-{key[:32]}.pt"


# ---- (de)serialisation: plain dicts of CPU tensors, so torch.load(weights_only=True) reads them ----------------
def _cpu(t):
    return None if t is None else t.detach().to("cpu").clone()


def _motif_dict(m: Motif) -> dict:
    return {"name": m.name, "kind": m.kind, "image": _cpu(m.image), "mask": _cpu(m.mask), "centre": list(m.centre),
            "joint": list(m.joint), "origin": list(m.origin)}


def _node_dict(r: NodeResult) -> dict:
    return {"centre": _cpu(r.fit.centre), "angle": _cpu(r.fit.angle), "loss": _cpu(r.fit.loss),
            "weights": _cpu(r.weights), "locations": _cpu(r.locations), "occurrence": _cpu(r.occurrence),
            "screened": _cpu(r.screened)}


def _restore(body: dict, det: HierarchicalDetector) -> Detection:
    dev, dt = det.template.image.device, det.template.image.dtype

    def mv(t):  # floating tensors in the run's dtype (they were saved in it); bools as they are
        if t is None:
            return None
        return t.to(device=dev, dtype=dt) if t.is_floating_point() else t.to(device=dev)

    spikes = {}
    for name, m in body["motifs"].items():
        spikes[name] = Motif(m["name"], m["kind"], mv(m["image"]), mv(m["mask"]), tuple(m["centre"]),
                             tuple(m["joint"]), tuple(m["origin"]))
    nodes = {name: NodeResult(StrideFit(mv(r["centre"]), mv(r["angle"]), mv(r["loss"])), mv(r["weights"]),
                              mv(r["locations"]), mv(r["occurrence"]), mv(r["screened"]))
             for name, r in body["nodes"].items()}
    missing = [n for n, _ in det.order if n not in nodes or (n not in det.template.parts and n not in spikes)]
    if missing:
        raise ValueError(f"no entry for nodes {missing}")
    for name in [n for n in det.motifs if det.motifs[n].kind == "spike"]:
        del det.motifs[name]
    det.motifs.update(spikes)
    det.canonical = Detection(nodes, det.template.root, dict(det.motifs), det.template.centre,
                              {k: float(v) for k, v in body["timings"].items()})
    return det.canonical


def load(path: Path, key: str, det: HierarchicalDetector) -> Detection | None:
    """The cached extraction installed into det (its spike motifs and det.canonical), or None (with a warning when
    a file exists but is unreadable or holds another key)."""
    if not path.is_file():
        return None
    try:
        body = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(body, dict) or body.get("format") != FORMAT or body.get("key") != key:
            raise ValueError("written for other settings (key or format differs)")
        return _restore(body, det)
    except Exception as exc:  # any unreadable file: extract again rather than fail the run
        warnings.warn(f"motif cache {path} ignored ({type(exc).__name__}: {exc}); extracting again",
                      MotifCacheWarning, stacklevel=2)
        return None


def save(path: Path, key: str, canonical: Detection) -> None:
    """Write atomically (a temporary file renamed over the target), so parallel sweep jobs never read half a file.
    A directory that cannot be written costs a warning, not the run."""
    spikes = {n: _motif_dict(m) for n, m in canonical.motifs.items() if m.kind == "spike"}
    body = {"format": FORMAT, "key": key, "motifs": spikes,
            "nodes": {n: _node_dict(r) for n, r in canonical.nodes.items()},
            "timings": dict(canonical.timings)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pt")
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(body, f)
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; a shared <dir> should serve every user who can read it
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        warnings.warn(f"motif cache not written to {path} ({exc})", MotifCacheWarning, stacklevel=2)


def cached_extract(det: HierarchicalDetector, directory: Path | None) -> tuple[Detection, Path | None, bool]:
    """det.extract(), or its cached result: (canonical Detection, cache file or None, whether it was loaded)."""
    if directory is None:
        return det.extract(), None, False
    key = extraction_key(det)
    path = cache_file(directory, det, key)
    canonical = load(path, key, det)
    if canonical is not None:
        return canonical, path, True
    canonical = det.extract()
    save(path, key, canonical)
    return canonical, path, False


# ---- measured per-node costs (issue 19: detection's progress weighs its nodes by them) ----------------------------
def costs_file(path: Path) -> Path:
    """The record of measured per-node detection costs beside a cache file (same key: template, settings,
    thresholds, registrar, dtype, code)."""
    return path.with_suffix(".costs.json")


def _scene_key(shape) -> str:
    return "x".join(str(int(v)) for v in shape)


def load_costs(path: Path | None, shape) -> dict[str, float] | None:
    """The CPU seconds per node of the last detection recorded for this cache file and a scene of `shape`
    (C, H, W), or None (no cache, no record for that size, or an unreadable record)."""
    if path is None:
        return None
    import json

    try:
        record = json.loads(costs_file(path).read_text()).get(_scene_key(shape))
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(record, dict) or not all(isinstance(v, (int, float)) and v > 0 for v in record.values()):
        return None
    return {str(k): float(v) for k, v in record.items()}


def save_costs(path: Path | None, shape, cpu: dict[str, float]) -> None:
    """Record a detection's CPU seconds per node for scenes of `shape` (replacing that size's last record); a
    place that cannot be written costs nothing (the record only sharpens the next run's progress)."""
    if path is None or not cpu:
        return
    import json

    target = costs_file(path)
    try:
        try:
            body = json.loads(target.read_text())
            body = body if isinstance(body, dict) else {}
        except (OSError, ValueError):
            body = {}
        body[_scene_key(shape)] = {k: round(float(v), 4) for k, v in cpu.items()}
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(body, f)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        pass

"""The crab detector's extraction cache (regrun/detection/motif_cache.py): hits, misses, corrupt files, off."""
import numpy as np
import pytest

from regrun.config import compose
from regrun.errors import UserError
from regrun.detection.calibration import load_calibration
from regrun.detection.crab_data import synthetic_crab
from regrun.detection.motif_cache import MotifCacheWarning, cache_dir, cached_extract, extraction_key
from regrun.record import load
from regrun.run import run
from regrun.solvers.hierarchical import CALIBRATION_DIR, build_detector

TIMINGS = ("extraction_time_s", "detection_time_s", "extraction_cached")


def _run(out, device, overrides):
    ov = ["problem=crab_detection", "solver=hierarchical", "progress=false", "figures=false",
          f"device={device.type}", "problem.scene.size=[240,300]", "problem.scene.centre=[120,150]", *overrides]
    outcome = run(compose(ov), out, ov)
    assert outcome.status == "completed", outcome.error
    return load(outcome.results_path)


def test_second_run_loads_the_extraction_and_detects_bit_identically(tmp_path, device):
    cache = tmp_path / "cache"
    first = _run(tmp_path / "a", device, [f"solver.motif_cache={cache}"])
    second = _run(tmp_path / "b", device, [f"solver.motif_cache={cache}"])
    assert first["metrics"]["extraction_cached"] == 0.0 and second["metrics"]["extraction_cached"] == 1.0
    assert len(list(cache.glob("*.pt"))) == 1 and second["stats"]["motif_cache"].startswith(str(cache))
    assert first["metrics"]["score"] > 0.5  # a real detection, not two empty maps
    m1 = {k: v for k, v in first["metrics"].items() if k not in TIMINGS}
    m2 = {k: v for k, v in second["metrics"].items() if k not in TIMINGS}
    assert m1 == m2
    for name, occ in first["result"]["occurrence"].items():
        assert np.array_equal(occ, second["result"]["occurrence"][name]), name
    assert np.array_equal(first["result"]["poses"], second["result"]["poses"])


def test_motif_cache_none_never_writes(tmp_path, device, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    saved = _run(tmp_path / "a", device, ["solver.motif_cache=none"])
    assert saved["metrics"]["extraction_cached"] == 0.0 and saved["stats"]["motif_cache"] == "none"
    assert not (tmp_path / "xdg").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["a"]


def test_auto_honours_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir("auto") == tmp_path / "regrun" / "crab_motifs"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir("auto") == tmp_path / "home" / ".cache" / "regrun" / "crab_motifs"
    assert cache_dir("none") is None and cache_dir(None) is None
    assert cache_dir(str(tmp_path / "x")) == tmp_path / "x"
    with pytest.raises(UserError, match="solver.motif_cache=5"):
        cache_dir(5)


CALIBRATED_RANGE = ("solver.leaf.angle_max=60", "solver.spike.angle_max=50")


def _detector(device, *overrides):
    """The exhaustive registrar (fast extraction) with its shipped thresholds, unless overridden, over the range
    those thresholds were calibrated for (the file without _circle)."""
    cfg = compose(["problem=crab_detection", "solver=hierarchical", "solver.registrar=exhaustive", *CALIBRATED_RANGE,
                   *overrides]).solver
    det = build_detector(cfg, synthetic_crab(0).downscaled(2).to(device), 2)
    if cfg.calibration != "none":
        load_calibration(CALIBRATION_DIR / "crab_synthetic_s2.yaml", det)
    return det


def test_settings_that_matter_change_the_key(device):
    base = extraction_key(_detector(device))
    assert extraction_key(_detector(device)) == base
    det = _detector(device)
    det.settings["eye_pair"].gamma *= 2  # a calibrated threshold
    assert extraction_key(det) != base
    sigma = _detector(device, "solver.calibration=none", "solver.spike.sigma=4.0")  # calibrated for 4.5 only
    assert extraction_key(sigma) != extraction_key(_detector(device, "solver.calibration=none"))
    assert extraction_key(_detector(device, "solver.registrar=descent")) != base
    assert extraction_key(_detector(device, "solver.descent.spike_iters=8")) == base  # unused by exhaustive
    cfg = compose(["problem=crab_detection", "solver=hierarchical", *CALIBRATED_RANGE]).solver
    other = build_detector(cfg, synthetic_crab(1).downscaled(2).to(device), 2)  # another texture
    load_calibration(CALIBRATION_DIR / "crab_synthetic_s2.yaml", other)
    assert extraction_key(other) != base


def test_changed_gamma_misses_and_corrupt_file_falls_back(tmp_path, device):
    det = _detector(device)
    canonical, path, cached = cached_extract(det, tmp_path)
    assert not cached and path.is_file()
    again = _detector(device)
    loaded, path2, cached = cached_extract(again, tmp_path)
    assert cached and path2 == path
    assert again.motifs["crab"].image.device.type == device.type
    assert again.motifs["crab"].image.dtype == det.motifs["crab"].image.dtype
    assert all(bool((again.motifs[n].image == det.motifs[n].image).all()) for n in det.motifs)
    assert float(loaded.nodes["crab"].occurrence.sum()) == float(canonical.nodes["crab"].occurrence.sum())

    # A miss calls extract() (counted here; it returns the extraction above rather than spending another ~1 CPU-s
    # on one: what is checked is the cache's lookup, fallback and rewrite, not the extraction itself).
    extracted = []

    def counted(det_):
        det_.extract = lambda: extracted.append(det_) or canonical
        return det_

    changed = counted(_detector(device))
    changed.settings["left_eye"].gamma *= 1.5
    _, path3, cached = cached_extract(changed, tmp_path)
    assert not cached and path3 != path and extracted == [changed]

    path.write_bytes(b"not a torch file")
    fresh = counted(_detector(device))
    with pytest.warns(MotifCacheWarning, match="ignored"):
        _, _, cached = cached_extract(fresh, tmp_path)
    assert not cached and extracted == [changed, fresh]
    _, _, cached = cached_extract(_detector(device), tmp_path)  # rewritten by the fallback
    assert cached


def test_measured_node_costs_are_recorded_per_scene_size(tmp_path):
    """The per-node CPU seconds a detection measured (progress weighs the next run's nodes by them, issue 19):
    kept per scene size beside the cache file; another size, no record or an unreadable one give None."""
    from regrun.detection.motif_cache import costs_file, load_costs, save_costs

    cache = tmp_path / "synthetic_s2-abc.pt"
    assert load_costs(cache, (3, 192, 256)) is None and load_costs(None, (3, 192, 256)) is None
    save_costs(cache, (3, 192, 256), {"left_eye": 1.0, "crab": 2.5})
    save_costs(cache, (3, 100, 120), {"left_eye": 0.5, "crab": 1.0})
    assert load_costs(cache, (3, 192, 256)) == {"left_eye": 1.0, "crab": 2.5}
    assert load_costs(cache, (3, 100, 120)) == {"left_eye": 0.5, "crab": 1.0}
    assert load_costs(cache, (3, 50, 50)) is None
    costs_file(cache).write_text("{not json")
    assert load_costs(cache, (3, 192, 256)) is None
    save_costs(cache, (3, 192, 256), {"left_eye": 1.0})  # an unreadable record is replaced
    assert load_costs(cache, (3, 192, 256)) == {"left_eye": 1.0}
    save_costs(tmp_path / "missing" / "x.pt", (3, 1, 1), {"a": 1.0})  # an unwritable place costs nothing

"""scripts/gpu_check.sh in its dry-run form (every command composed, none run) and the table it writes
(scripts/gpu_check_table.py) from a fabricated output folder."""
import json
import subprocess
import sys
from pathlib import Path

import h5py

from regrun.config import group_options

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import gpu_check_table  # noqa: E402


def test_dry_run_composes_every_measurement(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(["bash", "scripts/gpu_check.sh", "--dry-run", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert not out.exists()  # nothing ran
    for pair in group_options("ci"):
        for device in ("cpu", "cuda"):
            assert sum(f"+ci={pair} device={device} " in line for line in lines) == 1, (pair, device)
    text = proc.stdout
    assert "-m pytest -q -p no:cacheprovider -o addopts= -rfE -k cuda" in text
    assert "problem.data=frames" in text and "--size 256 --frames 16" in text
    assert "+experiment=crab_eval problem.scale=2" in text
    assert "+experiment=ct_bilevel_3d problem.size=1400 problem.slices=2 device=cuda" in text
    assert "solver.memory.iters=[10,40] solver.memory.modes=[implicit,unrolled,checkpointed,paper]" in text
    assert "problem=multiscale_affine problem.synthetic.size=512 device=cuda" in text
    assert "problem.lambda_f=auto device=cuda" in text  # the 256² run with the weight chosen from the frames
    assert lines[-1].startswith("[table] python scripts/gpu_check_table.py")
    assert "crab_fig3" not in text  # the paper's scenes only with their data
    scenes = subprocess.run(["bash", "scripts/gpu_check.sh", "--dry-run", "--refine-data", "R"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60).stdout
    for angle in ("0.0", "7.5", "15.0", "22.5", "30.0"):
        assert f"+experiment=crab_fig3 problem.data_dir=R problem.scene.angle={angle} device=cuda" in scenes
    bad = subprocess.run(["bash", "scripts/gpu_check.sh", "--fast"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "--fast" in bad.stderr


def _results(folder: Path, metrics: dict, **attrs):
    folder.mkdir(parents=True)
    with h5py.File(folder / "results.h5", "w") as f:
        for k, v in {"status": "completed", "wall_time": 1.5, "device_name": "Test GPU", **attrs}.items():
            f.attrs[k] = v
        g = f.create_group("metrics")
        for k, v in metrics.items():
            g[k] = v


def test_table_from_a_fabricated_run(tmp_path):
    out, docs = tmp_path / "out", tmp_path / "docs"
    _results(out / "cpu" / "superres__varpro_cg", {"psnr": 38.0, "time_solve": 3.0, "final_cg_iters": 79.0})
    _results(out / "cuda" / "superres__varpro_cg", {"psnr": 38.0 * (1 + 2e-9), "time_solve": 0.1,
                                                    "final_cg_iters": 80.0}, gpu_peak_memory_mb=12.0)
    _results(out / "paper" / "superres", {"psnr": 40.0, "motion_error": 0.02}, gpu_peak_memory_mb=900.0)
    ct = {f"mem_hypergradient_{m}_n{n}_MiB": v for m, vs in (("implicit", (60.0, 60.0)), ("unrolled", (4700.0, 18800.0)))
          for n, v in zip((10, 40), vs)}
    _results(out / "paper" / "ct_bilevel", {**ct, "cuda_peak_implicit_n40_MiB": 900.0, "oom_unrolled_n40": 1.0})
    (out / "logs").mkdir()
    (out / "logs" / "pytest_cuda.log").write_text("....\n12 passed, 3 skipped in 20.0s\n")
    (out / "logs" / "paper_superres.status").write_text("exit 0\n")
    docs.mkdir()
    (docs / "devices.md").write_text("# Devices\n<!-- gpu_check:begin -->\nold\n<!-- gpu_check:end -->\nafter\n")
    gpu_check_table.main([str(out), "--docs", str(docs)])
    table = json.loads((docs / "gpu_check.json").read_text())
    row = table["pairs"]["superres__varpro_cg"]
    assert abs(row["max_rel_diff"] - 2e-9) < 1e-12 and row["worst_metric"] == "psnr"  # timings and counts left out
    assert table["pytest_cuda"] == "12 passed, 3 skipped in 20.0s"
    assert table["paper"]["superres"]["gpu_peak_memory_mb"] == 900.0
    assert table["paper"]["crab_detection"]["status"] == "missing"
    md = (docs / "devices.md").read_text()
    assert "old" not in md and "| superres__varpro_cg | completed | completed | 2.0e-09 (psnr)" in md
    assert md.endswith("<!-- gpu_check:end -->\nafter\n") and "psnr 40" in md
    # the CT run's memory per mode and inner count, an out-of-memory count said as such
    assert "| implicit | 60 | 60 | - | 900 | - | - | 0 |" in md
    assert "| unrolled | 4700 | 18800 | - | out of memory | - | - | 470 |" in md


def test_devices_doc_has_the_markers():
    text = (ROOT / "docs" / "devices.md").read_text()
    assert gpu_check_table.BEGIN in text and gpu_check_table.END in text

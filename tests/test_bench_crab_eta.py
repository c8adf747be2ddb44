"""scripts/bench_crab_eta.py's --fit-from: the tuning CSV's work units are recomputed with the settings its runs
had (--override), not today's defaults (docs/detection.md, "Progress and ETA")."""
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_bench():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        spec = importlib.util.spec_from_file_location("bench_crab_eta", ROOT / "scripts" / "bench_crab_eta.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules["bench_crab_eta"] = mod  # its dataclasses look their module up
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(ROOT / "scripts"))


def test_tuning_units_are_recomputed_with_the_runs_settings(tmp_path):
    bench = load_bench()
    csv = tmp_path / "tuning.csv"
    nodes = "left_eye=1 right_eye=1 left_claw=1 right_claw=1 eye_pair=1 crab=2"
    csv.write_text(f"run,scale,nodes_cpu_s\nsynthetic 20 deg,2,{nodes}\n")
    today = bench.tuning_units(str(csv))
    then = bench.tuning_units(str(csv), ["solver.descent.spike_coarse_step=10"])
    assert [c for _, c in then] == [1.0, 1.0, 1.0, 1.0, 1.0, 2.0]
    for (u5, _), (u10, _) in zip(today, then):
        if u5[1] > 0:  # a spike node (float64 FFT): half the coarse angles at 10 deg as at today's 5
            assert u10[1] < 0.6 * u5[1]
            assert u10[2:] == u5[2:]
        else:  # a leaf: its own coarse step, unchanged
            assert u10 == u5

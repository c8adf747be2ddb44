"""scripts/bench_crab_eta.py's --fit-from: the tuning CSV's work units are recomputed with the settings its runs
had (--override), not today's defaults (docs/detection.md, "Progress and ETA")."""

import pytest
from script_module import load_script


def load_bench():
    return load_script("bench_crab_eta")


def test_tuning_units_are_recomputed_with_the_runs_settings(tmp_path):
    bench = load_bench()
    csv = tmp_path / "tuning.csv"
    nodes = "left_eye=1 right_eye=1 left_claw=1 right_claw=1 eye_pair=1 crab=2"
    csv.write_text(f"run,scale,nodes_cpu_s\nsynthetic 20 deg,2,{nodes}\n")
    # the runs' spike descents were float64 (spike_dtype float32 since crabfast): overridden back, as the CSV needs
    today = bench.tuning_units(str(csv), ["solver.descent.spike_dtype=run"])
    then = bench.tuning_units(str(csv), ["solver.descent.spike_coarse_step=10", "solver.descent.spike_dtype=run"])
    assert [c for _, c in then] == [1.0, 1.0, 1.0, 1.0, 1.0, 2.0]
    for (u5, _), (u10, _) in zip(today, then):
        if u5[1] > 0:  # a spike node (float64 FFT): half the coarse angles at 10 deg as at today's 5
            assert u10[1] < 0.6 * u5[1]
            assert u10[2:5] == u5[2:5]
            assert u10[5] < 0.6 * u5[5]  # the scan over the dense cost: angles x pixels
        else:  # a leaf: its own coarse step, unchanged
            assert u10 == u5


def test_reports_of_an_older_plan_are_put_on_the_stages_of_a_newer_one():
    """--reweigh replays a trace on other constants: a report's fraction of the node's work under the plan it ran
    with (before eta8: the search, scan included, and the descent) becomes the same point of the node's stages
    under the new plan (the search's FFT chunks, its scan, the descent)."""
    bench = load_bench()
    old = {"crab": [("spike coarse search", 3.0), ("spike descent", 1.0)]}
    new = {"crab": [("spike coarse search", 2.0), ("spike scan", 1.0), ("spike descent crab", 2.0)]}
    events = [(0.0, "crab", 0.0, 0.0), (1.0, "crab", 0.375, 0.0), (2.0, "crab", 0.75, 0.0), (3.0, "crab", 0.875, 0.0),
              (4.0, "crab", 1.0, 0.0)]
    # half the chunks; the search (and its scan) done; half the descent; all
    assert [bench.stage_position(f, old["crab"]) for _, _, f, _ in events] == [0.0, 0.5, 2.0, 2.5, 3.0]
    assert [f for _, _, f, _ in bench.remap(events, old, new)] == [0.0, 0.2, 0.6, 0.8, 1.0]
    # a plan's own reports map onto itself
    fractions = [0.0, 0.2, 0.6, 0.8, 1.0]
    again = bench.remap([(t, "crab", f, 0.0) for (t, _, _, _), f in zip(events, fractions)], new, new)
    assert [f for _, _, f, _ in again] == fractions
    # work a descent skipped (eta9) is the same share of the descent on the new plan: half of the old descent (1 of
    # the node's 4 s: 1/8 of the node) is 1 of the new descent's 2 s (1/5 of the node)
    assert bench.remap([(3.0, "crab", 0.875, 0.125)], old, new)[0][3] == 0.2


def test_a_chunks_share_of_the_whole_search_is_replayed_as_such():
    """Since etafull the search's chunks report a share of the whole search (FFTs and scan, which run chunk by chunk
    since crabbig); a trace from before, whose chunks said a share of the FFTs alone, is replayed on today's plan
    with the share of chunks run put on the whole search, and a trace of today maps onto itself."""
    bench = load_bench()
    plan = {"crab": [("spike coarse search", 2.0), ("spike scan", 1.0), ("spike descent crab", 2.0)]}
    older = [(1.0, "crab", 0.2, 0.0), (2.0, "crab", 0.6, 0.0), (3.0, "crab", 0.8, 0.0)]  # half the chunks (of 2 s)
    assert [f for _, _, f, _ in bench.remap(older, plan, plan, False, True)] == pytest.approx([0.3, 0.6, 0.8])
    today = [(1.0, "crab", 0.3, 0.0), (2.0, "crab", 0.6, 0.0), (3.0, "crab", 0.8, 0.0)]
    assert bench.stage_position(0.3, plan["crab"], True) == pytest.approx(0.5)
    assert [f for _, _, f, _ in bench.remap(today, plan, plan, True, True)] == pytest.approx([0.3, 0.6, 0.8])


def test_blame_names_the_stage_whose_time_left_the_eta_errs_on():
    """eta11's --blame on a synthetic trace: a leaf (search 1 s, descent 1 s), then a spike node whose descent stops
    at once (0.2 s run where its prior yield says 1 s). Main's ETA (MAIN10: empty maps told as the node starts) is
    off by more than 20% at the leaf's two reports, by the spike descent's time left; told ahead (as the leaf's
    search ends), no report is off."""
    import regrun.detection.unrolled_registrar as U

    bench = load_bench()
    units = {"leaf": [1 / U.FFT_SECONDS[4], 0, 1 / U.SAMPLE_SECONDS[4], 0, 0, 0, 0],
             "crab": [0, 1 / U.FFT_SECONDS[8], 3 / U.SPIKE_SAMPLE_SECONDS[4], 0, 0, 0, 0]}
    plan = bench.plan_from(units, {"leaf": "leaf", "crab": "spike"})
    floor = plan["crab"][2][3]
    skipped = (3 - 3 * floor) / 4  # of the crab's 4 s most work
    trace = {"name": "synthetic", "scale": 2, "order": ["leaf", "crab"], "units": units, "plan": plan,
             "total": 3.2, "expected": {"crab": floor},
             "events": [(0.0, "leaf", 0.0, 0.0), (1.0, "leaf", 0.5, 0.0), (1.9, "leaf", 0.95, 0.0),
                        (2.0, "crab", 0.0, 0.0), (3.0, "crab", 0.25, 0.0), (3.2, "crab", 1.0, skipped)]}
    off, counted, parts = bench.blame_of(trace, bench.MAIN10)
    assert (off, counted) == (2, 4)
    crab = (3 * 0.335 - 0.2) * (1 / 2.2 + 1 / 1.3) / 2  # the mean of (predicted - actual) / time left
    assert parts["crab descent"] == pytest.approx(crab, rel=0.02)
    assert abs(parts["leaves descent"]) < 0.01 and abs(parts["crab search"]) < 0.01
    off, counted, _ = bench.blame_of(trace, {"ahead": {"crab": (1.0, floor)}})
    assert (off, counted) == (0, 4)

"""Four rough edges newuser3 left (newuser4), each as a test that failed before its fix (docs/sweeps.md, "Rough
edges newuser3 left (newuser4)")."""
from __future__ import annotations

import json

import numpy as np

from tests.cli_in_process import regrun_in_process


def test_frames_are_in_the_order_of_the_numbers_in_their_names(tmp_path):
    # f1.png ... f12.png: by name f10, f11, f12 came before f2, and a true-motion file's rows paired with the
    # wrong frames
    from PIL import Image

    from regrun.imaging.io import frame_files, natural_key, read_frames

    for k in (1, 2, 3, 10, 11, 12):
        Image.fromarray(np.full((6, 5), 10 * k, np.uint8)).save(tmp_path / f"f{k}.png")
    assert [f.name for f in frame_files(tmp_path)] == ["f1.png", "f2.png", "f3.png", "f10.png", "f11.png",
                                                       "f12.png"]
    assert read_frames(tmp_path)[:, 0, 0].tolist() == [10, 20, 30, 100, 110, 120]
    # zero-padded names keep their order; a number inside the name counts too (burst_9_a before burst_10_a)
    assert sorted(["f010.png", "f002.png", "f001.png"], key=natural_key) == ["f001.png", "f002.png", "f010.png"]
    assert sorted(["b_10_a.tif", "b_9_a.tif", "B_9_b.tif"], key=natural_key) == ["b_9_a.tif", "B_9_b.tif",
                                                                                 "b_10_a.tif"]


def test_a_sweeps_bad_point_is_refused_before_any_job_starts(tmp_path, monkeypatch, capsys):
    # `-m problem.noise=0.01,-1`: job 0 ran first and job 1 failed when its problem was built
    args = ["-m", "problem=superres", "problem.noise=0.01,-1", "problem.size=16", "problem.n_frames=2",
            f"hydra.sweep.dir={tmp_path / 's'}"]
    result = regrun_in_process(args, tmp_path, monkeypatch, capsys)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("regrun: error: job 1 (problem=superres problem.noise=-1 ") and \
        "problem.noise=-1" in lines[0] and "must be >= 0" in lines[0] and "no job started" in lines[0], lines[0]
    assert not list((tmp_path / "s").glob("*/results.h5*"))


def test_detections_are_listed_on_the_console_and_in_the_summary(tmp_path):
    from regrun.summary import detection_lines, write_run_summary

    n = 12
    table = {"score": np.linspace(1, 0.5, n), "centre_row": np.arange(n) + 179.62, "centre_col": np.full(n, 299.5),
             "angle_deg": np.full(n, -49.99), "box_h": np.ones(n), "box_w": np.ones(n)}
    write_run_summary(tmp_path, status="completed", message="solver converged: score 1.000, 12 detected", error="",
                      facts={}, metrics={}, paper={}, claims={}, wall_time=1.0, tables={"detections": table})
    found = json.loads((tmp_path / "metrics.json").read_text())["detections"]
    assert len(found) == n and found[0] == {"score": 1.0, "centre_row": 179.62, "centre_col": 299.5,
                                            "angle_deg": -49.99}
    lines = detection_lines(found)
    assert lines[0] == "detection 1: centre (row 179.6, col 299.5), angle -50.0 deg (+ is clockwise), score 1.000"
    assert len(lines) == 11 and lines[-1].startswith("and 2 more")
    md = (tmp_path / "summary.md").read_text()
    assert "## Detections" in md and "- detection 1: centre (row 179.6, col 299.5)" in md and "- and 2 more" in md


def test_lambda_at_the_ranges_edge_is_said_with_the_setting_to_widen():
    # every moon burst newuser3 ran recorded lam_at_range_edge = 1 and nothing said so
    from types import SimpleNamespace

    from regrun.problems.superres import SuperRes

    me = SimpleNamespace(weight_settings=SimpleNamespace(lo=1e-3, hi=3.0))
    top = SuperRes.range_edge_warning(me, {"lam_chosen": 1.8703, "lam_at_range_edge": 1.0})
    assert len(top) == 1 and "grid was lowest at its top end, problem.lam_range=[0.001,3]" in top[0] and \
        "lost 0.1-0.7 dB" in top[0] and top[0].endswith("problem.lam_range=[0.001,30]"), top
    low = SuperRes.range_edge_warning(me, {"lam_chosen": 0.0011, "lam_at_range_edge": 1.0})
    assert "bottom end" in low[0] and low[0].endswith("problem.lam_range=[0.0001,3]"), low
    assert SuperRes.range_edge_warning(me, {"lam_chosen": 1.0, "lam_at_range_edge": 0.0}) == []
    assert SuperRes.range_edge_warning(me, {"frames_check_ratio": 0.7}) == []

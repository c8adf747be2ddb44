"""scripts/check_bench_user_ct.py (docs/ct.md, "(ctissue)"): the README's command's answer beside the bench's `auto`
row of the same case, matched by the case's name, size, views and photons (not by its place in the bench), its
PSNR taken from the saved reconstruction against the file's truth as the bench takes it, and a command's row kept in
its run folder so that a second call compares without running it again."""
import json

import h5py
import numpy as np
import pytest

from tests.test_fbp_files import _script


def test_user_rows_match_the_bench_by_case_and_are_not_run_twice(monkeypatch, tmp_path, capsys):
    check, gen = _script("check_bench_user_ct"), _script("heldout_ct_sinograms")
    gen.main(["--seed", "9202", "--out", str(tmp_path / "cases"), "--cases", "ellipses:32:6:1e5", "ellipses:32:4:1e5"])
    cases = [tmp_path / "cases" / "ellipses_32_6_1e+05.npz", tmp_path / "cases" / "ellipses_32_4_1e+05.npz"]
    capsys.readouterr()  # the generator's lines
    # the bench's rows in the other order, and a row of another scan of the same object that must not be taken
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"results": [
        {"object": "ellipses (file)", "size": 32, "views": 4, "photons": 1e5, "auto_cv": {"lam": 2.0, "psnr": 30.0}},
        {"object": "ellipses (file)", "size": 32, "views": 5, "photons": 1e5, "auto_cv": {"lam": 9.0, "psnr": 9.0}},
        {"object": "ellipses (file)", "size": 32, "views": 6, "photons": 1e5, "auto_cv": {"lam": 0.5, "psnr": 34.0}}]}))
    calls = []

    def run_child(args, out, code):  # a user's run: its answer and its reconstruction, no truth
        calls.append(args)
        out.mkdir(parents=True)
        (out / "metrics.json").write_text(json.dumps({"status": "completed", "message": "m"}))
        truth = np.load(args[2].split("=", 1)[1])["truth"]
        with h5py.File(out / "results.h5", "w") as f:
            f["result/reconstruction"] = 0.9 * truth
        return {"ok": True, "cpu_s": 1.0, "wall_s": 1.0, "lam_chosen": 0.5 if "_6_" in out.name else 2.5}

    monkeypatch.setattr(check, "run_child", run_child)
    check.main([str(bench), *map(str, cases), "--runs", str(tmp_path / "runs"), "--json", str(tmp_path / "rows.json")])
    assert [a[:4] for a in calls] == [["problem=ct_fewview", "problem.data=file", f"problem.sinogram={p}",
                                       "solver=fista_tv"] for p in cases]
    rows = json.loads((tmp_path / "rows.json").read_text())
    assert [(r["bench"]["lam"], r["command"]["lam_chosen"]) for r in rows] == [(0.5, 0.5), (2.0, 2.5)]
    assert rows[0]["command"]["status"] == "completed"
    for r, path in zip(rows, cases):  # 0.9 x the truth: the error is 0.1 x the truth inside the disk
        truth = np.load(path)["truth"]
        inside = truth[_script("bench_lambda_ct").case_from_file(path)[0].mask.numpy()]
        peak = inside.max() - inside.min()
        assert r["command_psnr"] == pytest.approx(10 * np.log10(peak**2 / np.mean((0.1 * inside) ** 2)), abs=1e-9)
    first = capsys.readouterr().out
    assert "| -5.0e-01 |" not in first and "| 0.5 | 0.5 |" in first and "| 2 | 2.5 |" in first
    check.main([str(bench), *map(str, cases), "--runs", str(tmp_path / "runs")])  # the stored rows: no new run
    assert len(calls) == 2
    assert capsys.readouterr().out == first

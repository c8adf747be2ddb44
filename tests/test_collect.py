"""regrun-collect on hand-written results files: rows, de-duplication, paper values, plots, iterations."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from regrun import collect
from regrun.record import ResultsFile


def write_run(folder: Path, run_id: str, status: str, theta: float, solver: str = "single_scale",
              tre: float | None = None, paper: dict | None = None, error: str = "", n_iter: int = 4,
              end: float = 1.0) -> Path:
    config = {"problem": {"name": "multiscale_affine", "size": 16}, "solver": {"name": solver, "theta": theta},
              "seed": 0, "progress": False, "paper": paper or {}}
    results = ResultsFile(folder)
    results.begin({"problem": "multiscale_affine", "solver": solver, "device": "cpu", "run_id": run_id},
                  OmegaConf.to_yaml(OmegaConf.create(config)), [f"solver.theta={theta}", "progress=false"])
    results.write("history", {"iter": np.arange(n_iter), "J": 10.0 ** -np.arange(n_iter) * (1 + theta),
                              "time": np.linspace(0, 1, n_iter)})
    if tre is not None:
        results.write("metrics", {"tre": tre, "J": theta})
    if paper:
        results.write("paper", paper)
    path = results.finish(status, wall_time=end, error=error)
    return path


@pytest.fixture
def tree(tmp_path):
    """Two sweeps: b resumed a (a symlink), a failed job re-run in b, folder names that lie about the run id."""
    a, b = tmp_path / "multirun" / "a", tmp_path / "multirun" / "b"
    write_run(a / "0_aaaaaaaa", "1" * 64, "completed", 1e-3, tre=0.02, paper={"tre": 0.03})
    write_run(a / "1_bbbbbbbb", "2" * 64, "failed", 1e-1, error="ValueError: boom\ntraceback...", end=0.5)
    write_run(a / "2_cccccccc", "3" * 64, "completed", 1e-2, tre=0.05, paper={"tre": 0.03})
    b.mkdir(parents=True)
    (b / "0_whatever").symlink_to(a / "0_aaaaaaaa", target_is_directory=True)
    write_run(b / "1_bbbbbbbb", "2" * 64, "completed", 1e-1, tre=0.4, paper={"tre": 0.03}, end=2.0)
    write_run(b / "3_dddddddd", "4" * 64, "completed", 1e-2, solver="multiscale", tre=0.01)
    return tmp_path


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def test_one_row_per_config_hash_from_file_contents(tree):
    out = tree / "out"
    written = collect.collect([tree / "multirun"], out)
    rows = read_csv(out / "runs.csv")
    assert sorted(r["run_id_full"][0] for r in rows) == ["1", "2", "3", "4"]  # the symlink is not a 5th run
    by_id = {r["run_id_full"][0]: r for r in rows}
    assert by_id["2"]["status"] == "completed" and by_id["2"]["tre"] == "0.4"  # the re-run beats the failure
    assert written["dropped"] == 1
    assert by_id["4"]["solver"] == "multiscale" and by_id["1"]["solver.theta"] == "0.001"
    assert by_id["1"]["paper.tre"] == "0.03" and by_id["4"]["paper.tre"] == ""
    assert by_id["1"]["overrides"] == "solver.theta=0.001 progress=false"
    assert written["params"] == ["solver.theta"]  # progress is not a parameter; names have own columns


def test_all_keeps_every_file_and_reports_errors(tree):
    out = tree / "out"
    collect.collect([tree / "multirun"], out, keep_all=True)
    rows = read_csv(out / "runs.csv")
    assert len(rows) == 5
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["error"] == "ValueError: boom" and failed[0]["tre"] == ""
    summary = (out / "summary.md").read_text()
    assert "## Not completed" in summary and "ValueError: boom" in summary


def test_summary_puts_paper_values_beside_measured(tree):
    out = tree / "out"
    collect.collect([tree / "multirun" / "a"], out)
    summary = (out / "summary.md").read_text()
    runs_table = summary.split("## Runs")[1]
    header = next(ln for ln in runs_table.splitlines() if ln.startswith("| run |"))
    cells = [c.strip() for c in header.strip("|").split("|")]
    assert cells[cells.index("tre") + 1: cells.index("tre") + 3] == ["tre (paper)", "tre verdict"]
    row = next(ln for ln in runs_table.splitlines() if ln.startswith("| 11111111 |"))
    assert "| 0.02 | 0.03 | differs (± 0) |" in row  # no claims block: judged exactly


def test_plots_and_iterations(tree):
    out = tree / "out"
    written = collect.collect([tree / "multirun"], out, iterations=True)
    names = sorted(p.name for p in written["plots"])
    assert names == ["convergence_multiscale.png", "convergence_single_scale.png", "metrics_vs_solver.theta.png"]
    assert all(p.stat().st_size > 5000 for p in written["plots"])
    rows = read_csv(out / "iterations.csv")
    assert len(rows) == 4 * 4 and {r["iter"] for r in rows} == {"0", "1", "2", "3"}
    assert "![metrics_vs_solver.theta]" in (out / "summary.md").read_text()


def test_partial_file_counts_as_running_or_killed(tmp_path):
    # a .partial still saying "running": its process alive (this one wrote it) is running, gone is killed (it
    # was listed "interrupted", a Ctrl-C's recorded end; newuser6)
    import h5py

    results = ResultsFile(tmp_path / "run")
    results.begin({"problem": "p", "solver": "s", "run_id": "9" * 64}, "seed: 0\n", [])
    rows_out = tmp_path / "out"
    collect.collect([tmp_path / "run"], rows_out, plots=False)
    assert read_csv(rows_out / "runs.csv")[0]["status"] == "running"
    with h5py.File(results.partial, "a") as f:
        f.attrs["host"] = "another-host"  # a Slurm node's process: this machine cannot ask
    collect.collect([tmp_path / "run"], rows_out, plots=False)
    assert read_csv(rows_out / "runs.csv")[0]["status"] == "unknown"
    with h5py.File(results.partial, "a") as f:
        del f.attrs["pid"]  # written before pids were recorded: killed, as a sweep's resume reads it
    collect.collect([tmp_path / "run"], rows_out, plots=False)
    assert read_csv(rows_out / "runs.csv")[0]["status"] == "killed"


def test_cli_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        collect.main([str(tmp_path / "missing")])
    assert exc.value.code == 2 and "is not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        collect.main([str(tmp_path)])
    assert exc.value.code == 2 and "no results.h5" in capsys.readouterr().err


def test_cli_unknown_metric(tree):
    with pytest.raises(SystemExit) as exc:
        collect.main([str(tree / "multirun"), "--metric", "psnr", "-o", str(tree / "o")])
    assert "psnr" in str(exc.value.code) and "tre" in str(exc.value.code)


def test_hardware_columns_and_devices_line(tmp_path):
    gpu = {"device": "cuda", "device_name": "NVIDIA H100 80GB HBM3", "cuda_version": "13.0",
           "cuda_driver_version": "580.65", "gpu_peak_memory_mb": 41.5}
    cpu = {"device": "cpu", "device_name": "AMD EPYC", "cuda_version": "none", "cuda_driver_version": "none"}
    for i, attrs in enumerate((gpu, cpu)):
        results = ResultsFile(tmp_path / "runs" / str(i))
        results.begin({"problem": "p", "solver": "s", "run_id": str(i) * 64, **attrs}, "seed: 0\n", [])
        results.finish("completed", wall_time=1.0)
    out = tmp_path / "out"
    collect.collect([tmp_path / "runs"], out, plots=False)
    by_device = {r["device"]: r for r in read_csv(out / "runs.csv")}
    assert by_device["cuda"]["device_name"] == "NVIDIA H100 80GB HBM3"
    assert by_device["cuda"]["gpu_peak_memory_mb"] == "41.5" and by_device["cpu"]["gpu_peak_memory_mb"] == ""
    assert by_device["cpu"]["cuda_version"] == "none"
    summary = (out / "summary.md").read_text()
    assert "- `cuda`: NVIDIA H100 80GB HBM3, CUDA 13.0, driver 580.65, peak GPU memory up to 41.5 MiB (1 run)" \
        in summary
    assert "- `cpu`: AMD EPYC (1 run)" in summary and "peak GPU MiB" in summary


def test_groups_from_the_presets_collect_block(tmp_path, capsys):
    """Statistics per `where` group, a pattern pools metrics, a run without the metric is not within target."""
    block = [{"group": "positives", "where": "problem.crab=true",
              "metrics": {"score": {"min": 0.9, "max": 1.1}, "err_*": {"max": 3}, "note": None}},
             {"group": "negatives", "where": ["problem.crab=false", "seed=0"], "metrics": {"fp": {"max": 0}}}]
    runs = [(True, "completed", {"score": 1.0, "err_a": 1.0, "err_b": 2.0, "note": 5.0}),
            (True, "completed", {"score": 1.2, "err_a": 0.5, "err_b": 4.0, "note": 7.0}),
            (True, "failed", None),
            (False, "completed", {"score": 0.0, "fp": 0.0}),
            (False, "completed", {"score": 0.7, "fp": 1.0})]
    for i, (crab, status, metrics) in enumerate(runs):
        config = {"problem": {"name": "p", "crab": crab}, "solver": {"name": "s"}, "seed": 0, "collect": block}
        results = ResultsFile(tmp_path / "sweep" / str(i))
        results.begin({"problem": "p", "solver": "s", "run_id": str(i) * 64}, OmegaConf.to_yaml(
            OmegaConf.create(config)), [f"problem.crab={crab}"])
        if metrics:
            results.write("metrics", metrics)
        results.finish(status, wall_time=1.0)
    out = tmp_path / "out"
    written = collect.collect([tmp_path / "sweep"], out, plots=False)
    rows = {(r["group"], r["metric"]): r for r in read_csv(out / "groups.csv")}
    score = rows[("positives", "score")]
    assert (score["runs"], score["values"], score["mean"], score["max"]) == ("3", "2", "1.1", "1.2")
    assert score["target"] == "[0.9, 1.1]" and score["within_target"] == "1/3"  # 1.2 is out, the failure too
    err = rows[("positives", "err_*")]
    assert err["values"] == "4" and float(err["median"]) == pytest.approx(1.5) and err["within_target"] == "1/3"
    assert rows[("positives", "note")]["within_target"] == "" and rows[("positives", "note")]["min"] == "5.0"
    fp = rows[("negatives", "fp")]
    assert (fp["runs"], fp["mean"], fp["target"], fp["within_target"]) == ("2", "0.5", "<= 0", "1/2")
    assert written["params"] == ["problem.crab"]  # the block itself is not a parameter
    summary = (out / "summary.md").read_text()
    assert "## Groups" in summary and "| positives | 3 | score | 2 | 1.1 | 1.1 | 1 | 1.2 | [0.9, 1.1] | 1/3 |" in summary
    collect.main([str(tmp_path / "sweep"), "-o", str(tmp_path / "o2"), "--no-plots"])
    assert "| negatives | 2 | fp | 2 | 0.5 |" in capsys.readouterr().out


def test_sweep_verdicts_metrics_json_and_the_plot_cap_keeps_paper_metrics(tmp_path):
    import json

    from regrun.record import ResultsFile

    for i, value in enumerate((0.1, 0.2)):
        config = {"problem": {"name": "superres"}, "solver": {"name": "varpro_cg", "theta": i},
                  "paper": {"score": 0.1}, "claims": {"score": {"tol": 0.01, "better": "higher"}}}
        res = ResultsFile(tmp_path / "sweep" / str(i))
        res.begin({"problem": "superres", "solver": "varpro_cg", "run_id": str(i) * 64},
                  OmegaConf.to_yaml(OmegaConf.create(config)), [])
        # many metrics before the one with a paper value, so a plain cap of the first 12 would drop it
        res.write("metrics", {**{f"a{j:02d}": float(j * (i + 1)) for j in range(1, 20)}, "score": value})
        res.write("paper", {"score": 0.1})
        res.finish("completed", wall_time=1.0)
    out = tmp_path / "out"
    written = collect.collect([tmp_path / "sweep"], out)
    assert written["params"] == ["solver.theta"]  # claims.* are not parameters
    runs = {r["run_id"]: r for r in json.loads((out / "metrics.json").read_text())["runs"]}
    assert [c["verdict"] for c in runs["0" * 64]["claims"]] == ["reproduced"]
    assert [c["verdict"] for c in runs["1" * 64]["claims"]] == ["better"]
    assert read_csv(out / "runs.csv")[1]["verdict.score"] == "better"
    summary = (out / "summary.md").read_text()
    assert "## Paper claims" in summary and "1 reproduced, 1 better" in summary
    runs_ = written["runs"]
    chosen = collect.plotted_metrics(runs_, collect.metric_names(runs_, None), None)
    assert chosen[0] == "score" and len(chosen) == collect.MAX_PANELS
    assert collect.plotted_metrics(runs_, collect.metric_names(runs_, None), ["a03"]) == ["a03"]
    with pytest.raises(SystemExit, match="no run has metric"):
        collect.plotted_metrics(runs_, ["score"], ["nope"])


def test_collect_talks(tree, capsys):
    collect.main([str(tree / "multirun"), "--no-plots"])
    out = capsys.readouterr().out
    assert out.startswith("regrun-collect: reading 5 results files ... done in ")


def test_collect_judges_a_run_stopped_at_solver_max_outer_as_capped(tmp_path):
    """Issue 19: an outer-iteration count stopped by solver.max_outer below the paper's is not an improvement."""
    import json

    from regrun.record import ResultsFile

    for i, (cap, outer) in enumerate(((8, 8.0), (40, 12.0))):
        config = {"problem": {"name": "ct_fewview"}, "solver": {"name": "bilevel", "max_outer": cap},
                  "paper": {"outer_iterations": 30},
                  "claims": {"outer_iterations": {"tol": 5, "better": "lower", "cap": "solver.max_outer"}}}
        res = ResultsFile(tmp_path / "sweep" / str(i))
        res.begin({"problem": "ct_fewview", "solver": "bilevel", "run_id": str(i) * 64},
                  OmegaConf.to_yaml(OmegaConf.create(config)), [])
        res.write("metrics", {"outer_iterations": outer})
        res.write("paper", {"outer_iterations": 30.0})
        res.finish("completed", wall_time=1.0)
    out = tmp_path / "out"
    collect.collect([tmp_path / "sweep"], out)
    runs = {r["run_id"]: r for r in json.loads((out / "metrics.json").read_text())["runs"]}
    capped = runs["0" * 64]["claims"][0]
    assert capped["verdict"] == "capped" and "solver.max_outer=8" in capped["why"]
    assert [c["verdict"] for c in runs["1" * 64]["claims"]] == ["better"]  # stopped on its own at 12 of 40
    assert "1 better" in (out / "summary.md").read_text() and "1 capped" in (out / "summary.md").read_text()


def test_collect_and_report_judge_a_run_whose_solver_stopped_on_a_failure_as_stopped(tmp_path):
    """Issue 19: a bilevel run whose line search failed before max_outer (synthetic file, the attributes the run
    writes) is `stopped` with its reason in runs.csv, summary.md, metrics.json and the report's table; a file
    written before solver_status existed is read from its message."""
    import json

    from regrun import report
    from regrun.record import ResultsFile

    stop = "line search failed at outer step 6 of solver.max_outer=12 (no Armijo decrease in 20 trials); loss 0.01"
    for i, attrs in enumerate(({"solver_status": "stopped", "solver_stop": stop}, {})):
        config = {"problem": {"name": "ct_fewview"}, "solver": {"name": "bilevel", "max_outer": 12},
                  "paper": {"outer_iterations": 30},
                  "claims": {"outer_iterations": {"tol": 5, "better": "lower", "cap": "solver.max_outer"}}}
        res = ResultsFile(tmp_path / "sweep" / str(i))
        res.begin({"problem": "ct_fewview", "solver": "bilevel", "run_id": str(i) * 64, **attrs},
                  OmegaConf.to_yaml(OmegaConf.create(config)), [])
        res.write("metrics", {"outer_iterations": 6.0})
        res.write("paper", {"outer_iterations": 30.0})
        res.finish("completed", wall_time=1.0, message="solver stopped: line_search_failed after 6 outer iterations")
    out = tmp_path / "out"
    collect.collect([tmp_path / "sweep"], out)
    runs = {r["run_id"]: r for r in json.loads((out / "metrics.json").read_text())["runs"]}
    (new,), (old,) = runs["0" * 64]["claims"], runs["1" * 64]["claims"]
    assert new["verdict"] == "stopped" and new["why"] == f"the solver stopped: {stop}; the value alone would read better"
    assert old["verdict"] == "stopped" and old["why"].startswith("the solver stopped: line_search_failed after 6")
    assert [r["verdict.outer_iterations"] for r in read_csv(out / "runs.csv")] == ["stopped", "stopped"]
    summary = (out / "summary.md").read_text()
    assert "2 stopped (one row" in summary and "| stopped (± 5, lower is better) |" in summary
    run = collect.read_run(tmp_path / "sweep" / "0" / "results.h5", with_history=False)
    assert 'class="stopped">stopped<div class="why">the solver stopped: line search failed' in report.claim_rows(run)


def test_convergence_colours_follow_the_run_in_every_panel(tmp_path, monkeypatch):
    """A run without one history column (trust_exact has no `damping`; lm has) must keep its colour in the other
    runs' panels: the per-axis colour cycle drew lm's damping in trust_exact's legend colour (new-user pass)."""
    runs = []
    for k, (optimizer, extra) in enumerate([("trust_exact", False), ("lm", True), ("trust_exact", False)]):
        history = {"iter": np.arange(3), "J": np.array([3.0, 2.0, 1.0]) * (k + 1)}
        if extra:
            history["damping"] = np.array([1.0, 0.1, 0.01])
        runs.append(collect.Run(tmp_path, {"solver": "single_scale", "status": "completed", "run_id": str(k) * 64},
                                {"solver.optimizer": optimizer, "solver.theta": 10.0 ** -k}, [], {}, {}, history))
    figures = []
    real_grid = collect._grid

    def grid(n):  # keep the figure to look at, and skip writing the PNG (the time of this test)
        plt, fig, axes = real_grid(n)
        figures.append(fig)
        fig.savefig = lambda *args, **kwargs: None
        return plt, fig, axes

    monkeypatch.setattr(collect, "_grid", grid)
    collect.plot_convergence(runs, ["solver.optimizer", "solver.theta"], tmp_path)
    axes = figures[0].axes
    colour = {line.get_label(): line.get_color() for line in axes[0].get_lines()}  # the J panel: every run
    damping = axes[1].get_lines()
    assert len(damping) == 1 and damping[0].get_color() == colour[damping[0].get_label()]
    legend = figures[0].legends[0]
    assert len(legend.get_texts()) == 3


def test_one_off_runs_of_several_problems_make_no_plot_only_a_real_axis_does(tmp_path, monkeypatch):
    """New-user pass: `regrun-collect outputs/` over a day of one-off runs (57 runs, 6 problems) drew a plot per
    key that differed anywhere (problem.data_dir, problem.default_solver, every lam_* key of super-resolution: 58
    plots in 17 minutes at load 20, then stopped by hand). A plot needs a curve: runs that differ in its key alone."""
    runs = []

    def add(problem, metrics, **config):
        runs.append(collect.Run(tmp_path, {"solver": "s", "status": "completed", "run_id": str(len(runs)) * 64},
                                config, [], metrics, {}))

    for theta in (1e-3, 1e-2, 1e-1):  # a sweep: one axis
        add("affine", {"J": theta}, **{"problem.kind": "affine", "solver.theta": theta, "problem.size": 32})
    add("affine", {"J": 5.0}, **{"problem.kind": "affine", "solver.theta": 1.0, "problem.size": 64})  # one-off
    add("sr", {"psnr": 30.0}, **{"problem.kind": "sr", "problem.factor": 2, "problem.lam": 0.1})
    add("sr", {"psnr": 31.0}, **{"problem.kind": "sr", "problem.factor": 4, "problem.lam": 0.2})
    params, _ = collect.varying_params(runs)
    drawn, real_grid = [], collect._grid

    def grid(n):  # count the panels, skip writing the PNG
        drawn.append(n)
        plt, fig, axes = real_grid(n)
        fig.savefig = lambda *args, **kwargs: None
        return plt, fig, axes

    monkeypatch.setattr(collect, "_grid", grid)
    paths = collect.plot_metrics(runs, params, ["J", "psnr"], tmp_path)
    assert [p.name for p in paths] == ["metrics_vs_solver.theta.png"] and drawn == [1]  # J only: psnr is not there


def test_runs_of_several_problems_get_a_table_each_of_their_own_keys(tmp_path):
    """ux4: `regrun-collect outputs` over a day of 15 runs of 4 problems listed 168 "varying" keys (every key one
    problem has and another lacks) and wrote one table of 236 columns. Each problem now has its own table."""
    runs = []

    def add(problem, metrics, **config):
        runs.append(collect.Run(tmp_path, {"solver": "s", "status": "completed", "run_id": str(len(runs)) * 64,
                                           "problem": problem}, config, [], metrics, {}))

    add("affine", {"J": 1.0}, **{"solver.theta": 0.1, "problem.size": 32})
    add("affine", {"J": 2.0}, **{"solver.theta": 1.0, "problem.size": 32})
    add("sr", {"psnr": 30.0}, **{"problem.factor": 2, "problem.lam": 0.1})
    add("sr", {"psnr": 31.0}, **{"problem.factor": 2, "problem.lam": 0.2})
    params, shared = collect.varying_params(runs)
    assert len(params) == 4  # across problems every key "varies"
    text = collect.markdown(runs, 0, [tmp_path], params, shared, ["J", "psnr"], [], tmp_path)
    assert "Problems: `affine` (2 runs), `sr` (2 runs)" in text and "Varying:" not in text
    affine = text.split("## Runs: affine")[1].split("## Runs: sr")[0]
    sr = text.split("## Runs: sr")[1]
    assert affine.splitlines()[2] == "| run | status | solver | solver.theta | wall (s) | J |", affine
    assert sr.splitlines()[2] == "| run | status | solver | problem.lam | wall (s) | psnr |", sr


def test_a_run_begins_while_a_reader_holds_its_claimed_file(tmp_path):
    # a reader (regrun-collect, a sweep looking for completed runs, a test polling) held the folder's claimed
    # results.h5.partial open while the run began writing it: HDF5's lock refused the run ("unable to lock file",
    # exit 2; seen once on CI). The run now waits for the reader as every later write does.
    import subprocess
    import sys

    import h5py

    from regrun.record import load

    folder = tmp_path / "run"
    folder.mkdir()
    results = ResultsFile(folder)
    with h5py.File(results.partial, "w") as f:
        f.attrs["status"] = "claimed"
    reader = subprocess.Popen([sys.executable, "-c", "import sys, time, h5py\nf = h5py.File(sys.argv[1], 'r')\n"
                               "print('open', flush=True)\ntime.sleep(1.0)", str(results.partial)],
                              stdout=subprocess.PIPE, text=True)
    assert reader.stdout.readline().strip() == "open"
    results.begin({"problem": "p", "solver": "s", "run_id": "x"}, "problem: {}\n", [], versions=False)
    reader.wait(timeout=30)
    path = results.finish("completed", wall_time=1.0)
    assert load(path)["attrs"]["run_id"] == "x"

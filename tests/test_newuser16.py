"""newuser16's fresh-clone pass (docs/sweeps.md, "newuser16"): each test is a case that was wrong on main."""
import pytest

from regrun.explain import explain, job_yaml


def test_explain_of_a_solver_lists_the_keys_of_the_blocks_its_defaults_include():
    # `regrun --explain solver solver=grid_search` listed `solver.defaults = ''` and `solver.name` alone: every key
    # of common/fista.yaml and common/lam_grid.yaml, which the run reads, was missing
    text = explain("solver", ["solver=grid_search", "problem=ct_fewview"])
    for key in ("iters", "inner_iters", "prox", "lam_min", "lam_max", "points", "refine"):
        assert f"  solver.{key} " in text, key
    assert "solver.defaults" not in text
    assert "grid points (log-spaced)" in text


@pytest.mark.parametrize("key, overrides, meaning, where", [
    ("solver.points", ["solver=grid_search"], "grid points (log-spaced)", "configs/solver/common/lam_grid.yaml"),
    ("solver.iters", ["solver=fista_tv"], "FISTA iterations", "configs/solver/common/fista.yaml"),
    # bilevel writes grid.points itself, without a comment: the meaning is the block's, the default bilevel's
    ("solver.grid.points", ["solver=bilevel"], "grid points (log-spaced)", "configs/solver/bilevel.yaml"),
    ("solver.grid.lam_min", ["solver=bilevel"], "log-spaced grid", "configs/solver/common/lam_grid.yaml"),
])
def test_explain_of_a_key_from_a_shared_block_gives_its_description(key, overrides, meaning, where):
    # main: "(no description in the YAML: please add one)" for every key a solver takes from a shared block
    text = explain(key, overrides + ["problem=ct_fewview"])
    assert "no description" not in text
    assert meaning in text and where in text


def test_cfg_job_describes_a_block_under_its_package():
    # `regrun --cfg job solver=bilevel`: the keys of common/lam_grid@grid (solver.grid.lam_min ...) had no comment
    text = job_yaml(["solver=bilevel", "problem=ct_fewview"])
    block = text[text.index("\n  grid:"):]
    assert "lam_min: 0.01  # log-spaced grid" in block


@pytest.mark.parametrize("bins, start, hinted", [(32, 0.0, True), (46, 0.0, True),  # radon circle=True / False
                                                 (32, 90.0, False), (48, 0.0, False)])  # typed; regrun's own width
def test_a_sinogram_of_radons_width_read_from_angle_0_is_told_the_angle_start(device, tmp_path, bins, start, hinted):
    # a file made with scikit-image's radon and read at the default angle_start=0: the run named radon's detector
    # ("radon(circle=True)") for the grid it chose but not the angle_start=90 the README asks for; on newuser16's
    # two 96^2 radon files FISTA-TV lost 5.3 and 6.8 dB inside the 0.95 disk (a quarter turn, a pixel, the rim)
    import io
    from pathlib import Path

    import numpy as np
    import torch

    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.monitor import Reporter
    from regrun.problems.ct_fewview import CTFewView

    u = np.arange(bins) - (bins - 1) / 2  # a disk of radius 12 at the axis: every view the same chord profile
    np.save(tmp_path / "scan.npy", np.tile(2 * np.sqrt(np.clip(144 - u ** 2, 0, None)), (24, 1)))
    said = io.StringIO()
    ctx = RunContext(device, torch.float64, 0, Path(tmp_path), reporter=Reporter(stream=said, progress=False))
    CTFewView(config_section("problem", "ct_fewview", data="file", size=32, sinogram=str(tmp_path / "scan.npy"),
                             angle_start=start, rotation_centre="geometric"), ctx)
    text = said.getvalue()
    assert "counted from its shape" in text, text
    assert ("for a file from scikit-image's radon or ASTRA type problem.angle_start=90" in text) == hinted, text


def test_the_calibration_command_a_run_names_runs_from_the_users_own_folder(tmp_path, monkeypatch):
    # from a folder of one's own (the template beside one's photos), the hint's `python scripts/calibrate_crab.py`
    # was no file there: the docs' calibration step then failed as the run wrote it. The hint is now the console
    # command regrun-calibrate (newuser17), which pyproject.toml installs and which runs from any folder
    from pathlib import Path

    from regrun.config import config_section
    from regrun.errors import UserError
    from regrun.solvers.hierarchical import calibration_path

    monkeypatch.chdir(tmp_path)
    cfg = config_section("solver", "hierarchical")
    with pytest.raises(UserError) as exc:
        calibration_path(cfg, "lamp_s2", Path("my/calibrations"), Path("my/lamp.yaml"), 2)
    assert "`regrun-calibrate --template my/lamp.yaml --scale 2 --max-angle 180" in str(exc.value)
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '\nregrun-calibrate = "regrun.console:calibrate"\n' in pyproject


def test_collect_of_a_frames_sweep_plots_the_weight_each_folder_got(tmp_path, capsys):
    # `regrun -m problem=superres problem.data=frames problem.frames=A,B,C` then regrun-collect: 12 panels of 52
    # metrics in the files' order (data_rel_residual, exposure_*, final_cg_*, frames_check_*) and lam_chosen,
    # the weight each folder got, not among them
    from omegaconf import OmegaConf

    from regrun import collect
    from regrun.record import ResultsFile

    for i in range(3):
        res = ResultsFile(tmp_path / "sweep" / str(i))
        config = {"problem": {"name": "superres", "frames": f"f{i}"}, "solver": {"name": "varpro_cg"}}
        res.begin({"problem": "superres", "solver": "varpro_cg", "run_id": str(i) * 64},
                  OmegaConf.to_yaml(OmegaConf.create(config)), [])
        res.write("metrics", {**{f"a{j:02d}": float(j + i) for j in range(20)}, "lam_chosen": 0.1 * (i + 1),
                              "noise_sigma": 1.0 + i, "frames_check_ratio": 0.2 + 0.1 * i})
        res.finish("completed", wall_time=1.0)
    collect.main([str(tmp_path / "sweep")])
    capsys.readouterr()
    runs = [collect.read_run(path, False) for path in collect.find_results([tmp_path / "sweep"])]
    chosen = collect.plotted_metrics(runs, collect.metric_names(runs, None), None)
    assert chosen[:3] == ["lam_chosen", "frames_check_ratio", "noise_sigma"], chosen
    assert "| problem.frames | wall (s) | lam_chosen |" in (tmp_path / "sweep" / "collected" / "summary.md").read_text()


def test_a_grid_key_typed_for_bilevel_is_pointed_to_bilevels_own_grid(tmp_path, monkeypatch, capsys):
    # `regrun problem=ct_fewview solver=bilevel solver.points=5` said "add solver=grid_search" (another solver) and
    # `--explain solver.points solver=bilevel` the same, where bilevel's own key is solver.grid.points
    from regrun.errors import UserError
    from tests.cli_in_process import regrun_in_process

    got = regrun_in_process(["problem=ct_fewview", "solver=bilevel", "solver.points=5", f"hydra.run.dir={tmp_path}/r"],
                            tmp_path, monkeypatch, capsys)
    assert got.returncode == 2 and got.stderr.count("\n") == 1, got.stderr
    assert "did you mean solver.grid.points? bilevel (this run's solver) has it there" in got.stderr, got.stderr
    with pytest.raises(UserError, match=r"did you mean solver.grid.points\?"):
        explain("solver.points", ["solver=bilevel", "problem=ct_fewview"])
    # a solver without such a section keeps the pointer to the solver that has the key
    got = regrun_in_process(["problem=ct_fewview", "solver=fbp", "solver.points=5", f"hydra.run.dir={tmp_path}/s"],
                            tmp_path, monkeypatch, capsys)
    assert got.returncode == 2 and "add solver=grid_search" in got.stderr, got.stderr


def test_a_run_on_ones_frames_says_how_well_it_did_in_words(tmp_path):
    # without a truth, how well the answer did was `frames_check_ratio = 0.191` among 30 metrics, and nothing in
    # words unless it reached 1 (a warning): the console and summary.md now say what the number measures
    import io
    import json

    from regrun.cli import _say_answer
    from regrun.monitor import Reporter
    from regrun.summary import write_run_summary

    metrics = {"lam_chosen": 0.357, "frames_check_ratio": 0.191, "frames_check_frames": 2.0}
    write_run_summary(tmp_path, status="completed", message="solver converged", error="",
                      facts={"problem": "superres", "solver": "varpro_cg"}, metrics=metrics, paper={}, claims={},
                      wall_time=1.0)
    said = "the answer predicts the 2 frames it was not fitted to with 0.19 of the squared error bicubic"
    assert said in (tmp_path / "summary.md").read_text()
    assert json.loads((tmp_path / "metrics.json").read_text())["metrics"]["frames_check_ratio"] == 0.191
    out = io.StringIO()
    _say_answer(tmp_path, Reporter(stream=out, progress=False))
    assert f"regrun: frames check: {said}" in out.getvalue(), out.getvalue()
    # a run without the check (a registration, a CT scan) gets no such line
    write_run_summary(tmp_path, status="completed", message="ok", error="", facts={}, metrics={"psnr": 30.0},
                      paper={}, claims={}, wall_time=1.0)
    assert "frames check" not in (tmp_path / "summary.md").read_text()


def test_a_learned_lam_that_a_neighbour_beats_is_warned():
    # bilevel on newuser16's training scan (coins 96^2, its truth): the paper's first Armijo step took lam from 0.1
    # to 17.8, onto a flat stretch of the loss, and the loop "converged" at 20.4 with no word, where the loss at
    # 6.8 is far lower (grid optimum 1.31): PSNR 19.2 dB against FBP's 24.8, and 20.8 on the next scan by from:RUN
    from regrun.solvers.bilevel import neighbour_warning

    lam = 20.41
    at = {lam: 0.01522, lam / 3: 0.0082, lam * 3: 0.0290}
    said = neighbour_warning(lam, at, (0.1, 17.80))
    assert said.startswith("the learned lam=20.41 is not where the loss is lowest along lam: at lam=6.803 it is "
                           "0.0082, against 0.01522"), said
    assert "(its first step took lam from 0.1 to 17.8)" in said and "solver=grid_search" in said
    assert "solver.lam0=6.8" in said
    # a learned lam at the loss's minimum (the presets end within 1% of the grid's), or a flat loss: no word
    assert neighbour_warning(1.3, {1.3: 0.0049, 1.3 / 3: 0.0200, 3.9: 0.0067}) == ""
    assert neighbour_warning(100.0, {100.0: 0.1153, 100 / 3: 0.1153, 300.0: 0.1153}) == ""
    assert neighbour_warning(1.0, {1.0: 0.0100, 1 / 3: 0.0099, 3.0: 0.0110}) == ""  # within the 2% margin


def test_a_detections_poses_in_summary_md_say_what_their_columns_are(tmp_path):
    # summary.md's "Result" of a detection listed `poses` = [[81.6, 57.9, -69.7, 4.3e-06, 1.0], ...] with no word of
    # what the rows and columns are, above the readable "Detections"
    import numpy as np

    from regrun.summary import write_run_summary

    poses = np.array([[81.6, 57.9, -69.7, 4.3e-06, 1.0], [63.5, 128.6, 127.8, 0.33, 1.0]])
    write_run_summary(tmp_path, status="completed", message="ok", error="", facts={"problem": "crab_detection"},
                      metrics={"score": 2.0}, paper={}, claims={}, wall_time=1.0, result={"poses": poses})
    text = (tmp_path / "summary.md").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("- `poses`"))
    assert line.endswith("one row per /result/pose_nodes (the root first): row, col, angle (degrees, + clockwise), "
                         "loss, weight, in the pixels of the scene searched (half the photo's at problem.scale 2); "
                         "every instance, in the photo's pixels: /tables/detections"), line

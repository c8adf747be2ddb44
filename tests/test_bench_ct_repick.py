"""scripts/bench_lambda_ct.py's `plain_answer` (docs/ct.md, "(ctrepick)"): what `solver.lam_cv_weight=none` answers,
read off a `dose` choice's details, so that one search scores both rules; checked against the `none` search itself,
with the dose scale on and the fit cap binding or not (a cap misread would put the plain answer above the cap)."""
import pytest
import torch

from regrun.config import config_section
from tests.ct_case_file import case_file
from tests.test_fbp_files import _script


@pytest.mark.parametrize("cap", [None, "below both", "between"])  # where the fit cap's weight lies
def test_plain_answer_is_the_none_weights_answer(device, monkeypatch, cap):
    from regrun.optim import parameter_choice as pc
    from regrun.tomography import fista_tv_weight as fw
    from regrun.tomography.fista_tv import make_fista

    from test_model_resolution import ct_problem

    bench = _script("bench_lambda_ct")
    p = ct_problem(device)
    fista = make_fista(p, config_section("solver", "fista_tv", iters=20), None)
    s = pc.ChoiceSettings(rule="cv", noise=None, lo=0.1, hi=10.0, solves=5, probes=1)
    # a noise share of 0.2 of the misfit: the ramp power 0.4 and a dose scale 0.8 ** 0.6, neither trivial
    share = {}

    def noise_variance(b, geometry):
        return share.get("v"), "test"

    def run(weight):
        return fw.choose_fista_weight(p, fista, 20, s, "fd", torch.Generator(), cv_fold=4, cv_scale=0.8,
                                      power_iters=20, cv_reference="raw", cv_weight=weight, cv_grid=3,
                                      cv_dose=True, cv_fit_cap=None if cap is None else 0.25)

    share["v"] = 0.2 * run("none").sigma ** 2
    monkeypatch.setattr(fw, "noise_variance", noise_variance)
    if cap is not None:  # the cap's weight put where it binds on both answers or on the larger one only
        free = sorted((run("none").lam, run("dose").lam))
        at = 0.5 * free[0] if cap == "below both" else (free[0] * free[1]) ** 0.5
        monkeypatch.setattr(fw, "fit_cap_weight", lambda train_fit, rise, tau: at)
    none, dose = run("none"), run("dose")
    assert float(dose.details["lam_cv_ramp_power"]) > 0
    assert float(dose.details["lam_cv_pick"]) != pytest.approx(float(dose.details["lam_cv_pick_plain"]), rel=1e-3)
    assert ("lam_cv_uncapped" in none.details) + ("lam_cv_uncapped" in dose.details) == {
        None: 0, "below both": 2, "between": 1}[cap]
    # the cap is read from the details' 4 digits where it bound on `none` only
    assert bench.plain_answer(dose.details, dose.lam) == pytest.approx(none.lam, rel=1e-3 if cap else 1e-5)
    assert bench.plain_answer(none.details, none.lam) is None  # no re-pick to undo


def _ellipses_case(tmp_path):
    """A small case file as scripts/heldout_ct_grid.py writes them (24², 8 views)."""
    return case_file(tmp_path, "ellipses", 24, 8, 1e5, 8995, 4)


def test_iters_reruns_auto_beside_the_reused_grid(tmp_path):
    """--iters with --reuse (docs/ct.md, "(ct28)"): auto's search runs again at another FISTA iteration count while
    the grid optimum and the case come from the earlier run unchanged."""
    import json

    bench = _script("bench_lambda_ct")
    case = _ellipses_case(tmp_path)
    common = ["--cases", str(case), "--grid", "3", "--refine", "0", "--auto-rules", "cv", "--no-peer",
              "--tv-grid", "1"]
    bench.main([*common, "--iters", "30", "--out", str(tmp_path / "a")])
    bench.main([*common, "--iters", "3", "--reuse", str(tmp_path / "a.json"), "--out", str(tmp_path / "b")])
    bench.main([*common, "--iters", "30", "--reuse", str(tmp_path / "a.json"), "--out", str(tmp_path / "c")])
    a, b, c = (json.loads((tmp_path / f"{k}.json").read_text())["results"][0] for k in "abc")
    assert b["grid_best_psnr"] == a["grid_best_psnr"] and b["grid"] == a["grid"]
    assert c["auto_cv"]["curve"] == a["auto_cv"]["curve"]  # the same count: the same search
    held = [k for k in a["auto_cv"]["curve"] if k != "lam"][0]
    assert b["auto_cv"]["curve"][held] != pytest.approx(a["auto_cv"]["curve"][held], rel=1e-3)


def test_regrid_with_set_recomputes_the_grid_beside_the_reused_peers(tmp_path):
    """--regrid --set KEY=VALUE with --reuse (docs/ct.md, "(ctprox)"): the grid optimum again under other solver
    settings, the earlier run's peers and FBP kept; with the defaults it reproduces the earlier grid bit for bit."""
    import json

    bench = _script("bench_lambda_ct")
    case = _ellipses_case(tmp_path)
    common = ["--cases", str(case), "--grid", "3", "--lam-lo", "1", "--lam-hi", "100", "--refine", "0",
              "--auto-rules", "--tv-grid", "1", "--iters", "20"]
    bench.main([*common, "--sirt-iters", "5", "--tv-weights", "0.01", "--out", str(tmp_path / "a")])
    prev = json.loads((tmp_path / "a.json").read_text())["results"][0]
    prev["peer_psnr"] = 99.0  # marks the reused peer: a recomputed one would not be 99
    (tmp_path / "a.json").write_text(json.dumps({"results": [prev]}))
    reuse = ["--regrid", "--reuse", str(tmp_path / "a.json")]
    bench.main([*common, *reuse, "--out", str(tmp_path / "b")])
    bench.main([*common, *reuse, "--set", "prox_warm_start=true", "inner_iters=1", "--out", str(tmp_path / "c")])
    b, c = (json.loads((tmp_path / f"{k}.json").read_text())["results"][0] for k in "bc")
    assert b["grid"] == prev["grid"] and b["peer_psnr"] == c["peer_psnr"] == 99.0
    assert c["grid"][-1]["psnr"] != pytest.approx(prev["grid"][-1]["psnr"], abs=1e-3)
    with pytest.raises(SystemExit):
        bench.main([*common, "--regrid", "--out", str(tmp_path / "d")])

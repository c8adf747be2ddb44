"""problem.lam_rechoose_climb (srfm, opt-in): after a weight climbed from a binding marginal-likelihood floor, the
search again at the final motion climbs to quasi-optimality from its rule's minimum too, at any frame size."""
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import regrun.registration.superres_weight as sw
from regrun.config import config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.problems.superres import SuperRes

FLOOR = {"lam_rule_below_floor": "0.11", "lam_rule_minimum": "0.141"}  # the floor bound at 0.141, GCV's at 0.11


def prob(on: bool, lam: float, details: dict, side: int = 14, quasi_optimal: bool = True):
    return SimpleNamespace(weight_choice=SimpleNamespace(lam=lam, details=details),
                           rechoose=sw.RechooseSettings(times=1, gain=0.2, move=0.25, climb_after_floor_climb=on),
                           weight_quasi_optimal=quasi_optimal, weight_quasi_optimal_small=False,
                           model=SimpleNamespace(coarse=SimpleNamespace(m=(side, side))))


def test_the_search_again_climbs_only_after_a_floors_climb_and_when_asked(device):
    ev = SimpleNamespace(change=lambda lam: torch.tensor(lam, device=device))
    # 14-px frames: the search again climbs from its rule's minimum only with the setting after a floor's climb
    assert sw.rechoose_change(prob(True, 0.311, FLOOR), ev) is ev.change
    for p in (prob(False, 0.311, FLOOR),  # off
              prob(True, 0.141, FLOOR),  # the floor bound but no climb above it
              prob(True, 0.311, {"lam_rule_minimum": "0.141"}),  # a climb from the rule's own minimum
              prob(True, 0.311, {}),  # the rule's minimum
              prob(True, 0.311, FLOOR, quasi_optimal=False)):  # problem.lam_quasi_optimal off: no climb anywhere
        assert sw.rechoose_change(p, ev) is None
    # frames over QUASI_OPTIMAL_MIN_FRAME climb anyway (quasi_optimal's): the setting changes nothing there
    for on in (True, False):
        assert sw.rechoose_change(prob(on, 0.311, {}, side=40), ev) is ev.change


def test_the_setting_is_read_and_a_bad_value_is_one_users_error(device):
    ctx = RunContext(device, torch.float64, 0, Path("."))
    cfg = config_section("problem", "superres", size=8, n_frames=2)
    assert cfg.lam_rechoose_climb is False  # opt-in: held-out contradicted or not yet run (docs/superres.md, srfm)
    assert sw.RechooseSettings.from_config(config_section("problem", "superres", lam_rechoose_climb=True)) \
        .climb_after_floor_climb is True
    with pytest.raises(UserError, match="problem.lam_rechoose_climb"):
        SuperRes(config_section("problem", "superres", size=8, n_frames=2, lam_rechoose_climb="yes"), ctx)


def test_the_curves_risk_against_the_given_frames_is_the_runs_misfit(device):
    """diag_srfm_curve.py's risk (the prediction against the noiseless frames on the data mask), given the noisy
    frames themselves, is the search's own misfit at every weight: the risk's target is built on the same data,
    mask and units as GCV's."""
    from script_module import load_script

    diag = load_script("diag_srfm_curve")
    ctx = RunContext(device, torch.float64, 0, Path("."))
    p = SuperRes(config_section("problem", "superres", size=12, n_frames=3, noise=0.02, outside="drop",
                                lambda_f="auto"), ctx)
    w = p.w_true + 0.01 * torch.randn(p.w_true.shape, generator=torch.Generator().manual_seed(1),
                                      dtype=torch.float64).to(device)
    rows = diag.at_motion(p, w, p.model.frames + p.level, [0.05, 0.2], ctx)
    for r in rows:
        assert r["risk"] == pytest.approx(r["rss"], rel=1e-8) and r["rss"] > 0
    assert rows[0]["trace"] > rows[1]["trace"]  # less smoothing, more degrees of freedom

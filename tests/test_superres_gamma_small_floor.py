"""problem.lam_gcv_gamma_small_floor: on frames where the small gamma acts, the search at lam_gcv_gamma too, and the
larger weight of the two (srsmall16, issue 16)."""
from pathlib import Path

import pytest
import torch

from regrun.config import config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.registration.superres_weight import SMALL_GAMMA_FRAMES, choose_superres_weight, floor_gamma

F64 = torch.float64


def test_the_second_gamma_only_where_the_small_one_acts():
    on = config_section("problem", "superres", lam_gcv_gamma_small=1.5, lam_gcv_gamma_small_floor=True)
    lo, hi = SMALL_GAMMA_FRAMES
    assert [floor_gamma(on, side) for side in (lo - 1, lo, hi, hi + 1)] == [None, 1.2, 1.2, None]
    default = config_section("problem", "superres")
    assert default.lam_gcv_gamma_small_floor is False and floor_gamma(default, lo) is None  # the YAML's: off
    alone = config_section("problem", "superres", lam_gcv_gamma_small=1.5)
    assert floor_gamma(alone, lo) is None  # the small gamma alone: srsmallw's behaviour


@pytest.mark.parametrize("changes,message", [
    ({"lam_gcv_gamma_small_floor": True}, "problem.lam_gcv_gamma_small_floor=true reads"),
    ({"lam_gcv_gamma_small_floor": "yes", "lam_gcv_gamma_small": 1.5}, "problem.lam_gcv_gamma_small_floor='yes'")])
def test_bad_floor_setting_is_one_line(changes, message):
    from regrun.problems.superres import SuperRes

    ctx = RunContext(torch.device("cpu"), F64, 0, Path("."))
    with pytest.raises(UserError, match=message) as err:
        SuperRes(config_section("problem", "superres", size=8, n_frames=2, **changes), ctx)
    assert "\n" not in str(err.value)


def test_the_larger_of_the_two_searches_is_taken(device):
    """Fine 28^2 at factor 2 (14-px frames) at the true motion: the search with the second gamma on gives the larger
    of the weights that gamma 1.5 alone and gamma 1.2 alone choose, and records the other."""
    from regrun.problems.superres import SuperRes

    ctx = RunContext(device, F64, 0, Path("."))

    def search(**changes):
        cfg = config_section("problem", "superres", size=28, n_frames=4, noise=0.01, lambda_f="auto", lam_solves=6,
                             **changes)
        p = SuperRes(cfg, ctx)
        return choose_superres_weight(p, p.w_true, p.weight_settings, ctx.generator(0))

    low, high = search(), search(lam_gcv_gamma_small=1.5)
    assert high.lam > low.lam  # the larger trace weight lifts GCV's minimum here
    both = search(lam_gcv_gamma_small=1.5, lam_gcv_gamma_small_floor=True)
    assert both.lam == max(low.lam, high.lam) and both.details["lam_gcv_gamma"] == "1.5"
    assert float(both.details["lam_floor_gamma_weight"]) == pytest.approx(low.lam, rel=1e-5)

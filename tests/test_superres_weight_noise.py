"""superres_weight.record_fit_noise: the frames' noise level read from the fit at the chosen weight, Wahba's
sigma_fit^2 = ||r||^2 / (m - tr H), against the noise actually added (the synthetic frames drawn twice, with and
without it, from the same seed). 16^2 from 4 frames, 2% noise: the fit's estimate was 1.09x the truth, the frames'
filter (noise_std_images) 5.5x; with m alone in the denominator it would read 0.78x, with the rule's gamma tr H
1.20x (tr H is 123 of 256 data here), so the 10% bar sees the trace."""
from pathlib import Path

import pytest
import torch

import regrun.registration.superres_weight as sw
from regrun.config import config_section
from regrun.context import RunContext
from regrun.problems.superres import SuperRes


def test_the_fits_noise_level_is_the_added_noise(device):
    ctx = RunContext(device, torch.float64, 0, Path("."))

    def frames(noise):
        return SuperRes(config_section("problem", "superres", size=16, n_frames=4, noise=noise, lambda_f="auto"),
                        ctx)

    p, clean = frames(0.02), frames(0.0)
    truth = float((p.model.frames - clean.model.frames).pow(2).mean().sqrt())
    choice = sw.choose_superres_weight(p, p.w_true, p.weight_settings, torch.Generator().manual_seed(0))
    fit = float(choice.details["noise_std_fit"])
    assert fit == pytest.approx(truth, rel=0.1)
    trace, m = float(choice.details["noise_fit_trace"]), int(choice.details["noise_fit_data"])
    assert 0 < trace < m == p.model.frames.numel()
    note = sw.weight_outputs(choice)[3]
    assert f"noise sigma {choice.sigma:.4g}" in note and f"from the fit's residual at lam={choice.lam:.4g}: {fit:.4g}" in note
    # the smaller of the two estimates is offered as an upper bound (each only adds to the noise): it must hold here
    bound = min(fit, choice.sigma)
    assert f"at most about {bound:.4g}" in note and bound >= 0.9 * truth


def test_a_given_noise_level_gets_no_bound():
    from regrun.optim.parameter_choice import Choice

    given = Choice(lam=0.1, rule="gcv", sigma=2.0, noise_source="given", solves=5, at_edge=False,
                   details={"noise_std_fit": "3.0"})
    note = sw.fit_noise_note(given)
    assert "from the fit's residual at lam=0.1: 3" in note and "at most" not in note
    estimated = Choice(lam=0.1, rule="gcv", sigma=5.0, noise_source="estimated: weak-texture patches of the frames",
                       solves=5, at_edge=False, details={"noise_std_fit": "3.0"})
    assert "the frames' noise is at most about 3 " in sw.fit_noise_note(estimated)

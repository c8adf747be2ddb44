"""scripts/ct_cv_stages.py (docs/ct.md "(ctcat15)"): its held-out misfit against the resolved views is the one the
`auto` search computes at the same all-view weights and offset, and the noise-free and raw columns differ from it
are other targets' numbers."""
import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))


def test_stages_resolved_misfit_is_the_searchs(tmp_path):
    import ct_cv_stages
    from bench_lambda_ct import case_from_file, tv_grid_for
    from heldout_ct_sinograms import make

    from regrun.config import config_section
    from regrun.optim import parameter_choice as pc
    from regrun.tomography.fista_tv import lipschitz, make_fista, unknown_grid
    from regrun.tomography.fista_tv_weight import choose_by_view_cv

    sino, clean, truth = make("ellipses", 16, 15, 1e4, 5, 2)
    path = tmp_path / "ellipses_16_15_1e+04.npz"
    np.savez(path, sinogram=sino, clean=clean, truth=truth, object="ellipses", size=16, views=15, photons=1e4,
             seed=5, fine=2, geometry="parallel", angle_range=180.0, noise_level=0.0)
    lams = np.exp(np.linspace(math.log(0.1), math.log(10.0), 3))
    out = ct_cv_stages.stages(path, lams, [4], 10)
    row = out["offsets"]["4"]
    assert row["held"] == [4, 12] and len(out["all_view_psnr"]) == 3 and out["iters"] == 10

    p, _ = case_from_file(path)
    cfg = config_section("solver", "fista_tv", lam=1.0, iters=10,
                         tv_grid=tv_grid_for(argparse.Namespace(tv_grid=None)))
    ug = unknown_grid(p, cfg)
    fista = make_fista(ug, cfg, lipschitz(ug, cfg))
    s = pc.ChoiceSettings(rule="cv", noise=None, lo=0.1, hi=10.0, solves=3, probes=1)
    c = choose_by_view_cv(ug, fista, 10, s, 8, int(cfg.power_iters), 1.0, "resolved", "none", grid=3)
    assert np.allclose(c.curve["lam"], lams, rtol=1e-12)
    assert row["resolved"] == pytest.approx(list(c.curve["criterion"]), rel=1e-10)
    # the noise-free and the raw views are other targets of the same predictions: other numbers
    assert row["raw"] != row["resolved"] and row["clean"] != row["resolved"] and row["clean_raw"] != row["raw"]
    assert torch.isfinite(torch.tensor(row["train_psnr"])).all()

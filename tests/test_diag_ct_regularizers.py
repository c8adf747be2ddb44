"""scripts/diag_lambda_cv_peer.py's regulariser variants and --bench rows (docs/ct.md "(cttgv)"): `reg,tv` is
the solver's own FISTA-TV, `reg,tgv` and `reg,tv2` solve with the other priors, and a bench JSON's case gives its
grid optimum and best peer."""
import json

import torch

from regrun.config import config_section
from tests.test_fbp_files import _script


def test_regularizer_variants_and_bench_row(device, tmp_path):
    from regrun.tomography.fista_tv import lipschitz, make_fista

    from test_model_resolution import ct_problem

    diag = _script("diag_lambda_cv_peer")
    p = ct_problem(device)
    lam = 0.5
    cfg = config_section("solver", "fista_tv", lam=1.0)
    own = make_fista(p, cfg, lipschitz(p, cfg)).solve(torch.tensor(lam, dtype=p.sinogram.dtype, device=device), 30)
    assert torch.equal(diag.regularizer_variant(p, "reg,tv,30,5")(lam), own)
    for reg in ("tgv", "tv2"):
        x = diag.regularizer_variant(p, f"reg,{reg},30,20")(lam)
        assert float(x.min()) >= 0 and float((x - own).norm()) > 1e-4 * float(own.norm())
    rows = {"args": {}, "results": [{"object": "ring (file)", "size": 24, "views": 16, "photons": 1e5,
                                     "grid_best_lam": 0.3, "grid_best_psnr": 20.0, "peer_psnr": 19.0,
                                     "skimage_sart_tv": 21.5, "astra_sirt_tv": None, "astra_cgls_tv": 18.0}]}
    (tmp_path / "b.json").write_text(json.dumps(rows))
    row = diag.bench_row([tmp_path / "b.json"], "ring (file)", 24, 16, 1e5)
    assert row == {"default_lam": 0.3, "default_psnr": 20.0, "best_peer": 21.5, "best_peer_name": "skimage_sart_tv"}
    assert diag.bench_row([tmp_path / "b.json"], "ring (file)", 24, 30, 1e5) is None

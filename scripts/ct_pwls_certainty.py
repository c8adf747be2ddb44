"""Where solver.data_weight=poisson's optimum loses against plain least squares, split by each pixel's certainty
c_j = (A^T w)_j / (A^T 1)_j (Fessler and Rogers 1996: the weighted data term's local strength): the squared error in
the disk's three certainty terciles of the two reconstructions, each at its own weight (docs/ct.md "Poisson weights
in FISTA-TV's data term (ctpwls)"). One thread; the 2x grid; a file of scripts/heldout_ct_sinograms.py (T 0.05).

    python scripts/ct_pwls_certainty.py FILE.npz LAM_NONE LAM_POISSON
"""
import sys

import torch

torch.set_num_threads(1)
sys.path.insert(0, "scripts")
from bench_lambda_ct import case_from_file  # noqa: E402

from regrun.config import config_section  # noqa: E402
from regrun.tomography.fista_tv import data_weights, lipschitz, make_fista, unknown_grid  # noqa: E402
path, lam_none, lam_pois = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
p, meta = case_from_file(path, None)
out = {}
for dw, lam in (("none", lam_none), ("poisson", lam_pois)):
    cfg = config_section("solver", "fista_tv", lam=lam, tv_grid=2, data_weight=dw, data_weight_transmission=0.05)
    g = unknown_grid(p, cfg); f = make_fista(g, cfg, lipschitz(g, cfg))
    with torch.no_grad():
        x = g.output(f.solve(torch.tensor(lam, dtype=torch.float64), int(cfg.iters))) * p.mask
    out[dw] = x
w, _ = data_weights(p.sinogram, config_section("solver", "fista_tv", data_weight="poisson", data_weight_transmission=0.05))
c = p.A.backproject(w) / p.A.backproject(torch.ones_like(w)).clamp_min(1e-12)
m = p.mask > 0
t = p.truth
qs = torch.quantile(c[m], torch.tensor([0, 1/3, 2/3, 1.0], dtype=c.dtype))
print(meta, "certainty terciles", [round(float(q), 3) for q in qs])
for k in range(3):
    sel = m & (c >= qs[k]) & (c <= qs[k + 1])
    e = {dw: float(((out[dw] - t)[sel] ** 2).mean()) for dw in out}
    print(f"  tercile {k} (c {float(qs[k]):.2f}-{float(qs[k+1]):.2f}): mse none {e['none']:.4g}, poisson {e['poisson']:.4g}, ratio {e['poisson']/e['none']:.2f}")

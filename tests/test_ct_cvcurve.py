"""scripts/bench_ct_cvcurve.py (docs/ct.md, "Fourteenth round"): the held-out misfit's curves beside the truth's."""
import importlib.util
import sys
from argparse import Namespace
from pathlib import Path

import numpy as np

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def test_cvcurve_reports_every_curve_and_its_pick(tmp_path):
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location("bench_ct_cvcurve", SCRIPTS / "bench_ct_cvcurve.py")
    cv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cv)
    import heldout_ct_sinograms as gen

    sino, clean, truth = gen.make("battery", 24, 16, 1e5, 3901, 2)
    path = tmp_path / "battery.npz"
    np.savez(path, sinogram=sino, clean=clean, truth=truth, object="battery", size=24, views=16, photons=1e5,
             seed=3901, fine=2, geometry="parallel", angle_range=180.0, noise_level=0.0)
    r = cv.run(path, Namespace(lam_lo=0.1, lam_hi=10.0, points=3, offsets=[], split=0.5, dense_views=32,
                               search=False, tv_grid=None, powers=[]))
    assert len(r["psnr"]) == len(r["dense_misfit"]) == 3 and set(r["folds"]) == {"4"}
    for curves in r["folds"].values():  # 16 views, fold 8: 14 trained on, so 32 - 14 dense views unseen
        assert {"raw", "resolved", "clean", "model", "dense_unseen", "held_wall"} <= set(curves)
        assert all(len(c) == 3 for c in curves.values())
    assert all(0.1 * 0.99 <= v <= 10 * 1.01 for v in r["picks"]["4"].values())

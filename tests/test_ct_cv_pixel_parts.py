"""scripts/ct_cv_pixel_parts.py (docs/ct.md "(cttruss)"): its parts add up to cv's held-out misfit at every weight
(a sign or a normalisation wrong in one of them breaks the sum), and --offset picks the fold's held-out views."""
import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    from heldout_ct_sinograms import make

    sino, clean, truth = make("ellipses", 16, 15, 1e4, 5, 2)
    path = tmp_path_factory.mktemp("parts") / "ellipses_16_15_1e+04.npz"
    np.savez(path, sinogram=sino, clean=clean, truth=truth, object="ellipses", size=16, views=15, photons=1e4,
             seed=5, fine=2, geometry="parallel", angle_range=180.0, noise_level=0.0)
    return path


def test_parts_add_up_to_the_held_out_misfit(case):
    import ct_cv_pixel_parts

    out = ct_cv_pixel_parts.parts(str(case), 0.1, 10.0, 2, 5)
    assert out["held_views"] == [4, 12] and len(out["rows"]) == 2
    assert out["noise"] > 0 and out["model_error"] > 0
    for r in out["rows"]:
        whole = r["image"] + out["model_error"] + r["model_cross"] + out["noise"] + r["noise_cross"]
        assert math.isclose(whole, r["cv"], rel_tol=1e-9)
        assert math.isclose(r["signal"] + out["noise"] + r["noise_cross"], r["cv"], rel_tol=1e-9)
        assert r["cv_clean"] != r["cv"] and r["cv_consistent"] != r["cv"]
    assert out["rows"][0]["cv"] != out["rows"][1]["cv"]


def test_offset_picks_the_held_out_views(case):
    import ct_cv_pixel_parts

    out = ct_cv_pixel_parts.parts(str(case), 1.0, 1.0, 1, 2, offset=0)
    assert out["held_views"] == [0, 8]

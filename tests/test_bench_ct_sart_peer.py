"""scripts/bench_lambda_ct.py's scikit-image SART + TV oracle peer (docs/ct.md, "ctfinal"): the sinogram reaches
scikit-image in its own conventions (a conversion half a pixel or an angle's sign off would cost it many dB against
SIRT + TV on regrun's projector, which needs no conversion), and scans it cannot take get no number."""
import pytest
import torch

from tests.test_fbp_files import _script

pytest.importorskip("skimage", reason="the peer is scikit-image's (pip install -e .[bench])")


def test_sart_tv_peer_matches_sirt_tv_on_a_parallel_scan():
    bench = _script("bench_lambda_ct")
    p = bench.make_case("ellipses", 32, 30, 1e6, 3)
    weights = [0.005, 0.01, 0.02, 0.04, 0.08]
    sart, how = bench.skimage_sart_tv_peer(p, weights, passes=(5, 20))
    sirt, _ = bench.sirt_tv_peer(p, 100, weights)
    fbp = p.quality(p.fbp() * p.mask)["psnr"]
    # measured: SART+TV 30.32, SIRT+TV 30.76, FBP 28.35; the detector half a pixel off 21.61, a pixel off 17.47,
    # the angles' sign flipped 12.71
    assert sart > fbp and abs(sart - sirt) < 1.5, (sart, sirt, fbp, how)
    assert how.startswith("SART ") and "TV" in how


def test_sart_tv_peer_declines_a_fan_beam():
    from pathlib import Path

    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.problems.ct_fewview import CTFewView

    bench = _script("bench_lambda_ct")
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    p = CTFewView(config_section("problem", "ct_fewview", size=16, views=8, geometry="fan"), ctx)
    assert bench.skimage_sart_tv_peer(p, [0.01]) is None

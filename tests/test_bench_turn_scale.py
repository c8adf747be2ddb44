"""scripts/bench_lambda_sr.py --turn-scale (srturn): a steadier hand's rigid burst, the drawn rotation angles times
the factor and every other draw (scene, shifts, noise) as at the bench's own +-10 deg; factor 1 is the draws as
before, bit for bit."""
from pathlib import Path

import numpy as np
import pytest
import torch
from script_module import load_script


def angles_and_shifts(w, size, device):
    """Each moved frame's angle (deg) and shift from frame_set's parameters (affine_about's about the centre)."""
    p = torch.as_tensor(w, device=device).reshape(-1, 6)
    a = p[:, :4].reshape(-1, 2, 2)
    cen = torch.full((2,), size / 2, dtype=p.dtype, device=device)
    shift = p[:, 4:] - cen + a @ cen
    return torch.rad2deg(torch.atan2(a[:, 1, 0], a[:, 0, 0])), shift


def test_the_turn_scale_multiplies_the_drawn_angles_alone(device):
    bench = load_script("bench_lambda_sr")
    args = ("phantom", 16, 5, 0.01, 9212)
    base = bench.frame_set(*args, supersample=2, motion="rigid")
    same = bench.frame_set(*args, supersample=2, motion="rigid", turn=1.0)
    for x, y in zip(base, same):
        assert np.array_equal(x, y)  # the default draws unchanged
    small = bench.frame_set(*args, supersample=2, motion="rigid", turn=0.05)
    ang0, sh0 = angles_and_shifts(base[2], 16, device)
    ang, sh = angles_and_shifts(small[2], 16, device)
    assert ang0.abs().max() > 2.0  # the bench's own draws turn by degrees
    assert torch.allclose(ang, 0.05 * ang0, rtol=0, atol=1e-10)
    assert torch.allclose(sh, sh0, rtol=0, atol=1e-10)
    assert np.array_equal(small[0], base[0])  # the scene
    quiet = [bench.frame_set("phantom", 16, 5, 0.0, 9212, supersample=2, motion="rigid", turn=t)[1]
             for t in (1.0, 0.05)]
    assert np.array_equal(quiet[0][0], quiet[1][0])  # frame 0 (the noise's scale is the whole stack's spread)
    assert not np.allclose(quiet[0][1:], quiet[1][1:])  # the moved frames see the smaller turns
    shifted = bench.frame_set(*args, supersample=2, motion="translation", turn=0.05)
    assert np.array_equal(shifted[2], bench.frame_set(*args, supersample=2, motion="translation")[2])


def test_a_turned_set_is_kept_and_matched_apart_from_the_unturned_one():
    bench = load_script("bench_lambda_sr")
    f = bench.frame_file
    assert f(Path("o"), "sk:camera@1:2", 32, 0.01, 9, 8, "rigid", False) != f(Path("o"), "sk:camera@1:2", 32, 0.01, 9,
                                                                              8, "rigid", False, 0.05)
    assert f(Path("o"), "phantom", 32, 0.01, 9, 8, "affine", False, 1.0).name == "phantom_32_0.01_9_8.npz"
    row = {"image": "phantom", "size": 32, "noise": 0.01, "seed": 9, "frames": 8, "motion": "rigid"}
    assert bench.set_key(row) == bench.set_key({**row, "turn_scale": 1.0})
    assert bench.set_key(row) != bench.set_key({**row, "turn_scale": 0.05})
    assert "turns x0.05" in bench.describe({**row, "turn_scale": 0.05})


@pytest.mark.parametrize("value", ["0", "-0.1", "nan"])
def test_a_turn_scale_not_above_zero_is_refused_in_one_line(value):
    bench = load_script("bench_lambda_sr")
    with pytest.raises(SystemExit, match="--turn-scale .*finite number > 0"):
        bench.main(["--turn-scale", value])

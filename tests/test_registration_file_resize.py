"""problem.resize=N on a user's pair of different sizes: the answer is reported in the user's pixels (ux4; the
third new-user pass found w_affine in the squashed N x N frame, 16.6 template pixels off on its pair)."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

from regrun.config import compose
from regrun.record import load
from regrun.run import run


def blobs(seed):
    """A smooth random function of FAIR coordinates (x1 from the left, x2 from the bottom), in pixels."""
    rng = np.random.default_rng(seed)
    spots = [(rng.uniform(-5, 55), rng.uniform(-5, 55), rng.uniform(3, 7), rng.uniform(0.3, 1.0)) for _ in range(25)]

    def f(x1, x2):
        return sum(a * np.exp(-((x1 - c1) ** 2 + (x2 - c2) ** 2) / (2 * s * s)) for c1, c2, s, a in spots)
    return f


def save(path, fair, top):
    Image.fromarray((250 * np.flipud(fair.T) / top).round().astype(np.uint8)).save(path)


def centres(width, height):
    return np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5, indexing="ij")


def test_resized_pair_reports_the_affine_in_the_users_pixels(tmp_path):
    f = blobs(12)
    phi = math.radians(10.0)
    A = np.array([[math.cos(phi), -math.sin(phi)], [math.sin(phi), math.cos(phi)]]) @ np.diag([0.95, 1.05])
    b = np.array([4.0, -2.0])
    (wr, hr), (wt, ht) = (48, 40), (36, 44)  # reference and template, width x height: neither square
    ref = f(*centres(wr, hr))
    y1, y2 = centres(wt, ht)
    inv = np.linalg.inv(A)
    tmpl = f(inv[0, 0] * (y1 - b[0]) + inv[0, 1] * (y2 - b[1]), inv[1, 0] * (y1 - b[0]) + inv[1, 1] * (y2 - b[1]))
    top = max(ref.max(), tmpl.max())
    save(tmp_path / "T.png", tmpl, top)
    save(tmp_path / "R.png", ref, top)
    over = ["problem.data=files", f"problem.template={tmp_path / 'T.png'}", f"problem.reference={tmp_path / 'R.png'}",
            "problem.resize=32", "solver=multilevel", "solver.min_size=8", "figures=false", "progress=false"]
    outcome = run(compose(over), tmp_path / "run", over)
    assert outcome.status == "completed", outcome.error
    saved = load(outcome.results_path)["result"]
    w = np.asarray(saved["w_affine"])
    x = np.stack(centres(wr, hr), -1).reshape(-1, 2)
    d = x @ (w[:4].reshape(2, 2) - A).T + (w[4:] - b)
    assert float(np.sqrt((d**2).sum(1).mean())) < 0.1  # template pixels, over the reference's pixel centres
    # w, the centred parameters: y = A (x - c_R) + c_T + b with each image's own centre
    c_r, c_t = np.array([wr, hr]) / 2, np.array([wt, ht]) / 2
    wc = np.asarray(saved["w"])
    np.testing.assert_allclose(wc[:4].reshape(2, 2) @ (x - c_r).T + (c_t + wc[4:])[:, None],
                               w[:4].reshape(2, 2) @ x.T + w[4:, None], atol=1e-9)


def test_a_large_pair_is_told_about_problem_resize():
    """A pair large enough that the full-size run costs twice one at problem.resize=256 gets one line before the
    solve, with the estimate (ux5: ux4's 1008x756 phone pair ran 181 s wall without a word); a smaller one none."""
    from types import SimpleNamespace

    from regrun.problems.multiscale_affine import FULL_SIZE_CPU, MultiscaleAffine, full_size_cpu

    lines = []
    fake = SimpleNamespace(ctx=SimpleNamespace(reporter=SimpleNamespace(line=lines.append)))
    MultiscaleAffine._size_hint(fake, (1008, 756))
    (line,) = lines
    assert "problem.resize=256" in line and "1008x756" in line and "about 26 CPU-s" in line
    lines.clear()
    for size in ((640, 480), (256, 4000)):  # under the threshold; a side already at or below 256
        MultiscaleAffine._size_hint(fake, size)
    assert lines == []
    assert all(math.isclose(full_size_cpu(p), c) for p, c in FULL_SIZE_CPU)

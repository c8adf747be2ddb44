"""The batched Levenberg-Marquardt loop: per-item damping and convergence mask, agreement with one-by-one runs,
the unbatched entry points, damped gradient descent, and batched recovery of known poses with the kernel."""
import math

import torch

from regrun.imaging import spline
from regrun.imaging.grid import Grid
from regrun.registration.objective import PointwiseObjective
from regrun.imaging.transforms import Rigid, Similarity
from regrun.optim.levenberg_marquardt import DenseLinearization, levenberg_marquardt, lm_batched, lm_loop



def rosenbrock(x, a=10.0):
    """r_b(x) = (a (x2 - x1^2), 1 - x1) for every row of x (B, 2), and its Jacobian (B, 2, 2)."""
    r = torch.stack((a * (x[:, 1] - x[:, 0] ** 2), 1 - x[:, 0]), -1)
    jac = torch.zeros(x.shape[0], 2, 2, dtype=x.dtype, device=x.device)
    jac[:, 0, 0], jac[:, 0, 1], jac[:, 1, 0] = -2 * a * x[:, 0], a, -1.0
    return r, jac


def run(x0, **kw):
    return lm_batched(lambda x: DenseLinearization(*rosenbrock(x)), lambda x: rosenbrock(x)[0], x0, **kw)


def test_batch_equals_items_one_by_one_and_masks_finished_items(device):
    x0 = torch.tensor([[-1.2, 1.0], [1.0, 1.0], [0.5, -0.3], [2.0, 3.0]], dtype=torch.float64, device=device)
    out = run(x0, max_iter=200, gtol=1e-10)
    assert out.status == ["converged"] * 4, out.message
    assert torch.allclose(out.w, torch.ones_like(x0), atol=1e-8)
    # item 1 starts at the solution: it takes no step and keeps its point exactly while the others iterate
    assert int(out.n_iter[1]) == 0 and torch.equal(out.w[1], x0[1])
    assert out.history["J"].shape == (int(out.n_iter.max()) + 1, 4)
    for b in range(4):
        one = run(x0[b:b + 1], max_iter=200, gtol=1e-10)
        assert int(one.n_iter[0]) == int(out.n_iter[b])
        assert torch.allclose(one.w[0], out.w[b], rtol=0, atol=1e-14)
        assert one.status[0] == out.status[b]
    assert int(out.n_iter.max()) > 5


def test_per_item_gtol_and_max_iter(device):
    x0 = torch.tensor([[-1.2, 1.0], [-1.2, 1.0]], dtype=torch.float64, device=device)
    out = run(x0, max_iter=3, gtol=torch.tensor([1e300, 1e-10]))
    assert out.status == ["converged", "max_iter"] and out.n_iter.tolist() == [0, 3]


def test_unbatched_entry_points_agree(device):
    def single(x):
        r, jac = rosenbrock(x[None])
        return r[0], jac[0]

    x0 = torch.tensor([-1.2, 1.0], dtype=torch.float64, device=device)
    a = levenberg_marquardt(single, x0, max_iter=100, gtol=1e-9)

    class Unbatched:  # the interface of joint_gn's matrix-free linearization: float damping
        def __init__(self, x):
            self.r, self.jac = single(x)
            self.jtr = self.jac.T @ self.r

        def initial_damping(self, tau):
            return tau * float(torch.diagonal(self.jac.T @ self.jac).max())

        def step(self, damping):
            return -torch.linalg.solve(self.jac.T @ self.jac + damping * torch.eye(2, dtype=x0.dtype,
                                                                                    device=x0.device), self.jtr)

        def apply(self, s):
            return self.jac @ s

    b = lm_loop(Unbatched, lambda x: single(x)[0], x0, max_iter=100, gtol=1e-9)
    assert a.status == b.status == "converged" and a.n_iter == b.n_iter
    assert torch.allclose(a.w, b.w, atol=1e-14) and a.J == b.J
    assert a.extra["jacobian"].shape == (2, 2)


def test_damped_gradient_descent_decreases_to_the_minimum(device):
    x0 = torch.tensor([[0.5, 0.0], [1.3, 1.5]], dtype=torch.float64, device=device)
    # a = 1: well enough conditioned for plain gradient steps
    out = lm_batched(lambda x: DenseLinearization(*rosenbrock(x, 1.0), kind="gradient"),
                     lambda x: rosenbrock(x, 1.0)[0], x0, max_iter=2000, gtol=1e-8, tau=1.0)
    j = out.history["J"]
    assert bool((j[1:] <= j[:-1]).all())  # only decreasing steps are accepted
    assert torch.allclose(out.w, torch.ones_like(x0), atol=1e-4), (out.w, out.message)


def test_batched_registration_recovers_known_poses(device):
    """B rigid and similarity poses of one smooth scene, registered at once from the identity."""
    grid = Grid((0.0, 24.0, 0.0, 24.0), (24, 24))
    gen = torch.Generator().manual_seed(0)
    image = spline.SplineImage(spline.SplineImage(torch.randn(grid.m, generator=gen, dtype=torch.float64).to(device),
                                                  grid, 5.0)(grid.centres(torch.float64, device)), grid, 0.0)
    x = grid.centres(torch.float64, device)[4:-4, 4:-4].reshape(-1, 2)  # stay clear of the image border
    for t, truth in ((Rigid(grid.centre), [[math.radians(4.0), 0.4, -0.3], [math.radians(-3.0), -0.5, 0.2],
                                           [0.0, 0.0, 0.0]]),
                     (Similarity(grid.centre), [[1.03, 0.04, 0.3, -0.2], [0.97, -0.05, -0.4, 0.1]])):
        truth = torch.tensor(truth, dtype=torch.float64, device=device)
        ref = image(t.points(truth[:, None, :], x))  # (B, N): the scene seen through each true pose
        obj = PointwiseObjective(image, t, x, ref, normalization="mean")
        w0 = t.identity(torch.float64, device).repeat(truth.shape[0], 1)
        out = lm_batched(lambda w: DenseLinearization(*obj.residual_and_jacobian(w)), obj.residual, w0,
                         max_iter=100, gtol=1e-12)
        assert all(s == "converged" for s in out.status), out.message
        assert torch.allclose(out.w, truth, atol=1e-7), (out.w - truth)


def test_ftol_stops_when_a_step_lowers_J_by_less_than_its_share(device):
    x0 = torch.tensor([[-1.2, 1.0]], dtype=torch.float64, device=device)
    full = run(x0, max_iter=200, gtol=1e-12)
    assert full.status == ["converged"] and "ftol" not in full.message[0]
    j = full.history["J"][:, 0]
    out = run(x0, max_iter=200, gtol=1e-12, ftol=0.2)
    n = int(out.n_iter[0])
    assert out.status == ["converged"] and "ftol" in out.message[0] and n < int(full.n_iter[0])
    # the same path up to the stop, and the stop at the first accepted step that lowered J by <= 0.2 J
    assert torch.equal(out.history["J"][:, 0], j[:n + 1])
    fell = (j[:-1] - j[1:]) <= 0.2 * j[:-1]
    accepted = full.history["accepted"][1:, 0] > 0
    assert int(torch.nonzero(fell & accepted)[0]) + 1 == n

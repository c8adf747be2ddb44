"""Unrolled gradient descent: per-item early stop (stopped items are no longer evaluated), fixed steps,
projection, and gradients through the iterations."""
import torch

from regrun.optim.unrolled import unrolled_descent



def test_items_stop_on_their_own_and_are_not_evaluated_after(device):
    curv = torch.tensor([1.0, 0.2, 1.9], dtype=torch.float64, device=device)  # step 1/2: contraction 0.5, 0.9, -0.05
    target = torch.tensor([[1.0, -2.0], [0.5, 0.5], [3.0, 1.0]], dtype=torch.float64, device=device)
    seen = []

    def value_and_grad(w, items):
        seen.append(items.tolist())
        d = w - target[items]
        # a floor of 1 (noise in real registrations): the relative decrease then vanishes as an item converges
        return 1.0 + 0.5 * curv[items] * (d * d).sum(-1), curv[items, None] * d

    w0 = torch.zeros(3, 2, dtype=torch.float64, device=device)
    out = unrolled_descent(value_and_grad, w0, torch.tensor([0.5, 0.5], dtype=torch.float64, device=device), 200,
                           rtol=1e-6)
    n = out.n_iter.tolist()
    assert n[2] < n[0] < n[1] < 200  # the faster an item contracts, the sooner it stops
    assert torch.allclose(out.w, target, atol=1e-2)
    assert seen[0] == [0, 1, 2] and all(0 not in s for s in seen[n[0] + 1:]) and seen[-1] == [1]
    assert out.history.shape == (max(n) + 1, 3)
    # a stopped item keeps its iterate: its history is flat after it stopped
    assert torch.equal(out.history[n[0]:, 0], out.history[n[0], 0].expand(max(n) - n[0] + 1))


def test_projection_and_gradient_through_the_iterations(device):
    target = torch.tensor([[2.0, -1.0]], dtype=torch.float64, device=device, requires_grad=True)

    def value_and_grad(w, items):
        d = w - target[items]
        return 0.5 * (d * d).sum(-1), d

    step = torch.tensor([0.3, 0.3], dtype=torch.float64, device=device)
    out = unrolled_descent(value_and_grad, torch.zeros(1, 2, dtype=torch.float64, device=device), step, 5,
                           project=lambda w: w.clamp(max=1.5))
    assert float(out.w[0, 0].detach()) <= 1.5
    # w_5[1] = (1 - 0.7^5) target[1], so d w_5[1] / d target[1] = 1 - 0.7^5
    (g,) = torch.autograd.grad(out.w[0, 1], target)
    assert torch.allclose(g, torch.tensor([[0.0, 1 - 0.7**5]], dtype=torch.float64, device=device))


def test_backtracking_rescues_a_step_that_overshoots(device):
    """Curvature 5 with step 1 diverges (contraction -4); with backtrack the rise is undone and the step halved
    until it contracts, and the loss never rises. A well-stepped item is untouched by it (only +1% per step)."""
    curv = torch.tensor([5.0, 1.0], dtype=torch.float64, device=device)

    def value_and_grad(w, items):
        return 0.5 * curv[items] * (w * w).sum(-1), curv[items, None] * w

    w0 = torch.ones(2, 2, dtype=torch.float64, device=device)
    step = torch.tensor([1.0, 1.0], dtype=torch.float64, device=device)
    plain = unrolled_descent(value_and_grad, w0, step * 0.9, 20)
    assert float(plain.loss[0]) > 5.0  # 0.9 * 5 = 4.5: |1 - 4.5| > 1, the first step rises and the item stops there
    out = unrolled_descent(value_and_grad, w0, step * 0.9, 20, backtrack=True)
    assert float(out.loss[0]) < 1e-6 and float(out.loss[1]) < 1e-12
    assert bool((out.history[1:] <= out.history[:-1]).all())
    assert out.w.device == w0.device and out.w.dtype == w0.dtype

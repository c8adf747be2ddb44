"""A spike motif and a scene holding it after a random affine map: the setting of seed 002's Fig. 4 (affine spike
registration, eq. 10, Theorem 5.1), for the `motif_study` solver and the crab_fig4 preset.

C single-pixel spikes at random positions in an m x n map (one channel each); the scene holds them after
A = R(t1) diag(s1, s2) R(t2)^T, t in U[0, rotation_max], s in U[1 - scale_dev, 1 + scale_dev], and a shift b in
U[-shift_max, shift_max]^2, about the spikes' mean, rounded to pixels (as the authors' v1 notebook draws them).
The truth is the least-squares affine map of the rounded spikes (rounding leaves no exact match). Metrics:
the objective's drop in decades over the iterations, the NCC of the registered, filtered window with the
smoothed motif (what Fig. 4e reports, 0.972), and the errors of (A, b) against the truth.
"""
from __future__ import annotations

import math

import torch

from ..errors import check_float, check_int
from ..registry import register_problem
from .base import Problem


def _rotation(t: float) -> torch.Tensor:
    c, s = math.cos(t), math.sin(t)
    return torch.tensor([[c, -s], [s, c]], dtype=torch.float64, device="cpu")


@register_problem("spike_pair")
class SpikePair(Problem):
    name = "spike_pair"
    offers = frozenset({"spike_pair"})

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        c = check_int("problem.spikes", cfg.spikes, 3)
        m, n = (check_int("problem.size", v, 16) for v in cfg.size)
        rot = check_float("problem.rotation_max", cfg.rotation_max, 0.0)
        sdev = check_float("problem.scale_dev", cfg.scale_dev, 0.0)
        shift = check_float("problem.shift_max", cfg.shift_max, 0.0)
        # drawn on the CPU on purpose (a seeded generator gives the same pair on every device), then moved
        g = torch.Generator(device="cpu").manual_seed(int(cfg.seed) + int(ctx.seed))
        dt = torch.float64
        v = torch.stack((torch.randint(m // 4, m - m // 4, (c,), generator=g, device="cpu"),
                         torch.randint(n // 4, n - n // 4, (c,), generator=g, device="cpu")), -1).to(dt)
        cen = v.mean(0)
        u1 = torch.rand(5, generator=g, dtype=dt, device="cpu")
        a = _rotation(rot * float(u1[0])) @ torch.diag(1 - sdev + 2 * sdev * u1[1:3]) @ _rotation(rot * float(u1[3])).T
        b = shift * (2 * torch.rand(2, generator=g, dtype=dt, device="cpu") - 1)
        u = ((v - cen - b) @ torch.linalg.inv(a).T + cen).round()
        motif = torch.zeros(c, m, n, dtype=dt, device="cpu")
        scene = torch.zeros(c, m, n, dtype=dt, device="cpu")
        motif[torch.arange(c, device="cpu"), v[:, 0].long(), v[:, 1].long()] = 1.0
        scene[torch.arange(c, device="cpu"), u[:, 0].long(), u[:, 1].long()] = 1.0
        sol = torch.linalg.lstsq(torch.cat((u - cen, torch.ones(c, 1, dtype=dt, device="cpu")), 1), v - cen).solution
        to = dict(device=ctx.device, dtype=ctx.dtype)
        self.motif, self.scene = motif.to(**to), scene.to(**to)
        self.spike_mean = cen.to(**to)
        self.a_true, self.b_true = sol[:2].T.contiguous().to(**to), sol[2].to(**to)  # about the spikes' mean
        # the motion's size, what Theorem 5.1's sigma (eq. 16) is set for
        self.a_dev = float((a - torch.eye(2, dtype=dt, device="cpu")).norm())
        self.b_norm = float(b.norm())

    def inputs(self):
        return {"motif": self.motif.sum(0).cpu().numpy(), "scene": self.scene.sum(0).cpu().numpy()}

    def evaluate(self, result):
        s = result.solution
        a_hat, b_hat = s["A"], s["b"]  # about the spikes' mean
        history = s["objective"]
        metrics = {"objective_decades": float(torch.log10(history[0] / history[-1])), "ncc": float(s["ncc"]),
                   "A_error": float((a_hat - self.a_true).norm()), "b_error_px": float((b_hat - self.b_true).norm())}
        return metrics, {"objective": history.detach().cpu().numpy()}

"""Affine spike registration by the unrolled network of seed 002 (eq. 10, inverse parameterization,
complementary smoothing, Theorem 5.1's sigma and steps times a factor; detection/motif_registration.py) on a
problem that offers a spike motif and scene (`spike_pair`): the experiment of Fig. 4."""
from __future__ import annotations

import torch

from ..detection.motif_registration import register_spikes, spike_schedule
from ..errors import check_float, check_int
from ..registry import register_solver
from ..solve_result import SolveResult
from .base import Solver


@register_solver("motif_study")
class MotifStudy(Solver):
    needs = frozenset({"spike_pair"})

    def solve(self, problem, monitor):
        iters = check_int("solver.iters", self.cfg.iters, 1)
        factor = check_float("solver.step_factor", self.cfg.step_factor, 0.0, strict=True)
        tail = check_float("solver.tail", self.cfg.tail, 1.0)
        # in the run's dtype (float64 by default; a float32 run shows float32's own floor, docs/motif_registration.md)
        scene, motif = problem.scene, problem.motif
        sched = spike_schedule(motif, problem.a_dev, problem.b_norm, factor)
        iterates: list[torch.Tensor] = []
        res, cost = register_spikes(scene, motif, problem.anchor, sched, sigma0=problem.sigma0, iters=iters,
                                    tail=tail, presmoothed=problem.presmoothed, iterates=iterates)
        history = res.rounds[0].history[:, 0]
        monitor.start(total=history.numel(), desc="spike registration")
        for k, v in enumerate(history.tolist()):
            monitor.step(iter=k, objective=v)
        with torch.no_grad():
            f = cost.filtered_window(res.w, torch.zeros(1, dtype=torch.long, device=res.w.device))[0]
        t = cost.target
        fc, tc = f - f.mean(), t - t.mean()
        # sums, not .norm(): torch's float32 norm on the CPU is off by up to 1e-4 on these spiky maps (NCC > 1)
        ncc = (fc * tc).sum() / ((fc * fc).sum() * (tc * tc).sum()).sqrt()
        # the transform acts about the motif's centre of mass (padded window); express it about the spikes' mean
        w_k = torch.cat(iterates)  # (iters + 1, 6): one item, every iterate from the identity
        a_k, b_k = w_k[:, :4].unflatten(-1, (2, 2)), w_k[:, 4:]
        c = torch.tensor(cost.transform.center, dtype=w_k.dtype, device=w_k.device) - cost.pad
        eye = torch.eye(2, dtype=w_k.dtype, device=w_k.device)
        b_k = b_k + (a_k - eye) @ (problem.spike_mean - c)
        # the registered, filtered window and the smoothed motif it is compared with (Fig. 4c), channels summed
        out = {"A": a_k[-1], "b": b_k[-1], "A_iterates": a_k, "b_iterates": b_k, "objective": history, "ncc": ncc,
               "registered": f.sum(0), "target": t.sum(0)}
        return SolveResult(solution=out, status="converged", message=f"NCC {float(ncc):.4f}",
                           n_iter=int(res.n_iter[0]),
                           stats={"sigma": sched.sigma, "kappa": sched.kappa, "t_matrix": sched.t_matrix,
                                  "t_shift": sched.t_shift, "t_matrix_theorem": sched.t_matrix / factor,
                                  "filter_tail": tail})

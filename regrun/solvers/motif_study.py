"""Affine spike registration by the unrolled network of seed 002 (eq. 10, inverse parameterization,
complementary smoothing, Theorem 5.1's sigma and steps times a factor; imaging/motif_registration.py) on a
problem that offers a spike motif and scene (`spike_pair`): the experiment of Fig. 4."""
from __future__ import annotations

import torch

from ..errors import check_float, check_int
from ..imaging.motif_registration import register_spikes, spike_schedule
from ..registry import register_solver
from ..solve_result import SolveResult
from .base import Solver


@register_solver("motif_study")
class MotifStudy(Solver):
    needs = frozenset({"spike_pair"})

    def solve(self, problem, monitor):
        iters = check_int("solver.iters", self.cfg.iters, 1)
        factor = check_float("solver.step_factor", self.cfg.step_factor, 0.0, strict=True)
        sigma0 = check_float("solver.sigma0", self.cfg.sigma0, 0.0, strict=True)
        # spikes run in float64 whatever the run's dtype: the authors found single-pixel spikes fail in float32,
        # and a nearly registered spike's float32 cost is off by 3e-4 at 0.01 px (gaussian.py); results come back
        # in the run's dtype
        run_dtype = problem.scene.dtype
        scene, motif = problem.scene.to(torch.float64), problem.motif.to(torch.float64)
        sched = spike_schedule(motif, problem.a_dev, problem.b_norm, factor)
        anchor = torch.zeros(1, 2, dtype=torch.float64, device=scene.device)
        res, cost = register_spikes(scene, motif, anchor, sched, sigma0=sigma0, iters=iters)
        history = res.rounds[0].history[:, 0]
        monitor.start(total=history.numel(), desc="spike registration")
        for k, v in enumerate(history.tolist()):
            monitor.step(iter=k, objective=v)
        with torch.no_grad():
            f = cost.filtered_window(res.w, torch.zeros(1, dtype=torch.long, device=res.w.device))[0]
        t = cost.target
        fc, tc = f - f.mean(), t - t.mean()
        ncc = (fc * tc).sum() / (fc.norm() * tc.norm())
        # the transform acts about the motif's centre of mass (padded window); express it about the spikes' mean
        a_hat, b_hat = res.w[0, :4].reshape(2, 2), res.w[0, 4:]
        c = torch.tensor(cost.transform.center, dtype=a_hat.dtype, device=a_hat.device) - cost.pad
        eye = torch.eye(2, dtype=a_hat.dtype, device=a_hat.device)
        b_mean = b_hat + (a_hat - eye) @ (problem.spike_mean.to(torch.float64) - c)
        out = {"A": a_hat.detach(), "b": b_mean.detach(), "objective": history, "ncc": ncc}
        return SolveResult(solution={k: v.to(run_dtype) for k, v in out.items()},
                           status="converged", message=f"NCC {float(ncc):.4f}", n_iter=int(res.n_iter[0]),
                           stats={"sigma": sched.sigma, "kappa": sched.kappa, "t_matrix": sched.t_matrix,
                                  "t_shift": sched.t_shift})

"""Seed 000 Figure 3: does the Euler predictor help, with exact or with Gauss-Newton Hessians?

Runs the predictor-corrector path twice (Newton with the exact AD Hessian; Levenberg-Marquardt with
H = 2 J_r^T J_r) and, at each theta_i, compares the prediction with the unpredicted start w*(theta_{i-1}):

    loss diff = (J(w*) - J(w_pred)) / J(w*),  grad diff = (||grad J(w*)|| - ||grad J(w_pred)||) / ||grad J(w*)||,

both evaluated at the new theta_i (positive = the prediction helps). Optionally it also replays the original
code's Gauss-Newton bookkeeping (notes sec. 6): Euler step doubled (H = J_r^T J_r against the mixed derivative
of ||r||^2), reference J and gradient and the predicted gradient taken at the old theta_{i-1}.
"""
from __future__ import annotations

import numpy as np
from omegaconf import OmegaConf

from ..errors import UserError, check_choice
from ..registration.continuation import STEP_IN, ScalePath, thetas_from_cfg
from ..registration.local_steps import validate_local_options
from ..registry import register_solver
from ..solve_result import SolveResult
from .base import Solver


def _branch_cfg(cfg, sub, hessian: str):
    return OmegaConf.create({
        "name": "predictor_corrector", "optimizer": sub.optimizer, "thetas": thetas_from_cfg(cfg),
        "gtol": sub.gtol, "gtol_first": sub.gtol_first, "max_iter": sub.max_iter,
        "tau": sub.tau if sub.optimizer == "lm" else None,  # only lm damps; the Newton branch has no tau
        "step_in": cfg.step_in, "hessian": hessian, "eig_floor": cfg.eig_floor,
        # the study's fixed choices (the paper's code): rev-mode mixed derivative, no safeguard, the paper's J
        "mixed_derivative": "rev", "safeguard": False, "margin": 0, "baselines": [],
    })


def _rel(ref, new):
    ref, new = np.asarray(ref), np.asarray(new)
    return (ref - new) / ref


@register_solver("predictor_study")
class PredictorStudy(Solver):
    needs = frozenset({"registration", "scale_path"})

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        self.thetas = thetas_from_cfg(cfg)
        if len(self.thetas) < 2:
            raise UserError("solver.thetas needs at least two scales to compare predictions")
        check_choice("solver.step_in", cfg.step_in, STEP_IN)
        for key in ("newton", "gauss_newton"):
            if key not in cfg:
                raise UserError(f"solver.{key} (optimizer, gtol, max_iter) is missing")
            validate_local_options(cfg[key], f"solver.{key}")
        if cfg.newton.optimizer == "lm":
            raise UserError("solver.newton.optimizer must be a Newton method (trust_exact, trust_ncg, trust_krylov)")
        if cfg.gauss_newton.optimizer != "lm":
            raise UserError("solver.gauss_newton.optimizer must be lm")
        self.branches = {
            "exact": ScalePath(_branch_cfg(cfg, cfg.newton, "exact"), predict=True),
            "gn": ScalePath(_branch_cfg(cfg, cfg.gauss_newton, "gauss_newton"), predict=True),
        }
        if bool(cfg.as_coded):
            replay = ScalePath(_branch_cfg(cfg, cfg.gauss_newton, "gauss_newton"), predict=True)
            replay.step_factor = 2.0
            self.branches["gn_as_coded"] = replay

    def solve(self, problem, monitor):
        paths, tables, metrics = {}, {}, {}
        offset = 0
        for name, solver in self.branches.items():
            paths[name] = path = solver.run_path(problem, monitor, predict=True, level_offset=offset)
            offset += len(self.thetas)
            tables[f"levels_{name}"] = {k: np.asarray(v) for k, v in path.levels.items()}
            metrics[f"time_{name}"] = path.time
        study = {"theta": np.asarray(self.thetas[1:])}
        names = list(paths)
        if "gn_as_coded" in paths:
            names.insert(names.index("gn_as_coded"), "gn_old_theta")  # the old-theta bug alone, correct step
        for name in names:
            path = paths["gn" if name == "gn_old_theta" else name]
            lv = {k: np.asarray(v) for k, v in path.levels.items()}
            n = len(lv["theta"])
            if n < len(self.thetas):
                raise UserError(f"the {name} path stopped after {n} of {len(self.thetas)} levels; "
                                f"raise time_limit or lower the number of thetas")
            if name in ("gn_as_coded", "gn_old_theta"):
                loss = _rel(lv["J"][:-1], lv["J_pred"][1:])
                grad = _rel(lv["grad_norm"][:-1], lv["grad_pred_old_theta"][1:])
            else:
                loss = _rel(lv["J_unpred"][1:], lv["J_pred"][1:])
                grad = _rel(lv["grad_unpred"][1:], lv["grad_pred"][1:])
            study[f"loss_diff_{name}"], study[f"grad_diff_{name}"] = loss, grad
            metrics[f"frac_loss_helps_{name}"] = float(np.mean(loss > 0))
            metrics[f"frac_grad_helps_{name}"] = float(np.mean(grad > 0))
            metrics[f"loss_diff_min_{name}"] = float(loss.min())
            metrics[f"loss_diff_max_{name}"] = float(loss.max())
            metrics[f"grad_diff_min_{name}"] = float(grad.min())
            metrics[f"grad_diff_max_{name}"] = float(grad.max())
            if name != "gn_old_theta":
                metrics[f"iters_{name}"] = float(path.n_iter)
        tables["study"] = study
        main = paths["exact"]
        return SolveResult(
            solution={"w": main.w, "theta": self.thetas[-1]}, metrics=metrics, figures=_figure,
            status=main.status, message=main.message, n_iter=sum(p.n_iter for p in paths.values()),
            tables=tables, stats={"n_iter": main.n_iter},
        )


def _figure(problem, result, metrics, fig_dir):
    import matplotlib.pyplot as plt

    study = result.tables["study"]
    styles = {"exact": ("exact Hessian (Newton)", "tab:blue", "o"),
              "gn": ("Gauss-Newton, corrected", "tab:orange", "s"),
              "gn_old_theta": ("Gauss-Newton, reference at old theta", "tab:green", "^"),
              "gn_as_coded": ("Gauss-Newton, as coded (also 2x step)", "tab:gray", "x")}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for ax, kind, label in ((axes[0], "loss", "relative loss difference"),
                            (axes[1], "grad", "relative gradient-norm difference")):
        for name, (lab, color, marker) in styles.items():
            key = f"{kind}_diff_{name}"
            if key in study:
                ax.plot(study["theta"], study[key], marker=marker, color=color, label=lab, markersize=4, lw=1)
        ax.set_xscale("log")
        if kind == "grad":  # the as-coded Gauss-Newton differences reach -1e9; the loss differences stay in [-1, 1]
            ax.set_yscale("symlog", linthresh=1.0)
        ax.axhline(0.0, color="k", lw=0.6)
        ax.set_xlabel("theta")
        ax.set_ylabel(label)
        ax.set_title("> 0: the prediction helps", fontsize=9)
        ax.invert_xaxis()
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{problem.label}: Euler prediction vs. no prediction, both at the new theta")
    fig.tight_layout()
    path = fig_dir / "predictor_study.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]

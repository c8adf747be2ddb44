"""Registration over a resolution pyramid (FAIR's multilevel registration, MLIR).

The images are averaged 2x2 down to about `min_size` cells per side; each level is minimised from the previous
level's optimum (the affine parameters live in domain coordinates, so they carry over unchanged). On the coarsest
level every starting guess the problem offers (identity, centre of mass, principal axes, quarter turns) is
minimised and the lowest objective wins, so large rotations (90 degrees included) are found; optionally the
coarsest level itself walks the paper's theta-continuation (`solver.thetas`) before the finer levels refine at
`solver.theta`. A coarse level costs a fraction of a fine iteration, so the pyramid is also what makes large
images fast: most iterations happen where they are cheap.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
from omegaconf import ListConfig

from ..errors import UserError, check_float, check_int
from ..optim.levenberg_marquardt import DenseLinearization, lm_batched
from ..registration.continuation import LevelMonitor, parse_thetas
from ..registration.local_steps import minimise_at_scale, validate_local_options
from ..registry import register_solver
from ..solve_result import SolveResult
from .base import Solver


class _StopAwareMonitor(LevelMonitor):
    """Remembers whether the run's monitor asked to stop (time limit, Ctrl-C), as distinct from an optimizer
    that stopped on its own (LM's damping limit), after which the finer levels still run."""

    stop_requested = False

    def step(self, **row):
        stop = super().step(**row)
        self.stop_requested = self.stop_requested or bool(stop)
        return stop


@register_solver("multilevel")
class Multilevel(Solver):
    needs = frozenset({"registration", "pyramid"})

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        validate_local_options(cfg)
        self.min_size = check_int("solver.min_size", cfg.min_size, 4)
        self.theta = check_float("solver.theta", cfg.theta, 0.0)
        self.coarse_max_iter = check_int("solver.coarse_max_iter", cfg.coarse_max_iter, 1)
        # auto: the problem's choice (multiscale_affine: 3 on users' files, 1 on the paper's data), else 1
        self.carry = "auto" if cfg.carry == "auto" else check_int("solver.carry", cfg.carry, 1)
        if not (isinstance(cfg.finest_restart, bool) or cfg.finest_restart == "auto"):
            raise UserError(f"solver.finest_restart={cfg.finest_restart!r} must be true, false or auto")
        self.thetas = None
        if cfg.thetas is not None:
            if not isinstance(cfg.thetas, (list, tuple, ListConfig)):
                raise UserError(f"solver.thetas={cfg.thetas!r} must be a list of scales, e.g. [100, 1, 0]")
            self.thetas = parse_thetas("solver.thetas", cfg.thetas)

    def _best_starts(self, level, theta, candidates) -> list[torch.Tensor]:
        """Minimise every candidate for coarse_max_iter iterations (as one batch with LM) and return up to
        `carry` distinct end points, the lowest J first, those whose overlap is admitted (the problem's
        overlap_admitted: a normalised, masked J can otherwise be lowered by mapping the image out of the domain)
        ahead of the rest. Two ends are one when they lie within a cell of this level of each other (RMS
        displacement over its grid)."""
        scale = level.at_scale(theta)
        carry = getattr(level, "carry", 1) if self.carry == "auto" else self.carry
        if self.cfg.optimizer == "lm" and getattr(scale, "least_squares", True):
            kernel = scale.kernel
            out = lm_batched(lambda ws: DenseLinearization(*kernel.residual_and_jacobian(ws)), kernel.trial_residual,
                             torch.stack(candidates), max_iter=self.coarse_max_iter, gtol=self.cfg.gtol,
                             tau=self.cfg.tau)
            ends, values = list(out.w), [float(v) for v in out.J]
        else:
            ends, values = [], []
            for w0 in candidates:
                res = minimise_at_scale(scale, w0, self.cfg, None, max_iter=self.coarse_max_iter)
                ends.append(res.w)
                values.append(res.J)
        admitted = [level.overlap_admitted(w) for w in ends]
        ranked = sorted(range(len(ends)), key=lambda k: (not admitted[k], values[k]))
        h = level.x.new_tensor(level.grid.h)
        points = [level.transformation.points(w, level.x) for w in ends]
        kept = []
        for k in ranked:
            if len(kept) == carry:
                break
            if all(float(((points[k] - points[j]) / h).pow(2).sum(-1).mean().sqrt()) >= 1.0 for j in kept):
                kept.append(k)
        return [ends[k] for k in kept]

    def solve(self, problem, monitor):
        t0 = time.perf_counter()
        rows = {k: [] for k in ("level", "m1", "m2", "theta", "J", "grad_norm", "n_iter", "time", "path")}
        w, out, n_candidates, levels, stopped = self._pyramid(problem, monitor, rows, path=0)
        restart = None
        finest_restart = self.cfg.finest_restart
        if finest_restart == "auto":  # measured to pay off for mi only (docs/registration.md, "Capture range of mi")
            finest_restart = not getattr(problem.at_scale(self.theta), "least_squares", True)
        if finest_restart and len(levels) > 1 and not stopped:
            w, out, restart = self._finest_restart(problem, w, out)
        second = getattr(problem, "second_distance", None)
        path_stats, path_message = {}, ""
        if second and not stopped:
            w, out, path_stats, path_message = self._second_path(problem, second, w, out, monitor, rows)
        if not stopped:  # the end's distance, with the template's blur matched to the end's scaling
            end_problem = problem.with_distance(second) if path_stats.get("second_path_won") else problem
            matched = getattr(end_problem, "with_matched_blur", lambda w: None)(w)
            if matched is not None:
                out = minimise_at_scale(matched.at_scale(self.theta), w, self.cfg, None)
                w = out.w
        if not second:  # one path: the table as before (the paper presets' and CI pairs' results unchanged)
            rows.pop("path")
        tables = {"levels": {k: np.asarray(v, dtype=np.float64) for k, v in rows.items()}}
        n_iter = int(sum(rows["n_iter"]))  # the levels' iterations (the restart's are in restart_n_iter)
        return SolveResult(
            solution={"w": w.detach(), "theta": self.theta}, status=out.status,
            message=f"{len(levels)} levels {levels[0].grid.m[0]}x{levels[0].grid.m[1]} -> "
                    f"{levels[-1].grid.m[0]}x{levels[-1].grid.m[1]}, {n_candidates} starts"
                    + ("" if restart is None else f", finest restart from the identity "
                       f"{'kept' if restart is out else 'not kept'} (J {restart.J:.6g})") + path_message
                    + f"; finest: {out.message}",
            n_iter=n_iter, tables=tables,
            stats={"J": out.J, "grad_norm": out.grad_norm, "n_iter": n_iter, "n_levels": len(levels),
                   "n_starts": n_candidates, "time": time.perf_counter() - t0, **path_stats,
                   **({} if restart is None else {"restart_J": restart.J, "restart_n_iter": restart.n_iter,
                                                  "restart_won": float(restart is out)})},
        )

    def _pyramid(self, problem, monitor, rows, path):
        """Every start on the coarsest level; the best `carry` distinct ends are each carried up to the level below
        the finest, and the one with the lowest J of the finest level there, among those whose overlap is
        admitted, is minimised on the finest level (one coarse end cannot tell apart basins that finer levels
        separate; the finest level, four times the next one's cost, runs once). Appends the winner's rows, a row a
        level, to `rows`; returns (w, the finest level's OptimResult, the number of starts, the levels, whether the
        run's monitor asked to stop)."""
        levels = problem.pyramid(self.min_size)
        coarse_thetas = self.thetas or [self.theta]
        coarsest, finest = levels[0], levels[-1]
        candidates = problem.start_candidates(coarsest)
        if len(candidates) > 1:  # moment starts: also each one at its best shift (problem.shift_scan)
            candidates += getattr(coarsest, "shifted_starts", lambda c, t: [])(candidates, coarse_thetas[0])
        starts = self._best_starts(coarsest, coarse_thetas[0], candidates)
        below = levels[:-1] or levels  # a one-level pyramid: every start on it, the lowest end wins
        monitor.start(total=self.cfg.max_iter * (len(starts) * (len(below) + len(coarse_thetas) - 1)
                                                 + len(levels) - len(below)),
                      desc=f"multilevel {len(levels)} levels" + (f" (path {path + 1})" if path else ""), upto=True)
        ends = []
        for w in starts:
            ends.append(self._levels(below, coarse_thetas, w, monitor, path, level_id=0))
            if ends[-1][2]:
                break
        if below is levels:
            values = [end[1].J for end in ends]
        else:
            fine = finest.at_scale(self.theta)
            with torch.no_grad():
                values = [float(fine.objective(end[0])) for end in ends]
        ranked = sorted(range(len(ends)), key=lambda k: (not finest.overlap_admitted(ends[k][0]), values[k]))
        w, out, stopped, own_rows = ends[ranked[0]]
        if below is not levels and not stopped:
            w, out, stopped, last = self._levels([finest], [self.theta], w, monitor, path,
                                                 level_id=len(own_rows["level"]))
            for key in own_rows:
                own_rows[key].extend(last[key])
        for key, values in own_rows.items():
            rows[key].extend(values)
        return w, out, len(candidates), levels, stopped

    def _levels(self, levels, thetas, w, monitor, path, level_id):
        """One start minimised on the first of `levels` (at each of `thetas` in turn) and then on the others at
        solver.theta. Returns (w, the last level's OptimResult, whether the run's monitor asked to stop, the
        rows, a level each, numbered from level_id)."""
        rows = {k: [] for k in ("level", "m1", "m2", "theta", "J", "grad_norm", "n_iter", "time", "path")}
        out = None
        for k, (level, theta) in enumerate([(levels[0], t) for t in thetas] + [(v, self.theta) for v in levels[1:]]):
            started = time.perf_counter()
            level_monitor = _StopAwareMonitor(monitor, level_id + k, theta)
            out = minimise_at_scale(level.at_scale(theta), w, self.cfg, level_monitor)
            w = out.w
            for key, val in (("level", level_id + k), ("m1", level.grid.m[0]), ("m2", level.grid.m[1]),
                             ("theta", theta), ("J", out.J), ("grad_norm", out.grad_norm),
                             ("n_iter", out.n_iter), ("time", time.perf_counter() - started), ("path", path)):
                rows[key].append(float(val))
            if level_monitor.stop_requested:
                break
        return w, out, level_monitor.stop_requested, rows

    def _second_path(self, problem, distance, w, out, monitor, rows):
        """The whole pyramid once more under the problem's second distance (users' files: ncc beside ssd), and the
        end whose T(y) correlates best with R over the overlap kept, among the ends whose overlap is admitted
        (the problem's overlap_admitted). The two distances fail on different pairs, in the coarse levels: ssd is
        led astray by an intensity change (0.7 I + 20) or fine text, ncc's free gain flattens the landscape away
        from the truth and can fit a flat patch (docs/registration.md, "Two paths"). The correlation is unchanged
        by a gain and offset and is minimised by neither path, so it judges both alike. Returns (w, out, stats,
        a message)."""
        other = problem.with_distance(distance)
        w2, out2, _, _, _ = self._pyramid(other, monitor, rows, path=1)
        rho = [problem.overlap_correlation(v) for v in (w, w2)]
        problem.note_path_ends(rho)
        # an end whose overlap is not admitted loses (as in _best_starts)
        scores = [r if problem.overlap_admitted(v) else -math.inf for r, v in zip(rho, (w, w2))]
        won = scores[1] > scores[0]
        stats = {"path_correlation": rho[0], "second_path_correlation": rho[1], "second_path_won": float(won),
                 "second_path_J": out2.J}
        # an end that lost for its overlap is said so, with its correlation (a bare "-inf" read as a broken path)
        said = [f"{r:.6g}" + ("" if math.isfinite(s) else ", overlap under half the permitted")
                for r, s in zip(rho, scores)]
        message = (f", second path ({distance}) {'kept' if won else 'not kept'} (correlation {said[1]} "
                   f"against {said[0]})")
        return (w2, out2, stats, message) if won else (w, out, stats, message)

    def _finest_restart(self, problem, w, out):
        """The finest level minimised once more, from the identity; its end replaces the pyramid's when its J is
        lower by more than round-off (and its overlap is admitted). Coarse levels can
        mislead: on pairs with fine texture or a folded intensity map (mi on scikit-image's text at 18 degrees,
        a cat at -23 degrees, retinal microaneurysms at 25 degrees) the pyramid's minimum lay 26-142 px off
        while the finest level alone, from the identity, reached the truth (docs/registration.md, "Capture range
        of mi"). Returns (w, out, the restart's OptimResult)."""
        scale = problem.at_scale(self.theta)
        alt = minimise_at_scale(scale, problem.identity.clone(), self.cfg, None)
        if alt.J < out.J - 1e-9 * max(abs(out.J), 1e-30) and problem.overlap_admitted(alt.w):
            return alt.w, alt, alt
        return w, out, alt

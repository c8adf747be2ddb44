"""FISTA with the TV + nonnegativity prox at a fixed weight lam (seed 003's lower level)."""
from __future__ import annotations

import dataclasses
import math
import time

import torch

from ..errors import UserError, check_bool, check_choice, check_float, check_int
from ..optim.parameter_choice import ChoiceSettings, check_weight, curve_figure, is_auto
from ..record import FROM_PREFIX, LEARNED_LAM, run_values, weight_setting
from ..registry import register_solver
from ..solve_result import SolveResult
from ..tomography.fista_tv import (
    UnknownGrid,
    check_data_weight,
    check_fista_options,
    check_tv_grid,
    lipschitz,
    make_fista,
    masked_loss,
    data_weights,
    unknown_grid,
)
from ..tomography.fista_tv_weight import (
    CT_RULES,
    CV_LAYOUTS,
    CV_REFERENCE_CHOICES,
    CV_WEIGHTS,
    DIVERGENCES,
    PIXEL_GRID_EDGES,
    PIXEL_GRID_MISFITS,
    PIXEL_GRID_PICKS,
    check_margin,
    choose_fista_weight,
    fista_runs,
    final_solve,
    pixel_grid_check,
)
from .base import Solver


@register_solver("fista_tv")
class FistaTV(Solver):
    needs = frozenset({"ct"})

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        check_fista_options(cfg)
        check_tv_grid(cfg)
        check_data_weight(cfg)
        # a number, from:RUN (a weight learned, or chosen by auto, there), or auto (None: chosen from the data). A CT
        # auto run's weight was refused ("learned no weight") though super-resolution's from: reads lam_chosen: a
        # user who let auto choose on one scan and wants that weight on the next could not have it (newuser22, 24)
        if isinstance(cfg.lam, str) and not is_auto(cfg.lam) and not cfg.lam.startswith(FROM_PREFIX):
            check_weight("solver.lam", cfg.lam)  # solver.lam=cv or AUTO: told the rule's setting, as lambda_f is
        self.lam, self.lam_from = (None, None) if is_auto(cfg.lam) else weight_setting(
            "solver.lam", cfg.lam, names=(LEARNED_LAM, "lam_chosen"), problem="ct_fewview")
        self.carried = carried_grid(self.lam_from, cfg) if self.lam_from else {}
        # the search settings are checked even at a fixed weight, so a typo never waits for `auto`
        choice = ChoiceSettings.from_config(cfg, "solver", CT_RULES)
        check_choice("solver.lam_range_units", cfg.lam_range_units, RANGE_UNITS)
        self.range_units = str(cfg.lam_range_units)
        check_choice("solver.lam_divergence", cfg.lam_divergence, DIVERGENCES)
        check_int("solver.lam_cv_fold", cfg.lam_cv_fold, 2)
        if not 1 <= check_int("solver.lam_cv_offsets", cfg.lam_cv_offsets, 1) <= cfg.lam_cv_fold:
            raise UserError(f"solver.lam_cv_offsets={cfg.lam_cv_offsets}: at most solver.lam_cv_fold "
                            f"({cfg.lam_cv_fold}) offsets")
        check_float("solver.lam_cv_scale", cfg.lam_cv_scale, 0.0, strict=True)
        if cfg.lam_cv_few_views is not None:
            check_int("solver.lam_cv_few_views", cfg.lam_cv_few_views, 1)
        check_int("solver.lam_cv_few_offsets", cfg.lam_cv_few_offsets, 1)
        if cfg.lam_cv_grid is not None:
            check_int("solver.lam_cv_grid", cfg.lam_cv_grid, 3)
        check_choice("solver.lam_cv_reference", cfg.lam_cv_reference, CV_REFERENCE_CHOICES)
        check_choice("solver.lam_cv_weight", cfg.lam_cv_weight, CV_WEIGHTS)
        check_choice("solver.lam_cv_layout", cfg.lam_cv_layout, CV_LAYOUTS)
        check_int("solver.lam_cv_blocks", cfg.lam_cv_blocks, 1)
        self.cv_weighting = (None if cfg.lam_cv_weighting is None else
                             check_float("solver.lam_cv_weighting", cfg.lam_cv_weighting, 0.0, strict=True))
        self.cv_guard = check_bool("solver.lam_cv_guard", cfg.lam_cv_guard)
        self.cv_repick_guarded = check_bool("solver.lam_cv_repick_guarded", cfg.lam_cv_repick_guarded)
        self.cv_dose = check_bool("solver.lam_cv_dose", cfg.lam_cv_dose)
        self.cv_fit_cap = (None if cfg.lam_cv_fit_cap is None else
                           check_float("solver.lam_cv_fit_cap", cfg.lam_cv_fit_cap, 0.0, strict=True))
        self.cv_fit_cap_share = (None if cfg.lam_cv_fit_cap_share is None else
                                 check_float("solver.lam_cv_fit_cap_share", cfg.lam_cv_fit_cap_share, 0.0,
                                             strict=True))
        self.cv_coverage_power = (None if cfg.lam_cv_coverage_power is None else
                                  check_float("solver.lam_cv_coverage_power", cfg.lam_cv_coverage_power, 0.0))
        self.cv_pixel_grid = check_bool("solver.lam_cv_pixel_grid", cfg.lam_cv_pixel_grid)
        check_choice("solver.lam_cv_pixel_grid_misfit", cfg.lam_cv_pixel_grid_misfit, PIXEL_GRID_MISFITS)
        self.cv_pixel_grid_misfit = str(cfg.lam_cv_pixel_grid_misfit)
        check_choice("solver.lam_cv_pixel_grid_pick", cfg.lam_cv_pixel_grid_pick, PIXEL_GRID_PICKS)
        self.cv_pixel_grid_pick = str(cfg.lam_cv_pixel_grid_pick)
        check_choice("solver.lam_cv_pixel_grid_edge", cfg.lam_cv_pixel_grid_edge, PIXEL_GRID_EDGES)
        self.cv_pixel_grid_edge = str(cfg.lam_cv_pixel_grid_edge)
        self.cv_pixel_grid_margin = check_margin(cfg.lam_cv_pixel_grid_margin)
        self.cv_view_outlier = (None if cfg.lam_cv_view_outlier is None else
                                check_float("solver.lam_cv_view_outlier", cfg.lam_cv_view_outlier, 1.0, strict=True))
        self.choice = choice if self.lam is None else None
        self.compare_gp = bool(cfg.compare_gp)

    def solve(self, problem, monitor) -> SolveResult:
        t0 = time.perf_counter()
        grid = unknown_grid(problem, self.cfg)  # the problem itself at tv_grid 1
        if "factor" in self.carried:  # the grid the carried weight was chosen on (carried_grid)
            grid = UnknownGrid(problem, self.carried["factor"], self.carried.get("data", "fine"),
                               cache_mb=float(self.cfg.get("tv_grid_cache_mb") or 0))
        L = lipschitz(grid, self.cfg)
        fista = make_fista(grid, self.cfg, L)
        if self.choice is not None:
            typed_choice = self.choice
            scale, amplitude = image_scale(problem) if self.range_units == "auto" else (1.0, None)
            if scale != 1.0:  # the search in the image's units: lam scales with them (b -> c b asks c lam)
                self.choice = dataclasses.replace(typed_choice, lo=typed_choice.lo * scale,
                                                  hi=typed_choice.hi * scale)
                self.ctx.reporter.line(
                    f"regrun: solver.lam_range=[{typed_choice.lo:g}, {typed_choice.hi:g}] searched as "
                    f"[{self.choice.lo:g}, {self.choice.hi:g}]: the image's values are about {amplitude:.3g} (its "
                    f"FBP's 99th percentile), not about 1 (solver.lam_range_units=auto; fixed searches the range "
                    f"as typed)")
            try:
                result = self._solve_auto(grid, monitor, fista, L, t0)
            finally:
                self.choice, searched = typed_choice, self.choice
            if self.range_units == "auto":
                result.metrics["lam_range_scale"] = scale
            problem.lam_range_warning = bottom_in_small_units(result, problem, searched.lo, searched.hi)
            return result
        lam = torch.tensor(self.lam, dtype=problem.sinogram.dtype, device=problem.sinogram.device)
        scale = carried_scale_warning(self.lam_from, problem.sinogram, self.lam) if self.lam_from else ""
        if scale:  # said before the solve it spoils, and in the end line's warnings
            self.ctx.reporter.line(f"regrun: WARNING: {scale}", err=True)
        iters = int(self.cfg.iters)
        mask = fista.mask
        truth = problem.truth
        monitor.start(total=iters, desc=f"fista_tv {self.cfg.prox} lam={self.lam:g}")
        state = fista.start(lam)
        # compare_gp: the same FISTA with the GP prox beside, to show that the prox iterates agree
        gp = make_fista(grid, self.cfg, L, method="gp") if self.compare_gp else None
        gp_state = gp.start(lam) if gp is not None else None
        metrics = {"lam": self.lam}
        with torch.no_grad():
            for k in range(iters):
                x_old = state[0]
                state = fista.step(state, lam)
                x = state[0]
                row = {"iter": k, "objective": fista.objective(x, lam),
                       "rel_change": float((x - x_old).norm() / x.norm().clamp_min(1e-300))}
                if truth is not None:
                    row["loss"] = masked_loss(grid.output(x), truth, problem.mask)
                if gp is not None:
                    gp_state = gp.step(gp_state, lam)
                    row["rel_diff_vs_gp"] = float((x - gp_state[0]).norm() / gp_state[0].norm().clamp_min(1e-300))
                    metrics["max_rel_diff_vs_gp"] = max(metrics.get("max_rel_diff_vs_gp", 0.0), row["rel_diff_vs_gp"])
                if monitor.step(**row):
                    break
        x = grid.output(state[0] * mask)
        label = f"FISTA-TV (prox {self.cfg.prox}), lam={self.lam:g}" + (" (learned)" if self.lam_from else "")
        stats = {"lipschitz": L, "tau": fista.tau, "seconds": time.perf_counter() - t0, **self._grid_stats(grid)}
        if self.lam_from:
            stats["lam_from"] = self.lam_from
            stats.update({k: v for k, v in self.carried.items() if k in ("lam_from_metric", "tv_grid_from")})
        # which weight and whence, as the auto run's message says it: a carried weight's run said only its
        # iteration counts (newuser10)
        whence = (f"from {self.lam_from} (that run's /metrics/{self.carried['lam_from_metric']}"
                  f"{self.carried.get('words', '')}{self._learned_grid_words(grid)})" if self.lam_from else "as given")
        return SolveResult(solution={"x": x, "label": label}, status="max_iter",
                           # "x 5 cv iterations" read as cross-validation beside lam=auto's "by cv" (newuser22)
                           message=f"lam={self.lam:.4g} {whence}; {k + 1} FISTA iterations x {self.cfg.inner_iters} "
                                   f"TV-prox iterations (prox {self.cfg.prox})"
                                   + (f"; WARNING: {scale}" if scale else ""),
                           n_iter=k + 1, metrics=metrics,
                           stats=stats)

    def _learned_grid_words(self, grid) -> str:
        """A learning run's weight (grid_search, bilevel: their FISTA runs on the output's pixel grid) solved here on
        tv_grid=auto's finer grid, said: newuser24's grid_search weight from 30 views of a training scan gave 28.91
        dB on the 2x grid and 31.11 on the pixel grid it was learned on (that file's pixel grid was 2 dB better at
        every weight, so this is a word, not a change of grid)."""
        if (self.carried.get("lam_from_metric") != LEARNED_LAM or "factor" in self.carried or grid.factor == 1
                or str(self.cfg.tv_grid) != "auto"):
            return ""
        return (f"; learned on the output's pixel grid, solved here on the {grid.factor}x grid of "
                "solver.tv_grid=auto: solver.tv_grid=1 solves it where it was learned")

    def _grid_stats(self, grid) -> dict:
        """The unknown's grid, and solver.data_weight where it weighs the misfit (its kappa: the factor that made
        the sinogram's values -log(I/I0))."""
        stats = {"tv_grid": grid.factor, **({"tv_grid_data": grid.data} if grid.factor > 1 else {})}
        if str(self.cfg.data_weight) != "none":
            stats.update(data_weight=str(self.cfg.data_weight),
                         data_weight_kappa=data_weights(grid.sinogram, self.cfg)[1])
        return stats

    def _solve_auto(self, grid, monitor, fista, L, t0) -> SolveResult:
        """lam by the rule from the sinogram alone; the history is the search (one row per weight tried), the
        reconstruction the one at the chosen weight. `grid`: the problem on the unknown's grid (every training
        run on it too)."""
        problem = grid.problem
        iters = int(self.cfg.iters)
        # the data-space rules' grid may stop early (parameter_choice.grid_from_the_top): their count is a cap.
        # The bar counts weights tried, as lam_solves does, in both searches where the pixel-grid check runs a
        # second: it counted 9 and then 18 while the results recorded 19 solves (FISTA runs, the final one on all
        # views included; newuser21), with nothing to say the two count different things
        check = (self.cv_pixel_grid and self.choice.rule == "cv" and grid.factor > 1
                 and str(self.cfg.tv_grid) == "auto")
        # (cv: lam_solves shared among lam_cv_offsets training runs a weight, as choose_fista_weight shares it)
        weights = max(3, self.choice.solves // int(self.cfg.lam_cv_offsets)) if self.choice.rule == "cv" \
            else self.choice.solves
        monitor.start(total=weights * (2 if check else 1),
                      desc=f"fista_tv lam=auto ({self.choice.rule}), weights tried", upto=self.choice.rule != "cv")
        step = [0]

        def progress(lam, value):
            monitor.step(iter=step[0], lam=lam, criterion=value)
            step[0] += 1

        gen = self.ctx.generator(int(self.cfg.lam_seed))

        def search(grid, fista, reference, final=True, pick="min"):
            return choose_fista_weight(grid, fista, iters, self.choice, str(self.cfg.lam_divergence), gen, progress,
                                       cv_fold=int(self.cfg.lam_cv_fold), cv_scale=float(self.cfg.lam_cv_scale),
                                       power_iters=int(self.cfg.power_iters), cv_reference=reference,
                                       cv_weight=str(self.cfg.lam_cv_weight),
                                       cv_offsets=int(self.cfg.lam_cv_offsets), cv_grid=self.cfg.lam_cv_grid,
                                       cv_guard=self.cv_guard, cv_dose=self.cv_dose, stop=self.ctx.out_of_time,
                                       cv_fit_cap=self.cv_fit_cap, cv_fit_cap_share=self.cv_fit_cap_share,
                                       cv_coverage_power=self.cv_coverage_power,
                                       cv_layout=str(self.cfg.lam_cv_layout), cv_blocks=int(self.cfg.lam_cv_blocks),
                                       cv_weighting=self.cv_weighting, cv_repick_guarded=self.cv_repick_guarded,
                                       cv_final=final, cv_few_views=self.cfg.lam_cv_few_views,
                                       cv_few_offsets=int(self.cfg.lam_cv_few_offsets), cv_pick=pick,
                                       cv_view_outlier=self.cv_view_outlier)

        # with the check, each search's run on all views waits until the grid is decided: one run, not two
        typed, grid_factor = "", grid.factor
        choice = search(grid, fista, str(self.cfg.lam_cv_reference), final=not check)
        if check:
            # the same search on the output's pixel grid against the raw views, kept where it predicts them better
            pixel = UnknownGrid(problem, 1)
            L1 = lipschitz(pixel, self.cfg)
            fista1 = make_fista(pixel, self.cfg, L1)
            choice, on_pixel = pixel_grid_check(choice, lambda: search(pixel, fista1, "raw", final=False,
                                                                       pick=self.cv_pixel_grid_pick),
                                                 self.cv_pixel_grid_misfit, self.cv_pixel_grid_edge,
                                                 self.cv_pixel_grid_margin)
            if on_pixel:
                grid, fista, L = pixel, fista1, L1
                # the weight chosen, typed, solved on the 2x grid tv_grid=auto gives: 31.12 dB against auto's
                # 33.54 on newuser22's 64^2 file, without a word of the grid
                typed = (f"; on the output's pixel grid (the pixel-grid check's pick): the weight typed, "
                         f"solver.lam={choice.lam:.6g}, gives this answer with solver.tv_grid=1 (tv_grid=auto "
                         f"solves it on the {grid_factor}x grid)")
            final_solve(choice, fista, iters, problem.sinogram)
        x = grid.output(choice.state * fista.mask)
        metrics = {**choice.metrics(), "lam_fista_runs": float(fista_runs(choice, self.choice))}
        if "lam_cv_pixel_grid_ratio" in choice.details:  # the pixel grid's misfit over the finer grid's (margin)
            metrics["lam_cv_pixel_grid_ratio"] = float(choice.details["lam_cv_pixel_grid_ratio"])
        if problem.truth is not None:  # how far the rule's curve is from the truth's (judging only)
            metrics["loss_at_chosen"] = masked_loss(x, problem.truth, problem.mask)

        def figures(problem, result, metrics, fig_dir):
            return [curve_figure(choice, fig_dir / "lam_curve.png", setting="solver.lam")]

        # "prox cv" (Condat-Vu) and "by cv" (cross-validation) said apart: "FISTA-TV (cv), lam=0.52 (cv)" did not
        return SolveResult(solution={"x": x, "label": f"FISTA-TV (prox {self.cfg.prox}), lam={choice.lam:.4g} "
                                     f"by {choice.rule}"},
                           # a search cut by time_limit is a stop the run names (solver_stop), as super-resolution's
                           status="stopped" if "lam_search_stopped" in choice.details else "max_iter",
                           message=f"{choice.summary()}; {step[0]} weights tried (the progress line's count; a "
                                   f"solve is one FISTA run of {iters} iterations){typed}",
                           n_iter=choice.solves, metrics=metrics, tables={"lam_curve": choice.table()},
                           stats={**choice.stats(), "lipschitz": L, "tau": fista.tau,
                                  "seconds": time.perf_counter() - t0, **self._grid_stats(grid)},
                           figures=figures)


def carried_grid(path: str, cfg) -> dict:
    """What solver.lam=from:RUN carries beside the weight: which metric held it (lam_learned: bilevel or
    grid_search; lam_chosen: fista_tv's auto), and, where that run was fista_tv's and solver.tv_grid is left at
    auto here, the unknown's grid it solved on (its /stats/tv_grid, tv_grid_data): auto's pixel-grid check can
    keep the output's pixel grid, and its weight solved on the 2x grid is another answer (newuser22's file: 31.12
    dB typed against auto's 33.54). A typed tv_grid is the user's; a learning run's weight (its solvers have no
    tv_grid) keeps tv_grid's own reading. `words`: the message's clause."""
    got = run_values(path, (f"metrics/{LEARNED_LAM}", "metrics/lam_chosen", "stats/tv_grid", "stats/tv_grid_data",
                            "stats/lam_rule"))
    out = {"lam_from_metric": LEARNED_LAM if f"metrics/{LEARNED_LAM}" in got else "lam_chosen"}
    rule = f", chosen there by {got['stats/lam_rule']}" if "stats/lam_rule" in got else ""
    if str(cfg.tv_grid) != "auto" or "stats/tv_grid" not in got:
        return {**out, "words": rule}
    factor = int(got["stats/tv_grid"])
    out.update(factor=factor, tv_grid_from=f"{path}: /stats/tv_grid {factor}")
    if factor > 1:
        out["data"] = str(got.get("stats/tv_grid_data", "fine"))
    where = "the output's pixel grid" if factor == 1 else f"the {factor}x grid"
    return {**out, "words": f"{rule}; solved on {where}, as there (solver.tv_grid={factor}; type solver.tv_grid "
                            "to choose another)"}


CARRIED_SCALE = 4.0  # a carried weight's scan whose largest line integrals differ from this one's by more than this
# factor (either way) is named: lam's units follow the data's (TV of x against the squared misfit: b -> c b asks
# c lam), and newuser24's weight from a scan in pixel units (largest line integral 57.9) on the same object's scan
# from counts (-log(counts / flat): 1.74) gave 20.47 dB, under FBP's 25.16 (auto there: 32.68)


SMALL_UNITS = 0.1  # an answer whose largest value inside the mask is below this is not in lam_range's units

RANGE_UNITS = ("auto", "fixed")
UNITS_BAND = (0.1, 10.0)  # lam_range_units=auto leaves lam_range as typed where the image's scale lies inside: the
# range was chosen on images of values about 1 (line integrals in pixel units; every held-out file so far, FJ's
# truths 0.76-1.0) and a file inside keeps its answer bit for bit
UNITS_QUANTILE = 0.99  # of |FBP| inside the mask: the object's bright parts, not one streak's or one noisy pixel's peak


def image_scale(problem) -> tuple[float, float | None]:
    """(the factor lam_range is multiplied by, the image's scale): 1 where the scale (the FBP's UNITS_QUANTILE of
    |values| inside the mask) lies in UNITS_BAND, else the power of 10 nearest it, so a scan given in other units by a
    power of 10 is searched at the same relative weights. FISTA-TV is equivariant (data c b, weight c lam: answer c x)
    and cv's choices compare misfits, so only the range's place needs the units."""
    mask = getattr(problem, "mask", None)
    image = problem.fbp().detach()
    values = image[mask > 0] if mask is not None else image.reshape(-1)
    if values.numel() == 0:
        return 1.0, None
    amplitude = float(torch.quantile(values.abs().double().reshape(-1)[:2**24], UNITS_QUANTILE))
    if not math.isfinite(amplitude) or amplitude <= 0 or UNITS_BAND[0] <= amplitude <= UNITS_BAND[1]:
        return 1.0, amplitude
    return 10.0 ** round(math.log10(amplitude)), amplitude


def bottom_in_small_units(result: SolveResult, problem, lo: float, hi: float) -> str:
    """`auto`'s weight at solver.lam_range's bottom on an answer far below the range's units: the range was chosen
    on images of values about 1 (line integrals in pixels); a scan in physical units (attenuation per mm, line
    integrals of a few) wants a weight as much smaller. newuser27's ASTRA scan in mm (values up to 0.05): `auto`
    0.01, the bottom, 33.43 dB; with the range 100x lower at its bottom 0.026 and 34.78, and typed 0.003 and 0.001
    28.27 and 24.70, so its best lay inside the wider range and above the bottom, which the search could not see.
    Only said: the weight rule is unchanged. '' where it does not apply."""
    lam = result.metrics.get("lam_chosen")
    x = result.solution.get("x")
    if lam is None or x is None or lam > lo * (1 + 1e-9) or getattr(problem, "mask", None) is None:
        return ""
    top = float((x.detach() * problem.mask).abs().max())
    if not 0 < top < SMALL_UNITS:
        return ""
    return (f"lam=auto chose {lam:.4g}, solver.lam_range's bottom end ([{lo:g}, {hi:g}]), on an answer whose values "
            f"reach only {top:.3g}: the range is for images of values about 1 (line integrals in pixel units) and "
            f"the weight scales with the image's units, so the search could go no lower than it may need; run again "
            f"with solver.lam_range=[{lo / 100:g},{hi:g}] (an ASTRA scan in mm: 0.01 at the bottom, 33.43 dB; so "
            f"widened, 0.026 and 34.78), or solver.lam_range_units=auto (the range in the image's units: docs/ct.md "
            f"\"(ctunits)\")")


def carried_scale_warning(path: str, sinogram: torch.Tensor, lam: float) -> str:
    """'' unless the run at `path` (solver.lam=from:) solved a sinogram whose 99th percentile of |value| differs
    from `sinogram`'s by more than CARRIED_SCALE; a run without its sinogram (none stored) says nothing."""
    import numpy as np

    theirs = run_values(path, ("data/sinogram",)).get("data/sinogram")
    if theirs is None:
        return ""
    a = float(np.percentile(np.abs(np.asarray(theirs)), 99))
    b = float(np.percentile(np.abs(sinogram.detach().cpu().numpy()), 99))
    if a <= 0 or b <= 0 or 1 / CARRIED_SCALE <= b / a <= CARRIED_SCALE:
        return ""
    return (f"the weight carried from {path} was chosen on a sinogram whose largest line integrals are {a:.4g} "
            f"(99th percentile), this one's {b:.4g}: {b / a:.3g} times; the weight's units follow the data's (a "
            f"sinogram c times larger asks a weight c times larger), so it is another weight here: give the scans "
            f"in one unit, solver.lam={lam * b / a:.4g} (scaled), or solver.lam=auto")

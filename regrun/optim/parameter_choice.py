"""Regularization weights chosen from the data alone, with no ground truth: one mechanism for every regularized
solver (issue 16).

A solver hands over `evaluate(lam) -> Fit` (its reconstruction at lam: the squared data misfit ||A x(lam) - b||^2,
the number of data m, and, when the rule needs it, a Hutchinson estimate of the trace of the influence map
d(A x)/db) and a range of lam; `choose` searches log lam and returns the weight with the whole curve. Rules (all
minimised over log lam):

- discrepancy (Morozov): |log(||r||^2 / (tau m sigma^2))|, the weight whose misfit matches the noise;
- gcv (generalized cross-validation, Golub, Heath and Wahba 1979): m ||r||^2 / (m - gamma tr H)^2, needs no
  sigma; gamma = 1 is GCV itself, gamma > 1 the modified GCV (Kim and Gu 2004 use 1.4), which charges each
  degree of freedom more and so keeps GCV from under-smoothing where the misfit has a part the model can partly
  fit (model error: super-resolution's frames are cell averages of a scene, not the model's samples);
- sure (Stein's unbiased risk estimate of the prediction error, Monte-Carlo form of Ramani, Blu and Unser 2008):
  (||r||^2 - m sigma^2 + 2 sigma^2 tr H) / m.

tr H is Hutchinson's estimate E[z^T H z] over Rademacher probes z, with H z the directional derivative of the
reconstruction's prediction A x(b) in the data b along z: a forward-mode derivative (torch.func.jvp, or dual
tensors through an iterative solver, see `linear_dual`) of the whole solve, so a nonlinear reconstruction (TV)
gets its own divergence. The probes are drawn once per search (common random numbers), so the curve is smooth in
lam and the golden-section steps compare like with like.

The noise level sigma, when not given, is estimated from the data: images and frames by the least variance of
their weak-texture 3x3 patches (Liu, Tanaka and Okutomi 2013), started from the response of Immerkaer's (1996)
Laplacian-difference mask (zero on planes and on edges along the axes, norm 6) in its quietest blocks,
sinograms by the median absolute second difference across detector bins, grouped by signal level so a Poisson
(level-dependent) noise is averaged in variance.

The search: a log-spaced grid over [lo, hi] (scalar_search.log_grid), then golden-section refinement in the
bracket of the grid's best point (scalar_search.golden_refine), `solves` evaluations in all.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from ..errors import UserError, check_choice, check_int
from .scalar_search import golden_bracket, golden_refine, log_grid, parabola_min

RULES = ("discrepancy", "gcv", "sure")
# The floor under the rule's weight (marginal_floor): Wahba's (1985) generalized maximum likelihood, the Gaussian
# prior's marginal likelihood of the data, -2 log L / (m - null) = log b^T (I - H) b - log det+(I - H) / (m - null).
# Not a user's rule: it needs log det(A^T A + lam^2 R) (Fit.logdet), which a solver gives from its factor of the
# normal matrix or by stochastic Lanczos quadrature on its products (regrun.linalg.slq; Fit.logdet_at, on demand).
FLOOR_RULE = "gml"
AUTO = "auto"
MAD = 0.6744897501960817  # median |N(0, 1)|
# choose(climb_below_noise=True): the climb is skipped where ||r||^2 >= CLIMB_SKIP_RATIO (m - tr H) sigma^2. 2, not
# 1: a margin chosen on 24 seen super-resolution sets with noise_std_images' block percentile (docs/superres.md,
# "srgate"): the fits at the climb's start that need it reach 1.93x that level (logo2 96^2/8: -0.11 dB at 1), those
# the climb over-smooths start at 2.50x (barcode 128^2/8) and 3.81x (sharpphantom); flags 128^2/16 sits at 2.02x.
CLIMB_SKIP_RATIO = 2.0


# --- settings ----------------------------------------------------------------------------------------------
def is_auto(value) -> bool:
    return isinstance(value, str) and value == AUTO


def check_weight(name: str, value) -> float | None:
    """A fixed weight (a finite number >= 0) or `auto` (returned as None)."""
    if is_auto(value):
        return None
    try:
        lam = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{name}={value!r} must be a number >= 0, 'auto' (chosen from the data) or "
                        f"from:RUN (the weight an earlier run chose or learned){_weight_word_hint(name, value)}"
                        ) from None
    if not math.isfinite(lam) or lam < 0:
        raise UserError(f"{name}={value!r} must be a finite number >= 0, 'auto' (chosen from the data) "
                        "or from:RUN (the weight an earlier run chose or learned)")
    return lam


def _weight_word_hint(name: str, value) -> str:
    """A rule's name typed as the weight (problem.lambda_f=gcv) or auto in capitals: what was meant (newuser23)."""
    word = str(value).strip().lower()
    if word == "auto":
        return f": write {name}=auto, in lower case"
    if word in RULES + ("cv",):
        return (f": {word} is a rule that chooses the weight, written {name.rsplit('.', 1)[0]}.lam_rule={word} beside "
                f"{name}=auto")
    return ""


def check_rule(name: str, rule, rules: tuple[str, ...] = RULES) -> str:
    """One of `rules` (RULES, or a solver's own list with rules it implements itself, such as CT's `cv`)."""
    check_choice(name, rule, rules)
    return str(rule)


def check_noise(name: str, value) -> float | None:
    """A given noise standard deviation (finite, > 0) or None (estimate it from the data)."""
    if value is None:
        return None
    try:
        sigma = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{name}={value!r} must be a positive number (the noise standard deviation) or null "
                        "(estimated from the data)") from None
    if not math.isfinite(sigma) or sigma <= 0:
        raise UserError(f"{name}={value!r} must be a finite number > 0 (the noise standard deviation) or null "
                        "(estimated from the data)")
    return sigma


def check_range(name: str, value) -> tuple[float, float]:
    """[lo, hi] with 0 < lo < hi, finite."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise UserError(f"{name}={value!r} must be [lo, hi] with 0 < lo < hi") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
        raise UserError(f"{name}={list(value)} is an empty or invalid range: it must be [lo, hi] with 0 < lo < hi")
    return lo, hi


@dataclass(frozen=True)
class ChoiceSettings:
    rule: str
    noise: float | None  # given noise standard deviation (data units), or None: estimated
    lo: float
    hi: float
    solves: int
    probes: int
    tau: float = 1.0  # discrepancy: the misfit aimed at is tau m sigma^2
    gamma: float = 1.0  # gcv: the trace's weight (1: GCV; > 1: modified GCV), set by a problem that uses it

    @classmethod
    def from_config(cls, cfg, prefix: str, rules: tuple[str, ...] = RULES) -> "ChoiceSettings":
        """From `lam_rule` (one of `rules`), `lam_noise`, `lam_range`, `lam_solves`, `lam_probes` of a config
        section."""
        lo, hi = check_range(f"{prefix}.lam_range", cfg.lam_range)
        return cls(rule=check_rule(f"{prefix}.lam_rule", cfg.lam_rule, rules),
                   noise=check_noise(f"{prefix}.lam_noise", cfg.lam_noise), lo=lo, hi=hi,
                   solves=check_int(f"{prefix}.lam_solves", cfg.lam_solves, 3),
                   probes=check_int(f"{prefix}.lam_probes", cfg.lam_probes, 1))

    @property
    def needs_trace(self) -> bool:
        return self.rule in ("gcv", "sure")


# --- noise estimates ---------------------------------------------------------------------------------------
# noise_std_images: blocks of NOISE_BLOCK x NOISE_BLOCK mask responses, the NOISE_QUANTILE-th of their RMS values. Texture
# and edges only add to a block's RMS, so the quietest blocks are the ones nearest the noise alone: on 21 seen frame
# sets (scripts/ux7_noise.py, seeds 19001-19003; docs/sweeps.md, "Seventh new-user pass") the median over every
# pixel read 1.03-2.53x the frames' noise (the same frames without noise alone 0-1.2x it: texture), this
# 1.00-2.28x; pooling the blocks noise explains instead (iterated) read higher on photos (1.03-2.66x).
NOISE_BLOCK = 6
NOISE_QUANTILE = 0.1
NOISE_MIN_BLOCKS = 100  # fewer blocks: the median over every pixel (on 16 px frames, 32 blocks, the quantile read
# 1.56-1.84x against the median's 1.36-1.89x)
NOISE_CLIPPED = 0.25  # blocks with this share of clipped pixels or more are left out
# noise_std_images: Liu, Tanaka and Okutomi's weak-texture patches, NOISE_PATCH^2 pixels (3, not their 7: the flat
# parts of sharp drawings at the frames' resolution are a few pixels wide: barcode 64^2's modules are 2 frame
# pixels), kept where their gradient energy is under unit noise's NOISE_WEAK_QUANTILE-th times sigma^2. 0.995, not
# Liu et al.'s 0.99: on smooth scenes every patch has some curvature and a tight bar keeps those whose noise happens
# to cancel it (terrain 96^2 / 16 1% read 0.85x the added noise at 0.99, 0.89x at 0.995, 0.97x at 0.999), while a
# loose one lets texture in (coffee 48^2 / 16 RGB 1.02x, 1.05x, 1.23x; seen sets, docs/superres.md "noiseest")
NOISE_PATCH = 3
NOISE_WEAK_QUANTILE = 0.995
NOISE_WEAK_STEPS = 30
NOISE_WEAK_MIN = 90  # patches: ten per dimension of the covariance


def _immerkaer(x: torch.Tensor) -> torch.Tensor:
    """The response to Immerkaer's mask [[1,-2,1],[-2,4,-2],[1,-2,1]] / 6 (unit norm: white noise of sigma s gives
    responses of sigma s; zero on any function linear in either axis, so smooth shading and axis-aligned edges
    leave it), of images (n, m1, m2)."""
    d1 = x[:, :-2, :] - 2 * x[:, 1:-1, :] + x[:, 2:, :]
    return (d1[:, :, :-2] - 2 * d1[:, :, 1:-1] + d1[:, :, 2:]) / 6.0


def _blocks(a: torch.Tensor) -> torch.Tensor:
    """(n, m1, m2) cut into NOISE_BLOCK^2 blocks, one a row (the last rows and columns that fill no block left out)."""
    b = NOISE_BLOCK
    n1, n2 = a.shape[1] // b, a.shape[2] // b
    return a[:, :n1 * b, :n2 * b].reshape(a.shape[0], n1, b, n2, b).transpose(2, 3).reshape(-1, b * b)


def noise_std_blocks(images: torch.Tensor, valid: torch.Tensor | None = None) -> float:
    """sigma of white noise on images (..., m1, m2), pooled over the leading axes, from the responses to
    Immerkaer's mask (_immerkaer): the NOISE_QUANTILE-th of the RMS responses of NOISE_BLOCK^2 blocks, over the same
    statistic of unit white noise on the same grid (drawn from a fixed seed: the quantile's own bias for that many
    blocks). The quietest blocks, because texture and edges only add to a block's response (the median over every
    pixel read textured frames' noise up to 2.5x). The RMS, not the median, within a block: the median of integer
    frames' responses lies on a lattice (0.93-1.12x the noise at 0.6-2 levels of 8-bit frames). Blocks a
    NOISE_CLIPPED share of whose pixels sit at the images' lowest or highest value are left out: clipped noise
    there would read low. Fewer than NOISE_MIN_BLOCKS blocks (small frames): the median absolute response over
    every pixel, over MAD = 0.6745. Where every block holds an edge (sharp drawings whose flat parts are a few
    pixels wide) it reads the edges: noise_std_images starts from it and selects flat patches instead.
    valid (images' shape, bool): pixels that are data; a mask response that reaches any other is left out."""
    x = _as_frames(images)
    d = _immerkaer(x)
    rms = _blocks(d).pow(2).mean(1).sqrt()
    # clipped: pixels at the images' lowest or highest value (a black background, blown highlights), whose noise is
    # cut; a block a quarter of whose pixels are clipped would read low
    clipped = _blocks(_clipped(x)[:, 1:-1, 1:-1].to(x.dtype)).mean(1)
    keep = clipped < NOISE_CLIPPED
    inside = None
    if valid is not None:
        inside = _valid_responses(valid.reshape(x.shape))
        keep &= _blocks(inside.to(x.dtype)).amin(1) > 0
    rms = rms[keep]
    if rms.numel() >= NOISE_MIN_BLOCKS:
        unit = _blocks(_immerkaer(_unit_noise(x)))
        return float(torch.quantile(rms, NOISE_QUANTILE) / torch.quantile(unit.pow(2).mean(1).sqrt(), NOISE_QUANTILE))
    return float((d if inside is None else d[inside]).abs().flatten().median()) / MAD


def _valid_responses(valid: torch.Tensor) -> torch.Tensor:
    """Of (n, m1, m2) data pixels, the 3x3 mask responses (_immerkaer's (n, m1-2, m2-2)) that read data alone."""
    v = valid.to(torch.float64)[:, None]
    return torch.nn.functional.max_pool2d(1.0 - v, 3, 1)[:, 0] == 0


def _as_frames(images: torch.Tensor) -> torch.Tensor:
    x = images.reshape(-1, *images.shape[-2:])
    if min(x.shape[-2:]) < 3:
        raise UserError(f"cannot estimate the noise of images of {tuple(x.shape[-2:])} pixels: give the noise level")
    return x


def _clipped(x: torch.Tensor) -> torch.Tensor:
    return (x <= x.min()) | (x >= x.max())


def _unit_noise(x: torch.Tensor) -> torch.Tensor:
    """Unit white noise of x's shape from a fixed seed: the estimators' statistics on it are their own bias."""
    g = torch.Generator(device=x.device).manual_seed(0)
    return torch.randn(x.shape, generator=g, dtype=x.dtype, device=x.device)


def _patches(x: torch.Tensor) -> torch.Tensor:
    """Every NOISE_PATCH^2 patch of (n, m1, m2), one a row (n (m1 - P + 1) (m2 - P + 1), P^2)."""
    p = NOISE_PATCH
    return x.unfold(1, p, 1).unfold(2, p, 1).reshape(-1, p * p)


def _patch_gradient_energy(x: torch.Tensor) -> torch.Tensor:
    """Per patch (_patches' order): the squared differences between neighbours inside it, across and along, about
    their means in the patch (Liu, Tanaka and Okutomi 2013's tr(G^T G), less a plane's part: a smooth slope is no
    texture to the mask-free PCA, and counting it would keep only the patches whose noise happens to cancel it)."""
    p = NOISE_PATCH
    dh = (x[:, :, 1:] - x[:, :, :-1]).unfold(1, p, 1).unfold(2, p - 1, 1).reshape(*_grid(x), -1)
    dv = (x[:, 1:, :] - x[:, :-1, :]).unfold(1, p - 1, 1).unfold(2, p, 1).reshape(*_grid(x), -1)
    return ((dh - dh.mean(-1, keepdim=True)).pow(2).sum(-1) + (dv - dv.mean(-1, keepdim=True)).pow(2).sum(-1)).flatten()


def _grid(x: torch.Tensor) -> tuple[int, int, int]:
    return x.shape[0], x.shape[1] - NOISE_PATCH + 1, x.shape[2] - NOISE_PATCH + 1


def _least_variance(p: torch.Tensor) -> float:
    """The least eigenvalue of the patches' covariance: the variance along the direction no structure of the kept
    patches reaches."""
    return float(torch.linalg.eigvalsh(torch.cov(p.T))[0])


def noise_std_images(images: torch.Tensor, valid: torch.Tensor | None = None) -> float:
    """sigma of white noise on images (..., m1, m2), pooled over the leading axes: Liu, Tanaka and Okutomi's (2013)
    weak-texture patches. Of every NOISE_PATCH^2 patch, those whose gradient energy (_patch_gradient_energy) lies
    under the NOISE_WEAK_QUANTILE-th of the energies unit white noise gives, times sigma^2, are the patches noise
    alone explains; the least eigenvalue of their covariance is the noise's variance (structure that survives the
    selection lies along few directions; white noise along all). sigma is re-estimated from the selection it makes,
    from noise_std_blocks's estimate (high on sharp drawings: every patch kept at first), NOISE_WEAK_STEPS times at
    most. The least eigenvalue of a finite sample reads low (Marchenko-Pastur), and the selection itself trims the
    noise: both are taken out by dividing by the same statistic of unit white noise selected the same way, as many
    patches. Patches touching a clipped pixel (the images' lowest or highest value) are left out. With fewer than
    NOISE_WEAK_MIN patches kept: noise_std_blocks's estimate.
    Why (docs/superres.md, "noiseest"): the block percentile read sharp drawings' edges as noise, 5.5-17x the
    added noise on graphic frame sets, where every 6x6 block holds an edge; a 3x3 patch fits between them.
    valid (images' shape, bool): the pixels that are data; patches touching any other are left out (a residual's
    zeros where a frame sees outside the reference would read as flat patches)."""
    x = _as_frames(images)
    if valid is not None:
        valid = valid.reshape(x.shape)
    start = noise_std_blocks(x, valid)
    if min(x.shape[-2:]) < NOISE_PATCH + 1 or not start > 0:
        return start
    u = _unit_noise(x)
    eu = _patch_gradient_energy(u)
    tau = float(torch.quantile(eu, NOISE_WEAK_QUANTILE))
    pu = _patches(u)[eu < tau]  # unit noise selected by the same rule at its sigma, 1
    px, ex = _patches(x), _patch_gradient_energy(x)
    bad = _clipped(x) if valid is None else _clipped(x) | ~valid
    clipped = _patches(bad.to(x.dtype)).amax(1) > 0
    sigma, estimated = start, False
    for _ in range(NOISE_WEAK_STEPS):
        weak = (ex < tau * sigma**2) & ~clipped
        m = int(weak.sum())
        if m < NOISE_WEAK_MIN:  # too few patches at this sigma: the last one read from enough (or the start's)
            return sigma if estimated else start
        new = math.sqrt(max(_least_variance(px[weak]), 0.0) / _least_variance(pu[:m]))
        if abs(new - sigma) <= 1e-3 * sigma:
            return new
        sigma, estimated = new, True
    return sigma


def noise_std_sinogram(sinogram: torch.Tensor, groups: int = 8) -> float:
    """RMS sigma of the noise on a sinogram (views, n_u[, n_v]): the second difference across detector bins
    (u), [1, -2, 1] / sqrt(6), whose median absolute value over MAD is robust to the object's edges. Poisson
    noise depends on the signal, so the bins are split into `groups` quantile groups of the signal level, each
    gets its own median, and the variances are averaged (the misfit's expectation is the sum of variances)."""
    s = sinogram.movedim(1, -1) if sinogram.ndim == 3 else sinogram
    if s.shape[-1] < 3:
        raise UserError("cannot estimate the noise of a sinogram with fewer than 3 detector bins: give the noise level")
    d = ((s[..., :-2] - 2 * s[..., 1:-1] + s[..., 2:]) / math.sqrt(6.0)).flatten()
    level = s[..., 1:-1].flatten()
    order = torch.argsort(level)
    parts = torch.tensor_split(d[order].abs(), max(1, min(groups, d.numel() // 50)))
    var = sum(float(p.median() / MAD) ** 2 * p.numel() for p in parts) / d.numel()
    return math.sqrt(var)


# --- Hutchinson's trace ------------------------------------------------------------------------------------
def rademacher(n: int, shape, generator: torch.Generator, dtype, device) -> torch.Tensor:
    """n probes of +-1 entries (drawn on the CPU so a seed gives the same probes on every device)."""
    z = torch.randint(0, 2, (n, *shape), generator=generator, dtype=torch.int64).to(dtype) * 2 - 1
    return z.to(device)


def hutchinson(apply_jacobian: Callable[[torch.Tensor], torch.Tensor], probes: torch.Tensor) -> float:
    """tr J ~ mean_k z_k^T J z_k, J given by its action (one probe at a time)."""
    return float(sum(float((z * apply_jacobian(z)).sum()) for z in probes) / len(probes))


def linear_dual(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """A linear map that also carries forward-mode dual tensors (torch.autograd.forward_ad): applied to the
    primal and the tangent separately, which is its exact derivative. For operators whose autograd.Function
    has no jvp rule (a projector), so a whole iterative reconstruction can be pushed forward in one pass."""
    import torch.autograd.forward_ad as fwad

    def apply(x):
        primal, tangent = fwad.unpack_dual(x)
        if tangent is None:
            return fn(x)
        return fwad.make_dual(fn(primal), fn(tangent))

    return apply


# --- rules ------------------------------------------------------------------------------------------------
@dataclass
class Fit:
    """One reconstruction at one weight, as a rule sees it."""

    rss: float  # ||A x - b||^2 over the data
    m: int  # number of data
    trace: float = math.nan  # Hutchinson estimate of tr d(A x)/db
    state: Any = None  # what the caller keeps (the reconstruction, for a warm start or the answer)
    units: Any = None  # the misfit's parts whose sum is rss (super-resolution: per frame; the one-SE walk's error bar)
    change: float = math.nan  # ||lam dx/dlam||: the reconstruction's change per unit log lam (quasi_optimal_above)
    # the marginal likelihood's inputs (FLOOR_RULE), where a solver can give them (a Cholesky factor at lam):
    energy: float = math.nan  # b^T (I - H) b = ||A x - b||^2 + lam^2 x^T R x (the minimised objective)
    logdet: float = math.nan  # log det+(I - H) up to a constant in lam: (n - null) log lam^2 - log det(A^T A + lam^2 R)
    null: int = 0  # the dimension of the penalty R's null space (fitted by the data alone at every lam)
    logdet_at: Callable[[], float] | None = None  # logdet computed on demand (a quadrature as dear as solves)

    def has_logdet(self) -> bool:
        return math.isfinite(self.logdet) or self.logdet_at is not None

    def resolved(self) -> "Fit":
        """self with logdet computed, where it was left to logdet_at."""
        if self.logdet_at is not None and not math.isfinite(self.logdet):
            self.logdet, self.logdet_at = self.logdet_at(), None
        return self


def criterion(rule: str, fit: Fit, sigma: float, tau: float = 1.0, gamma: float = 1.0) -> float:
    """The value the rule minimises over log lam (gamma: gcv's weight of the trace)."""
    if rule == "discrepancy":
        return abs(math.log(max(fit.rss, 1e-300) / (tau * fit.m * sigma**2)))
    if rule == "gcv":
        # gamma tr H -> m (too little regularization): GCV -> infinity
        dof = max(fit.m - gamma * fit.trace, 1e-12 * fit.m)
        return fit.m * fit.rss / dof**2
    if rule == "sure":
        return (fit.rss - fit.m * sigma**2 + 2 * sigma**2 * fit.trace) / fit.m
    if rule == FLOOR_RULE:  # -2 log of the marginal likelihood with the noise variance profiled out, over m - null
        fit.resolved()
        return math.log(max(fit.energy, 1e-300)) - fit.logdet / (fit.m - fit.null)
    raise UserError(f"unknown rule {rule!r}; allowed: {', '.join(RULES)}")


# --- the search -------------------------------------------------------------------------------------------
@dataclass
class Choice:
    lam: float
    rule: str
    sigma: float
    noise_source: str  # "given" or the estimator's name
    solves: int
    at_edge: bool
    curve: dict[str, np.ndarray] = field(default_factory=dict)  # lam, criterion, rss, trace (order of evaluation)
    state: Any = None  # the caller's state at the chosen weight
    details: dict[str, str] = field(default_factory=dict)  # a rule's own settings, recorded beside it in /stats

    def table(self) -> dict[str, np.ndarray]:
        order = np.argsort(self.curve["lam"])
        return {k: np.asarray(v)[order] for k, v in self.curve.items()}

    def metrics(self) -> dict[str, float]:
        return {"lam_chosen": self.lam, "lam_solves": float(self.solves), "noise_sigma": self.sigma,
                "lam_at_range_edge": float(self.at_edge)}

    def stats(self) -> dict[str, str]:
        return {"lam_rule": self.rule, "noise_source": self.noise_source, **self.details}

    def summary(self) -> str:
        edge = " (at the edge of lam_range: widen it)" if self.at_edge else ""
        cut = " (the search cut short by time_limit: the best weight of those solved)" \
            if "lam_search_stopped" in self.details else ""
        # a walk after the rule (superres_cv._adopt) moved the weight: said, so "by gcv" is not read as GCV's pick
        moved = f", then the {self.details['lam_moved_by']}" if "lam_moved_by" in self.details else ""
        return (f"lam={self.lam:.4g} by {self.rule} in {self.solves} solves{cut}{moved}, noise sigma "
                f"{self.sigma:.4g} ({self.noise_source}){edge}")


def grid_from_the_top(f: Callable[[float], float], lams: np.ndarray, top: float | None = None,
                      lazy: bool = False) -> np.ndarray:
    """The rule on the log grid from the largest weight down, stopping at the first weight whose value rises above
    the one before, the lowest so far (inf where not evaluated): the minimum is then bracketed by evaluated
    neighbours, which is all the golden-section steps after the grid use. The small weights are where the solves
    are dear (CG on a nearly singular normal matrix: super-resolution at 80x80 from 8 frames, the grid's 1e-3 took
    1505 iterations against 46 at 0.41, 60% of a search's CPU); a dip below a rise would be GCV's known
    under-smoothing at tiny weights, which regrun does not want to find.

    With `top` (a weight chosen before on a nearby curve: super-resolution's search again at the solver's final
    motion), the scan starts at the grid's first weight at or above it and goes up the grid only while the
    highest weight evaluated is the lowest value: on a curve with one minimum the same values around it, each
    grid weight above that start not solved (1 of 9 solves at 48^2, docs/superres.md "Cost").

    lazy: before the grid weight below the lowest value so far, the golden-section step's lower point between
    them (golden_bracket's a, which golden_refine solves first) is solved; when it already rises, the minimum
    is bracketed without the grid weight, whose solve (the dearest: 23 of 38 CPU-s of a search at 256^2 from
    16 frames, lam 7.4e-3) is skipped, and golden_refine goes on exactly as it would have (it finds a among the
    weights solved). Only a curve that dips again below such a rise is scanned differently: the dip, which the
    scan stops at a rise to avoid anyway, is not looked for."""
    values = np.full(len(lams), np.inf)
    start = len(lams) - 1 if top is None else min(int(np.searchsorted(lams, top * (1 - 1e-12))), len(lams) - 1)
    for k in range(start, -1, -1):
        if lazy and k + 1 < len(lams) and math.isfinite(values[k + 1]) and values[k + 1] == values[k + 1:].min():
            if f(math.exp(golden_bracket(lams, k + 1)[2])) > values[k + 1]:
                break
        values[k] = f(float(lams[k]))
        if k + 1 < len(lams) and values[k] > values[k + 1] == values[k + 1:].min():
            break
    k = start
    while k + 1 < len(lams) and int(np.argmin(values)) == k:  # the minimum may lie above the start: go up
        k += 1
        values[k] = f(float(lams[k]))
    return values


class _SearchStopped(Exception):
    """choose()'s stop() said the run is out of time."""


def misfit_ratio(fit: Fit, level: float) -> float:
    """The fit's misfit over the discrepancy principle's level at noise `level`, ||A x - b||^2 / ((m - tr H)
    level^2): the climb's gate (CLIMB_SKIP_RATIO)."""
    return fit.rss / max((fit.m - fit.trace) * level**2, 1e-300)


def choose(evaluate: Callable[[float], Fit], settings: ChoiceSettings, sigma: float, noise_source: str,
           progress: Callable[[float, float], None] | None = None, top: float | None = None,
           lazy: bool = False, change: Callable[[float], float] | None = None,
           image: Callable[[float], Fit] | None = None,
           floor_change: Callable[[float], float] | None = None,
           stop: Callable[[], bool] | None = None, climb_below_noise: bool = False,
           climb_sigma: float | None = None) -> Choice:
    """The weight in [settings.lo, settings.hi] minimising the rule: a log grid of about half the budget (at
    least 3 points) from the top down (grid_from_the_top: the weights below the first rise are skipped, and their
    solves saved; with `top`, those well above it too; `lazy`: the grid weight below the minimum too when the
    golden-section point above it already rises), then golden-section steps in the best point's bracket
    with the rest. A weight asked for again (lazy's point, solved again by golden_refine) is not a new solve.
    change(lam) (the reconstruction's change per unit log lam at lam): the weight then goes on up from the rule's
    minimum to the quasi-optimality criterion's first minimum above it (quasi_optimal_above). image(lam) (the
    reconstruction alone, without the rule's inputs: no trace): the climb's weights are solved so, and the rule's
    value is then evaluated at the chosen weight only (NaN in the curve at the others): the climb reads only
    change(lam), and the rule's value at a climbed weight is read only at the one chosen (the search again's fall,
    recheck); each value a probe solve as dear as the image's on super-resolution's PCG path.
    Where the fits carry the marginal likelihood's inputs (Fit.logdet or Fit.logdet_at) and its minimum lies above the
    rule's, the weight is the marginal likelihood's (marginal_floor), and the climb starts there, with `change` or
    else `floor_change` (a caller that climbs above the rule only where it helps, but above a floor that binds
    always).
    stop() (the run's time limit): checked before each new weight once one is solved; when it says so the search
    ends at the lowest rule value solved so far (`lam_search_stopped` in the details), so that a time-limited run
    is not held past its limit by the search. climb_below_noise:
    the climb runs only where the fit at its start is below the noise's level, ||A x - b||^2 < c (m - tr H) sigma^2
    (the discrepancy principle's level; c = CLIMB_SKIP_RATIO, a margin for the noise estimate): where it is not,
    the rule's weight does not fit noise or model error, and a larger one fits the frames worse still
    (docs/superres.md, "Nineteenth round (srgraphic)" and its "srgate"); not where the marginal likelihood's
    floor bound (the climb from the floor runs at any misfit: "srbar"). climb_sigma: the noise level that
    comparison reads (None: sigma), for a caller whose margin was chosen with another estimate than the rule's."""
    seen: list[tuple[float, float, Fit]] = []
    known: dict[float, float] = {}

    def out_of_time() -> None:
        if stop is not None and seen and stop():
            raise _SearchStopped

    def f(lam: float) -> float:
        if lam in known:
            return known[lam]
        out_of_time()
        fit = evaluate(lam)
        value = criterion(settings.rule, fit, sigma, settings.tau, settings.gamma)
        if not math.isfinite(value):
            value = math.inf
        seen.append((lam, value, fit))
        known[lam] = value
        if progress is not None:
            progress(lam, value)
        return value

    details = {}

    def search():
        nonlocal change
        points = max(3, settings.solves // 2)
        if settings.solves - points < 2:  # golden-section needs two points: a budget this small is all grid
            points = settings.solves
        lams = log_grid(settings.lo, settings.hi, points)
        values = grid_from_the_top(f, lams, top, lazy)
        golden_refine(f, lams, values, settings.solves - points)
        best = min(range(len(seen)), key=lambda i: seen[i][1])
        lam = seen[best][0]
        at_edge = int(np.argmin(values)) in (0, len(lams) - 1)  # the minimum may lie outside the range
        floor = marginal_floor(f, lambda x: next(s[2] for s in seen if s[0] == x), lams, values,
                               settings.solves - points, lam,
                               below=max((s[0] for s in seen if s[0] < lams[int(np.argmin(values))]), default=None),
                               solved=[s[0] for s in seen])
        if floor is not None:
            details.update(lam_rule_below_floor=f"{lam:.6g}", lam_floor_rule=FLOOR_RULE)
            lam, at_edge = floor
            best = next(i for i, s in enumerate(seen) if s[0] == lam)
            change = change if change is not None else floor_change
        # the gate reads a fit at the rule's own minimum; where the floor bound, the rule fell below it (model error
        # fitted into directions the frames barely see) and the floor lies under the image's best weight: its climb
        # runs at any misfit (bartarget 64^2/16 0.5%: skipped at 43x the noise's level, 0.0433 -> 0.173, +7.7 dB;
        # docs/superres.md, "Two misses on drawings in batch NE (srbar)")
        if change is not None and climb_below_noise and floor is None:
            fit = seen[best][2]
            level = sigma if climb_sigma is None else climb_sigma
            ratio = misfit_ratio(fit, level)
            if ratio >= CLIMB_SKIP_RATIO:  # the misfit at the noise's level: a larger weight only fits the frames worse
                details["lam_climb_skipped"] = f"misfit {ratio:.3g}x the noise's"
                change = None
        if change is not None:
            details["lam_rule_minimum"] = f"{lam:.6g}"

            def visit(x: float) -> float:
                """A climbed weight joins the curve: its reconstruction only, with `image`."""
                if image is None:
                    return f(x)
                out_of_time()
                seen.append((x, math.nan, image(x)))
                known[x] = math.nan
                if progress is not None:
                    progress(x, math.nan)
                return math.nan

            start = lam
            lam = quasi_optimal_above(change, visit, lam, settings.hi)
            best = next(i for i, s in enumerate(seen) if s[0] == lam)
            if image is not None and lam != start:  # the rule's value at the chosen weight (its trace, the probes)
                fit = evaluate(lam)
                value = criterion(settings.rule, fit, sigma, settings.tau, settings.gamma)
                seen[best] = (lam, value if math.isfinite(value) else math.inf, fit)
        return lam, best, at_edge, change

    try:
        lam, best, at_edge, change = search()
    except _SearchStopped:  # the run's time limit: the lowest value so far (a climbed weight's is NaN: not it)
        best = min(range(len(seen)), key=lambda i: seen[i][1] if not math.isnan(seen[i][1]) else math.inf)
        lam, at_edge, change = seen[best][0], False, None
        details["lam_search_stopped"] = f"time limit, after {len(seen)} weight{'s' if len(seen) != 1 else ''}"
    curve = {"lam": np.array([s[0] for s in seen]), "criterion": np.array([s[1] for s in seen]),
             "rss": np.array([s[2].rss for s in seen]), "trace": np.array([s[2].trace for s in seen])}
    if change is not None:
        curve["change"] = np.array([s[2].change for s in seen])
    return Choice(lam=lam, rule=settings.rule, sigma=sigma, noise_source=noise_source, solves=len(seen),
                  at_edge=bool(at_edge), curve=curve, state=seen[best][2].state, details=details)


def marginal_floor(f: Callable[[float], float], fit_at: Callable[[float], Fit], lams: np.ndarray,
                   rule_values: np.ndarray, steps: int, lam: float,
                   below: float | None = None, solved=()) -> tuple[float, bool] | None:
    """(weight, at_edge) of FLOOR_RULE's minimum where it lies above the rule's minimum `lam`; None where it does
    not, or where the fits carry no log-determinant (CT's solvers). Super-resolution's GCV falls, from
    frames with little noise (0.5-1%) and many data per unknown (16 frames, or 8 at 32^2), to weights where the
    frames' model error (cell averages of a scene, fitted by the model's spline samples) is fitted into directions
    of the image the frames barely see: the misfit keeps falling while the image is ruined, to the range's lower
    edge or to a shallow dip just above it (coffee 24^2 from 16 frames, 0.5%: GCV's minimum 1e-3, 2.2 dB against
    29.3 at the best weight; docs/superres.md, "Twelfth round (srheldE)"). The marginal likelihood charges that
    image through the prior (lam^2 x^T R x in b^T (I - H) b) and the log-determinant, which goes to -infinity as
    lam -> 0: its minimum is inside the range, and below the image's best weight where GCV is right (batch E's
    curves: 0.5-1x the PSNR's peak), so as a floor it leaves GCV's choice there, at no solve: where it falls from
    the rule's grid minimum to the grid weight below (the rule's scan solved both: rule_values, its grid), its
    minimum lies lower. Otherwise up the grid while it falls; where the parabola through its best weight solved and
    its neighbours has its vertex at or below `lam` (no solve), none; else golden-section steps in its bracket.
    f(lam) solves a weight and puts it on the rule's curve, fit_at(lam) is its Fit. `below`: the largest weight solved
    under the rule's grid minimum, compared in its place where the rule's scan skipped the grid weight below
    (grid_from_the_top's `lazy`: a golden point under the minimum already rose; the grid weight is the dearest solve).
    `solved`: the weights the rule's search solved; where its grid minimum is the range's lowest weight (nothing
    below to compare), its golden steps between the first two grid weights join the floor's points (no image
    solve): with the two grid weights alone the parabola's best point is the range's end, and a floor minimum
    between them went unseen (sk:clock@40:60 20^2/16 0.5% s7321 with problem.frames_level=false: GCV's 0.001
    answered -12.53 dB; docs/superres.md, "srclock")."""
    if not fit_at(lam).has_logdet():
        return None

    tried: dict[float, float] = {}

    def g(x: float) -> float:
        if x not in tried:
            f(x)
            tried[x] = criterion(FLOOR_RULE, fit_at(x).resolved(), math.nan)
        return tried[x]

    k = int(np.argmin(rule_values))
    if k == 0 and len(lams) > 1:
        for x in sorted(x for x in solved if lams[0] < x < lams[1]):
            g(x)
    lower = float(lams[k - 1]) if k > 0 and math.isfinite(rule_values[k - 1]) else below
    if lower is not None and g(lower) < g(float(lams[k])):
        return None  # it falls below the rule's grid minimum (both solved by the rule's scan): its minimum is lower
    values = np.full(len(lams), np.inf)
    values[k] = g(float(lams[k]))
    i = k
    while i + 1 < len(lams):  # up the grid while it falls (the rule's scan solved these, but for a `top`)
        values[i + 1] = g(float(lams[i + 1]))
        if values[i + 1] >= values[i]:
            break
        i += 1
    if i == k and k > 0 and math.isfinite(rule_values[k - 1]):  # solved by the rule's scan (not where lazy skipped
        values[k - 1] = g(float(lams[k - 1]))  # it: `below` stands for it, the dearest solve of the curve avoided)
    g(lam)  # solved by the rule's search
    if parabola_min(list(tried), list(tried.values())) <= lam:
        return None  # its minimum by the parabola through the weights solved lies at or below the rule's: no solve
    golden_refine(g, lams, values, steps)
    floor = min(tried, key=tried.get)
    return (floor, i in (0, len(lams) - 1)) if floor > lam else None


# quasi_optimal_above's step up: its minimum lies 1-3x above GCV's on the curves measured (docs/superres.md,
# "Eleventh round"); half the log grid's spacing (2.7x at 10 solves over [1e-3, 3]) would step over it
QO_STEP = math.sqrt(2.0)


def quasi_optimal_above(change: Callable[[float], float], f: Callable[[float], float], lam: float,
                        hi: float) -> float:
    """From the rule's minimum lam up, in steps of QO_STEP, while the quasi-optimality
    criterion ||lam dx/dlam|| (Tikhonov and Glasko 1965: the reconstruction's change per unit log lam, no noise
    level needed) falls; its first minimum at or above lam. The rule (GCV) scores the prediction of the data; where
    the misfit is mostly model error (super-resolution's frames are cell averages of a scene, not the model's
    spline samples) a smaller weight fits that error at little cost in degrees of freedom and GCV keeps falling,
    while the image, the answer, gets worse: its change per unit log lam, which fitted model error and noise
    both make large at small weights, is what quasi-optimality scores (docs/superres.md, "Eleventh round").
    Only upward from the rule's minimum: quasi-optimality alone also has a trivial minimum where the image is
    nearly flat (the largest weights of a small image: moon 20^2 at 2.45 against a peak at 0.17). f(lam) is the
    rule's value (each weight visited becomes part of the curve)."""
    here = change(lam)
    while lam * QO_STEP <= hi * (1 + 1e-12):
        up = lam * QO_STEP
        f(up)
        value = change(up)
        if not value < here:
            break
        lam, here = up, value
    return lam


ZOOM_POINTS = 2  # curve_figure's zoom: the weights tried on either side of the minimum


def _spaced_labels(values: np.ndarray, ratio: float = 1.3) -> list[str]:
    """Tick labels for weights on a log axis, blank where a weight lies within `ratio` of the last one labelled
    (the climb's steps and the search's golden points can sit 2% apart; rotated labels of weights under 1.3x
    apart overlap)."""
    labels, last = [], None
    for v in values:
        keep = last is None or v > last * ratio
        labels.append(f"{v:.3g}" if keep else "")
        last = v if keep else last
    return labels


def curve_figure(choice: Choice, path, title: str = "", setting: str = "lam"):
    """The rule's curve over lam with the chosen weight marked: the whole search (log y when every value is positive
    and they span more than a decade, so that the steep side does not flatten the minimum into a line) beside a
    linear zoom on the points around the minimum, where the choice is made. Where the weight went on up from the
    rule's minimum to quasi-optimality's (the curve has `change`), the zoom reaches the chosen weight and shows
    ||lam df/dlam|| on its own axis, and the rule's minimum is marked beside the choice: the chosen weight is then
    not the rule's minimum, and the figure says why."""
    import textwrap

    import matplotlib.ticker

    # on the Agg canvas without pyplot, as regrun.plots draws: pyplot's first figure (its manager) cost 0.10 CPU-s of
    # a run, and the PNG is the same pixel for pixel (docs/superres.md, "srfast3")
    from ..plots import _figure

    t = choice.table()
    lam, crit = np.asarray(t["lam"], dtype=float), np.asarray(t["criterion"], dtype=float)
    ok = np.isfinite(crit)
    fig, axes = _figure((9.5, 3.8), 1, 2)
    ax, zoom = axes[0]
    ax.semilogx(lam[ok], crit[ok], "o-", label=f"{choice.rule} criterion")
    if ok.any() and (crit[ok] > 0).all() and crit[ok].max() > 10 * crit[ok].min():
        ax.set_yscale("log")
    if lam.size and lam.max() < 100 * lam.min():
        # a log axis over under two decades labels its minor ticks (2x10^-1, 3x10^-1, ...), one on another
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    best = int(np.flatnonzero(ok)[np.argmin(crit[ok])]) if ok.any() else None
    change = np.asarray(t.get("change", np.full(len(lam), np.nan)), dtype=float)
    # only a climb moves the choice off the rule's minimum on purpose (CT's cv scales its pick: not a climb)
    climbed = best is not None and bool(np.isfinite(change).any()) and choice.lam != lam[best]
    if best is None:
        near = slice(0, 0)
    else:
        chosen = int(np.argmin(np.abs(np.log(lam / choice.lam)))) if climbed else best
        # a climb that stopped at its first step still tried one weight above: the zoom shows why it stopped
        tried = np.flatnonzero(np.isfinite(change))
        top = max(best, chosen, int(tried.max()) if tried.size else best)
        near = slice(max(min(best, chosen) - ZOOM_POINTS, 0), top + ZOOM_POINTS + 1)
    zoom.semilogx(lam[near][ok[near]], crit[near][ok[near]], "o-", label=f"{choice.rule} criterion")  # the climb's
    # weights carry no rule value (NaN: solved for the image alone)
    # the weights tried as the zoom's ticks: a log axis over less than a decade would label its minor ticks, overlapping
    zoom.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    zoom.set_xticks(lam[near], _spaced_labels(lam[near]), rotation=30, fontsize=8)
    # a walk after the rule (the caller's, recorded in details) moved the weight: the legend says which, from where
    moved = f" ({choice.details['lam_moved_by']})" if "lam_moved_by" in choice.details else ""
    for a in (ax, zoom):
        # wrapped: CT's moved pick (newuser19) is a long line, and a legend as wide squeezed the plot off the figure
        a.axvline(choice.lam, color="C3", ls="--", label=textwrap.fill(f"chosen {setting} = {choice.lam:.3g}" + moved, 60))
        if climbed:
            a.axvline(lam[best], color="C7", ls=":", label=f"{choice.rule} minimum = {lam[best]:.3g}")
        a.set_xlabel(setting)  # the setting a user types (newuser23: "lam" named no setting of theirs)
        a.set_ylabel(f"{choice.rule} criterion")
    shown = np.isfinite(change[near])
    if shown.any():
        twin = zoom.twinx()
        twin.plot(lam[near][shown], change[near][shown], "s:", color="C2", label="||lam df/dlam|| (quasi-optimality)")
        twin.set_ylabel("||lam df/dlam||", color="C2")
        handles = [h for a in (zoom, twin) for h in a.get_legend_handles_labels()[0]]
        zoom.legend(handles, [h.get_label() for h in handles], fontsize=7)
    if best is not None:
        zoom.annotate(f"{crit[best]:.4g}", (lam[best], crit[best]), textcoords="offset points", xytext=(4, 6),
                      fontsize=8)
    source = choice.noise_source.split(":")[0]  # "given" or "estimated" (the estimator is in /stats)
    ax.set_title(title or f"{choice.rule}: {choice.solves} solves, noise sigma {choice.sigma:.3g} ({source})",
                 fontsize=9)
    where = f"from the {choice.rule} minimum up to quasi-optimality's" if climbed else "around the minimum"
    zoom.set_title(f"{where} ({len(lam[near])} of {len(lam)} weights, linear)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path

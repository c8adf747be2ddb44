"""The super-resolution forward model (seed 000 section 4): frames d_j = K I_j(w) f, the stacked operator A(w) with
its exact adjoint, the regulariser rows, and the pre-registration of the frames."""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import torch

from ..imaging import spline
from ..imaging.spline import PAD
from ..imaging.grid import Grid
from ..imaging.interpolation import BandedGram, PooledStencil, SeparableStencil, SplineCoefficients, Stencil
from ..imaging.transforms import Affine, Translation, affine, affine_identity
from ..linalg.cg import cg
from ..linalg.krylov import pcg
from ..linalg.differences import forward_difference as diff
from ..linalg.differences import forward_difference_adjoint as diff_adjoint
from ..linalg.differences import add_difference_normal, pool, pool_adjoint
from ..linalg.operator import LinearOperator, untracked_cpu
from ..optim.levenberg_marquardt import DenseLinearization, lm_batched
from .global_start import ANGLES, fit_params, phase_correlation_start
from .objective import EdgeTaper, PointwiseObjective


# Frames with more pixels a side than this are pre-registered coarse to fine (SuperResModel.preregister);
# smaller ones (the paper's 10x10, the CI pairs) exactly as before.
PYRAMID_MIN = 32

# outside=drop: a moved frame's pixel stays in the data term only if all its fine points lie at least this many
# fine pixels inside the reconstructed field of view. Beyond the outermost cell centres the spline runs into
# its zero padding, so the model cannot show what such a pixel saw; one pixel also covers the pre-registration's
# error (~0.02 px at 256x256).
OUTSIDE_MARGIN = 1.0
OUTSIDE = ("keep", "drop")
# outside=drop, pre-registration: frame j's points weigh s(y)^2 (objective.EdgeTaper), 0 up to half a cell inside
# frame 0's field of view (its outermost pixel centres; beyond, frame 0's spline is its boundary extension, not the
# scene), rising to 1 two cells further in, re-evaluated at every step as the motion moves (ITK's semantics, made
# smooth). The earlier mask, decided at the start of each scale, held the points the identity saw inside: with a
# rotation of up to 10 degrees those near the edge pull the motion (rocket 48^2 and 64^2, 8 frames: 1.56-1.84 px
# RMS from the true motion with it, 0.33-0.76 with the taper; docs/superres.md, "The edge")
EDGE_TAPER = (2.0, 0.5)  # (width, inset) in cells of the scale's grid  # problem.outside: configs/problem/superres.yaml
# ... and for frames of more than SMOOTH_EDGE_MIN pixels a side the taper is as wide as the scale's smoothing reaches,
# SMOOTH_EDGE theta^(1/4) cells (the smoothing spline's kernel width grows as theta^(1/4) in cells; at least
# EDGE_TAPER[0]), at frame 0's edge (s(y)) and at frame j's own (s(x), fixed): within that reach of its edge a
# frame's smoothed spline is its boundary's extrapolation, not the smoothed scene, and the two frames' edges lie
# elsewhere in the scene, so there the misfit is not zero at the true motion. On content with little contrast
# at the smooth scales that misfit sets the minimum: from the true motion LM ended 3.5-12.6 px off at theta = 100
# and 1.7-7.0 at theta = 1 (halftone 256^2/8 rigid s302; with the taper 1.0-2.8 and 0.17-0.32), and the ladder
# ended 5.3 px RMS off (0.001-0.03 per frame with it; docs/superres.md, "Eleventh round"). Frames of 32 px and
# less keep the narrow taper (on 16 px frames it did not help); on 32-px frames the ladder with the wide taper is a
# second candidate (preregister's wide_edge; superres_start.wide_edge_start).
SMOOTH_EDGE = 3.0
SMOOTH_EDGE_MIN = 32  # frames of more pixels a side than this get it

# Frames of GLOBAL_START_MIN pixels a side or more are also registered from a global start
# (registration/global_start.py), and per frame the better end is kept: on repeating structure the smooth scales
# drift by periods (scikit-image's page 256^2 from 8 frames: varpro_cg's answer 4.8 px RMS off and 3.4 dB under
# bicubic without it, 0.006 px and 12.6 dB over with it; docs/superres.md, "Repeating structure"). First only for
# frames on the pyramid (64 px and up); text of 26 px letters at 96^2 (48 px frames) was 4.1 px off without it,
# 0.12 with it (docs/superres.md, "Tenth round"); then from 32 px (64^2): the same text at 64^2 from 8 frames
# was 3.1 px off without it (two frames a line off), 0.12 with it, and 7 other sets of 32 px frames the same
# to 3 digits (docs/superres.md, "Eleventh round"). Smaller frames (the paper's presets, the CI pairs: 16 px
# and less) keep the ladder alone. False: the ladder alone everywhere.
GLOBAL_START = True
GLOBAL_START_MIN = 32
COMPARE_ITERS = 10  # LM steps of the comparison of the two starts (preregister)

# Pre-registration (SuperResModel.preregister), LM at each scale of the smoothing ladder. Every scale but the last
# only hands its motion on as the next one's start, so it stops at this share of its starting gradient (the last
# at rel_gtol, 1e-6): on 256x256 from 16 frames the LM steps of all scales 80 -> 24 (on a GPU each step is a few
# hundred small kernels) and the same motion to 3e-8 px (docs/superres.md, "Ninth round"). The damping starts at
# PREREG_TAU times the largest curvature at the first scale, and at every later one where the last scale's ended
# (it starts at that one's minimum: Gauss-Newton steps): from PREREG_TAU again, about 6 steps per scale went to
# shrinking it. PREREG_MIN_TAU keeps the damped normal equations positive definite. The comparison of the two
# starts (COMPARE_ITERS) keeps rel_gtol and PREREG_TAU, as it was measured.
PREREG_SCALE_GTOL = 1e-3
# Frames of at most PREREG_SMALL_MAX pixels a side with outside=drop: a second start, the ladder stopped at
# PREREG_SMALL_END, where it lies SECOND_START_MOVE fine px RMS or more from the full ladder's end (one frame pixel
# at factor 2: the sharp scales drifted; superres_start.second_start); the solver runs from both and keeps the
# lower objective (superres_weight.second_run). Batch S's EPI slices: the full ladder ended 2.6-3.9 px off, the
# stopped one 0.75-1.09, and regrun's best weight was 1.3-2.8 dB under the two-stage peer's. Neither the stopped
# ladder alone (down to -3.84 dB on other seen sets) nor two starts everywhere (down to -3.67) is the default; with
# the 2 px gate (chosen on those 74 seen sets): +4.48 dB summed, worst -0.09, and held-out batch PG +3.67 dB summed,
# unchanged where it does not fire (docs/superres.md, "Where the peer beats regrun's best at 20² (srpeer)").
PREREG_SMALL_MAX = 16
PREREG_SMALL_END = 0.1
SECOND_START_MOVE = 2.0
PREREG_TAU = 1e-3
PREREG_MIN_TAU = 1e-12

# operator(w, fixed=True).normal builds the moved frames' banded Gram matrix after this many products (columns)
# at one w: its build costs about as much as GRAM_AFTER products by gather and scatter, so waiting for them first
# bounds the cost by about twice the better of the two choices for any number of products. On the CPU the
# products go by the block rows' CSR (PooledStencil._rows_matrix): 256x256 from 16 frames, one thread, 21 ms a
# product against a build of 0.56 s, 7.8 ms a product after: 27 (docs/superres.md, "Speed margin at 256^2
# (srspeed2)"). Elsewhere (GRAM_AFTER_TAPS: a GPU, the taps' loop) as measured before the CSR: 0.47 s against 45 ms.
GRAM_AFTER = 27
GRAM_AFTER_TAPS = 10




class PreconditionerFactor:
    """E = S C^T D^-1/2 with M^-1 = E E^T: C the orthonormal 2-D cosine transform, D the symbol (diagonal in C's
    basis), S the coverage scaling (None: identity). E^T and E are each other's adjoints (one transform each)."""

    def __init__(self, lam, symbol, scale, to_basis, from_basis):
        self.lam, self.inv, self.scale = lam, 1.0 / symbol, scale
        self.inv_sqrt = symbol.rsqrt()
        self.to_basis, self.from_basis = to_basis, from_basis

    def apply(self, r: torch.Tensor) -> torch.Tensor:
        """M^-1 r = E E^T r (by 1 / D, not D^-1/2 twice: the same rounding as before the factor was split out)."""
        r = r if self.scale is None else self.scale * r
        y = self.from_basis(self.to_basis(r.unflatten(-1, self.inv.shape)) * self.inv).flatten(-2)
        return y if self.scale is None else self.scale * y

    def half(self, x: torch.Tensor) -> torch.Tensor:
        """E x (x: cosine coefficients flattened, leading dimensions batched)."""
        y = self.from_basis(x.unflatten(-1, self.inv_sqrt.shape) * self.inv_sqrt).flatten(-2)
        return y if self.scale is None else self.scale * y

    def half_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """E^T y."""
        y = y if self.scale is None else self.scale * y
        return (self.to_basis(y.unflatten(-1, self.inv_sqrt.shape)) * self.inv_sqrt).flatten(-2)

    def logdet_inverse(self) -> float:
        """log det M^-1 = 2 sum log D^-1/2 + 2 sum log S."""
        out = 2 * float(self.inv_sqrt.log().sum())
        return out if self.scale is None else out + 2 * float(self.scale.log().sum())


class CosineFFT:
    """The orthonormal DCT-II of length n along the last axis (x @ D^T, D the preconditioner's cosine matrix) and
    its inverse (the DCT-III, y @ D), by one real FFT of the even-odd reordered input (Makhoul 1980)."""

    def __init__(self, n: int, dtype, device):
        self.n = n
        k = torch.arange(n // 2 + 1, dtype=dtype, device=device)
        self.twiddle = torch.polar(torch.ones_like(k), -math.pi * k / (2 * n))  # exp(-i pi k / 2n)
        self.scale = torch.full((n,), math.sqrt(2.0 / n), dtype=dtype, device=device)
        self.scale[0] = math.sqrt(1.0 / n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.n
        v = torch.cat((x[..., ::2], x[..., 1::2].flip(-1)), -1)
        z = torch.fft.rfft(v, dim=-1) * self.twiddle  # X_k = Re z_k (k <= n/2), X_{n-k} = -Im z_k
        return torch.cat((z.real, -z.imag[..., 1:(n + 1) // 2].flip(-1)), -1) * self.scale

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        n, h = self.n, self.n // 2
        y = y / self.scale
        re = y[..., :h + 1]
        im = torch.zeros_like(re)
        im[..., 1:(n + 1) // 2] = -y[..., h + 1:].flip(-1)
        if n % 2 == 0:  # the middle term of an even length: its z is real times exp(-i pi / 4)
            im[..., h] = -re[..., h]
        v = torch.fft.irfft(torch.complex(re, im) * self.twiddle.conj(), n=n, dim=-1)
        x = torch.empty_like(y)
        x[..., ::2] = v[..., :(n + 1) // 2]
        x[..., 1::2] = v[..., (n + 1) // 2:].flip(-1)
        return x


@dataclass
class FixedStencil:
    """SuperResModel.operator(w, fixed=True)'s parts at one w that depend on neither the weight nor the data mask:
    the merged stencil, the products asked for, and the moved frames' Gram matrix with the mask version it holds."""

    pooled: PooledStencil
    products: int = 0
    gram: BandedGram | None = None
    mask_version: int = -1


class SuperResModel:
    """The forward model of one data set: grids, frames, the operator A(w) and the right-hand side b.

    The parameters w hold, frame by frame after frame 0, the affine motion (A11, A12, A21, A22, b1, b2) and,
    with gain=True, the frame's intensity gain g_j after it (7 per frame): d_j = g_j K I_j(w) f. A burst's
    frames differ in exposure; frame 0's gain is 1 (it sets the reconstruction's intensity scale).

    gain_anchor="mean" (with gain=True): the gains' geometric mean over all frames is what is fixed, not frame 0's
    gain. The image stays in frame 0's units (frame 0's gain still 1 in the data rows); what changes is the
    regulariser's weight, lam k(g) / k_ref with k(g) = (prod_j g_j)^(1/(q+1)): the weight on the image referenced
    to the gains' geometric mean, f / k(g), is lam / k_ref. So scaling the image down and every moved frame's gain up
    no longer lowers the smoothing term for free (with frame 0 fixed only frame 0's data resisted it: the gains
    came out 4-7% high on dark scenes, docs/superres.md, "srdarkgain"). k_ref: k at the motion where the weight was
    last searched (ImageSolve: the search's weight is the image's there), else 1."""

    def __init__(self, frames: torch.Tensor, fine: Grid, factor: int, lam: float, outside: str = "keep",
                 gain: bool = False, extension: str = "zero", gain_anchor: str = "frame0"):
        self.frames = frames  # (q + 1, m1, m2)
        # zero | edge: the fine image beyond its grid, as the moved frames read it (regrun.imaging.spline)
        self.extension = extension
        self.edge = extension == "edge"
        self.outside = outside  # keep | drop: what to do with moved-frame pixels that saw beyond the field of view
        self.keep = None  # (q + 1, coarse m1, m2) 0/1 data weights once settle_outside has dropped pixels
        self.fine = fine
        self.coarse = Grid(fine.omega, (fine.m[0] // factor, fine.m[1] // factor))
        self.factor = factor
        self.lam = lam
        self.q = frames.shape[0] - 1
        self.gain = bool(gain)
        self.mean_anchor = self.gain and gain_anchor == "mean"  # the regulariser's weight follows the gains
        self.k_ref = 1.0  # gain_anchor=mean: k(g) where the weight was last searched (reference_weight)
        self.stride = 7 if self.gain else 6  # parameters per moved frame
        self.n_params = self.stride * self.q
        self.dtype, self.device = frames.dtype, frames.device
        self.x = fine.centres(self.dtype, self.device).reshape(-1, 2)
        self.coef = SplineCoefficients(fine, self.dtype, self.device, self.edge)
        self.sqrt_hd = math.sqrt(self.coarse.cell_volume)
        self.sqrt_hf = math.sqrt(fine.cell_volume)
        n1, n2 = fine.m
        self.n = n1 * n2
        self.n_data = frames.numel()
        self.n_reg = (n1 - 1) * n2 + n1 * (n2 - 1)
        self.b = self.rhs(frames)
        self._last_fixed = (None, None)  # (w, FixedStencil) of the last w operator(w, fixed=True) was asked for
        self._mask_version = 0  # counts the data mask's changes (settle_outside): a fixed operator's Gram matrix
        # is built for one mask, its products read the mask in use
        one = torch.ones(1 if self.gain else 0, dtype=self.dtype, device=self.device)
        self.identity = torch.cat((affine_identity(self.dtype, self.device), one)).repeat(self.q)

    def rhs(self, frames: torch.Tensor) -> torch.Tensor:
        """b for frames shaped as self.frames (another channel of a colour burst): the kept data rows, then the
        regulariser's zeros."""
        return torch.cat((self.sqrt_hd * self._weigh(frames).reshape(-1),
                          torch.zeros(self.n_reg, dtype=self.dtype, device=self.device)))

    def split(self, w: torch.Tensor):
        """w -> (the affine motions (q, 6), the gains (q,) or None without problem.gain)."""
        t = w.reshape(self.q, self.stride)
        return (t, None) if not self.gain else (t[:, :6], t[:, 6])

    def affine_part(self, w: torch.Tensor) -> torch.Tensor:
        """The affine motions of w, (6q,)."""
        return self.split(w)[0].reshape(-1)

    def gains(self, w: torch.Tensor) -> torch.Tensor | None:
        return self.split(w)[1]

    def weight_scale(self, w: torch.Tensor):
        """gain_anchor=mean: k(g) / k_ref, the factor on the regulariser's weight at w (differentiable in w);
        1.0 otherwise."""
        if not self.mean_anchor:
            return 1.0
        return torch.exp(torch.log(self.gains(w)).sum() / (self.q + 1)) / self.k_ref

    def reference_weight(self, w: torch.Tensor) -> None:
        """gain_anchor=mean: the weight is searched at w, so lambda_f is the regulariser's weight there."""
        if self.mean_anchor:
            self.k_ref = self.k_ref * float(self.weight_scale(w.detach()))

    def reg_weight(self, w: torch.Tensor):
        """The regulariser rows' factor lam sqrt(h_f) at w (times weight_scale with gain_anchor=mean)."""
        c = self.lam * self.sqrt_hf
        return c if not self.mean_anchor else c * self.weight_scale(w)

    def _gained(self, moved: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Moved frames' rows (..., q, a, b) times each frame's gain (unchanged without problem.gain)."""
        g = self.gains(w)
        return moved if g is None else moved * g[:, None, None]

    def settle_outside(self, w: torch.Tensor, accumulate: bool = False) -> int:
        """outside=drop: leave out of the data term every pixel of a moved frame whose fine points, at the motion
        w (the pre-registration, then varpro_cg's final motions: registration/superres_outside.py), do not all lie
        OUTSIDE_MARGIN fine pixels inside the field of view; fixed while the solver runs, so the objective stays
        smooth in w. A user's frames see the scene beyond the reconstructed
        field of view, which the model (zero there) cannot fit: left in, those pixels pull the motion away from
        the truth (docs/superres.md, "Scaling"). outside=keep keeps every pixel (the paper; generated data).
        accumulate: pixels dropped before stay dropped (the mask decided again at a later motion only shrinks, so
        deciding it again and again ends). Returns the number of pixels dropped that were data before."""
        if self.outside != "drop":
            return 0
        n1, n2 = self.fine.m
        y = self.warp_points(w.detach()).reshape(self.q, n1, n2, 2)
        lo = y.new_tensor((self.fine.omega[0], self.fine.omega[2])) + OUTSIDE_MARGIN * y.new_tensor(self.fine.h)
        hi = y.new_tensor((self.fine.omega[1], self.fine.omega[3])) - OUTSIDE_MARGIN * y.new_tensor(self.fine.h)
        inside = ((y >= lo) & (y <= hi)).all(-1).to(self.dtype)
        moved = (pool(inside, self.factor) == 1).to(self.dtype)  # every fine point of the pixel inside
        before = self.keep
        if accumulate and before is not None:
            moved = moved * before[1:]
        self.keep = torch.cat((torch.ones_like(moved[:1]), moved))
        dropped = int((self.keep < 1).sum()) if before is None else int(((before > 0) & (self.keep < 1)).sum())
        # how many frames see each fine pixel, as a share of all (the preconditioner's diagonal scaling): the kept
        # pixels' fine points spread back by the stencils (B-spline weights, 36 per point for FAIR's kernel)
        stencil = SeparableStencil.at(self.fine, self.warp_points(w.detach()), edge=self.edge)
        up = pool_adjoint(moved, self.factor) * self.factor ** 2
        size = self.coef.padded[0] * self.coef.padded[1]
        seen = stencil.scatter(up.flatten(-2), size).unflatten(-1, self.coef.padded)[PAD:PAD + n1, PAD:PAD + n2] / 36
        self._coverage = (1 + seen) / (self.q + 1)
        self.b = self.rhs(self.frames)
        self._precond = None
        self._precond_factor = None
        if before is None or not torch.equal(before, self.keep):  # the fixed operators' Gram matrices hold the old mask
            self._mask_version += 1
        return dropped

    def outside_state(self) -> tuple:
        """The data mask and what settle_outside derives from it, for restore_outside."""
        return self.keep, self.b, getattr(self, "_coverage", None)

    def restore_outside(self, state: tuple) -> None:
        """The data mask of outside_state again: a solver run that was discarded leaves no pixels dropped (its edge
        rounds decided them at its own motion: docs/superres.md, "srbrick")."""
        if state[0] is None or self.keep is None or torch.equal(state[0], self.keep):
            return  # no pixel dropped since: all as it was (the preconditioner's coverage too, as before the fix)
        self.keep, self.b, self._coverage = state
        self._precond = None
        self._precond_factor = None
        self._mask_version += 1  # the fixed operators' Gram matrices hold the discarded run's mask

    def data_mask(self) -> torch.Tensor:
        """(q + 1, coarse m1, m2): 1 where a frame pixel is data."""
        return torch.ones_like(self.frames) if self.keep is None else self.keep

    def _weigh(self, data: torch.Tensor) -> torch.Tensor:
        """Data rows (..., q + 1, coarse m1, m2) times the outside=drop weights (unchanged without them)."""
        return data if self.keep is None else data * self.keep

    def set_weight(self, lam: float) -> None:
        """A new regularization weight lambda_f (chosen from the data: registration/superres_weight.py); the
        cached dense fixed Gram matrix and the preconditioner hold the old one (the fixed operator's merged stencil
        and moved frames' Gram matrix do not depend on it: _fixed_operator_at)."""
        self.lam = float(lam)
        self._fixed = None
        self._precond = None
        self._precond_factor = None

    def warp_points(self, w: torch.Tensor) -> torch.Tensor:
        return affine(self.split(w)[0].reshape(self.q, 1, 6), self.x)  # (q, npts, 2)

    def operator(self, w: torch.Tensor, fixed: bool = False, many: bool = False) -> LinearOperator:
        """A(w): matrix-free, batched over leading dimensions of f, differentiable in w (forward and reverse
        mode) through the stencil weights. The stencil is held per axis (SeparableStencil): building it is most
        of the cost of a new w at large sizes, and the products cost the same as with a 16-wide stencil.
        fixed=True: the same A for many products at one w, not differentiable in w: each pooled pixel's k x k
        stencils merged into one patch (PooledStencil), which halves a product's time (256x256, 16 frames:
        gather and scatter 46 -> 25 ms each, no pooling pass) for a build of ~0.4 s. many=True (with fixed): the
        caller will ask for many more than GRAM_AFTER normal products at this w (the weight search's hundreds): the
        Gram matrix is built at the first, not after GRAM_AFTER by gather and scatter (see GRAM_AFTER)."""
        if fixed:
            op = self._fixed_operator_at(w.detach())
            if many:
                self._last_fixed[1].products = max(self._last_fixed[1].products, self._gram_after())
            return op
        stencil = SeparableStencil.at(self.fine, self.warp_points(w), edge=self.edge)
        n1, n2 = self.fine.m
        k = self.factor
        h1, h2 = self.fine.h
        c_reg = self.reg_weight(w)
        size = self.coef.padded[0] * self.coef.padded[1]

        def matvec(f):
            img = f.unflatten(-1, (n1, n2))
            warped = self._gained(stencil.gather(self.coef.apply(img)).unflatten(-1, (n1, n2)), w)
            frames = self._weigh(pool(torch.cat((img.unsqueeze(-3), warped), -3), k))
            return torch.cat((self.sqrt_hd * frames.flatten(-3), c_reg * diff(img, -2, h1).flatten(-2),
                              c_reg * diff(img, -1, h2).flatten(-2)), -1)

        def rmatvec(y):
            data, r1, r2 = torch.split(y, (self.n_data, (n1 - 1) * n2, n1 * (n2 - 1)), -1)
            up = pool_adjoint(self.sqrt_hd * self._weigh(data.unflatten(-1, tuple(self.frames.shape))), k)
            moved = self.coef.adjoint(stencil.scatter(self._gained(up[..., 1:, :, :], w).flatten(-2), size))
            img = up[..., 0, :, :] + moved
            reg = diff_adjoint(r1.unflatten(-1, (n1 - 1, n2)), -2, h1) + diff_adjoint(
                r2.unflatten(-1, (n1, n2 - 1)), -1, h2)
            return (img + c_reg * reg).flatten(-2)

        return LinearOperator((self.n_data + self.n_reg, self.n), matvec, rmatvec, self.dtype, self.device)

    def _fixed_operator_at(self, w: torch.Tensor) -> LinearOperator:
        """operator(w, fixed=True) at the current weight, its merged stencil and the moved frames' Gram matrix
        (FixedStencil: built once GRAM_AFTER products have been asked for) kept for the last w: they are most of a
        new operator's cost (256x256 from 16 frames: ~1 CPU-s, ~3000 small kernels on a GPU) and depend on neither
        the weight nor the data mask (the Gram matrix is built again for a new mask). So the weight search at the
        pre-registered motion (its products at weight 0), varpro_cg's first projection there, its last projection
        and the evaluation's final solve (after the mask decided again at LM's end: a few pixels dropped) share one
        build each (256x256 from 16 frames: ~1 CPU-s each; docs/superres.md, "Eleventh round (srspeed)")."""
        key, parts = self._last_fixed
        if key is None or key.shape != w.shape or not torch.equal(key, w):
            self._last_fixed = (None, None)  # the last w's stencil let go before the next is built (memory)
            # ... and its big buffers written again by the next where nothing else holds it (PooledStencil.spare):
            # no operator made on it alive (its closures hold the stencil) and no view of its weights; the counts
            # are this frame's `parts` and getrefcount's argument, the attribute and the argument
            spare = None
            if parts is not None and parts.pooled.weight.device.type == "cpu" and sys.getrefcount(parts) == 2 \
                    and sys.getrefcount(parts.pooled) == 2 and sys.getrefcount(parts.pooled.weight) == 2 \
                    and parts.pooled.weight.T.is_contiguous():
                spare = parts.pooled.spare()
            parts = None
            parts = self._fixed_stencil(w, spare)
            self._last_fixed = (w.clone(), parts)
        return self._fixed_operator(w, parts)

    def _gram_after(self) -> int:
        """Products (columns) at one w after which its fixed operator builds the Gram matrix (GRAM_AFTER)."""
        return GRAM_AFTER if self.device.type == "cpu" else GRAM_AFTER_TAPS

    def _fixed_stencil(self, w: torch.Tensor, spare: dict | None = None) -> "FixedStencil":
        """The moved frames' pooled interpolation at w by a PooledStencil (its Gram matrix not built yet); spare:
        the last one's buffers to write it into (PooledStencil.spare)."""
        n1, n2 = self.fine.m
        k = self.factor
        # frame by frame: the points' stencils of all frames at once are (q n, 8) weights and indices, hundreds of
        # MB at 512x512, page-faulted in again at every new w (most of the system time of a run)
        t = self.split(w)[0]
        return FixedStencil(PooledStencil.concat((PooledStencil.pool(SeparableStencil.at(
            self.fine, affine(t[j:j + 1, None, :], self.x).reshape(1, n1, n2, 2), edge=self.edge), k)
            for j in range(self.q)),
            self.q * (n1 // k) * (n2 // k), spare))

    def _fixed_operator(self, w: torch.Tensor, parts: "FixedStencil") -> LinearOperator:
        """operator(w, fixed=True) at the current weight and data mask on the stencil `parts` (of this w)."""
        n1, n2 = self.fine.m
        k = self.factor
        pooled = parts.pooled
        h1, h2 = self.fine.h
        c_reg = float(self.reg_weight(w.detach()))
        size = self.coef.padded[0] * self.coef.padded[1]
        scale = 1.0 / (k * k)  # block sums -> block means (K)

        def matvec(f):
            img = f.unflatten(-1, (n1, n2))
            moved = self._gained(scale * pooled.gather(self.coef.apply(img)), w)
            frames = self._weigh(torch.cat((pool(img, k).unsqueeze(-3), moved), -3))
            return torch.cat((self.sqrt_hd * frames.flatten(-3), c_reg * diff(img, -2, h1).flatten(-2),
                              c_reg * diff(img, -1, h2).flatten(-2)), -1)

        def rmatvec(y):
            data, r1, r2 = torch.split(y, (self.n_data, (n1 - 1) * n2, n1 * (n2 - 1)), -1)
            data = self.sqrt_hd * self._weigh(data.unflatten(-1, tuple(self.frames.shape)))
            moved = self.coef.adjoint(pooled.scatter(self._gained(scale * data[..., 1:, :, :], w), size))
            img = pool_adjoint(data[..., 0, :, :], k) + moved
            reg = diff_adjoint(r1.unflatten(-1, (n1 - 1, n2)), -2, h1) + diff_adjoint(
                r2.unflatten(-1, (n1, n2 - 1)), -1, h2)
            return (img + c_reg * reg).flatten(-2)

        # A^T A x without the data-sized vectors: frame 0's pooling and the regulariser as stencils, the moved
        # frames by their summed Gram matrix in coefficient space (PooledStencil.gram), built once GRAM_AFTER
        # products have been asked for at this w (it costs about that many; before, rmatvec(matvec(x))): a
        # projection that stops after a few warm-started iterations pays nothing for it, a long solve (the
        # final one, 146 PCG iterations at 256x256, 178 at 512x512) pays it once and then runs each product 4-5x
        # faster. The products are counted and the Gram matrix kept with the stencil (for every weight at this w);
        # the products read the data mask in use, and the Gram matrix is built again when the mask has changed
        # since (at once: this w has had its GRAM_AFTER products).
        frame0 = self.sqrt_hd * self._weigh(torch.ones_like(self.frames))[0]  # frame 0's row weights (always kept)

        def normal(x):
            if parts.gram is None or parts.mask_version != self._mask_version:
                if parts.gram is None:
                    parts.products += x.numel() // self.n
                    if parts.products <= self._gram_after():
                        return rmatvec(matvec(x))
                parts.gram = None  # the old one let go first (memory)
                rows = scale * self._gained(self.sqrt_hd * self._weigh(torch.ones_like(self.frames))[1:], w)
                parts.gram, parts.mask_version = pooled.gram(rows, size), self._mask_version
            img = x.unflatten(-1, (n1, n2))
            moved = self.coef.adjoint(parts.gram.apply(self.coef.apply(img, banded=True)), banded=True)
            out = pool_adjoint(frame0.square() * pool(img, k), k).add_(moved)
            add_difference_normal(out, img, -2, c_reg ** 2 / h1 ** 2)
            return add_difference_normal(out, img, -1, c_reg ** 2 / h2 ** 2).flatten(-2)

        return LinearOperator((self.n_data + self.n_reg, self.n), matvec, rmatvec, self.dtype, self.device, normal)

    def dense_operator(self, w: torch.Tensor) -> LinearOperator:
        """A(w) as operator() defines it, with the moved frames' pooled interpolation K S_j held as a dense
        matrix on the spline coefficients (q, coarse points, n): for blocks of many columns (the direct
        solver's Jacobian) a matrix product is several times faster than the matrix-free gather."""
        mats = self._moved_matrices(w)
        n1, n2 = self.fine.m
        k, q = self.factor, self.q
        h1, h2 = self.fine.h
        c_reg = float(self.reg_weight(w.detach()))
        nc = mats.shape[1]
        s1, s2 = self.coef.s1, self.coef.s2

        def matvec(f):
            img = f.unflatten(-1, (n1, n2))
            coef = (s1 @ img @ s2.T).flatten(-2)
            moved = (coef.reshape(-1, self.n) @ mats.reshape(q * nc, self.n).T).reshape(*f.shape[:-1], q * nc)
            return torch.cat((self.sqrt_hd * pool(img, k).flatten(-2), self.sqrt_hd * moved,
                              c_reg * diff(img, -2, h1).flatten(-2), c_reg * diff(img, -1, h2).flatten(-2)), -1)

        def rmatvec(y):
            d0, dm, r1, r2 = torch.split(y, (nc, q * nc, (n1 - 1) * n2, n1 * (n2 - 1)), -1)
            coef = (dm.reshape(-1, q * nc) @ mats.reshape(q * nc, self.n)).reshape(*y.shape[:-1], n1, n2)
            img = self.sqrt_hd * (pool_adjoint(d0.unflatten(-1, self.coarse.m), k) + s1.T @ coef @ s2)
            reg = diff_adjoint(r1.unflatten(-1, (n1 - 1, n2)), -2, h1) + diff_adjoint(
                r2.unflatten(-1, (n1, n2 - 1)), -1, h2)
            return (img + c_reg * reg).flatten(-2)

        return LinearOperator((self.n_data + self.n_reg, self.n), matvec, rmatvec, self.dtype, self.device)

    def _moved_matrices(self, w: torch.Tensor, moved: list[int] | None = None) -> torch.Tensor:
        """(q, coarse points, n): each moved frame's pooled interpolation K S_j on the spline coefficients, its
        dropped rows (outside=drop) zero, times its gain (problem.gain); `moved` (indices 0..q-1): those frames
        only (q x nc x n is 0.5 GB at 64^2 from 16 frames)."""
        idx = list(range(self.q)) if moved is None else moved
        stencil = Stencil.at(self.fine, self.warp_points(w.detach())[idx], edge=self.edge)
        mats = stencil.pooled_matrix(self.fine, self.factor)  # (len(idx), nc, n)
        if self.keep is not None:  # dropped rows are zero rows
            mats = mats * self.keep[1:][idx].reshape(len(idx), -1, 1)
        if self.gain:
            mats = mats * self.gains(w).detach()[idx].reshape(len(idx), 1, 1)
        return mats

    def moved_rows(self, w: torch.Tensor, frames: list[int]) -> torch.Tensor:
        """(len(frames), coarse points, n): the prediction of moved frames `frames` (1..q) from the fine image's
        pixels, in frame units (A's rows of those frames over sqrt(h_d)), dense: the row <M, coef(f)> with
        coef(f) = s1 f s2^T is <s1^T M s2, f>."""
        mats = self._moved_matrices(w, [k - 1 for k in frames])
        n1, n2 = self.fine.m
        s1, s2 = self.coef.s1, self.coef.s2
        return (s1.T @ mats.unflatten(-1, (n1, n2)) @ s2).flatten(-2)

    def normal_matrix(self, w: torch.Tensor) -> torch.Tensor:
        """A(w)^T A(w), dense (n, n), for the direct solver (regrun.linalg.direct): the moved frames' Gram
        matrix in spline-coefficient space from their sparse stencils, mapped to pixels by the separable
        coefficient operator, plus the fixed parts (frame 0's pooling and the regulariser), computed once."""
        stencil = Stencil.at(self.fine, self.warp_points(w.detach()), edge=self.edge)
        keep = None if self.keep is None else self.keep[1:].reshape(self.q, -1)
        if self.gain:  # row weights enter the Gram matrix squared: g_j^2 (K S_j)^T (K S_j)
            g = self.gains(w.detach()).reshape(self.q, 1)
            keep = g.expand(self.q, self.coarse.m[0] * self.coarse.m[1]) if keep is None else keep * g
        moved = self.coef.gram(stencil.pooled_gram(self.fine, self.factor, keep))
        if self.mean_anchor:  # the regulariser's weight at this w (weight_scale)
            fixed = self.pooling_gram() + float(self.reg_weight(w.detach())) ** 2 / self.fine.cell_volume \
                * self.regulariser_gram()
        else:
            fixed = self._fixed_gram()
        gram = self.coarse.cell_volume * moved + fixed
        return 0.5 * (gram + gram.T)

    def preconditioner(self):
        """M^-1 for CG on A(w)^T A(w): the normal matrix with every frame's motion replaced by a uniformly random
        sub-pixel shift, which makes it shift invariant and diagonal in the cosine basis (DCT-II). Per axis the
        expected k x k pooling K^T K is the triangle kernel (k - |d|) / k^2 (two pixels d apart share a block
        with probability (k - |d|) / k), the regulariser's L^T L (forward differences, reflecting ends) has the
        symbols (2 - 2 cos t) / h^2 exactly. Independent of w: built once, two dense n_i x n_i products per
        side (DCT matrices), on the model's device."""
        if getattr(self, "_precond", None) is None:
            self._precond = self.preconditioner_factor().apply
        return self._precond

    def preconditioner_factor(self) -> "PreconditionerFactor":
        """M^-1 = E E^T (preconditioner's) with E = S C^T D^-1/2, at the current weight: the factor and
        log det M^-1, for the log-determinant of the normal matrix by stochastic Lanczos quadrature on
        E^T (A^T A) E, whose spectrum the preconditioner clusters (regrun.linalg.slq; superres_weight.py)."""
        if getattr(self, "_precond_factor", None) is None or self._precond_factor.lam != self.lam:
            n1, n2 = self.fine.m
            h1, h2 = self.fine.h
            k = self.factor
            opts = dict(dtype=self.dtype, device=self.device)

            def dct(n):
                i = torch.arange(n, **opts)
                mat = torch.cos(math.pi * i[:, None] * (i[None, :] + 0.5) / n) * math.sqrt(2.0 / n)
                mat[0] /= math.sqrt(2.0)
                return mat

            def pooled(n):  # symbol of the triangle kernel sum_d (k - |d|) / k cos(d t)
                t = math.pi * torch.arange(n, **opts) / n
                return sum(((k - abs(d)) / k) * torch.cos(d * t) for d in range(-k + 1, k))

            def laplace(n, h):
                return (2 - 2 * torch.cos(math.pi * torch.arange(n, **opts) / n)) / h ** 2

            # frames' gains (problem.gain) taken as 1: they are unknown when this is built, and near 1 for a burst
            symbol = (self.coarse.cell_volume * (self.q + 1) / k ** 4) * pooled(n1)[:, None] * pooled(n2)[None, :]
            symbol = symbol + self.lam ** 2 * self.fine.cell_volume * (laplace(n1, h1)[:, None]
                                                                        + laplace(n2, h2)[None, :])
            # without a regulariser the highest frequencies have symbol 0: keep M positive definite
            symbol = symbol.clamp_min(1e-6 * float(symbol.max()))
            if self.device.type == "cpu":
                # one real FFT a transform (CosineFFT): on the CPU the four dense n x n products are flop-bound,
                # 2.9 -> 1.6 ms an application at 256x256 (one thread), ~1 CPU-s of a 256x256/16 auto run's ~1000;
                # on a GPU, where these solves are launch-bound, four products against four transforms of about ten
                # small operations each (docs/superres.md, "Eleventh round (srspeed)"). An input nothing tracks
                # goes by SciPy's own 2-D DCT (pocketfft, one call for both axes and every column): an application
                # 1.8 -> 0.8 ms for one column, 4.8 -> 1.6 for two at 256x256, the same to 1e-15 (docs/superres.md,
                # "Colour 256^2 with a margin (srspeed3)"); CosineFFT where autograd or torch.func tracks it
                import scipy.fft  # here: a run without a preconditioner does not pay its import (~0.1 CPU-s)

                t1, t2 = CosineFFT(n1, **opts), CosineFFT(n2, **opts)

                def to_basis(img):
                    if untracked_cpu(img):
                        return torch.from_numpy(scipy.fft.dctn(img.numpy(), type=2, norm="ortho", axes=(-2, -1)))
                    return t1.forward(t2.forward(img).transpose(-1, -2)).transpose(-1, -2)

                def from_basis(c):
                    if untracked_cpu(c):
                        return torch.from_numpy(scipy.fft.idctn(c.numpy(), type=2, norm="ortho", axes=(-2, -1)))
                    return t1.inverse(t2.inverse(c).transpose(-1, -2)).transpose(-1, -2)
            else:
                d1, d2 = dct(n1), dct(n2)

                def to_basis(img):
                    return d1 @ img @ d2.T

                def from_basis(c):
                    return d1.T @ c @ d2

            scale = None
            if self.keep is not None and getattr(self, "_coverage", None) is not None:
                # outside=drop: near the edges fewer frames see a pixel; D^-1/2 M^-1 D^-1/2 with D the share of
                # frames that do (1/(q+1) where frame 0 alone does) restores the iteration count (128x128 from
                # 16 frames, to 1e-12: 206 -> 123 iterations; 94 without dropped pixels). With outside=keep no
                # coverage is measured, but the frames split's half models (superres_cv.mask_model) set a mask:
                # unscaled there (it read the missing coverage and stopped: 48^2/8 with outside=keep, srextend)
                scale = self._coverage.clamp_min(1e-3).rsqrt().reshape(-1)
            self._precond_factor = PreconditionerFactor(self.lam, symbol, scale, to_basis, from_basis)
        return self._precond_factor

    def _fixed_gram(self) -> torch.Tensor:
        """hd K^T K + lambda_f^2 hf L^T L (dense; its two parts do not depend on w nor on lambda_f: built once, by
        the operators' stencils applied to the identity, O(n^2), not as products of dense factors, O(n^3): at
        64x64 that was 15 s of every weight search's set-up)."""
        if getattr(self, "_fixed", None) is None:
            self._fixed = self.pooling_gram() + self.lam ** 2 * self.regulariser_gram()
        return self._fixed

    def pooling_gram(self) -> torch.Tensor:
        """hd K^T K, frame 0's pooling (dense n x n, cached)."""
        if getattr(self, "_pooling_gram", None) is None:
            n1, n2 = self.fine.m
            eye = torch.eye(self.n, dtype=self.dtype, device=self.device).unflatten(-1, (n1, n2))
            self._pooling_gram = self.coarse.cell_volume * pool_adjoint(pool(eye, self.factor), self.factor).flatten(-2)
        return self._pooling_gram

    def regulariser_gram(self) -> torch.Tensor:
        """hf L^T L, the regulariser's (dense n x n, cached)."""
        if getattr(self, "_regulariser_gram", None) is None:
            n1, n2 = self.fine.m
            h1, h2 = self.fine.h
            eye = torch.eye(self.n, dtype=self.dtype, device=self.device).unflatten(-1, (n1, n2))
            lap = diff_adjoint(diff(eye, -2, h1), -2, h1) + diff_adjoint(diff(eye, -1, h2), -1, h2)
            self._regulariser_gram = self.fine.cell_volume * lap.flatten(-2)
        return self._regulariser_gram

    def operator_derivatives(self, w: torch.Tensor, f: torch.Tensor, r: torch.Tensor, image_fixed: bool = False):
        """(dA f (rows, 6q), dA^T r (n, 6q), A^T dA f (n, 6q)): the derivative of A(w) in each motion
        parameter applied to an image f and, transposed, to a residual r, and A^T applied to the first. Exact,
        by the spline's gradient stencil and the chain rule through y = A_j x + b_j (dy/dw_j = [x1 e1, x2 e1,
        x1 e2, x2 e2, e1, e2]); frame j only depends on its own 6 parameters, so all three are built frame by
        frame (A^T of a column of frame j touches frame j's stencil only) without any AD. With gains
        (problem.gain) frame j's rows are g_j K S_j(w) f: its motion columns scale by g_j, and its gain column
        is K S_j(w) f (transposed, (K S_j)^T r_j). image_fixed=True: dA f alone (the other two are None)."""
        w, f, r = w.detach(), f.detach(), r.detach()
        if image_fixed:  # the image-fixed Jacobian needs dA f alone: skip the two scatters (most of the cost)
            dA_f = self.dense_motion_jacobian(self.motion_blocks(w, f))
            columns = self.gain_reg_columns(w, f)
            if columns is not None:
                dA_f[self.n_data:] += torch.outer(columns[0], columns[1])
            return dA_f, None, None
        stencil = Stencil.at(self.fine, self.warp_points(w), with_gradient=True, edge=self.edge)
        k, p = self.factor, self.n_params
        size = self.coef.padded[0] * self.coef.padded[1]
        dy = self._motion_directions()
        blocks = self.motion_blocks(w, f, stencil)
        dA_f = self.dense_motion_jacobian(blocks)
        up = pool_adjoint(self.sqrt_hd * blocks.unflatten(-1, self.coarse.m), k).flatten(-2)  # (q, s, npts)
        gains = self.gains(w)
        if gains is not None:  # A^T's own gain on frame j's rows
            up = up * gains[:, None, None]
        at_da_f = self.coef.adjoint(stencil.scatter_each(up.transpose(0, 1), size))  # (s, q, n1, n2)
        at_da_f = at_da_f.transpose(0, 1).reshape(p, self.n)

        data = self._weigh(r[: self.n_data].unflatten(-1, tuple(self.frames.shape)))
        u = pool_adjoint(self.sqrt_hd * data, k)[1:].flatten(-2)  # (q, npts)
        ug = u if gains is None else u * gains[:, None]
        g = ug[None, :, :, None] * dy[:, None]  # (6, q, npts, 2): parameter k of every frame at once
        dAT_r = self.coef.adjoint(stencil.scatter_gradient(g, size))  # (6, q, n1, n2), frame j's own stencil
        if gains is not None:  # the gain's column: (K S_j)^T r_j
            dAT_r = torch.cat((dAT_r, self.coef.adjoint(stencil.scatter_each(u, size)).unsqueeze(0)))
        dAT_r = dAT_r.transpose(0, 1).reshape(p, self.n)
        dAT_r, at_da_f = dAT_r.T, at_da_f.T
        columns = self.gain_reg_columns(w, f)
        if columns is not None:  # gain_anchor=mean: the regulariser rows' weight moves with every gain
            x, v, c_reg = columns
            dA_f[self.n_data:] += torch.outer(x, v)
            dAT_r = dAT_r + torch.outer(self._reg_adjoint(r[self.n_data:], c_reg), v)
            at_da_f = at_da_f + torch.outer(self._reg_adjoint(x, c_reg), v)
        return dA_f, dAT_r, at_da_f

    def gain_reg_columns(self, w: torch.Tensor, f: torch.Tensor):
        """gain_anchor=mean: the regulariser rows of dA f are rank one, x v^T: x = lam k(g)/k_ref sqrt(h_f) L f
        (A f's regulariser rows) and v = d log k / dw, 1 / ((q + 1) g_j) at each gain, 0 at the motions; with the
        rows' factor, (x, v, factor). None otherwise (the regulariser does not depend on w)."""
        if not self.mean_anchor:
            return None
        w, f = w.detach(), f.detach()
        c_reg = float(self.reg_weight(w))
        n1, n2 = self.fine.m
        h1, h2 = self.fine.h
        img = f.reshape(n1, n2)
        x = c_reg * torch.cat((diff(img, -2, h1).flatten(), diff(img, -1, h2).flatten()))
        v = torch.zeros(self.q, self.stride, dtype=self.dtype, device=self.device)
        v[:, 6] = 1.0 / ((self.q + 1) * self.gains(w))
        return x, v.reshape(-1), c_reg

    def _reg_adjoint(self, y: torch.Tensor, c_reg: float) -> torch.Tensor:
        """A^T restricted to the regulariser rows (factor c_reg) applied to y (n_reg,)."""
        n1, n2 = self.fine.m
        h1, h2 = self.fine.h
        r1, r2 = torch.split(y, ((n1 - 1) * n2, n1 * (n2 - 1)))
        return c_reg * (diff_adjoint(r1.reshape(n1 - 1, n2), -2, h1)
                        + diff_adjoint(r2.reshape(n1, n2 - 1), -1, h2)).flatten()

    def _motion_directions(self) -> torch.Tensor:
        """dy/dw_k for the 6 parameters of one frame at the fine points: (6, npts, 2)."""
        x1, x2 = self.x[:, 0], self.x[:, 1]
        one, zero = torch.ones_like(x1), torch.zeros_like(x1)
        return torch.stack((torch.stack((x1, zero), -1), torch.stack((x2, zero), -1), torch.stack((zero, x1), -1),
                            torch.stack((zero, x2), -1), torch.stack((one, zero), -1), torch.stack((zero, one), -1)))

    def motion_blocks(self, w: torch.Tensor, f: torch.Tensor, stencil=None) -> torch.Tensor:
        """The nonzero part of dA f: frame j's data rows in its own 6 parameters, (q, 6, coarse points), from
        the spline's gradient at the moved points (a SeparableStencil unless a stencil with gradient is
        given); with gains (q, 7, coarse points): the motion's six times g_j, then the gain's, K S_j f."""
        n1, n2 = self.fine.m
        coef = self.coef.apply(f.detach().reshape(n1, n2))
        gains = self.gains(w.detach())
        if stencil is None:
            # frame by frame: every frame's stencil with gradient at once is (q n, 16) weights, 0.5 GB at 512x512
            # from 16 frames (with the other full-size temporaries most of the run's page faults)
            t = self.split(w.detach())[0]
            return torch.cat([self._motion_blocks(SeparableStencil.at(
                self.fine, affine(t[j:j + 1, None, :], self.x), with_gradient=True, edge=self.edge), coef,
                None if gains is None else gains[j:j + 1], None if self.keep is None else self.keep[j + 1:j + 2])
                for j in range(self.q)])
        return self._motion_blocks(stencil, coef, gains, None if self.keep is None else self.keep[1:])

    def _motion_blocks(self, stencil, coef: torch.Tensor, gains: torch.Tensor | None, keep: torch.Tensor | None):
        """motion_blocks of the frames a stencil holds (their gains and keep weights alike)."""
        n1, n2 = self.fine.m
        grad = stencil.gather_gradient(coef)  # (frames, npts, 2)
        g1, g2 = grad[..., 0], grad[..., 1]
        x1, x2 = self.x[:, 0], self.x[:, 1]
        moved = torch.stack((g1 * x1, g1 * x2, g2 * x1, g2 * x2, g1, g2), 1).unflatten(-1, (n1, n2))
        if gains is not None:
            values = stencil.gather(coef).unflatten(-1, (n1, n2)).unsqueeze(1)  # (frames, 1, n1, n2): S_j f
            moved = torch.cat((moved * gains[:, None, None, None], values), 1)
        blocks = self.sqrt_hd * pool(moved, self.factor)  # (frames, 6, coarse m1, m2)
        if keep is not None:
            blocks = blocks * keep[:, None]
        return blocks.flatten(-2)

    def dense_motion_jacobian(self, blocks: torch.Tensor) -> torch.Tensor:
        """dA f (rows, 6q) from motion_blocks: block j in frame j's data rows and columns."""
        nc, s = blocks.shape[-1], blocks.shape[1]
        dA_f = torch.zeros(self.n_data + self.n_reg, s * self.q, dtype=self.dtype, device=self.device)
        for j in range(self.q):
            dA_f[(j + 1) * nc:(j + 2) * nc, s * j:s * j + s] = blocks[j].T
        return dA_f

    def residual(self, w: torch.Tensor, f: torch.Tensor, fixed: bool = False) -> torch.Tensor:
        """A(w) f - b; fixed: by operator(w, fixed=True) (not differentiable in w; the kept one at the last w)."""
        return self.operator(w, fixed=fixed).matvec(f) - self.b

    def initial_image(self) -> torch.Tensor:
        """CG's fixed starting point: frame 0 interpolated to the fine grid (exact spline). Fixed, not warm
        started, so the projected residual is a function of w alone."""
        coef = spline.coefficients(self.frames[0], 0.0)
        return spline.evaluate(coef, self.coarse, self.x.reshape(*self.fine.m, 2)).reshape(-1)

    def solve(self, w: torch.Tensor, iters: int, rtol: float = 0.0, x0: torch.Tensor | None = None,
              b: torch.Tensor | None = None, many: bool = False):
        """f at motion w by CG on the normal equations from the fixed initial image; with a warm start x0,
        preconditioned CG (self.preconditioner) from x0 to the same bar, ||r|| <= rtol ||r_0|| with r_0 the
        residual of the fixed initial image, so both stop at the same accuracy (the warm start only sooner).
        b: another right-hand side (self.rhs of another channel's frames; default self.b); with x0, several as
        rows (k, rows): one multi-right-hand-side PCG (each product one pass over the operator for all k), each
        row to its own bar, x (k, n). many (with x0): the caller asks for many more products at this w (operator's
        many)."""
        # PCG's many products at one w: the merged stencil
        op = self.operator(w.detach(), fixed=x0 is not None, many=many and x0 is not None)
        normal, rhs, start = op.normal(), op.rmatvec(self.b if b is None else b), self.initial_image()
        if x0 is None:
            return cg(normal, rhs, start, iters=iters, rtol=rtol)
        r0 = (rhs - normal(start)).norm(dim=-1, keepdim=True)  # each right-hand side's bar
        return pcg(normal, rhs, self.preconditioner(), x0.detach(), iters, rtol, ref=r0)

    def preregister(self, thetas=(1e2, 1e1, 1.0, 1e-1, 1e-2, 1e-3), max_iter: int = 20,
                    rel_gtol: float = 1e-6, drop_outside: bool = False, transform=None,
                    gain: bool = False, trace: list | None = None, wide_edge: bool | None = None) -> torch.Tensor:
        """Register each frame to frame 0 on the coarse grid (d_j(x) ~ d_0(y_j(x))), scale by scale from a
        smooth spline to the exact one, each scale starting where the last ended (the paper restarted every
        scale from the identity). All frames at once: one batched Gauss-Newton/LM on the pointwise kernel, each
        frame with its own damping and stopping test (as if registered one by one). Coarse to fine: frames of
        more than PYRAMID_MIN pixels a side are registered at the smooth scales (theta >= 1) on 2x2-pooled
        copies, halved until under 2 PYRAMID_MIN a side (the motion is in domain units, so it carries over), and
        only the sharp scales on the frames themselves: each smooth scale then costs 4-16x less.
        drop_outside: frame j's points that the motion maps past frame 0's pixel centres weigh 0, and those
        near them less (EDGE_TAPER, following the motion step by step; J is then the weighted mean): there frame
        0's spline is its boundary extension, not the scene, and on textured frames that misfit pulls the motion
        (camera crop, 32^2, 8 frames: 0.64 px RMS error with them, as SimpleITK's 0.04 px without). transform: the motion model (regrun.imaging.transforms; default
        the affine without a centre, the model's own w); the result is its parameters, (q n_params,).
        gain: each frame's intensity gain too (d_j(x) ~ g_j d_0(y_j(x))), appended to its parameters: the
        ratio of the frames' means to start, then at every scale LM registers d_j / g_j and g_j becomes the
        least-squares ratio <T(y), d_j> / <T(y), T(y)> over the scale's weighted points at the new motion (the
        gain is linear: projected out, as the image is in the joint solve).
        Frames of GLOBAL_START_MIN pixels a side or more (GLOBAL_START): a second start per frame from
        registration/global_start.py (rotation
        scan, phase correlation), compared with the ladder's motion at the first sharp scale (below); the lower
        misfit goes on. trace: a list that gets (stage, motion (q, n)) after the global start and every scale
        (diagnostics: scripts/diag_superres_motion.py). wide_edge: the wide edge taper (SMOOTH_EDGE) at every
        scale or not; None: on frames of more than SMOOTH_EDGE_MIN px a side (superres_start.wide_edge_start)."""
        affine_model = Affine() if transform is None else transform
        w = affine_model.identity(self.dtype, self.device).repeat(self.q, 1)
        g = (self.frames[1:].mean((-2, -1)) / self.frames[0].mean()) if gain else None
        levels = 0
        while all(m % 2 ** (levels + 1) == 0 and m // 2 ** levels >= 2 * PYRAMID_MIN for m in self.coarse.m):
            levels += 1
        # frames of GLOBAL_START_MIN pixels a side or more: a second candidate, the global start (rotation scan and
        # phase correlation), enters at the first sharp scale; per frame the candidate whose registration ends
        # lower there goes on. The smooth scales average repeating structure away and can drift off (text: 5-11
        # px); the global start cannot miss by a period, and where both agree the choice changes nothing.
        other = None
        if GLOBAL_START and min(self.coarse.m) >= GLOBAL_START_MIN:
            angles = (0.0,) if isinstance(affine_model, Translation) else ANGLES  # a shift cannot rotate
            other = fit_params(affine_model, phase_correlation_start(self.frames, self.coarse, angles), self.coarse)
            other = (other, None if g is None else g.clone())
            if trace is not None:
                trace.append(("global start", other[0].clone()))
        tau = PREREG_TAU
        for theta in thetas:
            step = 2 ** levels if theta >= 1 else 1
            if other is not None and theta < 1:
                # both candidates as one batch of 2q registrations at this sharp scale, on every other point
                # each way (a quarter of them; the spline is still the whole frame's, so the basins are the
                # same, where 2x2-pooled frames blur text into new ones) and at most COMPARE_ITERS steps: it only
                # has to tell the basins apart. Where the ladder's end is the lower, its motion goes on as it was
                # (frames the global start does not help are unchanged); else the global start's end goes on
                both, gb, loss, tau_both = self._register_scale(
                    theta, step, affine_model, torch.cat((w, other[0])),
                    None if g is None else torch.cat((g, other[1])), drop_outside, COMPARE_ITERS, rel_gtol,
                    stride=2, tau=PREREG_TAU, wide_edge=wide_edge)
                pick = loss[self.q:] < loss[:self.q]
                w = torch.where(pick[:, None], both[self.q:], w)
                g = None if g is None else torch.where(pick, gb[self.q:], g)
                tau = torch.where(pick, tau_both[self.q:], tau_both[:self.q])  # each frame's chosen end
                other = None
                if trace is not None:
                    trace += [("compare: ladder", both[:self.q].clone()), ("compare: global", both[self.q:].clone()),
                              ("compare: picked", w.clone())]
            gtol = rel_gtol if theta == thetas[-1] else PREREG_SCALE_GTOL
            w, g, _, tau = self._register_scale(theta, step, affine_model, w, g, drop_outside, max_iter, gtol,
                                                tau=tau, wide_edge=wide_edge)
            if trace is not None:
                trace.append((f"theta {theta:g}", w.clone()))
        return (w if g is None else torch.cat((w, g[:, None]), 1)).reshape(-1)

    def _register_scale(self, theta, step, affine_model, w, g, drop_outside, max_iter, rel_gtol, stride=1,
                        tau=PREREG_TAU, wide_edge=None, template=None):
        """One scale of preregister from w (c q, n) (and the gains g, (c q,)): c starts of every frame, frame by
        frame in each; the motion, the gains at it, each registration's objective at its end (before the
        gains' update: comparable between starts at one scale), and its damping at the end relative to its
        curvature (the next scale's tau). stride: every stride-th cell centre each way; tau: LM's starting
        damping relative to the largest curvature, a number or one per registration; template: an image model
        of frame 0's domain in its place (superres_fused.fused_ladder), else frame 0's spline at theta."""
        grid = Grid(self.coarse.omega, (self.coarse.m[0] // step, self.coarse.m[1] // step))
        frames = pool(self.frames, step) if step > 1 else self.frames
        xc = grid.centres(self.dtype, self.device)[::stride, ::stride]
        # every frame's coefficients at once (one coefficient operator a scale, not one a frame); the moved
        # frames' splines at the grid's own (every stride-th) centres are the collocation matrices' rows applied
        # to them (what coefficient_operator inverts; the spline evaluated there, to round-off)
        # problem.extension=edge leaves these splines zero beyond the frames: mirrored (a level not smoothed), the
        # smooth scales lost the edge's pull that centres a flat crop's frames (dev: 76 px off on a 32^2 sky crop,
        # -7.92 dB summed over 33 sets; docs/superres.md, "srextend")
        coefs = spline.coefficients(frames, theta)
        if template is None:  # else the caller's (an image model of frame 0's domain: superres_start.fused_start)
            template = spline.SplineImage.from_coefficients(coefs[0], grid)
        b1, b2 = (spline.collocation_matrix(m, self.dtype, self.device)[::stride] for m in grid.m)
        targets = (b1 @ coefs[1:] @ b2.T).reshape(self.q, -1).repeat(w.shape[0] // self.q, 1)
        # drop_outside: points weigh EDGE_TAPER's s(y)^2, 0 where y leaves frame 0's pixel centres, rising to 1
        # EDGE_TAPER[0] cells inside, with y at every LM step (the weights' derivatives are part of J's); frames
        # over SMOOTH_EDGE_MIN (or wide_edge): as wide as the smoothing reaches (SMOOTH_EDGE), times the same taper
        # of frame j's own points x (fixed in w)
        weights = None
        wide = min(self.coarse.m) > SMOOTH_EDGE_MIN if wide_edge is None else wide_edge
        if drop_outside and wide and SMOOTH_EDGE > 0:
            width = max(EDGE_TAPER[0], SMOOTH_EDGE * float(theta) ** 0.25)
            own = EdgeTaper(grid, width, inset=EDGE_TAPER[1]).root(xc.reshape(-1, 2))
            weights = EdgeTaper(grid, width, inset=EDGE_TAPER[1], fixed=own)
        elif drop_outside:
            weights = EdgeTaper(grid, EDGE_TAPER[0], inset=EDGE_TAPER[1])
        kernel = PointwiseObjective(template, affine_model, xc.reshape(-1, 2),
                                    targets if g is None else targets / g[:, None],
                                    scale=grid.cell_volume, weights=weights,
                                    normalization="mean" if drop_outside else "sum")
        # LM's first linearization is the one the scale's starting gradient g0 is read from (not made twice)
        first = [DenseLinearization(*kernel.residual_and_jacobian(w))]
        g0 = 2 * first[0].jtr.norm(dim=-1)
        gtol = rel_gtol * g0.clamp_min(1e-300)
        out = lm_batched(lambda v: first.pop() if first else DenseLinearization(*kernel.residual_and_jacobian(v)),
                         kernel.residual, w, max_iter=max_iter, gtol=gtol, tau=tau)
        w = out.w
        # the damping it ended at, relative to its curvature (as tau is): the next scale starts from this one's
        # minimum, where Gauss-Newton steps are good; on the GPU no read
        # in LM's float64 bookkeeping, as its damping is (the frames may be float32)
        curvature = torch.diagonal(out.linearization.jtj, dim1=-2, dim2=-1).max(-1).values.to(torch.float64)
        tau_end = (out.history["damping"][-1] / curvature.clamp_min(1e-300)).clamp(PREREG_MIN_TAU, PREREG_TAU)
        loss = kernel.value(w)
        if g is not None:
            moved = template(affine_model.points(w[:, None, :], xc.reshape(-1, 2)))  # (q, points)
            wt = torch.ones_like(moved) if weights is None else weights(affine_model.points(w[:, None, :],
                                                                             xc.reshape(-1, 2)))
            g = (wt * moved * targets).sum(-1) / (wt * moved * moved).sum(-1).clamp_min(1e-300)
        return w, g, loss, tau_end

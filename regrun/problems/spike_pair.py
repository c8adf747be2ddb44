"""A spike motif and a scene holding it after a random affine map: the setting of seed 002's Fig. 4 (affine spike
registration, eq. 10, Theorem 5.1), for the `motif_study` solver and the crab_fig4 preset.

C spikes (one channel each) at random positions v in the middle half of an m x n motif map; the scene holds them at
u with v = A (u - v_mean) + v_mean + b, A = R(t1) diag(s1, s2) R(t2)^T, t in U[0, rotation_max], s in
U[1 - scale_dev, 1 + scale_dev], b in U[-shift_max, shift_max]^2. The scene map is the motif's plus `margin` on
every side (the window's anchor), so no scene spike is cut by the scene's edge.

shape=gaussian (the default; App. A.3.2): every spike is a gaussian density of standard deviation sigma0 evaluated
on the grid at its exact, non-integer position, in the motif and in the scene (the scene from the transformed
continuous positions u), so (A, b) is an exact minimiser of eq. 10 up to interpolation and filter truncation.
shape=pixel: single-pixel spikes at integer v and u rounded to pixels (the authors' v1 notebook draws them so);
rounding leaves no exact match, the truth is then the least-squares affine map of the rounded spikes, and the
objective has a floor of 1-2.5 decades below its start (docs/motif_registration.md).

Metrics: the objective's drop in decades over the iterations, the NCC of the registered, filtered window with the
smoothed motif (what Fig. 4e reports, 0.972), the errors of (A, b) against the truth, and, per iteration, the
parameter error of eq. 18 beside its bound.
"""
from __future__ import annotations

import math

import torch

from ..errors import check_choice, check_float, check_int
from ..imaging.transforms import rotation_matrix
from ..registry import register_problem
from .base import Problem

SHAPES = ("gaussian", "pixel")


def gaussian_spike_maps(positions: torch.Tensor, shape: tuple[int, int], sigma0: float) -> torch.Tensor:
    """One channel per spike: the 2-D gaussian density of standard deviation sigma0 centred at positions (C, 2)
    (row, col; non-integer), evaluated at the pixels of an (H, W) map -> (C, H, W)."""
    h, w = shape
    r = torch.arange(h, dtype=positions.dtype, device=positions.device)
    c = torch.arange(w, dtype=positions.dtype, device=positions.device)
    er = torch.exp(-0.5 * ((r[None, :] - positions[:, :1]) / sigma0) ** 2)
    ec = torch.exp(-0.5 * ((c[None, :] - positions[:, 1:]) / sigma0) ** 2)
    return er[:, :, None] * ec[:, None, :] / (2 * math.pi * sigma0**2)


@register_problem("spike_pair")
class SpikePair(Problem):
    name = "spike_pair"
    offers = frozenset({"spike_pair"})

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        c = check_int("problem.spikes", cfg.spikes, 3)
        m, n = (check_int("problem.size", v, 16) for v in cfg.size)
        check_choice("problem.shape", cfg.shape, SHAPES)
        self.shape = str(cfg.shape)
        self.sigma0 = check_float("problem.sigma0", cfg.sigma0, 0.0, strict=True)
        margin = check_int("problem.margin", cfg.margin, 0)
        rot = check_float("problem.rotation_max", cfg.rotation_max, 0.0)
        sdev = check_float("problem.scale_dev", cfg.scale_dev, 0.0)
        shift = check_float("problem.shift_max", cfg.shift_max, 0.0)
        # drawn on the CPU on purpose (a seeded generator gives the same pair on every device), then moved
        g = torch.Generator(device="cpu").manual_seed(int(cfg.seed) + int(ctx.seed))
        dt = torch.float64
        if self.shape == "pixel":
            v = torch.stack((torch.randint(m // 4, m - m // 4, (c,), generator=g, device="cpu"),
                             torch.randint(n // 4, n - n // 4, (c,), generator=g, device="cpu")), -1).to(dt)
        else:
            lo = torch.tensor([m // 4, n // 4], dtype=dt, device="cpu")
            span = torch.tensor([m - 1 - 2 * (m // 4), n - 1 - 2 * (n // 4)], dtype=dt, device="cpu")
            v = lo + span * torch.rand(c, 2, generator=g, dtype=dt, device="cpu")
        cen = v.mean(0)
        u1 = torch.rand(5, generator=g, dtype=dt, device="cpu")
        a = rotation_matrix(rot * float(u1[0]), device="cpu") @ torch.diag(1 - sdev + 2 * sdev * u1[1:3]) \
            @ rotation_matrix(rot * float(u1[3]), device="cpu").T
        b = shift * (2 * torch.rand(2, generator=g, dtype=dt, device="cpu") - 1)
        u = (v - cen - b) @ torch.linalg.inv(a).T + cen  # motif coordinates
        scene_shape = (m + 2 * margin, n + 2 * margin)
        if self.shape == "pixel":
            u = u.round()
            idx = torch.arange(c, device="cpu")
            motif = torch.zeros(c, m, n, dtype=dt, device="cpu")
            scene = torch.zeros(c, *scene_shape, dtype=dt, device="cpu")
            motif[idx, v[:, 0].long(), v[:, 1].long()] = 1.0
            scene[idx, u[:, 0].long() + margin, u[:, 1].long() + margin] = 1.0
            sol = torch.linalg.lstsq(torch.cat((u - cen, torch.ones(c, 1, dtype=dt, device="cpu")), 1),
                                     v - cen).solution
            a_true, b_true = sol[:2].T.contiguous(), sol[2]
        else:
            motif = gaussian_spike_maps(v, (m, n), self.sigma0)
            scene = gaussian_spike_maps(u + margin, scene_shape, self.sigma0)
            a_true, b_true = a, b
        to = dict(device=ctx.device, dtype=ctx.dtype)
        self.motif, self.scene = motif.to(**to), scene.to(**to)
        self.anchor = torch.full((1, 2), float(margin), **to)  # the motif window's top-left in the scene
        self.spike_mean = cen.to(**to)
        self.a_true, self.b_true = a_true.to(**to), b_true.to(**to)  # about the spikes' mean
        # the motion's size, what Theorem 5.1's sigma (eq. 16) is set for
        self.a_dev = float((a - torch.eye(2, dtype=dt, device="cpu")).norm())
        self.b_norm = float(b.norm())

    @property
    def presmoothed(self) -> bool:
        """Whether motif and scene are already sigma0 densities (the cost then adds no sigma0 blur)."""
        return self.shape == "gaussian"

    def inputs(self):
        return {"motif": self.motif.sum(0).cpu().numpy(), "scene": self.scene.sum(0).cpu().numpy()}

    def evaluate(self, result):
        s = result.solution
        a_hat, b_hat = s["A"], s["b"]  # about the spikes' mean
        history = s["objective"]
        metrics = {"objective_decades": float(torch.log10(history[0] / history[-1])),
                   "objective_final": float(history[-1]), "ncc": float(s["ncc"]),
                   "A_error": float((a_hat - self.a_true).norm()), "b_error_px": float((b_hat - self.b_true).norm())}
        arrays = {"objective": history.detach().cpu().numpy()}
        if "A_iterates" in s:
            err, bound = self.theorem_5_1_error(s["A_iterates"], s["b_iterates"], result.stats)
            metrics["eq18_error_final"], metrics["eq18_bound_final"] = float(err[-1]), float(bound[-1])
            arrays["eq18_error"], arrays["eq18_bound"] = err.cpu().numpy(), bound.cpu().numpy()
        return metrics, arrays

    def figures(self, result, metrics, fig_dir):
        """Fig. 4's panels: (a) motif, (b) scene, (c) the registered, filtered window beside the smoothed motif,
        (d) the objective per iteration, (f) eq. 18's left side against its bound."""
        import matplotlib.pyplot as plt

        from .. import plots  # noqa: F401  (its import sets the Agg backend)

        s = result.solution
        _, arrays = self.evaluate(result)
        fig, axes = plt.subplots(2, 3, figsize=(13, 7.5))
        images = [(self.motif.sum(0), "(a) motif"), (self.scene.sum(0), "(b) scene"),
                  (s["target"], "smoothed motif g * x"),
                  (s["registered"], f"(c) registered, filtered scene (NCC {metrics['ncc']:.6f})")]
        # (c) is compared with the smoothed motif: one scale for both, so equal looks equal
        compared = [img.detach().cpu().numpy() for img, _ in images[2:]]
        shared = (min(float(c.min()) for c in compared), max(float(c.max()) for c in compared))
        for k, (ax, (img, title)) in enumerate(zip([axes[0, 0], axes[0, 1], axes[1, 0], axes[0, 2]], images)):
            lo, hi = shared if k >= 2 else (None, None)
            im = ax.imshow(img.detach().cpu().numpy(), cmap="magma", interpolation="nearest", vmin=lo, vmax=hi)
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04).ax.tick_params(labelsize=7)  # a reader's scale
            ax.set_title(title, fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
        obj = arrays["objective"]
        axes[1, 1].semilogy(obj, marker="o", markersize=3)
        axes[1, 1].set_title(f"(d) objective: {metrics['objective_decades']:.2f} decades", fontsize=10)
        if "eq18_error" in arrays:
            axes[1, 2].semilogy(arrays["eq18_error"], marker="o", markersize=3, label="empirical (left side)")
            axes[1, 2].semilogy(arrays["eq18_bound"], linestyle="--", label="eq. 18 bound")
            axes[1, 2].legend(fontsize=8)
        axes[1, 2].set_title("(f) parameter error", fontsize=10)
        for ax in axes[1, 1:]:
            ax.set_xlabel("iteration")
            ax.grid(True, which="both", alpha=0.3)
        fig.suptitle(f"affine spike registration (seed 002 Fig. 4), {self.shape} spikes")
        fig.tight_layout()
        path = fig_dir / "fig4.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return [path]

    def theorem_5_1_error(self, a_k: torch.Tensor, b_k: torch.Tensor, stats: dict):
        """eq. 18 per iterate (A_k (K, 2, 2), b_k (K, 2), about the spikes' mean): the left side
        (8 pi sigma^4 / t_A) ||A_k - A*||_F^2 + ||b_k - b*||^2 and the right side (1 - 1/(2 kappa))^(2k) times its
        value at the identity, with t_A eq. 17's step (the theorem's, without the factor)."""
        weight = 8 * math.pi * stats["sigma"] ** 4 / stats["t_matrix_theorem"]
        err = weight * ((a_k - self.a_true) ** 2).sum((-2, -1)) + ((b_k - self.b_true) ** 2).sum(-1)
        eye = torch.eye(2, dtype=a_k.dtype, device=a_k.device)
        start = weight * ((eye - self.a_true) ** 2).sum() + (self.b_true**2).sum()
        k = torch.arange(a_k.shape[0], dtype=a_k.dtype, device=a_k.device)
        return err, start * (1 - 1 / (2 * stats["kappa"])) ** (2 * k)

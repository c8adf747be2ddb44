"""The motion model of super-resolution (problem.motion_model): translation, rigid or affine motions of the frames,
each held as the affine w = (A11, A12, A21, A22, b1, b2) the forward model uses (y = A x + b).

The model (SuperResModel) and every projection work on affine motions; a restricted model is a map p -> w(p)
per frame (translation: 2 parameters, rigid: 3 about the domain centre, affine: the 6 themselves), and the
Gauss-Newton solvers work on p with the chain rule J_p = J_w dw/dp (dw/dp block diagonal, 6 x d per frame).
With problem.gain each frame's parameters end with its intensity gain, carried unchanged into the model's w
(7 per frame: SuperResModel), so dw/dp gains a 1 on the diagonal.
"""
from __future__ import annotations

import torch

from ..errors import check_choice
from ..imaging.transforms import transformation

MOTION_MODELS = ("translation", "rigid", "affine")  # problem.motion_model (configs/problem/superres.yaml)


class MotionModel:
    """p (d q,) <-> the affine motions w (6 q,) of q frames. Affine is the identity map (the paper's model,
    seed 000's parameterization with no centre); rigid rotates about `centre` (the reference's centre, where
    a camera's roll acts), so its angle and shift do not trade off against each other."""

    def __init__(self, name: str, centre, q: int, gain: bool = False):
        check_choice("problem.motion_model", name, MOTION_MODELS)
        self.name = name
        self.q = q
        self.gain = bool(gain)
        self.transform = transformation(name, None if name == "affine" else centre)
        self.d = self.transform.n_params + self.gain  # per frame: the motion's, then the gain
        self.n_params = self.d * q

    @property
    def is_affine(self) -> bool:
        return self.name == "affine"

    def identity(self, dtype=torch.float64, device=None) -> torch.Tensor:
        one = torch.ones(int(self.gain), dtype=dtype, device=device)
        return torch.cat((self.transform.identity(dtype, device), one)).repeat(self.q)

    def _frame_affine(self, p: torch.Tensor) -> torch.Tensor:
        """One frame's (..., d) parameters -> (..., 6): y = M (x - c) + c + b = M x + (b + c - M c)."""
        m, b = self.transform.matrix_and_shift(p)
        if self.transform.center is not None:
            c = torch.tensor(self.transform.center, dtype=p.dtype, device=p.device)
            b = b + c - (m @ c.unsqueeze(-1)).squeeze(-1)
        return torch.cat((m.flatten(-2), b), -1)

    def to_affine(self, p: torch.Tensor) -> torch.Tensor:
        """p -> the model's w: the affine motions (and the gains, unchanged, with problem.gain)."""
        if self.is_affine:
            return p
        t = p.reshape(self.q, self.d)
        if not self.gain:
            return self._frame_affine(t).reshape(-1)
        return torch.cat((self._frame_affine(t[:, :-1]), t[:, -1:]), 1).reshape(-1)

    def blocks(self, p: torch.Tensor) -> torch.Tensor:
        """dw_j/dp_j for every frame, (q, 6, d) (frame j's affine depends on its own parameters only), from the
        transformation's own dy/dp: y(x) = M x + b' is affine in x, so b' = y(0) and M's column k is
        y(e_k) - y(0), and their derivatives are dy/dp at those three points."""
        pts = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=p.dtype, device=p.device)
        t = p.detach().reshape(self.q, self.d)
        dm = self.d - self.gain
        dy = self.transform.dy_dw(t[:, :dm].reshape(self.q, 1, dm), pts)  # (q, 3, 2, d)
        d0, d1, d2 = dy[:, 0], dy[:, 1] - dy[:, 0], dy[:, 2] - dy[:, 0]
        # w = (M11, M12, M21, M22, b1, b2): row i of M is (dy_i/dx1, dy_i/dx2)
        out = torch.stack((d1[:, 0], d2[:, 0], d1[:, 1], d2[:, 1], d0[:, 0], d0[:, 1]), 1)
        if self.gain:  # the gain passes through: a 1 on the diagonal
            out = torch.nn.functional.pad(out, (0, 1, 0, 1))
            out[:, 6, dm] = 1.0
        return out

    def dense_jacobian(self, p: torch.Tensor) -> torch.Tensor:
        """dw/dp, (6 q, d q), block diagonal."""
        return torch.block_diag(*self.blocks(p))

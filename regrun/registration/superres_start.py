"""What the super-resolution solvers share: the starting motion, and bookkeeping of the current image."""
from __future__ import annotations

import torch

from ..errors import UserError, check_choice

INITS = ("preregister", "identity", "truth")


def initial_motion(problem, init: str) -> torch.Tensor:
    """preregister: each frame registered to frame 0 (the paper's choice; the GN/VarPro objective is not
    convex in large rotations); identity: no motion; truth: the true motion (for derivative studies).
    With problem.outside=drop the pre-registration leaves out the points that leave frame 0 (the solver then
    drops the moved frames' pixels that see past the field of view at this motion: SuperResModel.settle_outside)."""
    check_choice("solver.init", init, INITS)
    if init == "preregister":
        w = problem.model.preregister(drop_outside=problem.outside == "drop")
    elif init == "identity":
        w = problem.model.identity.clone()
    elif problem.w_true is None:
        raise UserError("solver.init=truth needs the true motion: give problem.true_motion=PATH")
    else:
        w = problem.w_true.clone()
    return w

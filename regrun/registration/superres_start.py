"""What the super-resolution solvers share: the starting motion, and bookkeeping of the current image."""
from __future__ import annotations

import torch

from ..errors import UserError, check_choice

INITS = ("preregister", "identity", "truth")


def initial_motion(problem, init: str) -> torch.Tensor:
    """preregister: each frame registered to frame 0 (the paper's choice; the GN/VarPro objective is not
    convex in large rotations); identity: no motion; truth: the true motion (for derivative studies)."""
    check_choice("solver.init", init, INITS)
    if init == "preregister":
        return problem.model.preregister()
    if init == "identity":
        return problem.model.identity.clone()
    if problem.w_true is None:
        raise UserError("solver.init=truth needs the true motion: give problem.true_motion=PATH")
    return problem.w_true.clone()

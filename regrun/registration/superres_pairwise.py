"""Pairwise pre-registration for super-resolution: every frame registered to several reference frames (not only to
frame 0), and one motion per frame made consistent with the pairs by robust least squares (docs/superres.md,
"Pairwise registration for sharp drawings (srpair)")."""
from __future__ import annotations

import copy

import torch

from ..imaging.transforms import Affine, affine

# The consistency's robust weight: a pair whose residual (RMS fine px over the sample points) is r weighs
# 1 / (1 + (r / PAIR_SCALE)^2) (Cauchy), refitted PAIR_ROUNDS times: a pair registered into the wrong basin is 1-3
# px off and should not pull the others.
PAIR_SCALE = 0.5
PAIR_ROUNDS = 10
FIXED_POINT = 5  # solves for A_i in the rhs (consistent_motion) beyond the reweightings


def pairwise_motions(model, refs, drop_outside: bool = True, wide_edge=None) -> dict:
    """{(i, j): affine w (6,)} for every reference frame i in refs and every other frame j: frame j registered to
    frame i's spline by the pre-registration's ladder (d_j(x) ~ d_i(y_ij(x))), the model's frames reordered so
    that frame i is frame 0."""
    n = model.q + 1
    pairs = {}
    for i in refs:
        order = [i] + [j for j in range(n) if j != i]
        view = copy.copy(model)
        view.frames = model.frames[order]
        w = view.preregister(drop_outside=drop_outside, wide_edge=wide_edge).reshape(model.q, 6)
        for k, j in enumerate(order[1:]):
            pairs[(i, j)] = w[k]
    return pairs


def consistent_motion(model, pairs: dict, scale: float = PAIR_SCALE, rounds: int = PAIR_ROUNDS,
                      weights_out: dict | None = None) -> torch.Tensor:
    """The motions y_1..y_q (affine w, (q, 6); frame 0 the identity) that best satisfy y_j = y_i o y_ij over the
    pairs (to first order in the displacements), measured at 3 x 3 points across the fine grid in fine px, each
    pair weighted robustly (Cauchy at `scale` fine px, `rounds` reweightings). weights_out gets each pair's last weight."""
    q, dt, dev = model.q, model.dtype, model.device
    lo = torch.tensor([model.fine.omega[0], model.fine.omega[2]], dtype=dt, device=dev)
    hi = torch.tensor([model.fine.omega[1], model.fine.omega[3]], dtype=dt, device=dev)
    t = torch.tensor([0.1, 0.5, 0.9], dtype=dt, device=dev)
    x = torch.stack(torch.meshgrid(lo[0] + t * (hi[0] - lo[0]), lo[1] + t * (hi[1] - lo[1]), indexing="ij"),
                    -1).reshape(-1, 2)
    h = torch.tensor(model.fine.h, dtype=dt, device=dev)
    dy = Affine().dy_dw
    ident = Affine().identity(dt, dev)
    keys = list(pairs)
    # y_j(x) = y_i(z), z = y_ij(x), for affine motions exactly u_j(x) - u_i(x) = A_i (z - x) in the displacements
    # u = y - x; A_i is taken from the last solve (the identity first), so each solve is linear and the fixed point
    # exact (the bilinear form D(x) p_j - D(z) p_i is solved by every frame but frame 0 collapsing to one point,
    # where the robust weights let frame 0's pairs go); frame 0's u is 0
    d = dy(ident, x)
    rows, steps = [], []
    for (i, j) in keys:
        m = torch.zeros(x.shape[0], 2, 6 * q, dtype=dt, device=dev)
        for frame, sign in ((j, 1.0), (i, -1.0)):
            if frame:
                m[:, :, 6 * (frame - 1):6 * frame] = sign * d
        rows.append((m / h[:, None]).reshape(-1, 6 * q))
        steps.append(affine(pairs[(i, j)], x) - x)
    mats = torch.cat((ident[:4].reshape(1, 2, 2), ident[:4].repeat(q, 1).reshape(q, 2, 2)))
    wts = torch.ones(len(keys), dtype=dt, device=dev)
    n = x.shape[0]
    for _ in range(rounds + FIXED_POINT):
        rhs = [((mats[i] @ st.T).T / h).reshape(-1) for (i, _), st in zip(keys, steps)]
        s = wts.repeat_interleave(2 * n).sqrt()
        a, b = torch.cat(rows) * s[:, None], torch.cat(rhs) * s
        p = torch.linalg.lstsq(a, b[:, None]).solution[:, 0]
        mats[1:] = (ident.repeat(q) + p).reshape(q, 6)[:, :4].reshape(q, 2, 2)
        res = torch.stack([(mm @ p - rr).reshape(n, 2).pow(2).sum(-1).mean().sqrt() for mm, rr in zip(rows, rhs)])
        wts = 1.0 / (1.0 + (res / scale) ** 2) if rounds else wts
    if weights_out is not None:
        weights_out.update({k: (float(w), float(r)) for k, w, r in zip(keys, wts, res)})
    return (ident.repeat(q) + p).reshape(q, 6)  # p: the displacements' parameters

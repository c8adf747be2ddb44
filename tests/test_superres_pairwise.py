"""superres_pairwise: the consistent motion from pairwise registrations (docs/superres.md, "Pairwise registration
for sharp drawings (srpair)")."""
import torch

from regrun.imaging.transforms import affine_about, affine_inverse
from regrun.registration.superres_pairwise import consistent_motion, pairwise_motions


class _Grid:
    def __init__(self, n):
        self.omega, self.m, self.h = (0.0, float(n), 0.0, float(n)), (n, n), (1.0, 1.0)


class _Model:  # what consistent_motion reads of a SuperResModel
    def __init__(self, q, device):
        self.q, self.dtype, self.device, self.fine = q, torch.float64, device, _Grid(48)


def _compose(a, b):  # a o b
    ma, mb = a[:4].reshape(2, 2), b[:4].reshape(2, 2)
    return torch.cat(((ma @ mb).reshape(4), ma @ b[4:] + a[4:]))


def _truth(q, device):
    g = torch.Generator().manual_seed(3)
    return [affine_about(float(torch.randn(1, generator=g)) * 3, shift=tuple((torch.randn(2, generator=g) * 2).tolist()),
                         centre=(24.0, 24.0), device=device) for _ in range(q + 1)]


def test_consistent_motion_exact_pairs(device):
    q = 5
    w = _truth(q, device)
    w[0] = affine_about(0.0, device=device)
    pairs = {(i, j): _compose(affine_inverse(w[i]), w[j]) for i in range(q + 1) for j in range(q + 1) if i != j}
    got = consistent_motion(_Model(q, device), pairs)
    assert got.device.type == device.type
    assert torch.allclose(got, torch.stack(w[1:]), atol=1e-10)


def test_consistent_motion_outlier_pair(device):
    """One pair 3 px off: the robust weights leave the motion within 0.05 px of the truth where plain least squares
    is pulled further, and the bad pair weighs least; no collapse of the frames onto one point."""
    q = 5
    w = _truth(q, device)
    w[0] = affine_about(0.0, device=device)
    pairs = {(i, j): _compose(affine_inverse(w[i]), w[j]) for i in range(q + 1) for j in range(q + 1) if i != j}
    pairs[(2, 4)] = pairs[(2, 4)] + torch.tensor([0, 0, 0, 0, 3.0, 0], dtype=torch.float64, device=device)
    m, wts = _Model(q, device), {}
    plain = consistent_motion(m, pairs, rounds=0)
    robust = consistent_motion(m, pairs, weights_out=wts)
    truth = torch.stack(w[1:])
    assert (robust - truth).abs().max() < 0.05 < (plain - truth).abs().max()
    assert min(wts, key=lambda k: wts[k][0]) == (2, 4)


def test_pairwise_motions_reference_frame(device):
    """Frames of a smooth scene: registered to frame 1 (not frame 0), frames 2 and 3's pair motions are
    y_1^-1 o y_j within 0.3 fine px, and the consistent motion from the pairs to frames 0 and 1 lies within 0.1 px
    of frame 0's pre-registration's distance from the truth."""
    from test_superres_fused import _model

    from regrun.imaging.transforms import affine

    model, w = _model(48, device)
    pairs = pairwise_motions(model, (0, 1))
    assert set(pairs) == {(i, j) for i in (0, 1) for j in range(4) if j != i}
    x = model.x.reshape(-1, 2)

    def err(a, b):  # RMS fine px (h = 1) at the fine cell centres, motions (..., 6)
        return float((affine(a[..., None, :], x) - affine(b[..., None, :], x)).pow(2).sum(-1).mean().sqrt())

    for j in (2, 3):
        assert err(pairs[(1, j)], _compose(affine_inverse(w[0]), w[j - 1])) < 0.3
    first = model.preregister(drop_outside=True).reshape(3, 6)
    assert err(consistent_motion(model, pairs), w) < err(first, w) + 0.1


def test_pairwise_start_gate(device, monkeypatch):
    """pairwise_start: the pairwise motion (robust, then the fused rounds) as a second start where it lies PAIR_MOVE
    or more from the first start (a start 1.8 px off), None where it lies nearer, with outside=keep, another
    motion model's transform, or outside FUSED_MIN-FUSED_MAX."""
    from types import SimpleNamespace

    from test_superres_fused import _model

    from regrun.registration import superres_start
    from regrun.registration.superres_motion import MotionModel
    from regrun.registration.superres_start import start_distance

    model, w = _model(48, device)
    p = SimpleNamespace(model=model, outside="drop", motion=MotionModel("affine", model.fine.centre, model.q))
    truth = w.reshape(-1)
    off = truth + torch.tensor([0.0, 0.0, 0.0, 0.0, 1.5, -1.0], dtype=truth.dtype, device=device).repeat(model.q)
    assert superres_start.pairwise_start(p, None, off) is None  # 1.8 px: under PAIR_MOVE (2)
    monkeypatch.setattr(superres_start, "PAIR_MOVE", 1.0)
    alt = superres_start.pairwise_start(p, None, off)
    assert alt is not None and alt.device.type == device.type
    assert start_distance(p, truth, alt) < 0.5 < start_distance(p, truth, off)
    monkeypatch.setattr(superres_start, "PAIR_MOVE", 1.01 * start_distance(p, off, alt))
    assert superres_start.pairwise_start(p, None, off) is None  # too near
    monkeypatch.setattr(superres_start, "PAIR_MOVE", 0.0)
    assert superres_start.pairwise_start(SimpleNamespace(**{**vars(p), "outside": "keep"}), None, off) is None
    assert superres_start.pairwise_start(p, object(), off) is None
    monkeypatch.setattr(superres_start, "FUSED_MAX", 23)
    assert superres_start.pairwise_start(p, None, off) is None


def test_pairwise_start_early_exit(device, monkeypatch):
    """pairwise_start's early exit: where the pairs to the first PAIR_EARLY_REFS reference frames, made consistent,
    lie under PAIR_EARLY_MOVE from the first start, only those frames are registered to and no second start is made
    (recorded as not taken); elsewhere the other references' pairs are added and the start is the one registered to
    every reference at once (the same pairs to the bit; consistent_motion's least squares differ in the last digits
from one call to the next and the fused rounds carry that to ~3e-8, main's own call to call as well)."""
    from types import SimpleNamespace

    from test_superres_fused import _model

    from regrun.registration import superres_pairwise, superres_start
    from regrun.registration.superres_motion import MotionModel

    model, w = _model(48, device)
    p = SimpleNamespace(model=model, outside="drop", motion=MotionModel("affine", model.fine.centre, model.q),
                        start_taken={})
    truth = w.reshape(-1)
    off = truth + torch.tensor([0.0, 0.0, 0.0, 0.0, 1.5, -1.0], dtype=truth.dtype, device=device).repeat(model.q)
    refs, own = [], superres_pairwise.pairwise_motions
    monkeypatch.setattr(superres_pairwise, "pairwise_motions", lambda m, r: refs.extend(r) or own(m, r))
    monkeypatch.setattr(superres_start, "PAIR_EARLY_REFS", 2)
    monkeypatch.setattr(superres_start, "PAIR_MOVE", 1.0)
    assert superres_start.pairwise_start(p, None, truth) is None
    assert refs == [0, 1] and p.start_taken == {"start_pairwise_taken": 0.0}
    refs.clear()
    alt = superres_start.pairwise_start(p, None, off)  # 1.8 px off: past PAIR_EARLY_MOVE (1)
    assert refs == [0, 1, 2, 3] and p.start_taken == {"start_pairwise_taken": 1.0}
    monkeypatch.setattr(superres_start, "PAIR_EARLY_REFS", model.q + 1)
    assert superres_start.start_distance(p, alt, superres_start.pairwise_start(p, None, off)) < 1e-6

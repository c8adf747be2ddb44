"""Dense SE(2) search of a masked motif in a scene: the masked L2 cost at every position for sampled angles,
computed by FFT correlation, then the best pose within each stride's cell.

For a motif X with mask Omega (rotated by theta with Keys interpolation into X_theta, Omega_theta, centred on
the rotation centre c), the cost of placing the motif's centre at scene pixel p is
    D_theta(p) = 1/2 sum_q Omega_theta(q) |Y(p + q) - X_theta(q)|^2
               = 1/2 [ (Omega_theta * sum_c Y_c^2)(p) - 2 sum_c ((Omega_theta X_theta,c) * Y_c)(p) + sum Omega X^2 ]
with * a correlation. This is the paper's leaf cost (eq. 12) at its second multiscale round (sigma^2 = 1e-2,
input blur ~0: a plain masked L2 match), written in the scene's frame, and the spike cost (eq. 13) when Y and X
are occurrence maps blurred by the complementary gaussian (isotropic, so it commutes with rotation).

This is *covering* in the paper's sense (Fig. 1: sample the transformation group), made cheap by FFTs: one
correlation per angle gives every translation at once. It is exact on its sample grid (angles every `step`
degrees, integer translations), refined to sub-pixel and sub-step by parabolas through the neighbouring costs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..imaging.keys import keys_grid_sample, keys_sample
from ..imaging.transforms import rotation_matrix


def stride_anchors(size: int, motif: int, delta: int) -> list[int]:
    """Anchors 0, delta, 2 delta, ... up to size - motif, plus the last valid index (notes §1)."""
    last = size - motif
    if last < 0:
        return []
    anchors = list(range(0, last + 1, delta))
    if anchors[-1] != last:
        anchors.append(last)
    return anchors


@dataclass
class StrideGrid:
    """Strides lambda = (row anchor, col anchor) of a motif of size (m, n) in an (H, W) scene; motif centres at
    anchor + ((m-1)/2, (n-1)/2). Each stride owns the cell of centre positions nearer to it than to any other."""

    rows: list[int]
    cols: list[int]
    motif_size: tuple[int, int]

    @classmethod
    def build(cls, scene_size, motif_size, delta: int) -> "StrideGrid":
        return cls(stride_anchors(scene_size[0], motif_size[0], delta),
                   stride_anchors(scene_size[1], motif_size[1], delta), tuple(motif_size))

    def __len__(self) -> int:
        return len(self.rows) * len(self.cols)

    def anchors(self, dtype=torch.float64, device=None) -> torch.Tensor:
        r = torch.tensor(self.rows, dtype=dtype, device=device)
        c = torch.tensor(self.cols, dtype=dtype, device=device)
        return torch.stack(torch.meshgrid(r, c, indexing="ij"), -1).reshape(-1, 2)

    def centres(self, dtype=torch.float64, device=None) -> torch.Tensor:
        m, n = self.motif_size
        return self.anchors(dtype, device) + torch.tensor(((m - 1) / 2, (n - 1) / 2), dtype=dtype, device=device)

    def cell_labels(self, scene_size, device=None) -> torch.Tensor:
        """(H, W) index of the stride whose cell holds each centre position (nearest anchor per axis)."""
        m, n = self.motif_size
        lab = []
        for anchors, size, offset in ((self.rows, scene_size[0], (m - 1) / 2), (self.cols, scene_size[1], (n - 1) / 2)):
            pos = torch.arange(size, dtype=torch.float64, device=device)
            a = torch.tensor(anchors, dtype=torch.float64, device=device) + offset
            lab.append((pos[:, None] - a[None]).abs().argmin(1))
        return lab[0][:, None] * len(self.cols) + lab[1][None, :]


def _rotated(motif: torch.Tensor, mask: torch.Tensor, centre, angles: list[float], radius: int, fast: bool = False):
    """Motif and mask rotated by each angle (clockwise as displayed) about centre, on (2r+1)^2 canvases centred on
    it: (A, C, k, k) and (A, k, k). fast: Keys a = -0.75 by grid_sample (~25x faster on CPU) instead of a = -0.5."""
    dt, dev = motif.dtype, motif.device
    off = torch.arange(-radius, radius + 1, dtype=dt, device=dev)
    q = torch.stack(torch.meshgrid(off, off, indexing="ij"), -1)
    inv = torch.stack([rotation_matrix(a, degrees=True, dtype=dt, device=dev) for a in angles])  # by -angle
    src = torch.einsum("ijk,alk->aijl", q, inv) + torch.tensor(centre, dtype=dt, device=dev)
    both = torch.cat((motif, mask[None]), 0)
    out = (keys_grid_sample(both, src) if fast else keys_sample(both, src)).transpose(0, 1)  # (A, C + 1, k, k)
    m = out[:, -1].clamp(0, 1)
    return out[:, :-1] * (m > 0)[:, None], m


def fft_shape(size, radius: int) -> tuple[int, int]:
    """The transform size of DenseCost on an (H, W) scene for a kernel canvas of half-width `radius`: H + radius
    (then the next 2-3-5 size), not the full linear-correlation size H + 2 radius. Only the centres p in the scene
    are kept; their windows read rows p - radius ... p + radius, and with H + radius the ones below 0 wrap onto the
    zero padding (rows >= H), those above H - 1 lie in it: the same costs, from transforms of about (H + r)(W + r)
    instead of (H + 2r)(W + 2r) points (the synthetic crab's node at half size: 0.67x the points; docs/detection.md). At least
    2 radius + 1, so that the kernel's canvas itself fits."""
    h, w = size
    return _fft_shape(max(h + radius, 2 * radius + 1)), _fft_shape(max(w + radius, 2 * radius + 1))


def _fft_shape(n: int) -> int:
    """The next size with only factors 2, 3, 5 (fast for pocketfft and cuFFT)."""
    while True:
        k = n
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return n
        n += 1


# The most bytes one chunk of DenseCost's transforms may hold (its spectra: the motif's C channels, the products
# and the mask's, about 3 C + 4 half-spectra per angle). 8 angles of a half-size 384x512 scene's crab node are ~70
# MB, so the usual scenes keep their 8; a 2048x2048 scene's crab node takes 1 or 2 angles at a time instead of 8.
CHUNK_BYTES = 128 * 2**20


class DenseCost:
    """D_theta(p) for all angles and all centre positions p of one motif in one scene, chunked over angles."""

    def __init__(self, scene: torch.Tensor, motif: torch.Tensor, mask: torch.Tensor, angles, centre=None,
                 chunk: int = 8, fast: bool = False):
        """fast: the motif is rotated with Keys a = -0.75 by grid_sample (_rotated), for searches that only pick
        starting poses; the exhaustive registrar keeps the paper's a = -0.5."""
        self.scene = scene
        c, h, w = scene.shape
        mh, mw = mask.shape
        # an integer rotation centre: at angle 0 the motif is then sampled at its own pixels, without blur
        centre = centre if centre is not None else (mh // 2, mw // 2)
        self.radius = int(math.ceil(max(math.hypot(centre[0] - a, centre[1] - b)
                                        for a in (0, mh - 1) for b in (0, mw - 1)))) + 2
        self.fshape = fft_shape((h, w), self.radius)
        self.angles = [float(a) for a in angles]
        self.motif, self.mask, self.centre, self.chunk, self.fast = motif, mask, centre, chunk, fast
        self.scene_f = torch.fft.rfft2(scene, s=self.fshape)
        self.energy_f = torch.fft.rfft2((scene * scene).sum(0), s=self.fshape)

    def costs(self, progress=None) -> torch.Tensor:
        """(A, H, W) costs; the kernel's flip turns the FFT convolution into the correlation above. `progress`,
        when given, is called with the share of the angles done after each chunk (a spike node's search at full
        size runs for seconds: its progress and ETA move inside it)."""
        return torch.cat([d for _, d in self.chunks(progress)])

    def chunk_size(self) -> int:
        """Angles per chunk: `chunk`, fewer where one angle's transforms are large, so that a chunk's buffers stay
        within CHUNK_BYTES whatever the scene's size (a 2048x2048 scene's crab node: ~77 MB per angle, float32)."""
        c = self.scene.shape[0]
        per_angle = (3 * c + 4) * self.fshape[0] * (self.fshape[1] // 2 + 1) * 2 * self.scene.element_size()
        return max(1, min(self.chunk, CHUNK_BYTES // per_angle))

    def chunks(self, progress=None):
        """The costs chunk by chunk, (first angle's index, (a, H, W) costs), for a caller that reduces each chunk
        as it comes (coarse_starts): memory then grows with the scene, not with the scene times the angles."""
        c, h, w = self.scene.shape
        r = self.radius
        step = self.chunk_size()
        for i in range(0, len(self.angles), step):
            if progress is not None and i > 0:
                progress(i / len(self.angles))
            x, m = _rotated(self.motif, self.mask, self.centre, self.angles[i:i + step], r, self.fast)
            xm_f = torch.fft.rfft2((x * m[:, None]).flip(-1, -2), s=self.fshape)
            m_f = torch.fft.rfft2(m.flip(-1, -2), s=self.fshape)
            # energy - 2 cross in one inverse transform (the transform is linear): one per angle instead of two;
            # the cross accumulated channel by channel in place (addcmul): the (a, C, H, W) product of every channel
            # at once cost 2.7x as much (0.156 vs 0.058 CPU-s per 8 angles of a 1080x1080 spectrum: memory traffic)
            acc = m_f * self.energy_f
            for ch in range(xm_f.shape[1]):
                acc.addcmul_(xm_f[:, ch], self.scene_f[ch], value=-2)
            both = torch.fft.irfft2(acc, s=self.fshape)
            const = (m * (x * x).sum(1)).sum((-1, -2))
            yield i, 0.5 * (both[:, r:r + h, r:r + w] + const[:, None, None])


def _parabola(fm: torch.Tensor, f0: torch.Tensor, fp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Vertex offset in [-0.5, 0.5] and value of the parabola through (-1, fm), (0, f0), (1, fp)."""
    curv = fm - 2 * f0 + fp
    ok = curv > 0
    off = torch.where(ok, 0.5 * (fm - fp) / torch.where(ok, curv, torch.ones_like(curv)), torch.zeros_like(curv))
    off = off.clamp(-0.5, 0.5)
    return off, f0 - 0.25 * (fm - fp) * off


@dataclass
class StrideFit:
    """Per stride: centre position (S, 2) where the motif's rotation centre lands, angle (S,) in degrees, loss (S,)
    (inf where the stride's cell holds no local minimum of the cost)."""

    centre: torch.Tensor
    angle: torch.Tensor
    loss: torch.Tensor


def fit_strides(dense: torch.Tensor, angles, grid: StrideGrid, valid: torch.Tensor | None = None) -> StrideFit:
    """The minimum of the dense cost (A, H, W) over each stride's cell and all angles, refined by parabolas.

    A stride whose minimum is not a local minimum of min_theta D over its 3x3 neighbourhood (it lies on the cell's
    border, downhill from a neighbouring cell) reports loss = inf: each basin is counted once, by the stride
    that holds its bottom. `valid` (H, W) restricts the centres searched (the motif must fit in the scene)."""
    a_n, h, w = dense.shape
    dev, dt = dense.device, dense.dtype
    best, arg = dense.min(0)
    if valid is not None:
        best = torch.where(valid, best, torch.full_like(best, math.inf))
    labels = grid.cell_labels((h, w), dev).reshape(-1)
    flat = best.reshape(-1)
    s = len(grid)
    # per-cell argmin: sort by value, keep the first of each label
    order = torch.argsort(flat)
    first = torch.full((s,), -1, dtype=torch.long, device=dev)
    lab_sorted = labels[order]
    # the smallest rank per label is the cell's minimum
    rank = torch.arange(order.numel(), device=dev)
    first_rank = torch.full((s,), order.numel(), dtype=torch.long, device=dev).scatter_reduce(
        0, lab_sorted, rank, reduce="amin")
    has = first_rank < order.numel()
    first[has] = order[first_rank[has]]
    idx = first.clamp(min=0)
    r, c = idx // w, idx % w
    loss = torch.where(has, flat[idx], torch.full((s,), math.inf, dtype=dt, device=dev))
    # local-minimum test on the angle-minimised map
    padded = torch.nn.functional.pad(best[None, None], (1, 1, 1, 1), value=math.inf)[0, 0]
    neigh = torch.stack([padded[r + 1 + dr, c + 1 + dc] for dr in (-1, 0, 1) for dc in (-1, 0, 1)
                         if (dr, dc) != (0, 0)])
    local = (flat[idx] <= neigh.min(0).values) & torch.isfinite(loss)
    loss = torch.where(local, loss, torch.full_like(loss, math.inf))
    # sub-pixel and sub-step refinement at the fixed best angle index
    ai = arg.reshape(-1)[idx]
    at = lambda aa, rr, cc: dense[aa.clamp(0, a_n - 1), rr.clamp(0, h - 1), cc.clamp(0, w - 1)]  # noqa: E731
    f0 = dense[ai, r, c]
    dr, _ = _parabola(at(ai, r - 1, c), f0, at(ai, r + 1, c))
    dc, _ = _parabola(at(ai, r, c - 1), f0, at(ai, r, c + 1))
    ang = torch.tensor(angles, dtype=dt, device=dev)
    step = float(ang[1] - ang[0]) if a_n > 1 else 0.0
    inner = (ai > 0) & (ai < a_n - 1)
    da, _ = _parabola(at(ai - 1, r, c), f0, at(ai + 1, r, c))
    da = torch.where(inner, da, torch.zeros_like(da))
    edge = lambda v, lo, hi: torch.where((v > lo) & (v < hi), torch.ones_like(dr), torch.zeros_like(dr))  # noqa: E731
    centre = torch.stack((r.to(dt) + dr * edge(r, 0, h - 1), c.to(dt) + dc * edge(c, 0, w - 1)), -1)
    loss = loss.clamp(min=0)  # round-off of the FFT expansion can dip a perfect match a hair below 0
    return StrideFit(centre, ang[ai] + da * step, loss)

"""A leaf turned near the border (docs/detection.md, "A claw outside the image: past the pruning"): its pose is
valid where its turned mask lies inside the scene, not only where its unturned box does."""
import math

import torch

from regrun.detection.detector import Motif
from regrun.detection.rotation_search import StrideGrid
from regrun.detection.unrolled_registrar import _to_fit, coarse_starts, turned_reach
from regrun.imaging.gaussian import gaussian_filter
from regrun.imaging.keys import keys_sample


def test_a_thin_leaf_turned_along_the_border_has_its_start(device):
    """A 25 x 5 bar turned 90 deg with its centre 3 px below the top: its turned mask (rows 1-5) lies inside, its
    unturned box (rows -9 to 15) does not. The coarse search puts a start on it (at main: no valid pose there,
    the nearest start 9 px off; the synthetic crab's left eye at 85.8 deg, seed 16174, was lost so)."""
    dt = torch.float64
    gen = torch.Generator().manual_seed(4)
    m, n = 25, 5
    tex = gaussian_filter(torch.rand(3, m + 8, n + 8, generator=gen, dtype=dt), 1.0)[:, 4:-4, 4:-4]
    tex = ((tex - tex.mean()) / tex.std() * 0.25 + 0.5).to(device)
    mask = torch.ones(m, n, dtype=dt, device=device)
    h, w, centre, angle = 30, 60, (3.0, 31.0), 90.0
    bg = gaussian_filter(torch.rand(3, h, w, generator=gen, dtype=dt), 3.0).to(device)
    p = torch.stack(torch.meshgrid(torch.arange(h, dtype=dt, device=device), torch.arange(w, dtype=dt, device=device),
                                   indexing="ij"), -1).reshape(-1, 2)
    t = math.radians(angle)
    rot_t = torch.tensor([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]], dtype=dt, device=device)
    q = (p - torch.tensor(centre, dtype=dt, device=device)) @ rot_t.T + torch.tensor(((m - 1) / 2, (n - 1) / 2),
                                                                                     dtype=dt, device=device)
    vals = keys_sample(torch.cat((tex, mask[None]), 0), q).reshape(4, h, w)
    alpha = (vals[3] > 0.5).to(dt)
    scene = bg * (1 - alpha) + vals[:3].clamp(0, 1) * alpha
    motif = Motif("bar", "texture", tex, mask, (m // 2, n // 2), (m // 2, n // 2), (0.0, 0.0))
    assert turned_reach(mask, motif.centre, [angle]).tolist() == [[[-2, -12], [2, 12]]]
    grid = StrideGrid.build((h, w), (m, n), 8)
    keep, w0 = coarse_starts(scene, tex, motif, grid, [float(a) for a in range(-180, 180, 10)], 1)
    fit = _to_fit(w0, torch.zeros(len(keep), dtype=dt, device=device), grid.anchors(dt, device)[keep], motif)
    err = min(math.dist(fit.centre[i].tolist(), centre) + 100 * (abs((float(fit.angle[i]) - angle + 180) % 360 - 180) > 5)
              for i in range(len(keep)))
    assert err < 1.5

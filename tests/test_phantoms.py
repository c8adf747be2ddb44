"""CT phantoms: the modified Shepp-Logan's known values, the metal part's features and seeds, cell averages."""
from __future__ import annotations

import torch

from regrun.tomography.phantoms import MetalPart, render, shepp_logan


def test_shepp_logan_values(device):
    pts = torch.tensor([[0.0, 0.0], [0.0, 0.35], [0.0, 0.9], [0.95, 0.0], [0.22, 0.0]], dtype=torch.float64,
                       device=device)
    # centre: skull 1 - brain 0.8; the upper ellipse adds 0.1; the skull rim 1; air 0; the right ventricle 0
    expected = torch.tensor([0.2, 0.3, 1.0, 0.0, 0.0], dtype=torch.float64, device=device)
    torch.testing.assert_close(shepp_logan(pts), expected)
    pts3 = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.79], [0.0, 0.0, 0.9]], dtype=torch.float64, device=device)
    torch.testing.assert_close(shepp_logan(pts3), torch.tensor([0.2, 1.0, 0.0], dtype=torch.float64,
                                                               device=device))


def test_render_is_a_cell_average(device):
    fine = render(shepp_logan, (64, 64), sub=1, device=device)
    coarse = render(shepp_logan, (32, 32), sub=2, device=device)
    torch.testing.assert_close(fine.unflatten(0, (32, 2)).unflatten(2, (32, 2)).mean((1, 3)), coarse)


def test_metal_part_is_seeded_and_has_its_features(device):
    a = render(MetalPart(0), (96, 96), device=device)
    torch.testing.assert_close(a, render(MetalPart(0), (96, 96), device=device))
    assert not torch.equal(a, render(MetalPart(1), (96, 96), device=device))
    assert float(a.min()) == 0.0 and float(a.max()) == 1.0
    part = MetalPart(0)
    # pores are empty, the lattice is partly solid, the body around is dense
    px, py, _, pr = part.pores[0]
    c, s = torch.cos(torch.tensor(part.angle)), torch.sin(torch.tensor(part.angle))
    to_world = lambda x, y: torch.stack((c * x - s * y, s * x + c * y), -1).to(torch.float64)  # noqa: E731
    assert float(part(to_world(torch.tensor(px), torch.tensor(py)))) == 0.0
    x0, x1, y0, y1 = part.lattice_box
    gx, gy = torch.meshgrid(torch.linspace(x0 + 0.01, x1 - 0.01, 60), torch.linspace(y0 + 0.01, y1 - 0.01, 60),
                            indexing="ij")
    fill = float(part(to_world(gx, gy)).mean())
    assert 0.1 < fill < 0.6
    vol = render(MetalPart(0), (32, 32, 24), device=device)
    assert vol.shape == (32, 32, 24) and 0.05 < float(vol.mean()) < 0.6

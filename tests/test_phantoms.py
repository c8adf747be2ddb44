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


def test_shepp_logan_3d_on_every_point_is_bitwise_the_selected_points_test():
    """The large axis-aligned ellipsoids are tested on every point of a thin slab (no selection): the same bits
    as testing only the points inside each ellipsoid's ball's box with the rotation applied (the earlier code)."""
    from regrun.tomography import phantoms

    for shape in ((96, 96, 4), (20, 24, 18)):
        h = 2.0 / shape[0]
        axes = [(torch.arange(n, dtype=torch.float64) - (n - 1) / 2) * h for n in shape]
        pts = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1)
        flat, ref = pts.reshape(-1, 3), torch.zeros(pts.shape[:-1], dtype=torch.float64).reshape(-1)
        for amp, a, b, cc, x0, y0, z0, phi, theta, psi in phantoms.SHEPP_LOGAN_3D:
            centre = torch.tensor([x0, y0, z0], dtype=torch.float64)
            near = phantoms._near_ball(flat, centre, max(a, b, cc))
            p = (flat[near] - centre) @ torch.tensor(phantoms._euler(phi, theta, psi), dtype=torch.float64).T
            ref[near] += amp * (((p / torch.tensor([a, b, cc], dtype=torch.float64)) ** 2).sum(-1) <= 1).double()
        assert torch.equal(phantoms.shepp_logan(pts), ref.reshape(pts.shape[:-1]))

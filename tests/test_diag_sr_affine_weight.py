"""srpage's diagnosis (scripts/diag_sr_affine_weight.py): how far an affine answer is from translations, read from
its linear parts (zero for shifts alone, e times the points' RMS radius for a scaling by 1 + e)."""
from types import SimpleNamespace

import pytest
import torch
from script_module import load_script


def fake_problem(w, device):
    g = torch.arange(4, dtype=torch.float64, device=device)
    x = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2) * 0.5  # fine pixels of 0.5
    model = SimpleNamespace(x=x, split=lambda v: (v.reshape(-1, 6), None))
    return SimpleNamespace(model=model, fine=SimpleNamespace(h=(0.5, 0.5), m=(4, 4)))


def test_linear_part_reads_shifts_as_zero_and_a_scaling_as_its_radius(device):
    mod = load_script("diag_sr_affine_weight")
    shifts = torch.tensor([1, 0, 0, 1, 0.3, -0.2] * 2, dtype=torch.float64, device=device)
    out = mod.linear_part(fake_problem(shifts, device), shifts)
    assert out["max_abs_A_minus_I"] == 0.0 and out["rms_linear_px"] == 0.0
    e = 0.02
    scaled = torch.tensor([1 + e, 0, 0, 1 + e, 0.3, -0.2], dtype=torch.float64, device=device)
    p = fake_problem(scaled, device)
    radius = (p.model.x - p.model.x.mean(0)).pow(2).sum(-1).mean().sqrt() / 0.5  # in fine pixels
    out = mod.linear_part(p, scaled)
    assert out["max_abs_A_minus_I"] == pytest.approx(e)
    assert out["rms_linear_px"] == pytest.approx(e * float(radius))

"""srmotionsel's reading of motion_model=auto (scripts/diag_sr_motion_choice.py): the nearest rigid motion of an
affine one and its common strain taken off, and the report's decisions at a ratio."""
import json

import torch
from script_module import load_script

from regrun.registration.superres_motion import MotionModel


def _points(n=8):
    xs = torch.arange(n, dtype=torch.float64) + 0.5
    return torch.stack(torch.meshgrid(xs, xs, indexing="ij"), -1).reshape(-1, 2)


def test_the_nearest_rigid_motion_is_exact_on_rigid_motions_and_strain_comes_off():
    diag = load_script("diag_sr_motion_choice")
    x, rigid = _points(), MotionModel("rigid", (4.0, 4.0), 2)
    p = torch.tensor([0.1, 0.3, -0.2, -0.05, 0.0, 0.4], dtype=torch.float64)
    w = rigid.to_affine(p)
    assert torch.allclose(diag.nearest_params(rigid, w, x), p, atol=1e-12)
    # both frames strained alike (+1% along x1 about the centre): the mean strain is taken off, the rotation kept
    strain = torch.tensor([[1.01, 0.0], [0.0, 1.0]], dtype=torch.float64)
    a = w.reshape(2, 6).clone()
    a[:, :4] = (strain @ a[:, :4].reshape(2, 2, 2)).reshape(2, 4)
    a[:, 4:] = (strain @ (a[:, 4:] - 4.0).unsqueeze(-1)).squeeze(-1) + 4.0
    strained = a.reshape(-1)
    near = rigid.to_affine(diag.nearest_params(rigid, strained, x))
    assert (diag.moved(strained, x) - diag.moved(near, x)).norm(dim=-1).max() > 0.01
    back = diag.without_common_strain(strained, near, (4.0, 4.0))
    assert torch.allclose(back, w, atol=2e-4)


def test_the_report_changes_only_what_the_ratio_drops(tmp_path, capsys):
    def row(name, z_tr, z_ra, psnr):
        ends = {k: {"psnr": v} for k, v in zip(("affine", "rigid", "translation", "true"), psnr)}
        return {"set": name, "z": {"translation_rigid": z_tr, "rigid_affine": z_ra}, "ends": ends,
                "nonrigid_px": 0.1}
    rows = [row("rocket rigid", 62035.0, 126.0, (28.57, 29.41, 21.9, 30.11)),
            row("coins affine", 1966.0, 170.0, (26.56, 20.69, 11.3, 26.77)),
            row("moon translation", 2.2, 2.0 + 1e-9, (32.92, 33.25, 33.26, 33.35))]
    (tmp_path / "d.json").write_text(json.dumps(rows))
    load_script("diag_sr_motion_choice").main(["--report", str(tmp_path / "d.json"), "--ratio", "100"])
    out = capsys.readouterr().out
    assert "| affine → rigid |" in out and "| +0.84 |" in out and out.count("affine → affine") == 2
    assert "3 sets, 1 changed, +0.84 dB summed, worst +0.00" in out


def test_the_report_reads_the_shift_ratio_against_mains_rule(tmp_path, capsys):
    # HNSP-T s5776 (translation drawn; docs/superres.md "srtrans"): main (z and the rotation's ratio 100) keeps affine,
    # the shift ratio at 750 picks translation; clock s9462 (affine drawn, ratio 14.5) stays affine
    rows = [{"set": "hnsp translation", "nonrigid_px": 0.08,
             "z": {"translation_rigid": 7.98, "rigid_affine": 5.34, "none_translation": 57779.0},
             "ends": {k: {"psnr": v} for k, v in zip(("affine", "rigid", "translation", "true"),
                                                     (31.40, 32.05, 32.15, 32.52))}},
            {"set": "clock affine", "nonrigid_px": 0.34,
             "z": {"translation_rigid": 5452.7, "rigid_affine": 311.9, "none_translation": 79225.8},
             "ends": {k: {"psnr": v} for k, v in zip(("affine", "rigid", "translation", "true"),
                                                     (46.22, 37.06, 24.45, 46.16))}}]
    (tmp_path / "d.json").write_text(json.dumps(rows))
    load_script("diag_sr_motion_choice").main(["--report", str(tmp_path / "d.json"), "--shift-ratio", "750"])
    out = capsys.readouterr().out
    assert "| affine → translation |" in out and "| 7.24e+03 |" in out and "| affine → affine |" in out
    assert "2 sets, 1 changed, +0.75 dB summed, worst +0.00" in out

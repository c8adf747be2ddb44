"""newuser23's pass on frames of their own (session 38): what newuser22 left and a fresh user met, each case failing
on main (docs/superres.md, "A new user's pass on frames of their own (newuser23)")."""
import numpy as np

from cli_in_process import regrun_in_process

SEED = 9699


def _run(args, tmp_path, monkeypatch, capsys, device):
    done = regrun_in_process([*args, "figures=false", f"device={device.type}"], tmp_path, monkeypatch, capsys)
    return done.returncode, done.stdout + done.stderr


def _frames(count: int = 4, side: int = 12) -> np.ndarray:
    """`count` grey frames of a smooth random scene, each moved by a pixel, in 0-255."""
    rng = np.random.default_rng(SEED)
    scene = 128 + 10 * np.cumsum(np.cumsum(rng.standard_normal((side + 8, side + 8)), 0), 1) / 20
    return np.stack([scene[k:k + side, 1:side + 1] for k in range(count)])


FRAMES = ["problem=superres", "problem.data=frames", "time_limit=1", "problem.motion_model=rigid",
          "problem.gain_again=false"]


def test_a_frames_key_for_a_npy_file_is_warned(device, tmp_path, monkeypatch, capsys):
    # problem.frames_key=data on a .npy (one array, no names) was ignored without a word (newuser22)
    np.save(tmp_path / "f.npy", _frames())
    code, err = _run([*FRAMES, "problem.frames=f.npy", "problem.frames_key=data", "problem.lambda_f=0.1"],
                     tmp_path, monkeypatch, capsys, device)
    assert code == 0, err
    assert "problem.frames_key=data is not used" in err and "f.npy is a .npy file, one array" in err, err
    # a .npz holding the frames under that name is what the key is for: read, not warned
    np.savez(tmp_path / "f.npz", data=_frames())
    code, err = _run([*FRAMES, "problem.frames=f.npz", "problem.frames_key=data", "problem.lambda_f=0.1"],
                     tmp_path, monkeypatch, capsys, device)
    assert code == 0, err
    assert "frames_key=data is not used" not in err, err


def test_a_search_setting_beside_a_typed_weight_is_warned(device, tmp_path, monkeypatch, capsys):
    # problem.lam_rule=discrepancy beside problem.lambda_f=0.1 ran as if not typed (newuser22); on generated frames,
    # whose weight is 1e-2 unless typed, the rule typed alone chose nothing
    np.save(tmp_path / "f.npy", _frames())
    code, err = _run([*FRAMES, "problem.frames=f.npy", "problem.lambda_f=0.1", "problem.lam_rule=discrepancy",
                      "problem.lam_range=[0.01,1]"], tmp_path, monkeypatch, capsys, device)
    assert code == 0, err
    assert ("problem.lam_rule=discrepancy and problem.lam_range=[0.01, 1] are not used: the weight is fixed "
            "(problem.lambda_f=0.1)") in err, err
    assert err.count("are not used") == 2, err  # before the solve, and among the run's warnings
    code, err = _run(["problem=superres", "problem.lam_rule=sure", "solver.max_iter=1"], tmp_path, monkeypatch,
                     capsys, device)
    assert "problem.lam_rule=sure is not used: the weight is fixed (problem.lambda_f=0.01)" in err, err
    # a typed weight alone, or problem.lam_noise (the motion model's choice reads it at any weight): no word
    code, err = _run([*FRAMES, "problem.frames=f.npy", "problem.lambda_f=0.1", "problem.lam_noise=2"],
                     tmp_path, monkeypatch, capsys, device)
    assert "not used" not in err, err


def test_search_settings_with_auto_are_not_called_unused():
    from omegaconf import OmegaConf

    from regrun.config import compose
    from regrun.problems.superres import unused_search_warning

    cfg = compose(["problem=superres", "problem.lam_rule=discrepancy"]).problem
    assert unused_search_warning(cfg, None, None) == ""  # lambda_f=auto: the rule is read
    said = unused_search_warning(cfg, 0.3, "from:old_run")
    assert said.startswith("problem.lam_rule=discrepancy is not used: the weight is fixed (from from:old_run)"), said
    assert unused_search_warning(OmegaConf.merge(cfg, {"lam_rule": "gcv"}), 0.3, None) == ""

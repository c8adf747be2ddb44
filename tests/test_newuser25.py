"""newuser25's pass on pairs, photos and sweeps of their own (session 38), each case failing on main
(docs/registration.md, "A new user's pass on pairs, photos and sweeps of their own (newuser25)")."""
import numpy as np
from PIL import Image
from scipy import ndimage

from test_newuser22 import _run  # the CLI in process, with figures off, on the device fixture's device

SEED = 9746


def _pair(tmp_path, invert: bool, size=(40, 48)):
    """A smooth random picture R and T, R turned 6 degrees and shifted (2, -3) px, dark for light if `invert`."""
    r = ndimage.gaussian_filter(np.random.default_rng(SEED).standard_normal(size), 3)
    r = (r - r.min()) / (r.max() - r.min())
    t = ndimage.shift(ndimage.rotate(r, 6, reshape=False, mode="nearest"), (2, -3), mode="nearest")
    Image.fromarray((255 * r).astype(np.uint8)).save(tmp_path / "R.png")
    Image.fromarray((255 * (1 - t if invert else t)).astype(np.uint8)).save(tmp_path / "T.png")


PAIR = ["problem.data=files", "problem.template=T.png", "problem.reference=R.png"]


def test_an_inverted_template_is_told_to_use_mi_not_ncc(device, tmp_path, monkeypatch, capsys):
    # an inverted pair's ncc path ended at the truth (correlation -0.999) and was not kept; the poor-fit warning said
    # "try ... problem.distance=ncc for intensity changes", which the user then ran to the same end (newuser25)
    _pair(tmp_path, invert=True)
    code, err = _run(PAIR, tmp_path, monkeypatch, capsys, device)
    assert code == 0, err
    assert "the template looks inverted in contrast (dark for light)" in err and "problem.distance=mi" in err, err
    assert "problem.distance=ncc for intensity changes" not in err, err
    assert "px a side" not in err, err  # 40x48: not a small pair


def test_the_inverted_line_needs_an_end_more_anti_than_positively_correlated(device):
    from regrun.problems.multiscale_affine import MultiscaleAffine as Problem

    problem = Problem.__new__(Problem)
    for rho, inverted in (((), False), ((0.17, -0.999), True), ((0.99, -0.6), False), ((0.1, -0.4), False)):
        problem.path_correlations = rho
        assert problem._inverted() is inverted, rho


def test_simpleitk_key_names_are_told_regruns(device, tmp_path, monkeypatch, capsys):
    # problem.fixed / problem.moving got "did you mean `problem.pair` or `problem.name`?", problem.mask "`problem.omega`
    # or `problem.normalise`?" (newuser25, a SimpleITK user's words)
    code, err = _run(["problem.data=files", "problem.fixed=R.png", "problem.moving=T.png"], tmp_path, monkeypatch,
                     capsys, device)
    assert code == 2 and "regrun's fixed image is problem.reference, the moving one problem.template" in err, err
    code, err = _run([*PAIR, "problem.fixed_mask=M.png"], tmp_path, monkeypatch, capsys, device)
    assert code == 2 and "regrun's registration takes no mask image" in err and "crop both images" in err, err
    # another problem's unknown key keeps the nearest keys
    code, err = _run(["problem=superres", "problem.mask=M.png"], tmp_path, monkeypatch, capsys, device)
    assert code == 2 and "no mask image" not in err and "did you mean" in err, err


def test_a_slurm_partition_the_cluster_lacks_is_one_line(device, tmp_path, monkeypatch, capsys):
    # hydra.launcher.partition=nope: each job's sbatch failed alone ("invalid partition specified"), "2 failed",
    # exit 1 (newuser25, on the local cluster); the cluster's partitions are sinfo's
    from cli_in_process import regrun_in_process

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, script in (("scontrol", "echo 'MaxArraySize            = 1001'"), ("sinfo", "printf 'debug*\\ngpu\\n'")):
        (bin_dir / name).write_text(f"#!/bin/sh\n{script}\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    got = regrun_in_process(["-m", "hydra/launcher=slurm", "hydra.launcher.partition=nope", "seed=1,2",
                             "+ci=multiscale_affine__single_scale", f"device={device.type}",
                             "hydra.sweep.dir=sweep"], tmp_path, monkeypatch, capsys)
    assert got.returncode == 2, got.stdout + got.stderr
    assert got.stderr.strip() == ("regrun: error: hydra.launcher.partition=nope names no partition of this cluster "
                                  "(nope); sinfo lists debug, gpu; no job started"), got.stderr
    assert not (tmp_path / "sweep").exists()
    from regrun.slurm import check_partition

    check_partition("debug")  # the default partition, marked debug* by sinfo, and a list of known ones pass
    check_partition("gpu,debug")
    check_partition(None)


def test_a_photo_smaller_than_the_template_is_told_the_largest_scale_that_fits(device, tmp_path, monkeypatch, capsys):
    # a 200x160 photo with crabs smaller than the template was told "(1: the same, 2: twice as large)", two values
    # that both fail there (newuser25)
    Image.fromarray(np.full((30, 40, 3), 90, np.uint8)).save(tmp_path / "tiny.png")
    base = ["problem=crab_detection", "problem.template=robot", "problem.scene.source=file",
            "problem.scene.path=tiny.png"]
    code, err = _run(base, tmp_path, monkeypatch, capsys, device)
    # the robot is 176x160: 30/160 = 0.1875 and 40/176 = 0.227, so at most 0.18
    assert code == 2 and "give their size relative to the template, at most 0.18 for this scene" in err, err
    code, err = _run([*base, "problem.scene.object_scale=2"], tmp_path, monkeypatch, capsys, device)
    assert code == 2 and "the 40x30 px scene (width x height) becomes 20x15 px, smaller than" in err, err


def test_a_pair_under_16_px_a_side_is_warned(device, tmp_path, monkeypatch, capsys):
    # two 6x6 crops of different content completed without a word at correlation -0.77: the verdict's noise estimate
    # reads nothing on 36 pixels (newuser25)
    _pair(tmp_path, invert=False, size=(8, 8))
    code, err = _run(PAIR, tmp_path, monkeypatch, capsys, device)
    assert code == 0, err
    assert "the pair is registered on a 8x8 grid, under 16 px a side" in err, err


def test_an_image_cut_short_is_told_so(device, tmp_path, monkeypatch, capsys):
    # a PNG cut short in a copy was "cannot read image T.png: Truncated File Read" (newuser25)
    _pair(tmp_path, invert=False)
    whole = (tmp_path / "T.png").read_bytes()
    (tmp_path / "T.png").write_bytes(whole[:len(whole) // 2])
    code, err = _run(PAIR, tmp_path, monkeypatch, capsys, device)
    assert code == 2 and "the file ends before its image does" in err and "cut short?" in err, err


def test_a_detection_threshold_given_as_a_percentage_is_one_line(device, tmp_path, monkeypatch, capsys):
    # problem.detect_threshold=50 ran to "nothing detected" under a warning about the objects' size (newuser25)
    code, err = _run(["problem=crab_detection", "problem.detect_threshold=50"], tmp_path, monkeypatch, capsys,
                     device)
    assert code == 2 and "problem.detect_threshold=50 is above 1.5, which no instance reaches" in err, err
    assert "a percentage p is p/100" in err, err


def test_an_image_given_as_the_detection_template_is_told_a_template_is_a_yaml(device, tmp_path, monkeypatch, capsys):
    # problem.template=mycrab.png was told the allowed values alone, as if mistyped (newuser25)
    Image.fromarray(np.full((30, 40), 90, np.uint8)).save(tmp_path / "mycrab.png")
    code, err = _run(["problem=crab_detection", "problem.template=mycrab.png"], tmp_path, monkeypatch, capsys, device)
    assert code == 2 and "(mycrab.png is an image: a template of your own is a YAML file that names its image" in err, \
        err
    code, err = _run(["problem=crab_detection", "problem.template=crabb"], tmp_path, monkeypatch, capsys, device)
    assert code == 2 and "is an image" not in err and "is not valid; allowed" in err, err

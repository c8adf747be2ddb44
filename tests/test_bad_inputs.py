"""The bad-input matrix: every mistake in a file, value or command line is refused at the door in one line
(`regrun: error: ...`, exit 2) naming the file or key, the bad value and what is allowed, with no traceback;
a mistake found once the run started also leaves its results file saying `failed`.

The command runs in-process (regrun.cli.main with sys.argv set), which costs a compose, not an interpreter
start; one case runs in a subprocess to check the same holds for the real command."""
import json
import subprocess
import sys

import numpy as np
import pytest
from cli_in_process import regrun_in_process
from omegaconf import OmegaConf

from regrun.record import load

SR = ["problem=superres", "problem.data=frames", "problem.factor=2"]
CT = ["problem=ct_fewview", "problem.data=file", "problem.size=32", "problem.views=null"]
FAST = ["progress=false", "figures=false"]


def _disk_sinogram(views=30, n_u=48, radius=10.0):
    """Parallel-beam line integrals of a centred disk: 2 sqrt(r^2 - u^2), the same from every angle."""
    u = np.arange(n_u) - (n_u - 1) / 2
    return np.tile(2 * np.sqrt(np.clip(radius**2 - u**2, 0, None)), (views, 1))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from PIL import Image

    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    frames = rng.random((4, 8, 8))
    bad = frames.copy()
    bad[1, 2, 3] = np.nan
    np.savez(d / "frames_nan.npz", frames=bad)
    bad[1, 2, 3] = np.inf
    np.savez(d / "frames_inf.npz", frames=bad)
    np.savez(d / "frames_huge.npz", frames=frames * 1e200)
    np.savez(d / "frames_flat.npz", frames=np.ones((4, 8, 8)))
    np.savez(d / "frames.npz", frames=frames)
    truth = rng.random((16, 16))
    truth[0, 0] = np.inf
    np.savez(d / "truth_inf.npz", truth=truth)
    (d / "corrupt.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    (d / "motion_list.json").write_text(json.dumps([0.0] * 18))
    (d / "motion_text.json").write_text(json.dumps({"w": ["a"] * 18}))
    (d / "motion_bad.json").write_text("{'w': [1, 2")
    image = rng.random((16, 16)).astype(np.float32)
    Image.fromarray(image, mode="F").save(d / "ok.tif")
    image[4, 5] = np.nan
    Image.fromarray(image, mode="F").save(d / "nan.tif")
    (d / "text.npy").write_text("1 2 3\n4 5 6\n")
    sino = _disk_sinogram()
    np.save(d / "sino.npy", sino)
    np.save(d / "sino_T.npy", sino.T)
    np.save(d / "sino_neg.npy", -sino)
    np.save(d / "sino_counts.npy", 1e4 * np.exp(-0.02 * sino))
    np.save(d / "sino_small.npy", _disk_sinogram(n_u=20, radius=8.0))
    nan = sino.copy()
    nan[3, 7] = np.nan
    np.save(d / "sino_nan.npy", nan)
    np.save(d / "sino_object.npy", np.array([{"a": 1}], dtype=object))
    # users' config folders (--config-dir): a good one, and one of each mistake
    for name, rel, text in [("cfg_ok", "problem/mine.yaml", "defaults:\n  - multiscale_affine\n  - _self_\n"
                                                             "synthetic:\n  size: 16\n"),
                            ("cfg_yaml", "problem/mine.yaml", "name: multiscale_affine\nsize: [1, 2\n"),
                            ("cfg_typo", "probem/mine.yaml", "name: multiscale_affine\n"),
                            ("cfg_list", "solver/mine.yaml", "- lm\n"),
                            ("cfg_default", "problem/mine.yaml", "defaults:\n  - /nosuch: thing\n")]:
        (d / name / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / name / rel).write_text(text)
    return d


# (arguments, text the error line must contain, whether the run started: a results file saying failed)
CASES = {
    # non-finite or absurd values in files
    "frames NaN": (SR + ["problem.frames={d}/frames_nan.npz"], ["frames_nan.npz:frames", "NaN or infinite",
                                                                "at frame 1, "], True),  # newuser23: by axis
    "frames Inf": (SR + ["problem.frames={d}/frames_inf.npz"], ["frames_inf.npz", "NaN or infinite"], True),
    "frames huge": (SR + ["problem.frames={d}/frames_huge.npz"], ["frames_huge.npz", "within +-1e+15"], True),
    "truth Inf": (SR + ["problem.frames={d}/frames.npz", "problem.truth={d}/truth_inf.npz"],
                  ["truth_inf.npz:truth", "NaN or infinite"], True),
    "constant frames": (SR + ["problem.frames={d}/frames_flat.npz"], ["frame 0 is constant", "must show"], True),
    "TIFF NaN pixel": (["problem.data=files", "problem.template={d}/nan.tif", "problem.reference={d}/ok.tif"],
                       ["image {d}/nan.tif", "NaN or infinite"], True),
    "sinogram NaN": (CT + ["problem.sinogram={d}/sino_nan.npy"], ["sino_nan.npy", "NaN or infinite"], True),
    "lambda_f 1e200": (["problem=superres", "problem.lambda_f=1e200"], ["problem.lambda_f=1e+200",
                                                                       "must be <= 1e+06"], True),
    "noise 1e300": (["problem=superres", "problem.noise=1e300"], ["problem.noise=1e+300", "must be <= 1000"], True),
    "SR ftol text": (["problem=superres", "solver.ftol=often"], ["solver.ftol='often'", "noise or a number"], True),
    "SR ftol negative": (["problem=superres", "solver.ftol=-1"], ["solver.ftol=-1.0 must be >= 0"], True),
    "SR motion_model": (["problem=superres", "problem.motion_model=shear"],
                        ["problem.motion_model='shear'", "allowed: translation, rigid, affine"], True),
    "CT noise_level 1e300": (["problem=ct_fewview", "problem.size=16", "problem.views=8", "problem.noise_level=1e300"],
                             ["problem.noise_level=1e+300", "must be <= 10"], True),
    "CT photons 1e30": (["problem=ct_fewview", "problem.size=16", "problem.views=8", "problem.noise=poisson",
                         "problem.photons=1e30"], ["problem.photons=1e+30", "must be <= 1e+15"], True),
    "CT photons 1e-300": (["problem=ct_fewview", "problem.size=16", "problem.views=8", "problem.noise=poisson",
                           "problem.photons=1e-300"], ["problem.photons=1e-300 must be >= 1"], True),
    # malformed files
    "corrupt npz": (SR + ["problem.frames={d}/corrupt.npz"], ["frames: cannot read {d}/corrupt.npz",
                                                              ".npz from numpy.savez"], True),
    "motion JSON list": (SR + ["problem.frames={d}/frames.npz", "problem.true_motion={d}/motion_list.json"],
                         ["motion_list.json holds a JSON list", 'key "w"'], True),
    "motion JSON strings": (SR + ["problem.frames={d}/frames.npz", "problem.true_motion={d}/motion_text.json"],
                            ["motion_text.json", "must be numbers"], True),
    "motion JSON broken": (SR + ["problem.frames={d}/frames.npz", "problem.true_motion={d}/motion_bad.json"],
                           ["cannot read motion file {d}/motion_bad.json"], True),
    "text named .npy": (CT + ["problem.sinogram={d}/text.npy"], ["text.npy is not a NumPy .npy file",
                                                                 "numpy.save"], True),
    "object .npy": (CT + ["problem.sinogram={d}/sino_object.npy"], ["sino_object.npy"], True),
    # CT data that does not fit its geometry
    "sinogram transposed": (CT + ["problem.sinogram={d}/sino_T.npy"], ["looks transposed", "sinogram.T"], True),
    "more views than the file": (CT + ["problem.sinogram={d}/sino.npy", "problem.views=45"],
                                 ["problem.views=45 but the sinogram holds only 30 views",
                                  "problem.views=null to use all 30"], True),
    "sinogram sign": (CT + ["problem.sinogram={d}/sino_neg.npy"], ["< 0", "sign flipped"], True),
    "sinogram counts": (CT + ["problem.sinogram={d}/sino_counts.npy"], ["raw detector counts", "-log("], True),
    "detector too small": (CT + ["problem.sinogram={d}/sino_small.npy"], ["20 detector pixels",
                                                                          "less than the 32-voxel grid",
                                                                          "problem.size=20 reconstructs"], True),
    # typed values
    "figures=maybe": (["figures=maybe"], ["figures='maybe' must be true or false"], True),
    "progress=[]": (["progress=[]"], ["progress=[] must be true or false"], True),
    "omega text": (["problem.omega=[0,1,x,1]"], ["problem.omega=", "'x' is not a finite number", "4 numbers"], True),
    "SR omega text": (["problem=superres", "problem.omega=[0,1,0,one]"], ["problem.omega=", "'one'"], True),
    "scene centre text": (["problem=crab_detection", "problem.scene.centre=[a,100]"],
                          ["problem.scene.centre=", "'a' is not a finite number", "2 numbers"], True),
    "scene size text": (["problem=crab_detection", "problem.scene.size=[big,512]"],
                        ["problem.scene.size=", "'big' is not a finite integer"], True),
    # a user's config folder
    "config dir YAML": (["--config-dir", "{d}/cfg_yaml", "problem=mine"], ["--config-dir {d}/cfg_yaml: "
                        "{d}/cfg_yaml/problem/mine.yaml is not valid YAML: line 3, column 1: expected ','"], False),
    "config dir group": (["--config-dir={d}/cfg_typo"], ["folder 'probem' is not a config group",
                                                         "did you mean 'problem'?"], False),
    "config dir list": (["-cd", "{d}/cfg_list"], ["{d}/cfg_list/solver/mine.yaml holds a list"], False),
    "config dir missing": (["--config-dir", "{d}/nowhere"], ["--config-dir {d}/nowhere: no such folder"], False),
    "config dir default": (["--config-dir", "{d}/cfg_default", "problem=mine"],
                           ["In 'problem/mine': Could not find 'nosuch/thing'", "regrun --help"], False),
    "config dir option": (["--config-dir", "{d}/cfg_ok", "problem=yours"], ["unknown problem 'yours'",
                                                                             "ct_fewview, mine, motif_pose"],
                          False),
    # the command line itself
    "eval resolver": (["seed=${{eval:1+1}}"], ["Unsupported interpolation type eval", "'seed=${{eval:1+1}}'",
                                               "never code"], False),
    "missing reference": (["seed=${{nope}}"], ["'nope' not found"], False),
    "non-ASCII path": (["problem.data=files", "problem.template=/tmp/ä.png", "problem.reference=/tmp/ä.png"],
                       ["cannot parse 'problem.template=/tmp/ä.png'", "must be quoted",
                        "problem.template='/tmp/ä.png'"], False),
    "non-ASCII in a sweep": (["-m", "problem.data=files", "problem.template=/tmp/ä.png,/tmp/ö.png"],
                             ["cannot parse 'problem.template=/tmp/ä.png,/tmp/ö.png'", "must be quoted"], False),
    "typo in a group key": (["solver.optimiser=lm"], ["unknown config key 'solver.optimiser'",
                                                      "did you mean `solver.optimizer`"], False),
    "typo at the top": (["cg_iter=3"], ["did you mean `cg_iters`", "+cg_iter=3"], False),
    "finest_restart": (["solver=multilevel", "solver.finest_restart=maybe"],
                       ["solver.finest_restart='maybe'", "true, false or auto"], True),
    "malformed list": (["problem.omega=[0,1"], ["cannot parse 'problem.omega=[0,1'", "override syntax"], False),
}


def call(args, cwd, monkeypatch, capsys):
    proc = regrun_in_process(args, cwd, monkeypatch, capsys)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_2(case, data, tmp_path, monkeypatch, capsys):
    args, expected, started = CASES[case]
    args = [a.format(d=data) for a in args]
    args += [f for f in FAST if f.split("=")[0] not in {a.split("=")[0] for a in args}]
    code, out, err = call(args, tmp_path, monkeypatch, capsys)
    lines = err.strip().splitlines()
    assert code == 2, (code, err, out)
    assert "Traceback" not in err + out
    assert lines and lines[0].startswith("regrun: error: "), err
    # one line; once the run has started it also names the results file that records the failure
    assert len(lines) == 1, err
    recorded = " (results file: "
    assert (recorded in lines[0]) == started, lines[0]
    for fragment in expected:
        assert fragment.format(d=data) in lines[0], lines[0]
    files = list((tmp_path / "outputs").glob("*/*/results.h5*"))
    if started:
        assert len(files) == 1 and files[0].name == "results.h5", files
        attrs = load(files[0])["attrs"]
        assert lines[0].endswith(f"{recorded}{files[0]}, status failed)"), lines[0]
        assert attrs["status"] == "failed" and attrs["error"] == lines[0].removeprefix("regrun: error: ").split(
            recorded)[0]
    else:
        assert not files


def test_good_versions_of_the_files_pass_the_checks(data, tmp_path, monkeypatch, capsys):
    """The checks above do not refuse the same data in the right form."""
    code, out, err = call(CT + ["problem.sinogram=" + str(data / "sino.npy")] + FAST, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    code, out, err = call(["problem.data=files", f"problem.template={data}/ok.tif",
                           f"problem.reference={data}/ok.tif", "solver.max_iter=1"] + FAST,
                          tmp_path, monkeypatch, capsys)
    assert code == 0, err
    (tmp_path / "mine").mkdir()
    code, out, err = call(["--config-dir", str(data / "cfg_ok"), "problem=mine", "solver.max_iter=1"] + FAST,
                          tmp_path / "mine", monkeypatch, capsys)
    assert code == 0 and "regrun: multiscale_affine with " in out, err
    resolved = load(next((tmp_path / "mine" / "outputs").glob("*/*/results.h5")))["config"]["resolved"]
    assert OmegaConf.create(resolved).problem.synthetic.size == 16  # the user's option, not the shipped one


def test_the_real_command_quoted_non_ascii_path_reaches_the_file(tmp_path):
    """In a subprocess, as typed: the quoted form the hint gives is read as a path (here: not found)."""
    proc = subprocess.run([sys.executable, "-m", "regrun.cli", "problem.data=files", "problem.template='/tmp/ä.png'",
                           "problem.reference='/tmp/ä.png'", *FAST], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    first = proc.stderr.splitlines()[0].split(" (results file: ")[0]
    assert first == "regrun: error: image file not found: /tmp/ä.png", proc.stderr

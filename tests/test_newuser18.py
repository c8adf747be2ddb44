"""newuser18's pass on data of their own (session 33): what a fresh user met, each case failing on main."""
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from regrun.config import config_section
from regrun.context import RunContext
from regrun.monitor import Reporter

SEED = 9091


def _reporting_ctx(device):
    out = io.StringIO()
    reporter = Reporter(stream=out, progress=False, tty=io.StringIO())
    reporter.err = out  # warnings (err=True) into the same record
    return RunContext(device, torch.float64, 0, Path("."), reporter=reporter), out


def test_a_motion_model_candidate_does_not_say_the_frames_data_lines_again(device, tmp_path):
    # with problem.motion_model=auto each candidate model's copy read the frames again and said "not read as frames"
    # and "frames in the order of the numbers" a second and third time, after the run's evaluation
    from regrun.problems.superres import SuperRes

    scene = np.random.default_rng(SEED).uniform(0, 200, (12, 22)).astype(np.uint8)
    folder = tmp_path / "burst"
    folder.mkdir()
    for k in range(11):  # f0 ... f10: by name f10 sorts before f2, so the order is said
        Image.fromarray(scene[:, k:k + 12]).save(folder / f"f{k}.png")
    (folder / "notes.txt").write_text("taken at noon")
    ctx, out = _reporting_ctx(device)
    problem = SuperRes(config_section("problem", "superres", data="frames", frames=str(folder)), ctx)
    said = out.getvalue()
    assert said.count("frames in the order of the numbers in their names") == 1, said
    assert said.count("not read as frames") == 1, said
    copy = problem.with_changes({"motion_model": "rigid"})
    assert out.getvalue() == said, out.getvalue()[len(said):]
    assert copy.n_frames == problem.n_frames == 11


def test_frames_that_may_be_stacked_last_are_warned_about_when_read_not_after_the_solve(device, tmp_path):
    # (33, 27, 8) saved as MATLAB stacks 8 frames ran as 33 frames of 8x27 and the warning came at the end, after a
    # 22 s solve of frames that may be read along the wrong axis
    from regrun.problems.superres import SuperRes

    frames = np.random.default_rng(SEED).uniform(0, 1, (8, 33, 27))
    np.save(tmp_path / "stack_last.npy", np.moveaxis(frames, 0, -1))
    ctx, out = _reporting_ctx(device)
    problem = SuperRes(config_section("problem", "superres", data="frames", frames=str(tmp_path / "stack_last.npy")),
                       ctx)
    assert ("regrun: WARNING: stack_last.npy, shape (33, 27, 8), was read as (frames, rows, columns): 33 frames of "
            "8x27 pixels (width x height); if it holds 8 frames of 27x33") in out.getvalue(), out.getvalue()
    assert problem.layout_warning in problem.warnings({})  # and still in the run's warnings (summary.md)


def _two_disks_sinogram(views: int, bins: int) -> np.ndarray:
    """A parallel scan of two disks (one off the axis) made with numpy alone: (views, bins)."""
    theta = np.linspace(0, np.pi, views, endpoint=False)[:, None]
    u = np.arange(bins) - (bins - 1) / 2
    out = np.zeros((views, bins))
    for cx, cy, r in ((0.0, 0.0, 10.0), (6.0, -3.0, 3.0)):
        d = u - (cx * np.cos(theta) + cy * np.sin(theta))
        out += 2 * np.sqrt(np.clip(r * r - d * d, 0, None))
    return out


def test_ct_figures_of_your_sinogram_draw_the_truth_file_and_the_answer_as_stored(device, tmp_path, monkeypatch,
                                                                                  capsys):
    # the figure drew every image with x1 to the right and x2 up: a user's own truth file (and an answer read the
    # right way round, as reconstruction.npy holds it) came out a quarter turn from how the user saved it
    from cli_in_process import regrun_in_process

    from regrun.problems import ct_fewview

    truth = np.zeros((32, 32))
    truth[4:8, 6:20] = 1.0  # a bar near the top left, as saved (row 0 at the top)
    truth[10:22, 8:24] = 0.5
    np.save(tmp_path / "truth.npy", truth)
    np.save(tmp_path / "scan.npy", _two_disks_sinogram(30, 32))
    drawn = {}

    def keep(panels, path, **kwargs):
        drawn.update(panels=panels, suptitle=kwargs.get("suptitle"))
        return path

    monkeypatch.setattr(ct_fewview, "image_grid", keep)
    got = regrun_in_process(["problem=ct_fewview", "problem.data=file", "problem.sinogram=scan.npy",
                             "problem.truth_file=truth.npy", "solver=fbp", f"device={device.type}",
                             "hydra.run.dir=run"], tmp_path, monkeypatch, capsys)
    assert got.returncode == 0, got.stderr
    panels = {p["title"].split(",")[0]: p["image"] for p in drawn["panels"]}
    # plots.show_image draws imshow(image.T, origin="lower"): from the top, the rows of numpy.flipud(image.T)
    shown = lambda a: np.flipud(np.asarray(a).T)
    assert np.array_equal(shown(panels["ground truth (truth_file)"]), truth)
    assert np.allclose(shown(panels["fbp"]), np.load(tmp_path / "run" / "reconstruction.npy"))
    assert drawn["suptitle"].endswith("drawn as reconstruction.npy is stored (row 0 at the top)")
    assert panels["sinogram (u up"].shape == (30, 32)  # the sinogram keeps its own axes: (views, bins)


def test_a_fan_file_whose_detector_runs_the_other_way_is_warned_about(device, tmp_path):
    # a fan scan whose detector runs the other way against the rotation (newuser17's ray tracer) read at 12.9-16.8
    # dB against 27.63 the right way round, without a word: no turn or mirror of the image makes up for it, so the
    # truth file's orientation check could not see it. regrun's own fan scan, reversed, is such a file.
    import math

    from regrun.problems.ct_fewview import CTFewView
    from regrun.tomography.geometry import fan_beam
    from regrun.tomography.xray import XRayTransform

    n, views, bins = 32, 60, 48
    img = torch.zeros(n, n, dtype=torch.float64, device=device)
    img[6:12, 8:20] = 1.0  # off the axis, asymmetric: its opposite rays tell the detector's direction
    img[18:26, 20:24] = 0.6
    angles = torch.arange(views, dtype=torch.float64) * (2 * math.pi / views)
    geo = fan_beam((n, n), angles, bins, 1.5, 2.0 * n, 1.0 * n)
    sino = XRayTransform(geo, cache_mb=0).project(img).cpu().numpy()
    found = {}
    for name, data in (("right", sino), ("reversed", sino[:, ::-1].copy())):
        np.save(tmp_path / f"{name}.npy", data)
        cfg = config_section("problem", "ct_fewview", data="file", sinogram=str(tmp_path / f"{name}.npy"),
                             geometry="fan", size=n)
        problem = CTFewView(cfg, RunContext(device, torch.float64, 0, tmp_path))
        found[name] = (problem.fan_pairing, problem.fan_pairing_warning)
    right, reversed_ = found["right"][0], found["reversed"][0]
    assert right["as_read"] * 1.5 < right["reversed"] and found["right"][1] == ""
    assert reversed_["reversed"] * 1.5 < reversed_["as_read"]
    assert found["reversed"][1].startswith("problem.geometry=fan, but the sinogram's rays match the rays opposite "
                                           "them"), found["reversed"][1]
    assert "save numpy.fliplr(sinogram)" in found["reversed"][1]


def test_a_parallel_file_of_astras_detector_is_told_the_angle_start_that_gives_the_image_as_stored(device, tmp_path):
    # ASTRA's parallel scans start 90 degrees from regrun's as radon's do (N- and 1.5 N-bin ASTRA files fitted their
    # truth as stored at angle_start=90 and turned a quarter from 0); the views line named radon alone, and said
    # nothing for ASTRA's 1.5 N bins
    from regrun.problems.ct_fewview import CTFewView

    said = {}
    # N bins; 1.5 N; regrun's own ceil(sqrt(2) N) + 2, which is 1.5 N at N = 32 too and reads right from 0
    for size, bins in ((32, 32), (40, 60), (32, 48)):
        np.save(tmp_path / f"scan{bins}.npy", _two_disks_sinogram(30, bins))
        ctx, out = _reporting_ctx(device)
        CTFewView(config_section("problem", "ct_fewview", data="file", sinogram=str(tmp_path / f"scan{bins}.npy"),
                                 size=size), ctx)
        said[bins] = out.getvalue()
    assert ("; 60 bins is also the detector of ASTRA (1.5 N bins) for 40x40, whose angles start 90 degrees from "
            "regrun's: for a file from scikit-image's radon or ASTRA type problem.angle_start=90, which gives "
            "reconstruction.npy as radon's or ASTRA's input image was stored") in said[60], said[60]
    assert "32 bins is also the detector of scikit-image's radon(circle=True) and ASTRA (N bins)" in said[32]
    assert "angle_start=90" not in said[48], said[48]


def test_sr_figures_keep_a_truth_in_other_units_on_its_own_grey_range(device, tmp_path, monkeypatch, capsys):
    # a truth saved 0-1 beside 8-bit frames (warned: "the answer is 254 times problem.truth") drew the answer and
    # every frame white on the truth's range, and the colour figure's truth black on the answer's; a folder's frames
    # were titled frame 0-3 only
    from cli_in_process import regrun_in_process

    from regrun.problems import superres

    rng = np.random.default_rng(SEED)
    fine = np.cumsum(np.cumsum(rng.uniform(-1, 1, (22, 22)), 0), 1)
    fine = 20 + 200 * (fine - fine.min()) / np.ptp(fine)
    starts = ((0, 0), (1, 0), (0, 1), (1, 1))
    (tmp_path / "burst").mkdir()
    for k, (r, c) in enumerate(starts):  # shot1.png ...: the panels name the files too
        frame = fine[r:r + 16, c:c + 16].reshape(8, 2, 8, 2).mean((1, 3))
        Image.fromarray(frame.round().astype(np.uint8)).save(tmp_path / "burst" / f"shot{k + 1}.png")
    truth = fine[:16, :16] / 255.0  # the same scene in 0-1
    np.save(tmp_path / "truth.npy", truth)
    drawn = {}

    def keep(panels, path, **kwargs):
        drawn[Path(path).name] = panels
        return path

    monkeypatch.setattr(superres, "image_grid", keep)
    got = regrun_in_process(["problem=superres", "problem.data=frames", "problem.frames=burst",
                             "problem.truth=truth.npy", "problem.lambda_f=0.1", "problem.motion_model=translation",
                             "solver.max_iter=3", f"device={device.type}",
                             "hydra.run.dir=run"], tmp_path, monkeypatch, capsys)
    assert got.returncode == 0, got.stderr
    assert "times problem.truth" in got.stderr + got.stdout
    panels = {p["title"].split(",")[0].split(" (")[0]: p for p in drawn["superres.png"]}
    assert (panels["reference"]["vmin"], panels["reference"]["vmax"]) == (truth.min(), truth.max())
    rec = panels["reconstruction"]
    assert rec["vmax"] > 100 and rec["vmax"] == panels["frame 0: shot1.png"]["vmax"]  # the answer's own range
    assert "frame 3: shot4.png" in panels
    error = next(p for p in drawn["superres.png"] if p["title"].startswith("error"))
    assert "x truth: other units" in error["title"] and float(np.abs(error["image"]).max()) < 50

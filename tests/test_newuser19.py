"""newuser19's pass on data of their own (session 34): what a fresh user met, each case failing on main."""
import numpy as np
from PIL import Image

from cli_in_process import regrun_in_process

SEED = 7978


def _two_disks_sinogram(views: int = 12, bins: int = 24) -> np.ndarray:
    """A parallel scan of a disk with numpy alone: (views, bins), every view the same chord lengths."""
    u = np.arange(bins) - (bins - 1) / 2
    chord = 2 * np.sqrt(np.clip(6.0 ** 2 - u ** 2, 0, None))
    return np.tile(chord, (views, 1)) + 0.01 * np.random.default_rng(SEED).standard_normal((views, bins))


def test_a_stack_of_slices_for_a_parallel_beam_is_told_how_to_take_one_slice(tmp_path, monkeypatch, capsys):
    # a TIFF stack was told "save a 3-D array as .npy", and that .npy was refused for a parallel beam ("needs 2
    # dimensions"): each message now says how to take one slice's (views, n_u) sinogram out of either layout
    sino = _two_disks_sinogram()
    pages = [Image.fromarray(row[None, :].astype(np.float32).repeat(3, 0), mode="F") for row in sino]
    pages[0].save(tmp_path / "proj.tif", save_all=True, append_images=pages[1:])  # 12 pages of (3 rows, 24 bins)
    np.save(tmp_path / "stack.npy", np.stack([sino, sino]))
    for name in ("proj.tif", "stack.npy"):
        done = regrun_in_process(["problem=ct_fewview", "problem.data=file", f"problem.sinogram={name}",
                                  "solver=fista_tv", "solver.lam=1", "figures=false"], tmp_path, monkeypatch, capsys)
        err = done.stdout + done.stderr
        assert done.returncode == 2, err
        assert "a[:, k, :] if it is a detector's projections (views, rows, n_u)" in err, err
        assert "a[k] if the stack a is (slices, views, n_u)" in err, err
        assert "status failed" in err


def test_a_long_frame_title_is_wrapped_inside_its_cell_not_run_into_the_next(tmp_path):
    # a phone burst's names (IMG_20261207_081502_BURST001.png) ran each SR frame title into its neighbours'
    from PIL import ImageDraw

    from regrun.pil_draw import font, text_size
    from regrun.plots import image_grid

    image = np.random.default_rng(SEED).uniform(0, 1, (28, 20))
    short = [dict(image=image, title=f"frame {k}") for k in range(3)]
    long = [dict(image=image, title=f"frame {k}: IMG_20261207_081502_BURST00{k + 1}.png" + (" (reference pose)"
                                                                                           if k == 0 else ""))
            for k in range(3)]
    one = Image.open(image_grid(short, tmp_path / "short.png", ncols=3))
    wrapped = Image.open(image_grid(long, tmp_path / "long.png", ncols=3))
    assert wrapped.size[0] == one.size[0] and wrapped.size[1] > one.size[1]  # more title lines, cells as wide
    # every title pixel stays inside its own cell: the columns between cells (the colour bars' labels' right
    # margin, 10 px at each cell's right) hold no ink above the images
    cell_w = (one.size[0] - 10) // 3
    band = np.asarray(wrapped.convert("L"))[: wrapped.size[1] - one.size[1] + 22]
    for c in (1, 2):
        assert band[:, c * cell_w: c * cell_w + 10].min() == 255
    draw = ImageDraw.Draw(wrapped)
    from regrun.plots import _title_lines
    lines = _title_lines(draw, "IMG_20261207_081502_BURST001_a_very_long_name_without_spaces.png", font(13), 120)
    assert len(lines) == 1 and "..." in lines[0] and text_size(draw, lines[0], font(13))[0] <= 120


def test_colour_frames_noise_estimate_is_named_the_luminances(device, tmp_path):
    # RGB frames with 1% noise in each channel (2.55 of 255) were told "noise sigma 1.793 (estimated: weak-texture
    # patches of the frames) ... so the frames' noise is at most about 1.793": the estimate is of their luminance
    import torch

    import regrun.registration.superres_weight as sw
    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.problems.superres import SuperRes

    rng = np.random.default_rng(SEED)
    scene = rng.uniform(40, 200, (3, 16, 16))
    for name, grey in (("rgb", False), ("grey", True)):
        folder = tmp_path / name
        folder.mkdir()
        for k in range(4):
            frame = np.roll(scene, (k % 2, k // 2), axis=(1, 2))[:, 2:14, 2:14]
            frame = frame + 2.55 * rng.standard_normal(frame.shape)
            frame = np.clip(frame.mean(0) if grey else np.moveaxis(frame, 0, -1), 0, 255).astype(np.uint8)
            Image.fromarray(frame).save(folder / f"f{k}.png")
    ctx = RunContext(device, torch.float64, 0, tmp_path)
    sources = {}
    for name in ("rgb", "grey"):
        p = SuperRes(config_section("problem", "superres", data="frames", frames=str(tmp_path / name),
                                    lambda_f="auto", factor=2), ctx)
        w = ctx.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0] * 3)
        choice = sw.choose_superres_weight(p, w, p.weight_settings, torch.Generator().manual_seed(0))
        sources[name] = choice.noise_source
        assert choice.sigma > 0
    assert "luminance" in sources["rgb"] and "one channel's own noise is larger" in sources["rgb"], sources
    assert sources["grey"] == "estimated: weak-texture patches of the frames", sources
    from regrun.optim.parameter_choice import Choice
    note = sw.fit_noise_note(Choice(lam=0.1, rule="gcv", sigma=5.0, noise_source=sources["rgb"], solves=5,
                                    at_edge=False, details={"noise_std_fit": "3.0"}))
    assert "so the luminance's noise is at most about 3 " in note, note


def test_the_frame_of_another_scene_is_named_in_the_frames_check_warning(device, tmp_path):
    # a burst with one frame of another scene warned "a frame is not of this scene" without saying which; the
    # answer's residual names it (2.8x the other frames' median RMS on newuser19's burst; clean: at most 1.1x)
    import torch

    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.problems.superres import STRAY_FRAME_RATIO, SuperRes, frame_misfits

    rng = np.random.default_rng(SEED)
    residual = rng.standard_normal((5, 6, 7))
    residual[3] *= 3.0
    found = frame_misfits(residual)
    assert found["frames_misfit_worst"] == 3 and found["frames_misfit_worst_ratio"] > STRAY_FRAME_RATIO
    scene = rng.uniform(40, 200, (14, 14))
    for k in range(5):
        Image.fromarray(np.roll(scene, k, axis=1)[1:13, 1:13].astype(np.uint8)).save(tmp_path / f"shot{k + 1}.png")
    p = SuperRes(config_section("problem", "superres", data="frames", frames=str(tmp_path)),
                 RunContext(device, torch.float64, 0, tmp_path))
    metrics = {"frames_check_ratio": 1.9, "frames_check_ratio_1": 1.5, "frames_check_ratio_2": 2.4, **found}
    said = " ".join(p.warnings(metrics))
    assert "frame 3 (shot4.png) is fitted" in said and "leave it out" in said, said
    metrics.update(frames_misfit_worst_ratio=1.1)  # no frame stands out: none named
    assert "is fitted" not in " ".join(p.warnings(metrics))
    metrics.update(frames_check_ratio=0.3, frames_check_ratio_1=0.3, frames_check_ratio_2=0.3,
                   frames_misfit_worst_ratio=2.5)  # the check passes: nothing said about frames under 3x (newuser26)
    assert "is fitted" not in " ".join(p.warnings(metrics))


def test_a_files_own_angles_turned_by_angle_start_are_said_so(device, tmp_path, monkeypatch, capsys):
    # with the file's angles (0 to 165 degrees) and problem.angle_start=90, the views line said "0 to 165 degrees"
    # while every view was read 90 degrees on (/data/angles_deg 90, 105, ...)
    np.savez(tmp_path / "scan.npz", sinogram=_two_disks_sinogram(), angles=np.arange(12) * 15.0)
    done = regrun_in_process(["problem=ct_fewview", "problem.data=file", "problem.sinogram=scan.npz", "solver=fbp",
                              "problem.angle_start=90", "figures=false", f"device={device}"],
                             tmp_path, monkeypatch, capsys)
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert "its 12 angles ('angles', 0 to 165 degrees), each plus problem.angle_start=90" in said, said


def test_the_cv_noise_figure_and_the_moved_pick_are_said_as_they_are(device, tmp_path,
                                                                                                monkeypatch, capsys):
    # the held-out misfit against the views at the pixel model's resolution was called "an upper bound" of the
    # noise: 0.4619 where 0.479 was drawn (that reference keeps 0.806 of the noise's variance)
    import h5py

    np.save(tmp_path / "scan.npy", _two_disks_sinogram(views=16, bins=20))
    done = regrun_in_process(["problem=ct_fewview", "problem.data=file", "problem.sinogram=scan.npy",
                              "solver=fista_tv", "solver.iters=20", "figures=false", f"device={device}",
                              "hydra.run.dir=run"], tmp_path, monkeypatch, capsys)
    assert done.returncode == 0, done.stdout + done.stderr
    with h5py.File(tmp_path / "run" / "results.h5") as f:
        source = f["stats/noise_source"][()].decode()
        reference = f["stats/lam_cv_reference"][()].decode()
        moved = f["stats/lam_moved_by"][()].decode() if "lam_moved_by" in f["stats"] else ""
        plain, pick = float(f["stats/lam_cv_pick_plain"][()]), float(f["stats/lam_cv_pick"][()])
        lam = float(f["metrics/lam_chosen"][()])
    assert reference == "resolved", reference
    assert "an upper bound of the noise that reference keeps (" in source and "may be up to" in source, source
    # the chosen weight is not the drawn curve's pick (the ramp's re-pick, the dose scale): said beside it, as the
    # figure's legend and the summary read it ("chosen lam = 4.42" beside a curve lowest at 3.37, without a word)
    assert abs(pick / plain - 1) > 1e-3 and abs(lam / plain - 1) > 1e-3, (pick, plain, lam)
    assert moved.startswith(f"ramp-weighted re-pick {pick:.3g}") and moved.endswith(
        f"from this curve's pick {plain:.3g}"), moved
    assert f", then the {moved}" in done.stdout + done.stderr


def _float_rgb_tiff(path, rows: int = 4, cols: int = 5) -> None:
    """A little-endian TIFF of 3 float32 samples per pixel, one strip, chunky (as tifffile.imwrite writes a float32
    (rows, cols, 3) array; a (3, rows, cols) one the same in planes): a file Pillow cannot open."""
    import struct

    pixels = np.arange(rows * cols * 3, dtype="<f4").tobytes()
    entries = [(256, 3, 1, cols), (257, 3, 1, rows), (258, 3, 3, None), (259, 3, 1, 1), (262, 3, 1, 2),
               (273, 4, 1, None), (277, 3, 1, 3), (278, 3, 1, rows), (279, 4, 1, len(pixels)), (284, 3, 1, 1),
               (339, 3, 3, None)]
    ifd_at = 8
    extra_at = ifd_at + 2 + 12 * len(entries) + 4
    shorts3 = {258: struct.pack("<3H", 32, 32, 32), 339: struct.pack("<3H", 3, 3, 3)}
    extra, where = b"", {}
    for tag in (258, 339):
        where[tag] = extra_at + len(extra)
        extra += shorts3[tag] + b"\0\0"
    strip_at = extra_at + len(extra)
    out = b"II*\0" + struct.pack("<I", ifd_at) + struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        value = where.get(tag, strip_at if tag == 273 else value)
        out += struct.pack("<HHI", tag, kind, count) + (struct.pack("<HH", value, 0) if kind == 3 and count == 1
                                                         else struct.pack("<I", value))
    path.write_bytes(out + b"\0\0\0\0" + extra + pixels)


def test_a_float_tiff_of_three_samples_a_pixel_is_named_not_unidentified(tmp_path, monkeypatch, capsys):
    # tifffile writes a float32 stack of 3 slices as a 3-sample page, which Pillow cannot open: the message was
    # Pillow's "cannot identify image file"
    _float_rgb_tiff(tmp_path / "three.tif")
    done = regrun_in_process(["problem=ct_fewview", "problem.data=file", "problem.sinogram=three.tif", "solver=fbp",
                              "figures=false"], tmp_path, monkeypatch, capsys)
    said = done.stdout + done.stderr
    assert done.returncode == 2, said
    assert "its pixels hold 3 float samples each" in said and "save the array as .npy" in said, said


def test_a_long_moved_by_is_wrapped_in_the_curves_legend(tmp_path, monkeypatch):
    # CT's moved pick as one legend line 90 characters wide squeezed the curve's plot off the left of the figure
    import regrun.plots as plots
    from regrun.optim.parameter_choice import Choice, curve_figure

    made = []

    def keep(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    real = plots._figure
    monkeypatch.setattr(plots, "_figure", keep)
    lam = np.array([0.01, 0.1, 1.0, 3.37, 5.11, 10.0, 100.0])
    crit = np.array([0.37, 0.30, 0.235, 0.2133, 0.2147, 0.246, 1.26])
    moved = "ramp-weighted re-pick 4.42 (lam_cv_ramp_power 1.000) from this curve's pick 3.77"
    choice = Choice(lam=4.42, rule="cv", sigma=0.46, noise_source="cv: x", solves=10, at_edge=False,
                    curve={"lam": lam, "criterion": crit, "rss": crit, "trace": np.full(lam.size, np.nan)},
                    details={"lam_moved_by": moved})
    curve_figure(choice, tmp_path / "lam_curve.png")
    fig, axes = made[0]
    label = [t.get_text() for t in axes[0][0].get_legend().get_texts()][-1]
    assert label.replace("\n", " ") == f"chosen lam = 4.42 ({moved})"
    assert "\n" in label and max(map(len, label.split("\n"))) <= 60, label

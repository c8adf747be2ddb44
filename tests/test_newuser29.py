"""newuser29's pass from a fresh clone (session 41): data kinds the earlier passes had not tried; each case fails on
main (docs/ct.md, "A new user's pass (newuser29)")."""
import numpy as np
import pytest

SEED = 8046


def _disc_line_integrals(views: int = 24, n_u: int = 24) -> np.ndarray:
    u = np.arange(n_u) - (n_u - 1) / 2
    return np.tile(0.1 * 2 * np.sqrt(np.clip(7.0**2 - u**2, 0, None)), (views, 1))  # a centred disc of radius 7


def _ct(args, tmp_path, monkeypatch, capsys, device):
    from cli_in_process import regrun_in_process

    return regrun_in_process(["problem=ct_fewview", "problem.data=file", "problem.size=24", "solver=fbp",
                              "figures=false", f"device={device.type}", "hydra.run.dir=run", *args], tmp_path,
                             monkeypatch, capsys)


@pytest.mark.parametrize("zeros", [0, 3])
def test_a_transmission_sinogram_gets_the_line_that_takes_its_log(zeros, device, tmp_path, monkeypatch, capsys):
    # I/I0 in (0, 1] (Poisson noise lifts a few rays over 1) was told "these look like raw detector counts ...
    # -numpy.log(counts / flat), flat a flat-field scan's mean over its frames": a flat it had divided by already
    # (newuser29)
    rng = np.random.default_rng(SEED)
    trans = rng.poisson(1e4 * np.exp(-_disc_line_integrals())) / 1e4
    trans.flat[rng.choice(trans.size // 2, zeros, replace=False) + 10] = 0.0  # dead rays through the object
    np.save(tmp_path / "t.npy", trans)
    got = _ct(["problem.sinogram=t.npy"], tmp_path, monkeypatch, capsys, device)
    assert got.returncode == 2, got.stderr
    line = got.stderr.strip()
    assert "\n" not in line and "raw detector counts" not in line, line
    floor = f"{trans[trans > 0].min():.3g}"
    arg = f"numpy.clip(numpy.load('t.npy'), {floor}, None)" if zeros else "numpy.load('t.npy')"
    assert ("these look like transmission I/I0 (counts already divided by the flat field), not line integrals; "
            "give -log(I/I0)") in line and f"numpy.save('scan.npy', -numpy.log({arg}))" in line, line
    assert (f"its {zeros} values <= 0 are raised to its smallest positive one, {floor}" in line) == bool(zeros), line
    exec(f"import numpy\nnumpy.save({str(tmp_path / 'scan.npy')!r}, -numpy.log({arg.replace('t.npy', str(tmp_path / 't.npy'))}))")
    got = _ct(["problem.sinogram=scan.npy", "hydra.run.dir=run2"], tmp_path, monkeypatch, capsys, device)
    assert got.returncode == 0, got.stderr


def test_raw_counts_are_still_told_as_counts(device, tmp_path, monkeypatch, capsys):
    # the control: counts of 10^4 at the ends keep the counts' line and its flat-field advice
    np.save(tmp_path / "c.npy", 1e4 * np.exp(-_disc_line_integrals()))
    got = _ct(["problem.sinogram=c.npy"], tmp_path, monkeypatch, capsys, device)
    assert got.returncode == 2 and "these look like raw detector counts" in got.stderr, got.stderr
    assert "transmission" not in got.stderr, got.stderr


def test_a_report_names_a_refused_preset_its_reason_and_the_way_to_give_its_data(tmp_path, monkeypatch, capsys):
    # `regrun-report --quick REP` from a clone without ../shared/fair_data: "superres_fig5: exit 2 (log: ...)" and
    # at the end "1 of 19 presets without a run", exit 1; the reason (FAIR's images not found) only in the log
    # (newuser29)
    from regrun import report

    refused = ("regrun: error: job 0 (+experiment=superres_fig5): problem.data_dir=../shared/fair_data: no such "
               "folder; give problem.data_dir=PATH; no job started")

    class Sweep:
        def __init__(self, cmd, stdout=None, **kwargs):
            stdout.write("regrun: checking 1 job\n" + refused + "\n")

        def wait(self, timeout=None):
            return 2

    monkeypatch.setattr(report.subprocess, "Popen", Sweep)
    out = tmp_path / "rep"
    with pytest.raises(SystemExit) as end:
        report.main([str(out), "--quick", "--preset", "superres_fig5"])
    assert end.value.code == 1
    got = capsys.readouterr()
    assert (f"regrun-report: superres_fig5: exit 2 (log: {out / 'logs' / 'superres_fig5.log'}): error: job 0 "
            "(+experiment=superres_fig5): problem.data_dir=../shared/fair_data: no such folder") in got.err, got.err
    last = got.out.strip().splitlines()[-1]
    assert last.endswith(f"; 1 of 1 preset without a run (superres_fig5: refused, the reason above and in "
                         f"{out / 'logs'}); `regrun-report --quick --preset superres_fig5 {out} problem.data_dir=PATH` "
                         f"runs it on your copy of the data, then `regrun-report --collect --quick {out}` writes the "
                         "whole page"), last


def _blobs(angles_deg: np.ndarray, n_u: int = 49, axis: float = 0.0, noise: float = 0.0) -> np.ndarray:
    """A parallel scan (views, n_u) of Gaussian blobs off the axis, exact line integrals, bins 1 px apart, the
    rotation axis `axis` bins from the detector's centre."""
    u = np.arange(n_u) - (n_u - 1) / 2 - axis
    th = np.radians(angles_deg)[:, None]
    p = sum(a * np.exp(-(u - (x * np.cos(th) + y * np.sin(th))) ** 2 / (2 * s * s))
            for a, x, y, s in ((3.0, 5.0, 2.0, 2.5), (2.0, -4.0, -6.0, 1.5), (1.0, 0.0, 0.0, 7.0)))
    return p + noise * p.max() * np.random.default_rng(SEED).standard_normal(p.shape)


@pytest.mark.parametrize("incl, axis, noise", [(True, 0.0, 0.0), (True, 0.5, 0.003), (False, 0.5, 0.003),
                                               (False, 0.0, 0.0)])
def test_a_half_turn_measured_at_both_ends_is_named(incl, axis, noise, device, tmp_path, monkeypatch, capsys):
    # 61 views 0 to 180 degrees inclusive without angles (numpy.linspace(0, 180, 61)), the axis half a bin off the
    # detector's centre: FBP 29.55 dB without a word, 30.97 with the last view left out (newuser29); the same half
    # turn without its endpoint is not named
    np.save(tmp_path / "s.npy", _blobs(np.linspace(0, 180, 41, endpoint=incl), axis=axis, noise=noise))
    got = _ct(["problem.sinogram=s.npy"], tmp_path, monkeypatch, capsys, device)
    assert got.returncode == 0, got.stderr
    assert ("view 40 is view 0 mirrored about the rotation axis" in got.stderr) == incl, got.stderr
    if incl:
        assert ("a half turn measured at both ends, as numpy.linspace(0, 180, 41) gives, whose views stand 4.5 degrees "
                "apart? Leave the last view out of the file (a[:-1]), or save the views' angles with it") in got.stderr
    import h5py

    with h5py.File(tmp_path / "run" / "results.h5", "r") as f:
        ratio = float(f["data/repeated_end_mirrored"][()])
    assert ratio < 0.2 if incl else ratio > 0.7, ratio


def _burst(tmp_path, hot=(), dead=(), frames: int = 6) -> None:
    """16-bit PNG frames of 12x12 (a smooth scene shifted by whole fine pixels, 1% noise) into tmp_path/f, with hot
    pixels at 65535 and dead ones at 0 at the (row, column) given, as stored, in every frame."""
    from PIL import Image
    from scipy import ndimage

    rng = np.random.default_rng(9872)
    field = ndimage.gaussian_filter(rng.standard_normal((24, 24)), 4.0, mode="wrap")
    fine = 0.3 + 0.4 * (field - field.min()) / np.ptp(field)
    (tmp_path / "f").mkdir()
    for k in range(frames):
        frame = np.roll(np.roll(fine, k % 3, axis=1), k // 3, axis=0).reshape(12, 2, 12, 2).mean((1, 3))
        frame = np.clip(frame + rng.normal(0, 0.01, frame.shape), 0, 1)
        for r, c in hot:
            frame[r, c] = 1.0
        for r, c in dead:
            frame[r, c] = 0.0
        Image.fromarray(np.round(frame * 65535).astype(np.uint16)).save(tmp_path / "f" / f"f{k}.png")


def _superres(device, tmp_path, **extra):
    import torch

    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.problems.superres import SuperRes

    cfg = config_section("problem", "superres", data="frames", frames=str(tmp_path / "f"), **extra)
    return SuperRes(cfg, RunContext(device, torch.float64, 0, tmp_path))


@pytest.mark.parametrize("how", ["keep", "fill"])
def test_hot_and_dead_pixels_of_a_camera_are_named_and_filled_on_request(how, device, tmp_path, capsys):
    # 12 frames of 32x32 with 5 pixels stuck at 65535 and 3 warm ones: 13.80 dB against bicubic's 15.09 without a
    # word (clean: 28.64); named, and with problem.hot_pixels=fill 28.38 (newuser29). One hot pixel on the top edge,
    # one in the middle, a dead one beside the left edge
    from regrun.imaging.io import from_fair_layout

    _burst(tmp_path, hot=[(0, 5), (6, 7)], dead=[(4, 1)])
    p = _superres(device, tmp_path, hot_pixels=how)
    err = capsys.readouterr()
    assert p.hot_pixels.tolist() == [[0, 5], [4, 1], [6, 7]]
    said = ("3 pixels of the frames, at (row, column) (0, 5), (4, 1), (6, 7) (row 0 at the top), read far above or "
            "below their 8 neighbours in every frame: a camera's hot or dead pixels, fixed to the sensor while the "
            "scene moves (/data/hot_pixels)")
    frames = np.stack([from_fair_layout(f) for f in p.frames().cpu().numpy()])
    if how == "keep":
        assert f"regrun: WARNING: {said}; the answer draws them as scene: problem.hot_pixels=fill" in err.err, err
        assert np.all(frames[:, 0, 5] == 65535) and np.all(frames[:, 4, 1] == 0)
    else:
        assert p.hot_warning == "" and 0.15 * 65535 < frames[:, 0, 5].min() and frames[:, 0, 5].max() < 0.85 * 65535
        assert 0.15 * 65535 < frames[:, 4, 1].min()


def test_clean_frames_name_no_hot_pixel(device, tmp_path, capsys):
    # the control: the same burst without defects (and a linear ramp, exact for the neighbours' prediction at the
    # edges, where the median of an edge pixel's 5 neighbours had named a seen clock's ramp)
    from regrun.imaging.hot_pixels import find_hot_pixels

    _burst(tmp_path)
    p = _superres(device, tmp_path)
    assert p.hot_pixels is None and p.hot_warning == "" and "hot or dead" not in capsys.readouterr().err
    ramp = np.add.outer(np.arange(10.0), 3 * np.arange(12.0))
    noisy = ramp + np.random.default_rng(9872).normal(0, 0.01, (6, 10, 12))
    assert not find_hot_pixels(noisy).any()
    noisy[:, 0, 0] += 5.0  # a hot pixel at a corner
    assert np.argwhere(find_hot_pixels(noisy)).tolist() == [[0, 0]]


def test_the_fill_is_said_and_recorded_in_a_run(device, tmp_path, monkeypatch, capsys):
    import h5py
    from cli_in_process import regrun_in_process

    _burst(tmp_path, hot=[(6, 7)])
    got = regrun_in_process(["problem=superres", "problem.data=frames", "problem.frames=f", "problem.hot_pixels=fill",
                             "problem.lambda_f=0.1", "solver.max_iter=1", "problem.motion_model=translation",
                             "figures=false", f"device={device.type}", "hydra.run.dir=run"], tmp_path, monkeypatch,
                            capsys)
    assert got.returncode == 0, got.stderr
    assert ("regrun: problem.hot_pixels=fill: 1 pixel of the frames, at (row, column) (6, 7) (row 0 at the top), read "
            "far above or below its 8 neighbours in every frame: a camera's hot or dead pixel, fixed to the sensor "
            "while the scene moves (/data/hot_pixels), each replaced by its neighbours' median in every frame"
            ) in got.stdout, got.stdout
    assert "hot or dead" not in got.stderr, got.stderr
    with h5py.File(tmp_path / "run" / "results.h5", "r") as f:
        assert f["data/hot_pixels"][()].tolist() == [[6, 7]]


@pytest.mark.parametrize("raw", [True, False])
def test_a_raw_bayer_burst_read_as_grey_is_named(raw, device, tmp_path, capsys):
    # an RGGB raw burst (12-bit, in an HDF5 file at entry/burst/raw) ran as a grey scene without a word: 23.36 dB against
    # the grey truth, the same burst in RGB 35.84 (newuser29); the control is the same frames' luminance
    import h5py
    from scipy import ndimage

    rng = np.random.default_rng(9873)
    fine = ndimage.gaussian_filter(rng.uniform(0, 1, (48, 48, 3)), (4, 4, 0), mode="wrap")
    fine = 0.2 + 0.6 * (fine - fine.min((0, 1))) / np.ptp(fine, (0, 1)) * np.array([1.0, 0.6, 0.3])  # a warm scene
    rgb = np.stack([np.roll(fine, (k % 3, k // 3), (0, 1)).reshape(24, 2, 24, 2, 3).mean((1, 3)) for k in range(6)])
    rgb = rgb + rng.normal(0, 0.01, rgb.shape)
    grey = rgb.mean(-1)
    if raw:
        grey[:, 0::2, 0::2], grey[:, 0::2, 1::2] = rgb[:, 0::2, 0::2, 0], rgb[:, 0::2, 1::2, 1]
        grey[:, 1::2, 0::2], grey[:, 1::2, 1::2] = rgb[:, 1::2, 0::2, 1], rgb[:, 1::2, 1::2, 2]
    with h5py.File(tmp_path / "burst.h5", "w") as f:
        f["entry/burst/raw"] = np.round(grey * 4095).astype(np.uint16)
    import torch

    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.problems.superres import SuperRes

    cfg = config_section("problem", "superres", data="frames", frames=str(tmp_path / "burst.h5"),
                         frames_key="entry/burst/raw")
    p = SuperRes(cfg, RunContext(device, torch.float64, 0, tmp_path))
    said = "a raw Bayer mosaic read as one grey channel? regrun solves it as a grey scene"
    assert (said in capsys.readouterr().err) == raw and bool(p.mosaic_warning) == raw


def test_a_view_mirrored_about_its_centre_is_the_view_reversed_on_its_device(device):
    """mirrored_view about the detector's centre bin is the view flipped, exactly, and stays on the run's device;
    half a bin off, each bin is the mean of its two mirrored neighbours; past the detector's ends it is zero."""
    import torch

    from regrun.tomography.axis import mirrored_view

    view = torch.arange(7, dtype=torch.float64, device=device) ** 2
    out = mirrored_view(view, 3.0)
    assert out.device == view.device
    torch.testing.assert_close(out, view.flip(0))
    half = mirrored_view(view, 3.25)  # bin i sees 6.5 - i: the mean of bins 6 - i and 7 - i, zero past the end
    expect = torch.tensor([(36 + 0) / 2, (25 + 36) / 2, (16 + 25) / 2, (9 + 16) / 2, (4 + 9) / 2, (1 + 4) / 2,
                           (0 + 1) / 2], dtype=torch.float64, device=device)
    torch.testing.assert_close(half, expect)

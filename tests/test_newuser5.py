"""A new user's afternoon with data of kinds not tried before (newuser5), each rough edge as a test that failed
before its fix (docs/sweeps.md, "A new user's afternoon (newuser5)")."""
from __future__ import annotations

import numpy as np
import pytest

from regrun.errors import UserError
from tests.cli_in_process import regrun_in_process


def _frames(n=3, shape=(6, 5)):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, shape, dtype=np.uint8) for _ in range(n)]


def test_frames_from_one_multipage_tiff_an_animated_gif_or_png_and_a_gif_folder(tmp_path):
    # one file holding every frame (an ImageJ TIFF stack, an animated GIF/PNG) was refused as "must be a folder
    # of images or a .npy/.npz/.h5 file", a folder of GIFs as "no image files"
    from PIL import Image

    from regrun.imaging.io import read_frames

    frames = _frames()
    ims = [Image.fromarray(f) for f in frames]
    (tmp_path / "png").mkdir()
    (tmp_path / "gif").mkdir()
    for k, im in enumerate(ims):
        im.save(tmp_path / "png" / f"f{k}.png")
        im.save(tmp_path / "gif" / f"f{k}.gif")
    want = read_frames(tmp_path / "png")
    assert want.shape == (3, 5, 6)
    for name in ("stack.tif", "anim.gif", "anim.png"):
        ims[0].save(tmp_path / name, save_all=True, append_images=ims[1:])
        np.testing.assert_array_equal(read_frames(tmp_path / name), want, err_msg=name)
    np.testing.assert_array_equal(read_frames(tmp_path / "gif"), want)
    ims[0].save(tmp_path / "sizes.tif", save_all=True, append_images=[ims[1], Image.fromarray(frames[2][:5])])
    with pytest.raises(UserError, match=r"page 2 of .*sizes.tif has shape \(5, 5\), page 0 \(6, 5\) \(rows, columns"):
        read_frames(tmp_path / "sizes.tif")
    ims[0].save(tmp_path / "one.tif")
    with pytest.raises(UserError, match="is one image of one page; the frames are a folder"):
        read_frames(tmp_path / "one.tif")


def test_frames_with_transparent_pixels_are_refused_naming_the_opaque_part(tmp_path):
    # a burst with a 3 px transparent black border (a stabiliser's export) completed at 10.8 dB against 32.2
    # opaque: the alpha was dropped and the black border read as data
    from PIL import Image

    from regrun.imaging.io import read_frames

    frames = _frames(shape=(10, 12))
    for k, f in enumerate(frames):
        rgba = np.dstack([f, f, f, np.full_like(f, 255)])
        Image.fromarray(rgba, "RGBA").save(tmp_path / f"f{k}.png")
    np.testing.assert_array_equal(read_frames(tmp_path), np.stack([np.flipud(f).T for f in frames]))  # opaque
    rgba[:2, :, 3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "f2.png")
    with pytest.raises(UserError, match=r"f2.png: 24 of 120 pixels are fully transparent .*opaque part is rows 2-9, "
                                        r"columns 0-11: regrun reads colour only"):
        read_frames(tmp_path)
    rgba[:2, :, 3] = 128  # translucent, not clear: the colour is there and is read
    Image.fromarray(rgba, "RGBA").save(tmp_path / "f2.png")
    np.testing.assert_array_equal(read_frames(tmp_path)[2], np.flipud(frames[2]).T)
    Image.fromarray(np.dstack([frames[2], np.zeros_like(frames[2])]), "LA").save(tmp_path / "f2.png")
    with pytest.raises(UserError, match="transparent everywhere"):
        read_frames(tmp_path)


def test_an_h5_array_inside_groups_is_read_by_its_path_and_listed_with_the_setting_to_name_it(tmp_path):
    # a NeXus-style file (entry/data/data) was "keys found: entry", and problem.sinogram_key=entry/data/data
    # "holds no array"
    import h5py

    from regrun.imaging.io import read_array, read_optional_array

    with h5py.File(tmp_path / "s.h5", "w") as f:
        f["entry/data/data"] = np.arange(12.0).reshape(3, 4)
        f["entry/data/rotation_angle"] = np.array([0.0, 60.0, 120.0])
    with pytest.raises(UserError, match=r"holds no array 'sinogram' \(the problem.sinogram\); keys found: "
                                        r"entry/data/data, entry/data/rotation_angle \(shapes \(3, 4\), \(3,\)\): "
                                        r"name it with problem.sinogram_key=NAME, e.g. problem.sinogram_key="
                                        r"entry/data/data$"):
        read_array(tmp_path / "s.h5", "sinogram", "problem.sinogram")
    np.testing.assert_array_equal(read_array(tmp_path / "s.h5", "/entry/data/data", "problem.sinogram"),
                                  np.arange(12.0).reshape(3, 4))
    assert read_optional_array(tmp_path / "s.h5", "entry/data/rotation_angle", "problem.angles_key").tolist() == \
        [0.0, 60.0, 120.0]


@pytest.mark.parametrize("args, said", [
    # added a key nothing reads: the run completed at the default factor without a word
    (["problem=superres", "+problem.factr=2"], "+problem.factr=2 adds a key problem=superres does not have, and "
                                                "nothing would read it; did you mean `problem.factor`?"),
    (["problem=superres", "++solver.max_iters=3"], "did you mean `solver.max_iter`?"),
    # Hydra's "Could not delete" in three lines and exit 1; a real key removed failed the run on "not in struct"
    (["problem=superres", "~problem.nosie"], "~problem.nosie: there is no key problem.nosie to remove; did you "
                                             "mean `problem.noise`?"),
    (["problem=superres", "~problem.noise"], "~problem.noise removes a key regrun reads"),
    (["-m", "problem=superres", "+problem.factr=2,3"], "+problem.factr=2,3 adds a key problem=superres does not"),
    # a misspelt option beside --explain: a traceback and exit 1
    (["--explain", "problem", "problem=superess"], "unknown problem 'superess'; did you mean 'superres'?; valid "
                                                   "problems: crab_detection"),
    (["device=CPU"], "unknown device 'CPU'; did you mean 'cpu'?; valid devices: auto, cpu, cuda"),
    # torch's spelling of a GPU by index was answered "did you mean 'cuda'?", which runs on GPU 0
    (["device=cuda:1"], "unknown device 'cuda:1': a GPU is picked by its index with device=cuda device.index=1"),
    # a preset without its + ("unknown config key 'experiment'"), several values without -m (the sweep's way cut)
    (["experiment=registration_fig2"], "experiment is a group a run adds: write +experiment=registration_fig2"),
    (["seed=1,2"], "seed=1,2 gives several values: add -m to run one job per value (a sweep, regrun -m ... seed=1,2),"
                   " or write seed=[1,2] for one list"),
    (["--config-name=mine"], "--config-name mine: regrun has one primary config (config); options of your own go"),
    # a sweep's launcher typo: Hydra's twelve lines and exit 1
    (["-m", "hydra/launcher=jobib", "seed=1,2"], "unknown launcher hydra/launcher=jobib; did you mean 'joblib'? "
                                                 "(valid: basic, joblib,"),
])
def test_keys_added_or_removed_and_a_launcher_typo_are_one_line(args, said, tmp_path, monkeypatch, capsys):
    result = regrun_in_process(args + [f"hydra.run.dir={tmp_path / 'r'}", f"hydra.sweep.dir={tmp_path / 's'}"],
                               tmp_path, monkeypatch, capsys)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and said in lines[0], result.stderr
    assert not (tmp_path / "r").exists() and not (tmp_path / "s").exists()


def test_an_integer_setting_written_1e3_says_what_to_write():
    from regrun.errors import check_int

    with pytest.raises(UserError, match=r"solver.max_iter=1000.0 must be an integer >= 0 \(written with a point "
                                        r"or an exponent it reads as a float: write 1000\)$"):
        check_int("solver.max_iter", 1000.0)
    with pytest.raises(UserError, match=r"must be an integer >= 1$"):
        check_int("problem.factor", 2.5, 1)


def test_frames_in_an_h5_under_another_name_say_how_to_name_them(tmp_path):
    # "holds no array 'frames'; keys found: exchange" and no setting names another array: the user was left to guess;
    # newuser5's hint linked them as 'frames' in the user's file, and since newuser17 problem.frames_key names them
    import h5py

    from regrun.imaging.io import read_frames

    with h5py.File(tmp_path / "f.h5", "w") as f:
        f["exchange/data"] = np.arange(60.0).reshape(2, 6, 5)
    with pytest.raises(UserError, match=r"keys found: exchange/data \(shapes \(2, 6, 5\)\): name it with "
                                        r"problem.frames_key=NAME, e.g. problem.frames_key=exchange/data$"):
        read_frames(tmp_path / "f.h5")
    assert read_frames(tmp_path / "f.h5", key="exchange/data").shape == (2, 5, 6)


def test_a_stack_where_one_image_is_read_is_refused(tmp_path):
    # a TIFF stack given as a registration image (or a truth, or inside a frames folder) was read as its first page
    from PIL import Image

    from regrun.imaging.io import read_frames, read_image, read_truth

    ims = [Image.fromarray(f) for f in _frames()]
    ims[0].save(tmp_path / "stack.tif", save_all=True, append_images=ims[1:])
    for read in (read_image, read_truth):
        with pytest.raises(UserError, match=r"stack.tif has 3 pages \(a stack or an animation\) where one image is "
                                            r"read: save the page meant as a file of its own"):
            read(tmp_path / "stack.tif")
    (tmp_path / "frames").mkdir()
    ims[0].save(tmp_path / "frames" / "f0.tif", save_all=True, append_images=ims[1:])
    ims[1].save(tmp_path / "frames" / "f1.tif")
    with pytest.raises(UserError, match="f0.tif has 3 pages"):
        read_frames(tmp_path / "frames")

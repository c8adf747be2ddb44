"""Crab templates (tree, synthetic, refine_data) and scene generation."""
from pathlib import Path

import pytest
import torch

from regrun.errors import UserError
from regrun.detection.crab_data import (CRAB_TREE, depth_first_order, leaves_of, load_template, palette_template,
                                      read_palette, read_rgba, refine_crab, synthetic_crab)
from regrun.detection.scenes import (BEACH_CROP, PAPER_CENTRE, beach_background, clutter_background, compose_scene,
                                   downscale_scene, image_scene, paper_scene, part_ranges,
                                   random_pose)
from detection_checks import assert_template_decomposes

REFINE = Path(__file__).resolve().parents[1].parent / "shared" / "refine_data"


@pytest.fixture
def refine_data():
    if not (REFINE / "crab.png").is_file():
        pytest.skip("../shared/refine_data is not present")
    return str(REFINE)


def test_tree_is_processed_deepest_first():
    order = depth_first_order(CRAB_TREE, "crab")
    assert order[-1] == ("crab", 0)
    assert [n for n, d in order if d == 2] == ["left_eye", "right_eye"]
    assert [d for _, d in order] == sorted((d for _, d in order), reverse=True)
    assert leaves_of(CRAB_TREE, "crab") == ["left_claw", "right_claw", "left_eye", "right_eye"]




def test_synthetic_template_decomposes_and_is_deterministic():
    t = synthetic_crab(0)
    assert set(t.parts) == set(leaves_of(t.tree, t.root)) and t.size == (184, 246)
    assert_template_decomposes(t)
    assert torch.equal(synthetic_crab(0).image, t.image) and not torch.equal(synthetic_crab(1).image, t.image)
    assert_template_decomposes(t.downscaled(2))
    assert t.downscaled(2).size == (92, 123)


def test_unrotated_scene_contains_the_template_exactly(device):
    t = synthetic_crab(0)
    bg = clutter_background((240, 300), torch.Generator().manual_seed(0)).to(device)
    top = (30, 20)
    s = compose_scene(t, bg, (top[0] + t.centre[0], top[1] + t.centre[1]))
    window = s.image[:, top[0]:top[0] + 184, top[1]:top[1] + 246]
    m = t.mask.to(device) > 0
    assert torch.allclose(window[:, m], t.image.to(device)[:, m], atol=1e-12)
    assert s.image.device.type == device.type
    outside = torch.ones_like(s.image[0], dtype=torch.bool)
    outside[top[0]:top[0] + 184, top[1]:top[1] + 246] = ~m
    assert torch.equal(s.image[:, outside], bg[:, outside])


def test_articulation_moves_only_the_parts_and_reports_them():
    t = synthetic_crab(0)
    bg = torch.zeros(3, 260, 320, dtype=torch.float64)
    still = compose_scene(t, bg, (130.0, 160.0), 10.0)
    moved = compose_scene(t, bg, (130.0, 160.0), 10.0, {"left_claw": 15.0, "right_eye": -5.0})
    diff = (still.image - moved.image).abs().sum(0) > 1e-9
    assert diff.any()
    # the changes sit around the two moved parts only
    rows, cols = torch.nonzero(diff, as_tuple=True)
    lc, re = moved.truth.parts["left_claw"], moved.truth.parts["right_eye"]
    near = lambda p, r: ((rows - p[0]) ** 2 + (cols - p[1]) ** 2 <= r * r)  # noqa: E731
    assert bool((near(lc, 80) | near(re, 100)).all())
    assert moved.truth.parts["left_claw"][2] == 25.0 and moved.truth.parts["right_claw"][2] == 10.0
    assert still.truth.parts["left_claw"][:2] == moved.truth.parts["left_claw"][:2]  # the pivot does not move


def test_negatives_random_poses_and_downscale():
    g = torch.Generator().manual_seed(3)
    t = synthetic_crab(0)
    bg = clutter_background((192, 256), g)
    assert bg.shape == (3, 192, 256) and 0 <= float(bg.min()) and float(bg.max()) <= 1
    centre, angle, art = random_pose(g, (384, 512), t, 45.0, part_ranges(t.parts, {"claw": 15.0, "eye": 5.0}))
    assert abs(angle) <= 45 and all(abs(v) <= 15 for v in art.values())
    assert abs(art["left_eye"]) <= 5 and 0 <= centre[0] < 384
    s = compose_scene(t, clutter_background((384, 512), g), centre, angle, art)
    half = downscale_scene(s, 2)
    assert half.image.shape == (3, 192, 256)
    assert half.truth.centre == pytest.approx(((centre[0] - 0.5) / 2, (centre[1] - 0.5) / 2))


def test_bad_inputs_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="problem.template='crabby'"):
        load_template("crabby")
    with pytest.raises(UserError, match="no crab.png"):
        refine_crab(str(tmp_path))
    with pytest.raises(UserError, match="no beach_bg.jpg"):
        beach_background(str(tmp_path), (10, 10))
    with pytest.raises(UserError, match="image file not found"):
        image_scene(str(tmp_path / "none.png"))


def test_refine_crab_motifs_are_located_exactly(refine_data):
    for version, offsets in (("v1", {"left_claw": (50, 0), "right_claw": (60, 186), "left_eye": (1, 84),
                                     "right_eye": (0, 126)}),
                             ("head", {"left_claw": (50, 0), "right_claw": (60, 199), "left_eye": (1, 92),
                                       "right_eye": (0, 127)})):
        t = refine_crab(refine_data, version)
        assert {k: p.offset for k, p in t.parts.items()} == offsets
        assert_template_decomposes(t)
    assert refine_crab(refine_data, "head").parts["left_claw"].pivot == (51.0, 38.0)


def test_generated_scene_reproduces_the_papers_scene(refine_data):
    """Our renderer, the v1 crab and the paper's crop/centre/angle convention remake Fig. 3's 7.5 deg scene."""
    t = refine_crab(refine_data, "v1")
    bg = beach_background(refine_data, (384, 512), BEACH_CROP)
    ours = compose_scene(t, bg, PAPER_CENTRE, 7.5).image
    paper = paper_scene(refine_data, 7.5, t)
    assert float((ours - paper.image).abs().mean()) < 2e-3  # measured 8.5e-4 (JPEG decoding); -7.5 deg: 0.033
    assert paper.truth.parts["right_claw"][0] > PAPER_CENTRE[0]  # clockwise: the right claw drops
    with pytest.raises(UserError, match="has no paper scene"):
        paper_scene(refine_data, 10.0)


def test_a_palette_file_is_matched_through_its_own_colours(tmp_path, device):
    """read_palette: the colours a palette PNG's pixels use (None for an RGB file); palette_template: every pixel
    of the template's image, body and parts becomes its nearest palette colour, which is what PIL's quantize
    stored for nearly every pixel (measured: 99.9% of the crab's at 64 colours, 97% at 256; the rest one entry
    over), so the mapped template is within far less of the file than the template itself (detimg)."""
    import dataclasses

    import numpy as np
    from PIL import Image

    t = synthetic_crab()
    rgb = (t.image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    def q(x):  # the template's 8-bit colours, as an RGB file of it holds them
        return (x * 255).round() / 255
    t = dataclasses.replace(t, image=q(t.image), body=q(t.body), parts={
        k: dataclasses.replace(p, image=q(p.image)) for k, p in t.parts.items()}).to(device)
    Image.fromarray(rgb).quantize(64).save(tmp_path / "p.png")
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    assert read_palette(tmp_path / "rgb.png") is None
    pal = read_palette(tmp_path / "p.png")
    assert pal.shape[1] == 3 and 0 < len(pal) <= 64
    mapped = palette_template(t, torch.from_numpy(pal))
    held = torch.from_numpy(read_rgba(tmp_path / "p.png")[0]).to(device)
    m = t.mask > 0.5
    assert mapped.name == "synthetic_palette" and mapped.image.device.type == device.type
    assert float((mapped.image[:, m] == held[:, m]).all(0).double().mean()) > 0.99
    assert float((mapped.image - held)[:, m].abs().mean()) < 0.1 * float((t.image - held)[:, m].abs().mean())
    for k, part in mapped.parts.items():  # each part's pixels as the whole image's, its mask unchanged
        o, pm = part.offset, part.mask > 0.5
        window = mapped.image[:, o[0]:o[0] + part.size[0], o[1]:o[1] + part.size[1]]
        assert torch.equal(part.image[:, pm], window[:, pm]) and torch.equal(part.mask, t.parts[k].mask)


def test_read_rgba_gives_each_byte_over_255_in_every_mode(tmp_path):
    """read_rgba turns the bytes channel-first before the float64 conversion (detfast2): the values must be
    bit for bit those of the float-first conversion, x / 255.0, for every mode PIL converts to RGBA."""
    import numpy as np
    from PIL import Image

    from regrun.detection.crab_data import read_rgba

    rgba = (np.random.default_rng(0).random((7, 9, 4)) * 255).astype(np.uint8)
    images = {"rgba.png": Image.fromarray(rgba, "RGBA"), "la.png": Image.fromarray(rgba[..., :2].copy(), "LA"),
              "rgb.png": Image.fromarray(rgba[..., :3].copy()), "l.png": Image.fromarray(rgba[..., 0].copy()),
              "cmyk.tif": Image.fromarray(rgba[..., :3].copy()).convert("CMYK")}
    for name, img in images.items():
        img.save(tmp_path / name)
        with Image.open(tmp_path / name) as f:
            ref = np.asarray(f.convert("RGBA"), dtype=np.float64) / 255.0
        rgb, alpha = read_rgba(tmp_path / name)
        assert rgb.flags.c_contiguous and rgb.dtype == alpha.dtype == np.float64
        assert rgb.tobytes() == np.ascontiguousarray(ref[..., :3].transpose(2, 0, 1)).tobytes(), name
        assert alpha.tobytes() == np.ascontiguousarray(ref[..., 3]).tobytes(), name

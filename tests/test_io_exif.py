"""Images are read as a viewer shows them: a phone's portrait shot stores its pixels turned with an EXIF
orientation tag (ux4: a pair read 756x1008 against 1008x756 and was refused as of different sizes)."""
from __future__ import annotations

import numpy as np
from PIL import Image

from regrun.imaging.io import image_size, read_image, read_image_channels


def test_exif_orientation_is_applied(tmp_path):
    rng = np.random.default_rng(3)
    upright = (rng.random((30, 40, 3)) * 255).astype(np.uint8)  # 40 wide, 30 tall, as the viewer shows it
    Image.fromarray(upright).save(tmp_path / "plain.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90 degrees clockwise to view": the pixels are stored turned the other way
    Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90).save(tmp_path / "phone.png", exif=exif)
    assert image_size(tmp_path / "phone.png") == (40, 30)
    np.testing.assert_array_equal(read_image(tmp_path / "phone.png"), read_image(tmp_path / "plain.png"))
    np.testing.assert_array_equal(read_image_channels(tmp_path / "phone.png"),
                                  read_image_channels(tmp_path / "plain.png"))
    np.testing.assert_array_equal(read_image(tmp_path / "phone.png", resize=16),
                                  read_image(tmp_path / "plain.png", resize=16))


def test_detection_reads_a_phone_photo_upright(tmp_path):
    """The detector's own reader (crab_data.read_rgba: alpha and deep modes) turns by the EXIF tag too (ux4: the
    fix had not reached detection's scenes)."""
    from regrun.detection.crab_data import read_rgba

    rng = np.random.default_rng(4)
    upright = (rng.random((30, 40, 3)) * 255).astype(np.uint8)
    Image.fromarray(upright).save(tmp_path / "plain.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90).save(tmp_path / "phone.png", exif=exif)
    rgb, alpha = read_rgba(tmp_path / "phone.png")
    plain, _ = read_rgba(tmp_path / "plain.png")
    assert rgb.shape == plain.shape == (3, 30, 40) and alpha.shape == (30, 40)
    np.testing.assert_array_equal(rgb, plain)

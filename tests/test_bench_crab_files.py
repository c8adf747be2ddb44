"""scripts/bench_crab_files.py's phone-like JPEGs (--batch heldout16): the pixels are stored turned with an EXIF
orientation and the detector reads them upright, so the truth kept in the upright frame is the one to judge by."""

import numpy as np
import pytest
import torch
from script_module import load_script

from regrun.detection.crab_data import read_rgba


def load_bench():
    return load_script("bench_crab_files")


@pytest.mark.parametrize("fmt", ["exif6.jpg", "exif8.jpg"])
def test_exif_jpeg_is_stored_turned_and_read_upright(tmp_path, fmt):
    from PIL import Image

    bench = load_bench()
    rows, cols = np.mgrid[0:48, 0:64]
    image = torch.from_numpy(np.stack([rows / 47.0, cols / 63.0, 0.5 + 0 * rows])).double()  # no symmetry
    path = tmp_path / f"scene.{fmt.split('.')[-1]}"
    bench.save(image, path, fmt)
    with Image.open(path) as raw:
        assert raw.size == (48, 64) and raw.getexif()[0x0112] == int(fmt[4])  # stored 64 rows x 48 cols, tagged
    rgb, _ = read_rgba(path)
    assert rgb.shape == (3, 48, 64)
    assert np.abs(rgb - image.numpy()).max() < 0.05  # upright, within the JPEG's loss

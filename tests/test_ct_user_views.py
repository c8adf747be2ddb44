"""A user's sinogram file: the view count and angles come from the file when problem.views is not typed (ux4,
docs/sweeps.md "Fourth new-user pass"); a typed count or angles that disagree with the file are one-line errors
naming both."""
from __future__ import annotations

import io
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from regrun.config import config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.monitor import Reporter
from regrun.problems.ct_fewview import CTFewView


def user_problem(device, tmp_path, **over):
    """The config a user gets from `problem=ct_fewview problem.data=file ...` (problem.views not typed)."""
    said = io.StringIO()
    ctx = RunContext(device, torch.float64, 0, Path(tmp_path), reporter=Reporter(stream=said, progress=False))
    return CTFewView(config_section("problem", "ct_fewview", data="file", size=32, **over), ctx), said.getvalue()


@pytest.fixture
def scan(device):
    """A 37-view parallel scan of the 32 x 32 Shepp-Logan (the count the third pass's user had)."""
    synthetic = CTFewView(config_section("problem", "ct_fewview", size=32, views=37, noise="none"),
                          RunContext(device, torch.float64, 0, Path(".")))
    return synthetic.sinogram.cpu().numpy(), synthetic.geometry.angles


def test_views_not_typed_are_counted_from_the_file_and_said(device, tmp_path, scan):
    sino, _ = scan
    np.save(tmp_path / "scan.npy", sino)
    p, said = user_problem(device, tmp_path, sinogram=str(tmp_path / "scan.npy"))
    assert p.views == 37 and p.geometry.views == 37 and p.sinogram.shape[0] == 37
    assert "problem.views=37: every view of scan.npy, counted from its shape (37, 48)" in said, said
    with pytest.raises(UserError, match=r"problem.views=50 but the sinogram holds only 37 views \(scan.npy\)"):
        user_problem(device, tmp_path, sinogram=str(tmp_path / "scan.npy"), views=50)


def test_angles_in_the_file_set_the_views_and_the_geometry(device, tmp_path, scan):
    sino, regular = scan
    uneven = np.degrees(np.asarray(regular)) + np.linspace(0, 1.0, 37)  # a scan whose angles are not regular
    with h5py.File(tmp_path / "scan.h5", "w") as f:
        f["sinogram"], f["angles"] = sino, uneven
    p, said = user_problem(device, tmp_path, sinogram=str(tmp_path / "scan.h5"), angle_start=90.0)
    assert p.views == 37 and "counted from its 37 angles ('angles', 0 to 176.1 degrees)" in said, said
    np.testing.assert_allclose(p.geometry.angles, np.radians(uneven + 90.0), rtol=0, atol=1e-12)
    # a typed count below the file's keeps views evenly chosen, with their own angles
    q, said = user_problem(device, tmp_path, sinogram=str(tmp_path / "scan.h5"), views=12)
    assert q.views == 12 and said == ""
    assert set(np.round(q.geometry.angles, 12)) <= set(np.round(np.radians(uneven), 12))
    with pytest.raises(UserError, match="problem.views=50 but the sinogram holds only 37 views"):
        user_problem(device, tmp_path, sinogram=str(tmp_path / "scan.h5"), views=50)


@pytest.mark.parametrize("angles, message", [
    (np.linspace(0, 180, 38, endpoint=False), "holds 38 angles .* but its 'sinogram' 37 views"),
    (np.linspace(0, np.pi, 37, endpoint=False), "reads as radians: regrun takes degrees"),
])
def test_angles_that_disagree_with_the_sinogram_are_one_line_errors(device, tmp_path, scan, angles, message):
    np.savez(tmp_path / "scan.npz", sinogram=scan[0], angles=angles)
    with pytest.raises(UserError, match=message):
        user_problem(device, tmp_path, sinogram=str(tmp_path / "scan.npz"))


def test_angles_under_another_name_are_named_not_ignored(device, tmp_path, scan):
    # newuser5: angles saved as 'theta' were ignored without a word (views spread evenly): 10.9 dB against 19.2
    sino, regular = scan
    theta = np.degrees(np.asarray(regular)) + np.linspace(0, 1.0, 37)
    with h5py.File(tmp_path / "scan.h5", "w") as f:
        f["data"], f["meta/theta"] = sino, theta
    with pytest.raises(UserError, match=r"holds no 'angles' array but 'meta/theta' holds 37 values, one per view: .*"
                                        r"give problem.angles_key=meta/theta; if not, problem.angles_key=null"):
        user_problem(device, tmp_path, sinogram=str(tmp_path / "scan.h5"), sinogram_key="data")
    p, _ = user_problem(device, tmp_path, sinogram=str(tmp_path / "scan.h5"), sinogram_key="data",
                        angles_key="meta/theta")
    np.testing.assert_allclose(p.geometry.angles, np.radians(theta), rtol=0, atol=1e-12)
    q, _ = user_problem(device, tmp_path, sinogram=str(tmp_path / "scan.h5"), sinogram_key="data", angles_key=None)
    np.testing.assert_allclose(q.geometry.angles, np.asarray(regular), rtol=0, atol=1e-12)


def test_a_16_bit_tiff_sinogram_reads_as_its_rows_and_a_colour_one_is_refused(device, tmp_path, scan):
    """ux4: a detector's 16-bit TIFF was refused as "not a .npy, .npz or .h5/.hdf5 file"."""
    from PIL import Image

    sino = scan[0]
    counts = np.round(60000 * sino / sino.max()).astype(np.uint16)
    Image.fromarray(counts).save(tmp_path / "scan.tif")
    p, said = user_problem(device, tmp_path, sinogram=str(tmp_path / "scan.tif"))
    np.testing.assert_array_equal(p.sinogram.cpu().numpy(), counts.astype(np.float64))  # row 0 = view 0, as stored
    assert p.views == 37 and "counted from its shape (37, 48)" in said
    Image.fromarray(np.stack([counts.astype(np.uint8)] * 3, -1)).save(tmp_path / "rgb.png")
    with pytest.raises(UserError, match="colour image"):
        user_problem(device, tmp_path, sinogram=str(tmp_path / "rgb.png"))

"""The small CT case file the diagnosis scripts' tests read: heldout_ct_sinograms' bone, 24², 15 views, 1e5 photons,
written as bench_lambda_ct's case files are."""
import numpy as np

from tests.test_fbp_files import _script


def bone_case_file(folder):
    sino, clean, truth = _script("heldout_ct_sinograms").make("bone", 24, 15, 1e5, 6701, 2)
    path = folder / "bone_24_15_1e+05.npz"
    np.savez(path, sinogram=sino, clean=clean, truth=truth, object="bone", size=24, views=15, photons=1e5,
             seed=6701, fine=2, geometry="parallel", angle_range=180.0, noise_level=0.0)
    return path

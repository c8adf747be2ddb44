"""The small CT case files the benchmark and diagnosis scripts' tests read: one of heldout_ct_sinograms' objects,
written as bench_lambda_ct's case files are."""
import numpy as np

from tests.test_fbp_files import _script


def case_file(folder, name="bone", size=24, views=15, photons=1e5, seed=6701, fine=2):
    sino, clean, truth = _script("heldout_ct_sinograms").make(name, size, views, photons, seed, fine)
    path = folder / f"{name}_{size}_{views}_{photons:.0e}.npz"
    np.savez(path, sinogram=sino, clean=clean, truth=truth, object=name, size=size, views=views, photons=photons,
             seed=seed, fine=fine, geometry="parallel", angle_range=180.0, noise_level=0.0)
    return path

"""Held-out batch of the eighth new-user pass (newuser3): a user's own data through every problem and the mistakes
a user makes, each case run once through the CLI of the code at --repo; prints one JSON row per case
(docs/sweeps.md, "A new user's pass (newuser3)").

    python scripts/newuser3_heldout.py --repo PATH --work DIR [--shared ../shared] [--only NAME ...]

Data made here from seed 20911 (never used before; nothing is tuned on them), with numpy, scipy, Pillow and
scikit-image only (never regrun's generators):
- sr_png16 / sr_tif16 / sr_npy / sr_png_tif: 8 grey 16-bit frames 64 x 64 of a 128 x 128 crop of scikit-image's
  moon, each shifted by up to 2 fine px (cubic), blurred (gaussian 0.8 fine px), averaged 2 x 2, 1% noise; saved as
  PNG, TIFF, one .npy, and a folder alternating PNG and TIFF; judged: completes, lambda_f recorded, PSNR of
  reconstruction.npy against the kept truth (outside regrun);
- sr_sizes (the same frames cut by 0-3 px each), sr_one (one frame), sr_colgrey (8-bit, every third frame RGB):
  judged: exit 2, one stderr line, no traceback, naming the frame and what is allowed;
- ct_rows: scikit-image's radon of a 96 x 96 Shepp-Logan plus an ellipse, 50 views over 180 degrees, 1% noise, one
  view per row, solver=fbp problem.size=96 problem.angle_start=90; judged: completes, PSNR against the kept phantom;
- ct_radon (as radon returns it), ct_nan (one NaN), ct_angles_bad (.npz with 3 angles fewer than views): exit 2;
- reg_pair: a grey reference 150 x 120 of coffee and a template 180 x 140 of it turned 14 degrees, resize=128;
  judged: completes, fit_quality;
- crab_photo: the authors' crab.png (from --shared/refine_data) turned 30 degrees pasted on scikit-image's rocket
  resized to 512 x 384, problem.template=refine_crab; judged: detected (1) or not;
- bad_*: a misspelt key and value, a missing file, negative noise, an output folder that cannot be made (a file
  in its place: this machine runs as root, which a read-only mode does not stop), a sweep with one bad
  point; judged: exit 2 (the sweep: its bad job failed, the others completed), one stderr line, no traceback,
  naming the value and what is allowed.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ux6_heldout import run_case, seeded_pass  # noqa: E402  (one runner and command line for every pass)

SEED = 20911


def make_frames(work: Path, rng) -> None:
    from PIL import Image
    from scipy import ndimage
    from skimage import data
    truth = data.moon().astype(float)[100:228, 150:278]
    frames = []
    for k in range(8):
        s = (0.0, 0.0) if k == 0 else rng.uniform(-2, 2, 2)
        m = ndimage.gaussian_filter(ndimage.shift(truth, s, order=3, mode="nearest"), 0.8)
        lo = m.reshape(64, 2, 64, 2).mean(axis=(1, 3)) / 255 * 65535 + rng.normal(0, 655.35, (64, 64))
        frames.append(np.clip(np.round(lo), 0, 65535).astype(np.uint16))
    np.save(work / "sr_truth.npy", truth / 255 * 65535)
    np.save(work / "sr.npy", np.array(frames))
    for name in ("sr_png", "sr_tif", "sr_png_tif", "sr_sizes", "sr_one", "sr_colgrey"):
        (work / name).mkdir(exist_ok=True)
    for k, fr in enumerate(frames):
        Image.fromarray(fr).save(work / "sr_png" / f"f{k:02d}.png")
        Image.fromarray(fr).save(work / "sr_tif" / f"f{k:02d}.tif")
        Image.fromarray(fr).save(work / "sr_png_tif" / f"f{k:02d}.{'png' if k % 2 == 0 else 'tif'}")
        cut = rng.integers(0, 4, 2) if k else (0, 0)
        Image.fromarray(fr[: 64 - cut[0], : 64 - cut[1]]).save(work / "sr_sizes" / f"f{k:02d}.png")
        g = (fr // 257).astype(np.uint8)
        Image.fromarray(np.dstack([g] * 3) if k % 3 == 1 else g).save(work / "sr_colgrey" / f"f{k:02d}.png")
    Image.fromarray(frames[0]).save(work / "sr_one" / "f00.png")


def make_sinograms(work: Path, rng) -> None:
    from skimage import data, transform
    ph = transform.resize(data.shepp_logan_phantom(), (96, 96), anti_aliasing=True)
    yy, xx = np.mgrid[0:96, 0:96]
    ph = ph + 0.3 * (((xx - rng.uniform(25, 35)) / 8) ** 2 + ((yy - rng.uniform(55, 65)) / 5) ** 2 < 1)
    theta = np.linspace(0, 180, 50, endpoint=False)
    sino = transform.radon(ph, theta=theta, circle=True)
    sino = sino + rng.normal(0, 0.01 * sino.max(), sino.shape)
    np.save(work / "ct_truth.npy", ph)
    np.save(work / "ct_radon.npy", sino)
    np.save(work / "ct_rows.npy", sino.T)
    bad = sino.T.copy()
    bad[rng.integers(0, 50), rng.integers(0, 96)] = np.nan
    np.save(work / "ct_nan.npy", bad)
    np.savez(work / "ct_angles_bad.npz", sinogram=sino.T, angles=theta[:-3])


def make_pair(work: Path, rng) -> None:
    from PIL import Image
    from scipy import ndimage
    from skimage import data
    img = data.coffee().mean(axis=2)
    r0, c0 = rng.integers(90, 110), rng.integers(190, 210)
    Image.fromarray(img[r0:r0 + 120, c0:c0 + 150].astype(np.uint8)).save(work / "reg_R.png")
    big = ndimage.rotate(img[r0 - 40:r0 + 180, c0 - 50:c0 + 220], 14, reshape=False, order=3)
    Image.fromarray(np.clip(big[40:180, 45:225], 0, 255).astype(np.uint8)).save(work / "reg_T.png")


def make_crab_photo(work: Path, shared: Path) -> None:
    from PIL import Image
    from skimage import data
    bg = Image.fromarray(data.rocket()).resize((512, 384), Image.BICUBIC).convert("RGBA")
    crab = Image.open(shared / "refine_data" / "crab.png").convert("RGBA").rotate(30, Image.BICUBIC, expand=True)
    bg.paste(crab, (256 - crab.width // 2, 200 - crab.height // 2), crab)
    bg.convert("RGB").save(work / "crab_photo.png")


SR = "problem=superres problem.data=frames problem.factor=2 problem.frames={w}/"
CT = "problem=ct_fewview problem.data=file problem.size=96 problem.angle_start=90 problem.sinogram={w}/"
CASES = [
    ("sr_png16", SR + "sr_png"), ("sr_tif16", SR + "sr_tif"), ("sr_npy", SR + "sr.npy"),
    ("sr_png_tif", SR + "sr_png_tif"), ("sr_sizes", SR + "sr_sizes"), ("sr_one", SR + "sr_one"),
    ("sr_colgrey", SR + "sr_colgrey"),
    ("ct_rows", CT + "ct_rows.npy solver=fbp"), ("ct_radon", CT + "ct_radon.npy solver=fbp"),
    ("ct_nan", CT + "ct_nan.npy solver=fbp"), ("ct_angles_bad", CT + "ct_angles_bad.npz solver=fbp"),
    ("reg_pair", "problem.data=files problem.template={w}/reg_T.png problem.reference={w}/reg_R.png "
                 "problem.resize=128"),
    ("crab_photo", "problem=crab_detection problem.template=refine_crab problem.data_dir={s}/refine_data "
                   "problem.scene.source=file problem.scene.path={w}/crab_photo.png"),
    ("bad_key", SR + "sr_png problem.factr=2"),
    ("bad_value", SR + "sr_png problem.motion_model=afine"),
    ("bad_missing", SR + "sr_pgn"),
    ("bad_noise_sr", "problem=superres problem.noise=-0.02"),
    ("bad_noise_ct", "problem=ct_fewview problem.noise_level=-0.01"),
    ("bad_outdir", "problem=superres"),  # its run folder's path is a file (root ignores a read-only mode)
    ("bad_sweep", "-m problem=superres problem.factor=2,0 hydra.sweep.dir={w}/runs/bad_sweep_multi"),
]


def main() -> None:
    a, work = seeded_pass(__doc__, SEED)
    rng = np.random.default_rng(a.seed)
    make_frames(work, rng)
    make_sinograms(work, rng)
    make_pair(work, rng)
    make_crab_photo(work, a.shared.resolve())
    (work / "runs").mkdir(exist_ok=True)
    (work / "runs" / "bad_outdir").write_text("a file where the run's folder would go\n")
    for name, args in CASES:
        if not a.only or name in a.only:
            args = args.replace("{s}", str(a.shared.resolve()))
            print(json.dumps(run_case(a.repo.resolve(), work, name, args, {})), flush=True)


if __name__ == "__main__":
    main()

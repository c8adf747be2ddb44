"""Held-out batch of newuser4 (four rough edges newuser3 left): each case run once through the CLI of the code at
--repo; prints one JSON row per case (docs/sweeps.md, "Rough edges newuser3 left (newuser4)").

    python scripts/newuser4_heldout.py --repo PATH --work DIR [--shared ../shared] [--only NAME ...]

Data made here from seed 20941 (never used before; nothing is tuned on them), with numpy, scipy, Pillow and
scikit-image only:
- order12: 12 grey 16-bit frames 48 x 48 of a 96 x 96 crop of scikit-image's camera (shifts <= 2 fine px, blur 0.8,
  2 x 2 average, 1% noise) named f1.png ... f12.png (no zero padding), problem.n_frames=5; judged: which files
  were used, in which order (each frame of /data/frames matched to a file by its sum), and the order recorded;
- edge_moon, edge_coins: 8 such frames 64 x 64 of a 128 x 128 crop of moon / coins, lambda_f=auto at the default
  lam_range and at lam_range=[1e-3,30]; judged: lam_at_range_edge, the console's warning, PSNR of
  reconstruction.npy against the kept truth at both ranges;
- crab_astro: the authors' crab.png turned 40 degrees pasted on astronaut (grey, 512 x 512) at (row 300, col 180);
  judged: the console and summary.md name the detection's position and angle;
- sweep_bad: -m problem=superres problem.noise=0.01,-1 (its second point bad); judged: exit status, jobs started
  (run folders with a results file), one stderr line naming the point and the value.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ux6_heldout import run_case, seeded_pass  # noqa: E402  (one runner and command line for every pass)

SEED = 20941


def frames_of(img: np.ndarray, n: int, rng) -> list[np.ndarray]:
    from scipy import ndimage
    half = img.shape[0] // 2
    out = []
    for k in range(n):
        s = (0.0, 0.0) if k == 0 else rng.uniform(-2, 2, 2)
        m = ndimage.gaussian_filter(ndimage.shift(img, s, order=3, mode="nearest"), 0.8)
        lo = m.reshape(half, 2, half, 2).mean(axis=(1, 3)) / 255 * 65535 + rng.normal(0, 655.35, (half, half))
        out.append(np.clip(np.round(lo), 0, 65535).astype(np.uint16))
    return out


def make_data(work: Path, shared: Path, rng) -> None:
    from PIL import Image
    from skimage import data
    for name, img in (("order12", data.camera().astype(float)[200:296, 220:316]),
                      ("edge_moon", data.moon().astype(float)[300:428, 60:188]),
                      ("edge_coins", data.coins().astype(float)[40:168, 150:278])):
        (work / name).mkdir(exist_ok=True)
        np.save(work / f"{name}_truth.npy", img / 255 * 65535)
        for k, fr in enumerate(frames_of(img, 12 if name == "order12" else 8, rng)):
            Image.fromarray(fr).save(work / name / (f"f{k + 1}.png" if name == "order12" else f"f{k:02d}.png"))
    bg = Image.fromarray(data.astronaut()).convert("L").convert("RGBA")
    crab = Image.open(shared / "refine_data" / "crab.png").convert("RGBA").rotate(40, Image.BICUBIC, expand=True)
    bg.paste(crab, (180 - crab.width // 2, 300 - crab.height // 2), crab)
    bg.convert("RGB").save(work / "crab_astro.png")


SR = "problem=superres problem.data=frames problem.factor=2 problem.frames={w}/"
CASES = [
    ("order12", SR + "order12 problem.n_frames=5"),
    ("edge_moon", SR + "edge_moon"),
    ("edge_moon_wide", SR + "edge_moon problem.lam_range=[1e-3,30]"),
    ("edge_coins", SR + "edge_coins"),
    ("edge_coins_wide", SR + "edge_coins problem.lam_range=[1e-3,30]"),
    ("crab_astro", "problem=crab_detection problem.template=refine_crab problem.data_dir={s}/refine_data "
                   "problem.scene.source=file problem.scene.path={w}/crab_astro.png"),
    ("sweep_bad", "-m problem=superres problem.noise=0.01,-1 hydra.sweep.dir={w}/runs/sweep_bad_multi"),
]


def judge(work: Path, name: str, row: dict) -> dict:
    """The case's own facts beside run_case's: frame order, PSNR, the console's lines about the answer."""
    import h5py
    folder = work / "runs" / name
    res = folder / "results.h5"
    if name == "order12" and res.exists():
        from PIL import Image
        sums = {f.name: float(np.asarray(Image.open(f), dtype=float).sum()) for f in (work / name).iterdir()}
        with h5py.File(res) as f:
            used = np.asarray(f["data/frames"])
            row["recorded"] = [x.decode() if isinstance(x, bytes) else str(x)
                               for x in f["data/frame_files"][()]] if "data/frame_files" in f else None
        row["used"] = [min(sums, key=lambda n: abs(sums[n] - fr.sum())) for fr in used]
    if name.startswith("edge_") and (folder / "reconstruction.npy").exists():
        truth = np.load(work / f"{name.replace('_wide', '')}_truth.npy")
        rec = np.load(folder / "reconstruction.npy").astype(float)
        row["psnr_db"] = round(float(10 * np.log10(65535**2 / np.mean((rec - truth) ** 2))), 3)
    log = folder / "regrun.log"
    if log.exists():
        text = log.read_text()
        row["log_lines"] = [ln[:200] for ln in text.splitlines()
                            if "detection" in ln or "range" in ln or "frames in" in ln or "order" in ln][:8]
    if (folder / "summary.md").exists():
        md = (folder / "summary.md").read_text()
        row["summary_has"] = {"detection": "centre" in md or "row" in md, "edge": "lam_range" in md}
    if name == "sweep_bad":
        row["jobs_with_results"] = len(list((work / "runs" / "sweep_bad_multi").glob("*/results.h5")))
    return row


def main() -> None:
    a, work = seeded_pass(__doc__, SEED)
    make_data(work, a.shared.resolve(), np.random.default_rng(a.seed))
    (work / "runs").mkdir(exist_ok=True)
    for name, args in CASES:
        if not a.only or name in a.only:
            args = args.replace("{s}", str(a.shared.resolve()))
            print(json.dumps(judge(work, name, run_case(a.repo.resolve(), work, name, args, {}))), flush=True)


if __name__ == "__main__":
    main()

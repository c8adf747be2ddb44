"""Held-out batch of newuser5 (a new user's afternoon with data of kinds not tried before): each case run once through
the CLI of the code at --repo; prints one JSON row per case (docs/sweeps.md, "A new user's afternoon (newuser5)").

    python scripts/newuser5_heldout.py --repo PATH --work DIR [--shared ../shared] [--only NAME ...]

Data made here from seed 21051 (never used before; nothing is tuned on them), with numpy, scipy, Pillow and
scikit-image only (never regrun's generators):
- one grey 8-bit burst: 8 frames 64 x 64 of a 128 x 128 luminance crop of immunohistochemistry (shifts <= 2 fine
  px, blur 0.8, 2 x 2 average, 1% noise), factor 2, kept truth; stored as sr_folder (PNG files, the control),
  sr_tiff_stack (one multi-page TIFF), sr_gif (one animated GIF), sr_apng (one animated PNG), sr_gif_folder (a
  folder of single GIFs), sr_rgba (a folder of RGBA PNGs, alpha 255) and sr_rgba_edge (RGBA, a 3 px border
  transparent and black, as a stabiliser's export); judged: exit, status, PSNR of reconstruction.npy against the
  truth, or one stderr line saying what to do;
- reg_big_small: a grey reference 120 x 100 (width x height) cut from retina's luminance and a template 4x finer
  (480 x 400) of the same place turned 12 degrees; run with and without problem.resize=128; judged: RMS of
  |y(x) - y_true(x)| over the reference's pixels (template px), or the one line;
- reg_exif8: a 150 x 120 pair from the same turned 9 degrees, the template a JPEG stored turned with EXIF orientation 8;
  judged: the same RMS;
- sino_nested_plain / sino_nested_key: radon of a 96 x 96 Shepp-Logan at 60 views, 1% noise, one view per row,
  stored in an .h5 as /entry/data/data with angles (+90, degrees) in /entry/data/rotation_angle: run without and
  with problem.sinogram_key / problem.angles_key; sino_odd_plain: the same at the top level as 'data' and 'theta';
  judged: the one line names the datasets found, or PSNR of FBP against the phantom;
- crab_huge: the authors' crab.png turned 25 degrees pasted at (row 2600, col 1400) on a 4000 x 4000 JPEG
  (hubble_deep_field resized); judged: exit, detection, CPU, peak memory of the process;
- typo_*: one mistake in each kind of override (a group option, a key added with +, a key removed with ~, a value's
  type, a device, a launcher, a range, a list's bracket, a dtype), sweep_bad (-m problem.factor=2,two); judged:
  exit 2, one stderr line, no traceback, naming the value;
- interrupt: SIGINT 12 s into sr_folder's run; judged: exit 130, results.h5 'interrupted', summary.md written;
- explain_*: --explain problem for each of the six problems; judged: exit 0 and no key without a description.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ux6_heldout import affine_fields, run_case, seeded_pass  # noqa: E402  (one runner and command line for every pass)

SEED = 21051


def burst(rng):
    from scipy import ndimage
    from skimage import color, data
    img = color.rgb2gray(data.immunohistochemistry())[200:328, 300:428] * 255
    out = []
    for k in range(8):
        s = (0.0, 0.0) if k == 0 else rng.uniform(-2, 2, 2)
        m = ndimage.gaussian_filter(ndimage.shift(img, s, order=3, mode="nearest"), 0.8)
        lo = m.reshape(64, 2, 64, 2).mean(axis=(1, 3)) + rng.normal(0, 2.55, (64, 64))
        out.append(np.clip(np.round(lo), 0, 255).astype(np.uint8))
    return img, out


def make_frames(work: Path, rng) -> None:
    from PIL import Image
    truth, frames = burst(rng)
    np.save(work / "sr_truth.npy", truth)
    ims = [Image.fromarray(f) for f in frames]
    for name in ("sr_folder", "sr_gif_folder", "sr_rgba", "sr_rgba_edge"):
        (work / name).mkdir(exist_ok=True)
    for k, (f, im) in enumerate(zip(frames, ims)):
        im.save(work / "sr_folder" / f"f{k:02d}.png")
        im.save(work / "sr_gif_folder" / f"f{k:02d}.gif")
        rgba = np.dstack([f, f, f, np.full_like(f, 255)])
        Image.fromarray(rgba, "RGBA").save(work / "sr_rgba" / f"f{k:02d}.png")
        rgba[:3], rgba[-3:], rgba[:, :3], rgba[:, -3:] = 0, 0, 0, 0
        Image.fromarray(rgba, "RGBA").save(work / "sr_rgba_edge" / f"f{k:02d}.png")
    ims[0].save(work / "sr_stack.tif", save_all=True, append_images=ims[1:])
    ims[0].save(work / "sr_anim.gif", save_all=True, append_images=ims[1:], duration=100, loop=0)
    ims[0].save(work / "sr_anim.png", save_all=True, append_images=ims[1:], duration=100)


def sample(src, w, h, lin, off):
    """Pixels of a w x h image whose pixel (x1 from the left, x2 from the bottom) sits at lin x + off in src
    (FAIR points of src: row = rows - 0.5 - p2, col = p1 - 0.5)."""
    from scipy.ndimage import map_coordinates
    x1, x2 = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5, indexing="xy")
    x2 = h - x2
    p1 = lin[0, 0] * x1 + lin[0, 1] * x2 + off[0]
    p2 = lin[1, 0] * x1 + lin[1, 1] * x2 + off[1]
    return map_coordinates(src, [src.shape[0] - 0.5 - p2, p1 - 0.5], order=3, mode="reflect")


def make_pairs(work: Path, rng) -> dict:
    from PIL import Image
    from skimage import color, data
    src = color.rgb2gray(data.retina()) * 255  # 1411 x 1411
    truths = {}
    for name, (wr, hr), (wt, ht), deg, s in (("reg_big_small", (120, 100), (480, 400), 12.0, 0.25),
                                             ("reg_exif8", (150, 120), (150, 120), 9.0, 1.0)):
        o_ref = np.array([700.0, 900.0]) + rng.uniform(-20, 20, 2)
        phi = np.radians(deg)
        M = s * np.array([[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]])
        t = o_ref + np.array([10.0, -6.0]) + rng.uniform(-3, 3, 2)
        inv = np.linalg.inv(M)  # template u -> src M u + t; reference x -> src x + o_ref
        truths[name] = {"A": inv, "b": inv @ (o_ref - t), "ref_size": (wr, hr)}
        ref = sample(src, wr, hr, np.eye(2), o_ref)
        tmpl = sample(src, wt, ht, M, t)
        Image.fromarray(np.clip(ref, 0, 255).round().astype(np.uint8)).save(work / f"{name}_R.png")
        t_img = Image.fromarray(np.clip(tmpl, 0, 255).round().astype(np.uint8))
        if name == "reg_exif8":  # stored turned a quarter clockwise; orientation 8 tells a viewer to turn it back
            exif = Image.Exif()
            exif[0x0112] = 8
            t_img.transpose(Image.Transpose.ROTATE_270).save(work / f"{name}_T.jpg", quality=97, exif=exif)
        else:
            t_img.save(work / f"{name}_T.png")
    return truths


def make_sinograms(work: Path, rng) -> None:
    import h5py
    from skimage.data import shepp_logan_phantom
    from skimage.transform import radon, resize
    ph = resize(shepp_logan_phantom(), (96, 96), anti_aliasing=True)
    np.save(work / "sino_truth.npy", ph)
    theta = np.sort(rng.uniform(0, 180, 60))
    sino = radon(ph, theta, circle=False).T
    sino = sino + rng.normal(0, 0.01 * sino.max(), sino.shape)
    with h5py.File(work / "sino_nested.h5", "w") as f:
        f["entry/data/data"] = sino
        f["entry/data/rotation_angle"] = theta + 90
    with h5py.File(work / "sino_odd.h5", "w") as f:
        f["data"] = sino
        f["theta"] = theta + 90


def make_huge(work: Path, shared: Path) -> None:
    from PIL import Image
    from skimage import data
    bg = Image.fromarray(data.hubble_deep_field()).resize((4000, 4000), Image.Resampling.BICUBIC).convert("RGBA")
    crab = Image.open(shared / "refine_data" / "crab.png").convert("RGBA").rotate(25, Image.BICUBIC, expand=True)
    bg.paste(crab, (1400 - crab.width // 2, 2600 - crab.height // 2), crab)
    bg.convert("RGB").save(work / "crab_huge.jpg", quality=92)


SR = "problem=superres problem.data=frames problem.factor=2 problem.frames={w}/"
SINO = "problem=ct_fewview problem.data=file solver=fbp problem.size=96 problem.truth_file={w}/sino_truth.npy "
CASES = [
    ("sr_folder", SR + "sr_folder"),
    ("sr_tiff_stack", SR + "sr_stack.tif"),
    ("sr_gif", SR + "sr_anim.gif"),
    ("sr_apng", SR + "sr_anim.png"),
    ("sr_gif_folder", SR + "sr_gif_folder"),
    ("sr_rgba", SR + "sr_rgba"),
    ("sr_rgba_edge", SR + "sr_rgba_edge"),
    ("reg_big_small_plain", "problem.data=files problem.template={w}/reg_big_small_T.png "
                            "problem.reference={w}/reg_big_small_R.png"),
    ("reg_big_small", "problem.data=files problem.template={w}/reg_big_small_T.png "
                      "problem.reference={w}/reg_big_small_R.png problem.resize=128"),
    ("reg_exif8", "problem.data=files problem.template={w}/reg_exif8_T.jpg problem.reference={w}/reg_exif8_R.png"),
    ("sino_nested_plain", SINO + "problem.sinogram={w}/sino_nested.h5"),
    ("sino_nested_key", SINO + "problem.sinogram={w}/sino_nested.h5 problem.sinogram_key=entry/data/data "
                        "problem.angles_key=entry/data/rotation_angle"),
    ("sino_odd_plain", SINO + "problem.sinogram={w}/sino_odd.h5"),
    ("crab_huge", "problem=crab_detection problem.template=refine_crab problem.data_dir={s}/refine_data "
                  "problem.scene.source=file problem.scene.path={w}/crab_huge.jpg"),
    ("typo_group", "problem=superess"),
    ("typo_solver", "problem=superres solver=varpro"),
    ("typo_plus", "problem=superres +problem.factr=2"),
    ("typo_tilde", "problem=superres ~problem.nosie"),
    ("typo_type", "problem=superres problem.factor=two"),
    ("typo_device", "device=cuda:7"),
    ("typo_launcher", "-m hydra/launcher=jobib seed=1,2 hydra.sweep.dir={w}/runs/typo_launcher_multi"),
    ("typo_range", SR + "sr_folder problem.lam_range=[3,0.001]"),
    ("typo_bracket", "problem=superres problem.lam_range=[0.001,3"),
    ("typo_dtype", "dtype=float16"),
    ("sweep_bad", "-m problem=superres problem.factor=2,two hydra.sweep.dir={w}/runs/sweep_bad_multi"),
]
PROBLEMS = ("multiscale_affine", "superres", "ct_fewview", "crab_detection", "motif_pose", "spike_pair")


def judge(work: Path, name: str, row: dict, truths: dict) -> dict:
    import h5py
    folder = work / "runs" / name
    res = folder / "results.h5"
    row["peak_rss_mb_children_so_far"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    if name.startswith("sr_") and (folder / "reconstruction.npy").exists():
        truth = np.load(work / "sr_truth.npy")
        rec = np.load(folder / "reconstruction.npy").astype(float)
        rec = rec.mean(-1) if rec.ndim == 3 else rec
        row["psnr_db"] = round(float(10 * np.log10(255**2 / np.mean((rec - truth) ** 2))), 3)
    if name.startswith("reg_") and res.exists():
        with h5py.File(res) as f:
            if "result/w_affine" in f:
                row.update(affine_fields(np.asarray(f["result/w_affine"]), truths[name.replace("_plain", "")]))
    if name.startswith("crab") and (folder / "regrun.log").exists():
        row["log_lines"] = [ln[:200] for ln in (folder / "regrun.log").read_text().splitlines()
                            if "detection" in ln][:4]
    if name == "sweep_bad":
        row["jobs_with_results"] = len(list((work / "runs" / "sweep_bad_multi").glob("*/results.h5")))
    return row


def interrupt(repo: Path, work: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(repo), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    folder = work / "runs" / "interrupt"
    cmd = [sys.executable, "-c", "from regrun.cli import main; main()", *(SR + "sr_folder").format(w=work).split(),
           f"hydra.run.dir={folder}"]
    p = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(12)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    row = {"case": "interrupt", "exit": p.returncode, "traceback": "Traceback" in err,
           "last_err": ([x for x in err.splitlines() if x.strip()] or [""])[-1][:240],
           "summary": (folder / "summary.md").exists(), "log": (folder / "regrun.log").exists()}
    for f in (folder / "results.h5", folder / "results.h5.partial"):
        if f.exists():
            import h5py
            with h5py.File(f) as h:
                row["status"], row["file"] = str(h.attrs["status"]), f.name
    return row


def explain(repo: Path, work: Path, problem: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(repo))
    p = subprocess.run([sys.executable, "-c", "from regrun.cli import main; main()", "--explain", "problem",
                        f"problem={problem}"], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    return {"case": f"explain_{problem}", "exit": p.returncode, "lines": len(p.stdout.splitlines()),
            "no_description": p.stdout.count("no description"), "traceback": "Traceback" in p.stderr,
            "last_err": ([x for x in p.stderr.splitlines() if x.strip()] or [""])[-1][:240]}


def main() -> None:
    a, work = seeded_pass(__doc__, SEED)
    rng = np.random.default_rng(a.seed)
    make_frames(work, rng)
    truths = make_pairs(work, rng)
    make_sinograms(work, rng)
    if not a.only or "crab_huge" in a.only:
        make_huge(work, a.shared.resolve())
    (work / "runs").mkdir(exist_ok=True)
    repo = a.repo.resolve()
    for name, args in CASES:
        if not a.only or name in a.only:
            args = args.replace("{s}", str(a.shared.resolve()))
            print(json.dumps(judge(work, name, run_case(repo, work, name, args, {}), truths)), flush=True)
    if not a.only or "interrupt" in a.only:
        print(json.dumps(interrupt(repo, work)), flush=True)
    for problem in PROBLEMS:
        if not a.only or f"explain_{problem}" in a.only:
            print(json.dumps(explain(repo, work, problem)), flush=True)


if __name__ == "__main__":
    main()

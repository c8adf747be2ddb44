#!/usr/bin/env python
"""Super-resolution with lambda_f chosen from the frames alone (problem.lambda_f=auto) beside bicubic upsampling
of frame 0, regrun at its own best lambda_f (a grid judged with the truth) and the two-stage SimpleITK peer at
its best weight, on frame sets that were not used to tune anything.

Frame sets (written as .npz and read through `problem.data=frames`, the user's path): a continuous image
cell-averaged 10x finer than the reference, frame 0 the reference pose, the others moved by random affines
(rotation +-10 deg, scale 0.95-1.05, shift +-5%), Gaussian noise of --noise times the frames' standard deviation.
Images: `phantom` (regrun's textured phantom, what scripts/make_sr_frames.py writes) and `camera` (a crop of
scikit-image's camera, bilinear between its pixels, 8x finer than the reference at 64^2).

Per set: regrun varpro_cg with lambda_f=auto for every rule (--rules), each rule's chosen weight and PSNR;
varpro_cg on the grid --grid (pre-registration computed once and reused); the peer's motion (SimpleITK, as in
scripts/bench_superres_frames.py) with the exact least-squares image at every grid weight; bicubic. All PSNRs are
of the exact least-squares image at the solver's final motion and the weight used.

    pip install -e ".[bench]"
    python scripts/bench_lambda_sr.py --sizes 20 32 --noise 0.005 0.01 0.03 --seeds 0 1 --out outputs/bench/lambda_sr
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_superres_frames import exact_psnr, sitk_motion  # scripts/bench_superres_frames.py

from regrun.config import config_section
from regrun.context import RunContext
from regrun.imaging.grid import Grid
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout
from regrun.imaging.synthetic import block_sample, textured_phantom
from regrun.imaging.transforms import affine, affine_about
from regrun.metrics import psnr
from regrun.monitor import Monitor
from regrun.problems.superres import SuperRes
from regrun.solvers.varpro_cg import VarProCG

RULES = ("discrepancy", "gcv", "sure")


# What the previous round tuned on (its table): phantom and camera. Everything else is held out.
TUNING = ("phantom", "camera")
HELD_OUT = ("sk:astronaut", "sk:brick", "sk:coins", "sk:moon", "sk:chelsea", "fair:hands-R", "fair:MRIhead-R",
            "fair:HNSP-R", "texture")
FAIR_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "fair_data"


def source_image(kind: str, gen: torch.Generator) -> torch.Tensor:
    """The scene as a gray 2-D array (rows, columns): camera's 256^2 crop (the previous round's), a
    scikit-image data image (sk:NAME) or a FAIR image (fair:NAME, read-only from ../shared/fair_data), central
    square crop of at most 256 pixels; texture: random-phase noise with a 1/|k|^1.5 amplitude spectrum, 128^2;
    rendered_text: 16 lines of random lower-case words, Pillow's default font at 13 px, 256^2."""
    if kind == "camera":
        import skimage.data

        return torch.as_tensor(skimage.data.camera()[100:356, 150:406].astype(np.float64))
    if kind == "texture":
        n = 128
        k = torch.fft.fftfreq(n, dtype=torch.float64)
        amp = (k[:, None] ** 2 + k[None, :] ** 2).clamp_min(1.0 / n**2) ** -0.75
        phase = torch.rand(n, n, generator=gen, dtype=torch.float64) * 2 * math.pi
        img = torch.fft.ifft2(amp * torch.exp(1j * phase)).real
        return 255 * (img - img.min()) / (img.max() - img.min())
    if kind == "rendered_text":  # repeating structure: lines of random words, black on white (Pillow's own font)
        from PIL import Image, ImageDraw, ImageFont

        img = Image.new("L", (256, 256), 255)
        draw, font = ImageDraw.Draw(img), ImageFont.load_default(size=13)
        letters = torch.randint(0, 26, (16, 40), generator=gen).tolist()
        for row, code in enumerate(letters):
            words = "".join(chr(97 + c) if c % 6 else " " for c in code)
            draw.text((6, 4 + 15.5 * row), words, fill=0, font=font)
        return torch.as_tensor(np.asarray(img, dtype=np.float64))
    if kind.startswith("sk:"):
        import skimage.data

        a = np.asarray(getattr(skimage.data, kind[3:])(), dtype=np.float64)
    elif kind.startswith("fair:"):
        from PIL import Image

        path = FAIR_DIR / f"{kind[5:]}.jpg"
        if not path.exists():
            raise SystemExit(f"{path} not found (the FAIR images live in ../shared/fair_data)")
        a = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
    else:
        raise SystemExit(f"unknown image {kind!r}")
    if a.ndim == 3:
        a = a[..., :3] @ np.array([0.299, 0.587, 0.114])
    side = min(a.shape[0], a.shape[1], 256)
    r0, c0 = (a.shape[0] - side) // 2, (a.shape[1] - side) // 2
    return torch.as_tensor(a[r0:r0 + side, c0:c0 + side].copy())


def image_function(kind: str, size: int, gen: torch.Generator):
    """A continuous image on [0, size]^2 (fine-pixel units): regrun's textured phantom, or a source image
    (source_image) bilinear between its pixels over the domain."""
    if kind == "phantom":
        f_unit, _ = textured_phantom(gen)
        return lambda x: 100.0 * f_unit(x / size)  # noqa: E731
    img = source_image(kind, gen).flip(0).T[None, None]  # FAIR layout: [x1, x2] with x2 up

    def f(x):
        g = (x / size) * 2 - 1  # [-1, 1]; grid_sample's (x, y) = (column, row) = (x2, x1)
        pts = torch.stack((g[..., 1], g[..., 0]), -1).reshape(1, -1, 1, 2)
        v = torch.nn.functional.grid_sample(img, pts, mode="bilinear", padding_mode="border", align_corners=False)
        return v.reshape(x.shape[:-1])

    return f


def frame_set(kind, size, frames, noise, seed, factor=2, supersample=10):
    gen = torch.Generator().manual_seed(seed)
    omega = (0.0, float(size), 0.0, float(size))
    fine, coarse = Grid(omega, (size, size)), Grid(omega, (size // factor, size // factor))
    f = image_function(kind, size, gen)
    w = []
    for _ in range(frames - 1):
        u = torch.rand(5, generator=gen, dtype=torch.float64)
        sc = (0.95 + 0.1 * float(u[1]), 0.95 + 0.1 * float(u[2]))
        sh = (0.05 * size * (2 * float(u[3]) - 1), 0.05 * size * (2 * float(u[4]) - 1))
        w.append(affine_about(10.0 * (2 * float(u[0]) - 1), sc, sh, fine.centre))
    truth = block_sample(f, fine, supersample)
    stack = [block_sample(f, coarse, supersample * factor)]
    stack += [block_sample(f, coarse, supersample * factor, pullback=lambda z, wj=wj: affine(wj, z)) for wj in w]
    stack = torch.stack(stack)
    stack = stack + noise * stack.std() * torch.randn(stack.shape, generator=gen, dtype=torch.float64)
    return truth.numpy(), stack.numpy(), torch.cat(w).numpy()


def bicubic_psnr(problem) -> float:
    """Frame 0 upsampled by bicubic convolution (pixel centres aligned) against the truth."""
    f0 = problem.model.frames[0][None, None]
    up = torch.nn.functional.interpolate(f0, size=problem.fine.m, mode="bicubic", align_corners=False)[0, 0]
    return psnr(up.cpu().numpy(), problem.truth.cpu().numpy())


def set_key(row) -> tuple:
    return row["image"], row["size"], row["noise"], row["seed"], row["frames"]


def run_set(ctx, root, kind, size, noise, seed, frames, args, reuse=None):
    """One frame set: bicubic, `auto` for every rule, the grid and the peer; with `reuse` (this set's row of an
    earlier run: the same frames, as they depend on the arguments and the seed alone) only `auto` is run and the
    rest is taken from it."""
    truth, stack, w = frame_set(kind, size, frames, noise, seed)
    path = root / f"{kind.replace(':', '_')}_{size}_{noise}_{seed}_{frames}.npz"
    np.savez(path, **{FRAMES_KEY: from_fair_layout(stack), TRUTH_KEY: from_fair_layout(truth), "w": w})

    def problem(lam, rule=None):
        extra = {} if rule is None else {"lam_rule": rule, **args.auto_set}
        cfg = config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                             true_motion=str(path), lambda_f=lam, outside=args.outside, **extra)
        return SuperRes(cfg, ctx)

    solver = VarProCG(config_section("solver", "varpro_cg", cg_iters=50), ctx)
    p0 = problem(1.0)
    # independent of lambda_f: computed once, handed to every run below
    w0 = p0.model.preregister(drop_outside=p0.outside == "drop")

    def solve(p):
        p.model.preregister = lambda **_: w0.clone()
        t0 = time.process_time()
        res = solver.solve(p, Monitor())
        return res, time.process_time() - t0

    row = {"image": kind, "split": "tuning" if kind in TUNING else "held-out", "size": size, "noise": noise,
           "seed": seed, "frames": frames,
           "psnr_bicubic": bicubic_psnr(p0)}
    for rule in args.rules:
        p = problem("auto", rule)
        res, cpu = solve(p)
        row[f"auto_{rule}"] = {"lam": res.metrics["lam_chosen"], "psnr": exact_psnr(p, res.solution["w"]),
                               "solves": res.metrics["lam_solves"], "sigma": res.metrics["noise_sigma"],
                               "at_edge": res.metrics["lam_at_range_edge"], "cpu_s": cpu,
                               # the weight at the pre-registered motion, before the search at the final motion
                               "lam_first": res.metrics.get("lam_first", res.metrics["lam_chosen"]),
                               "solver_runs": res.metrics.get("solver_runs", 1.0),
                               "criterion_fall": res.metrics.get("lam_criterion_fall", math.nan)}
    if reuse is not None:
        kept = {k: v for k, v in reuse.items() if k not in row and not k.startswith("auto_") and k != "wall_s"}
        return {**row, **kept, "reused": str(args.reuse)}
    grid = []
    for lam in args.grid:
        p = problem(lam)
        res, cpu = solve(p)
        grid.append({"lam": lam, "psnr": exact_psnr(p, res.solution["w"]), "cpu_s": cpu})
    row["grid"] = grid
    best = max(grid, key=lambda g: g["psnr"])
    row["regrun_best_lam"], row["psnr_regrun_best"] = best["lam"], best["psnr"]
    try:
        w_peer = sitk_motion(p0)
        peer = []
        for lam in args.grid:
            p = problem(lam)
            if p.outside == "drop":  # the same data as regrun's: the pixels that see past the domain at its motion
                p.model.settle_outside(w_peer)
            peer.append({"lam": lam, "psnr": exact_psnr(p, w_peer)})
        pb = max(peer, key=lambda g: g["psnr"])
        row["peer"], row["peer_best_lam"], row["psnr_peer_best"] = peer, pb["lam"], pb["psnr"]
    except ImportError:
        row["psnr_peer_best"] = math.nan
    return row


def suffixed(out: Path, suffix: str) -> Path:
    """--out with a suffix added (not replaced: a name like `coffee_48_0.01` keeps its `.01`)."""
    return out.with_name(out.name + suffix)


def markdown(rows, rules, default) -> str:
    head = ("| image | size | frames | noise | seed | bicubic | regrun best lambda_f (PSNR) | peer best (PSNR) | "
            + " | ".join(f"auto {r}: lambda_f (PSNR)" for r in rules) + f" | {default} - bicubic | "
            f"{default} - regrun best | {default} - peer best |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        a = r[f"auto_{default}"]["psnr"]
        autos = " | ".join(f"{r[f'auto_{x}']['lam']:.3g} ({r[f'auto_{x}']['psnr']:.2f})" if f"auto_{x}" in r else "-"
                           for x in rules)
        lines.append(f"| {r['image']} | {r['size']}² | {r['frames']} | {r['noise']:.1%} | {r['seed']} | "
                     f"{r['psnr_bicubic']:.2f} | "
                     f"{r['regrun_best_lam']:g} ({r['psnr_regrun_best']:.2f}) | "
                     f"{r.get('peer_best_lam', math.nan):g} ({r['psnr_peer_best']:.2f}) | {autos} | "
                     f"{a - r['psnr_bicubic']:+.2f} | {a - r['psnr_regrun_best']:+.2f} | "
                     f"{a - r['psnr_peer_best']:+.2f} |")
    return "\n".join(lines)


def summary(rows, rules) -> str:
    """Per split and rule: the issue's three targets counted over the sets."""
    out = []
    for split in ("tuning", "held-out"):
        part = [r for r in rows if r["split"] == split]
        if not part:
            continue
        for x in rules:
            ran = [r for r in part if f"auto_{x}" in r]
            a = np.array([r[f"auto_{x}"]["psnr"] for r in ran])
            d_bic = a - np.array([r["psnr_bicubic"] for r in ran])
            d_best = a - np.array([r["psnr_regrun_best"] for r in ran])
            d_peer = a - np.array([r["psnr_peer_best"] for r in ran])
            out.append(f"- {split}, `{x}` ({len(ran)} sets): below bicubic on {int((d_bic < 0).sum())} (worst "
                       f"{d_bic.min():+.2f} dB, mean {d_bic.mean():+.2f}); within 0.75 dB of regrun's best on "
                       f"{int((d_best >= -0.75).sum())} (worst {d_best.min():+.2f}, mean {d_best.mean():+.2f}); at or "
                       f"above the peer's best - 0.5 dB on {int((d_peer >= -0.5).sum())} (worst {d_peer.min():+.2f}, "
                       f"mean {d_peer.mean():+.2f})")
        below = sum(r["psnr_regrun_best"] < r["psnr_bicubic"] for r in part)
        out.append(f"- {split}: regrun at its best grid weight is below bicubic on {below} of {len(part)} sets")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", nargs="+", default=list(HELD_OUT),
                    help=f"phantom, camera (the tuning split: {', '.join(TUNING)}), sk:NAME, fair:NAME, texture")
    ap.add_argument("--sizes", type=int, nargs="+", default=[20, 32, 48])
    ap.add_argument("--noise", type=float, nargs="+", default=[0.005, 0.01, 0.03])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--frames", type=int, nargs="+", default=[8])
    ap.add_argument("--rules", nargs="+", default=["gcv", "sure"], choices=RULES)
    ap.add_argument("--default", default="gcv", choices=RULES, help="the rule the summary columns judge")
    ap.add_argument("--grid", type=float, nargs="+", default=[0.03, 0.1, 0.2, 0.3, 0.5, 1.0])
    ap.add_argument("--outside", default="drop", choices=["drop", "keep"],
                    help="problem.outside (drop: the default for a user's frames)")
    ap.add_argument("--merge", type=Path, nargs="+", help="no runs: the table and summary of these .json outputs "
                    "(runs split over processes), written to --out .md")
    ap.add_argument("--reuse", type=Path, nargs="+", help="earlier .json outputs: the grid and the peer of a set "
                    "found there are taken from them, only auto is run (after a change to auto alone)")
    ap.add_argument("--auto-set", nargs="+", default=[], metavar="KEY=VALUE",
                    help="problem settings for the auto runs only (e.g. lam_rechoose=0; numbers parsed as YAML)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("outputs/bench/lambda_sr"))
    args = ap.parse_args(argv)
    import yaml

    args.auto_set = {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in args.auto_set)}
    if args.merge:
        rows = [r for path in args.merge for r in json.loads(path.read_text())["rows"]]
        rules = sorted({x for x in RULES for r in rows if f"auto_{x}" in r}, key=lambda x: x != args.default)
        md = markdown(rows, rules, args.default) + "\n\n" + summary(rows, rules)
        suffixed(args.out, ".md").write_text(md + "\n")
        print(md)
        return
    torch.set_num_threads(args.threads)
    try:  # the peer on as many threads as regrun
        import SimpleITK

        SimpleITK.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
    except ImportError:
        pass
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    rows = []
    earlier = {set_key(r): r for path in args.reuse or [] for r in json.loads(path.read_text())["rows"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            for kind in args.images:
                for noise, seed, frames in itertools.product(args.noise, args.seeds, args.frames):
                    t0 = time.perf_counter()
                    key = (kind, size, noise, seed, frames)
                    r = run_set(ctx, Path(tmp), kind, size, noise, seed, frames, args, earlier.get(key))
                    r["wall_s"] = time.perf_counter() - t0
                    rows.append(r)
                    autos = ", ".join(f"{x} {r[f'auto_{x}']['lam']:.3g} -> {r[f'auto_{x}']['psnr']:.2f}"
                                      for x in args.rules)
                    print(f"{kind} {size}^2 {frames} frames noise {noise:g} seed {seed}: bicubic {r['psnr_bicubic']:.2f}, "
                          f"regrun best {r['regrun_best_lam']:g} -> {r['psnr_regrun_best']:.2f}, peer best "
                          f"{r['psnr_peer_best']:.2f}; auto: {autos}; {r['wall_s']:.0f} s", flush=True)
                    suffixed(args.out, ".json").write_text(json.dumps(
                        {"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=1))
    md = markdown(rows, args.rules, args.default) + "\n\n" + summary(rows, args.rules)
    suffixed(args.out, ".md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()

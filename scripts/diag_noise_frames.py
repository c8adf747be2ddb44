"""The frames' noise estimate against the noise the bench added, estimator by estimator, no solves
(docs/superres.md, "The noise estimate on graphic frames (noiseest)"). For each --set (bench_lambda_sr.py's
IMAGE,SIZE,FRAMES,NOISE,SEED[,MOTION]) the frames are drawn twice from the same seed, with and without the noise
(frame_set draws the noise last, so the two differ by the noise alone), both taken to the model's frames (colour:
their Rec. 601 luminance, as problem.channels=auto), and the truth is the RMS of the difference: the realised
noise of exactly what the estimator sees (diag_lambda_sr_gate.true_sigma is the RMS over colour channels, 1.5x the
luminance's). Estimators:

- main: parameter_choice.noise_std_images at main (Immerkaer's mask, 10th percentile of 6x6 blocks' RMS);
- tai: Immerkaer's mask averaged over pixels away from edges (Tai and Yang 2008), the edges found by the Sobel
  gradient; here the threshold follows the estimate (|grad| > SOBEL_C x the Sobel response's noise, iterated from
  main's estimate) and the edge map is dilated by one pixel (a thin line's centre has no gradient), the RMS over
  the kept pixels over the same statistic of unit white noise under the same mask;
- taiblock: tai's edge mask, then main's block percentile over the blocks most of whose pixels are kept;
- pca: Liu, Tanaka and Okutomi (2013): the least eigenvalue of the covariance of weak-texture 5x5 patches (their
  gradient energy under its 99th percentile for noise alone at the current estimate), iterated, over the same
  statistic for unit white noise with as many patches;
- library: parameter_choice.noise_std_images as this tree has it (the chosen one, once chosen).

    python scripts/diag_noise_frames.py --out OUT/seen.json --set barcode,64,16,0.005,1203,translation ...
    python scripts/diag_noise_frames.py --table OUT/seen.json [OUT/more.json ...]
    python scripts/diag_noise_frames.py --auto --out OUT/auto.json --set ...   (`auto` alone, the defaults, with the
        climb gate's decisions recorded as diag_lambda_sr_gate.py records them; run with PYTHONPATH at the code to
        judge: main's or this tree's)
"""
import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_lambda_sr as bench  # noqa: E402
from regrun.imaging.io import luminance  # noqa: E402
from regrun.optim import parameter_choice as pc  # noqa: E402

SOBEL_C = 3.0  # in units of the Sobel magnitude's noise scale sqrt(12) sigma: Rayleigh tail exp(-c^2/2) = 1.1%
SOBEL_ITER = 4
PATCH = 3
PCA_ITER = 4


def model_frames(spec, noise, supersample=4):
    _, stack, _, _ = bench.frame_set(spec["kind"], spec["size"], spec["frames"], noise, spec["seed"],
                                     supersample=supersample, motion=spec["motion"], gain=spec.get("gain"))
    st = np.asarray(stack, dtype=np.float64)
    if st.ndim == 4:  # (frames, channels, m1, m2): the luminance, as SuperRes._user_frames
        st = luminance(st)
    return torch.as_tensor(st)


# --- candidates -----------------------------------------------------------------------------------------
def sobel(x):
    """|grad| by Sobel's masks on (n, m1, m2), the (n, m1-2, m2-2) interior (aligned with _immerkaer)."""
    gx = (x[:, :-2, 2:] - x[:, :-2, :-2]) + 2 * (x[:, 1:-1, 2:] - x[:, 1:-1, :-2]) + (x[:, 2:, 2:] - x[:, 2:, :-2])
    gy = (x[:, 2:, :-2] - x[:, :-2, :-2]) + 2 * (x[:, 2:, 1:-1] - x[:, :-2, 1:-1]) + (x[:, 2:, 2:] - x[:, :-2, 2:])
    return torch.sqrt(gx**2 + gy**2)


def hessian(x):
    """The second differences' magnitude sqrt(dxx^2 + dyy^2 + 2 dxy^2) on (n, m1, m2), each smoothed by [1, 2, 1] / 4
    across its axis as Sobel's, the (n, m1-2, m2-2) interior: zero on planes (smooth shading), large at edges and
    thin lines, which Sobel's first differences also flag on smooth ramps that Immerkaer's mask ignores."""
    a = x[:, :-2, :-2], x[:, :-2, 1:-1], x[:, :-2, 2:]
    b = x[:, 1:-1, :-2], x[:, 1:-1, 1:-1], x[:, 1:-1, 2:]
    c = x[:, 2:, :-2], x[:, 2:, 1:-1], x[:, 2:, 2:]
    row = [r[0] - 2 * r[1] + r[2] for r in (a, b, c)]  # second difference along axis 2 in each of the 3 rows
    dxx = (row[0] + 2 * row[1] + row[2]) / 4
    col = [c[i] - 2 * b[i] + a[i] for i in range(3)]
    dyy = (col[0] + 2 * col[1] + col[2]) / 4
    dxy = (c[2] - c[0] - a[2] + a[0]) / 4
    return torch.sqrt(dxx**2 + dyy**2 + 2 * dxy**2)


DETECTORS = {"sobel": sobel, "hess": hessian}


def kept(x, sigma, detector, scale, c=SOBEL_C):
    """Pixels of the mask responses none of whose 3x3 neighbours has a detector response over c x its RMS on noise
    of sigma (scale: that RMS for unit noise)."""
    edge = (DETECTORS[detector](x) > c * scale * sigma).to(x.dtype)
    return torch.nn.functional.max_pool2d(edge[:, None], 3, 1, 1)[:, 0] == 0


def unit_like(x):
    g = torch.Generator().manual_seed(0)
    return torch.randn(x.shape, generator=g, dtype=x.dtype)


def tai(x, start, detector="sobel"):
    u = unit_like(x)
    du, d = pc._immerkaer(u), pc._immerkaer(x)
    scale = float(DETECTORS[detector](u).pow(2).mean().sqrt())
    # unit noise through the same selection at sigma 1: the share of noise the mask's own choice removes
    ku = kept(u, 1.0, detector, scale)
    f = float(du[ku].pow(2).mean().sqrt())
    sigma = start
    for _ in range(SOBEL_ITER):
        k = kept(x, sigma, detector, scale)
        if int(k.sum()) < 50:
            return math.nan
        sigma = float(d[k].pow(2).mean().sqrt()) / f
    return sigma


def taiblock(x, start):
    d, u = pc._immerkaer(x), pc._immerkaer(unit_like(x))
    sigma = start
    for _ in range(SOBEL_ITER):
        k = pc._blocks(kept(x, sigma, "sobel", math.sqrt(12.0)).to(x.dtype))
        ok = k.mean(1) >= 0.5
        if int(ok.sum()) < 20:
            return math.nan
        db, ub, kb = pc._blocks(d)[ok], pc._blocks(u)[ok], k[ok]
        rms = ((db**2 * kb).sum(1) / kb.sum(1)).sqrt()
        urms = ((ub**2 * kb).sum(1) / kb.sum(1)).sqrt()
        sigma = float(torch.quantile(rms, pc.NOISE_QUANTILE) / torch.quantile(urms, pc.NOISE_QUANTILE))
    return sigma


def patches(x):
    p = x.unfold(1, PATCH, 1).unfold(2, PATCH, 1)  # (n, a, b, P, P)
    return p.reshape(-1, PATCH * PATCH)


def grad_energy(x):
    """Per 5x5 patch: the sum of squared horizontal and vertical differences inside it."""
    dh = (x[:, :, 1:] - x[:, :, :-1]) ** 2
    dv = (x[:, 1:, :] - x[:, :-1, :]) ** 2
    eh = dh.unfold(1, PATCH, 1).unfold(2, PATCH - 1, 1).sum((-1, -2))
    ev = dv.unfold(1, PATCH - 1, 1).unfold(2, PATCH, 1).sum((-1, -2))
    return (eh[:, :, :ev.shape[2]] + ev[:, :eh.shape[1], :]).flatten()


def least_eig(p):
    c = torch.cov(p.T)
    return float(torch.linalg.eigvalsh(c)[0])


def pca(x, start):
    u = unit_like(x)
    eu = grad_energy(u)
    tau = float(torch.quantile(eu, 0.99))  # unit noise's 99th percentile of patch gradient energy
    px, pu = patches(x), patches(u)
    ex = grad_energy(x)
    n = min(px.shape[0], ex.shape[0])
    px, pu, ex = px[:n], pu[:n], ex[:n]
    sigma = start
    for _ in range(PCA_ITER):
        weak = ex < tau * sigma**2
        m = int(weak.sum())
        if m < 4 * PATCH * PATCH:
            return math.nan
        # the least eigenvalue of m white-noise patches reads low (Marchenko-Pastur): the same count of unit ones
        sigma = math.sqrt(max(least_eig(px[weak]), 0.0) / least_eig(pu[:m]))
    return sigma


MAIN = None  # set in run(): main's noise_std_images, imported from --main's tree


def estimates(x):
    out, cpu = {}, {}
    for name, f in (("main", lambda: MAIN(x)), ("library", lambda: pc.noise_std_images(x))):
        c0 = time.process_time()
        out[name] = float(f())
        cpu[name] = time.process_time() - c0
    for name, f in (("tai", tai), ("hess", lambda x, s: tai(x, s, "hess")), ("pca", pca)):
        c0 = time.process_time()
        out[name] = f(x, out["main"])
        cpu[name] = time.process_time() - c0
    return out, cpu


def run(sets, out: Path, main_tree: str | None) -> None:
    global MAIN
    torch.set_num_threads(1)
    if main_tree:
        import importlib.util

        spec = importlib.util.spec_from_file_location("main_pc", Path(main_tree) / "regrun/optim/parameter_choice.py",
                                                      submodule_search_locations=None)
        mod = importlib.util.module_from_spec(spec)
        mod.__package__ = "regrun.optim"  # its relative imports resolve in this tree (errors, scalar_search)
        sys.modules["main_pc"] = mod
        spec.loader.exec_module(mod)
        MAIN = mod.noise_std_images
    else:
        MAIN = pc.noise_std_images
    rows = []
    for s in sets:
        x = model_frames(s, s["noise"])
        clean = model_frames(s, 0.0)
        truth = float((x - clean).pow(2).mean().sqrt())
        est, cpu = estimates(x)
        est0, _ = estimates(clean)  # the same frames without noise: what structure alone reads
        rows.append({**s, "truth": truth, "est": est, "cpu": cpu, "clean": est0, "frame": list(x.shape)})
        print(f"{s['kind']} {s['size']} {s['frames']} {s['noise']} s{s['seed']}: truth {truth:.4g} "
              + " ".join(f"{k} {v / truth:.2f}" for k, v in est.items()), flush=True)
        out.write_text(json.dumps({"rows": rows}, indent=1))


def run_auto(sets, out: Path) -> None:
    """`auto` alone (no grid, no peer) per set with the gate's records (diag_lambda_sr_gate's wrappers)."""
    import tempfile

    import diag_lambda_sr_gate as gate
    from regrun.context import RunContext
    from regrun.registration import superres_weight

    torch.set_num_threads(1)
    superres_weight.choose = gate.choose
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    args = argparse.Namespace(supersample=4, rules=["gcv"], auto_set={}, outside="drop", split="noiseest",
                              reuse="none (auto only)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in sets:
            c0 = time.process_time()
            r = gate.run_set(ctx, Path(tmp), s, args, reuse={})  # reuse: `auto` alone
            r["cpu_s"], r["sigma_true"] = time.process_time() - c0, gate.true_sigma(r)
            rows.append(r)
            a = r["auto_gcv"]
            print(f"{r['image']} {r['size']} {r['frames']} {r['noise']} s{r['seed']}: lam {a['lam']:.4g} psnr "
                  f"{a['psnr']:.4f} sigma {a['sigma']:.4g} gate {r['gate']} ({r['cpu_s']:.1f} CPU-s)", flush=True)
            out.write_text(json.dumps({"rows": rows}, indent=1))


def graphic(kind):
    return not any(kind.startswith(p) for p in ("sk:", "mpl:", "fair:", "rgb:sk:", "rgb:mpl:")) and kind not in (
        "texture", "gradient", "terrain", "plasma", "blobwaves")


def table(paths, names) -> None:
    # sk:binary_blobs draws its blobs from numpy's unseeded generator: the frames with and without noise are
    # different scenes, so its "truth" is not the noise (seen K-O: 145 frame units at 3%)
    rows = [r for p in paths for r in json.loads(Path(p).read_text())["rows"] if r["kind"] != "sk:binary_blobs"]
    print("| set | frames | true σ | " + " | ".join(f"{n} × truth (clean)" for n in names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for r in rows:
        mot = "" if r["motion"] == "affine" else f" ({r['motion']})"
        cells = " | ".join(f"{r['est'][n] / r['truth']:.2f} ({r['clean'][n] / r['truth']:.2f})" for n in names)
        print(f"| {r['kind']}{mot} {r['size']}²/{r['frames']} {100 * r['noise']:g}% s{r['seed']} | "
              f"{r['frame'][-1]} px | {r['truth']:.3g} | {cells} |")
    for group, sel in (("graphic", True), ("natural", False)):
        part = [r for r in rows if graphic(r["kind"]) == sel]
        if not part:
            continue
        line = []
        for n in names:
            q = np.array([r["est"][n] / r["truth"] for r in part])
            lq = np.abs(np.log(q[np.isfinite(q)]))
            line.append(f"{n}: median {np.nanmedian(q):.2f}, range {np.nanmin(q):.2f}-{np.nanmax(q):.2f}, "
                        f"within 1.5x on {int((lq <= math.log(1.5)).sum())}/{len(q)}, mean |log| {lq.mean():.2f}, "
                        f"CPU {np.mean([r['cpu'][n] for r in part]) * 1e3:.0f} ms")
        print(f"- {group} ({len(part)} sets): " + "; ".join(line))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", dest="sets", nargs="+", type=bench.parse_set)
    ap.add_argument("--main", help="a checkout of main whose noise_std_images is the 'main' column (default: this "
                    "tree's)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--table", type=Path, nargs="+")
    ap.add_argument("--auto", action="store_true", help="run `auto` alone on each set, gate decisions recorded")
    ap.add_argument("--names", nargs="+", default=["main", "tai", "taiblock", "pca", "library"])
    args = ap.parse_args(argv)
    if args.table:
        table(args.table, args.names)
    elif args.auto:
        run_auto(args.sets, args.out)
    else:
        run(args.sets, args.out, args.main)


if __name__ == "__main__":
    main()

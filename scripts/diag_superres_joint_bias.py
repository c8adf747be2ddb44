#!/usr/bin/env python
"""Does the joint solve's motion or the pre-registration's predict unseen frames better, and is that the one whose
image is nearer the truth? (srbias, session 24; docs/superres.md, "The joint solve's motion bias on many smooth
frames (srbias)").

On smooth scenes seen through many small frames varpro_cg's joint objective has its minimum away from the true
motion (held-out W's n32_terrain: the pre-registration 0.056 px off, the joint solve 0.175 px, -1.64 dB against the
two-stage peer; docs/superres.md, "Frame sets unlike any batch (srwide)", Failure 2). Per frame set (written with
bench_lambda_sr.frame_set as the .npz a user hands to `problem.data=frames`), in one process, one thread:

- the user's run (lambda_f=auto, varpro_cg, SuperRes.evaluate: the answer; the code on PYTHONPATH) with
  problem.common_from_start=false (main's answer; --set-config common_from_start=true: the rule's own), its PSNR,
  motion error, weight and CPU-s;
- the solver's start (the pre-registration, as the solver took it) and final motion, the final motion with the
  start's common motion (the rule's, superres_anchor.with_common_of) and frame 0 anchored by its own rows 4 rounds,
  each scored against the truth: the motion error (its common part and the rest) and the PSNR of the image at that
  motion (the final weight, SuperRes.evaluate);
- at the final weight and edge mask, each motion's leave-frames-out residuals (superres_check.held_out_residuals,
  every moved frame held out): the sum and per frame, the ratio pre / final, how many frames prefer each;
- the two-stage SimpleITK peer: its motion error and its PSNR at its best weight (bench_lambda_sr.weight_search).

    python scripts/diag_superres_joint_bias.py --set terrain,32,32,0.02,9401 phantom,48,8,0.01,9402,rigid \
        --out OUT/dev.json [--no-peer] [--set-config common_from_start=true]
    python scripts/diag_superres_joint_bias.py --dirs OUT/wide/n32_terrain --out OUT/seen.json
    python scripts/diag_superres_joint_bias.py --table OUT/dev.json [--gate 2.5]
    python scripts/diag_superres_joint_bias.py --rescore --root OUT/sets --out OUT/rescore.json
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_lambda_sr import bicubic_psnr, frame_set, parse_set, weight_search  # noqa: E402
from diag_superres_motion_bias import split_error  # noqa: E402
from bench_superres_frames import scores, sitk_motion, solve_channels  # noqa: E402

import regrun.solvers.varpro_cg as varpro_module  # noqa: E402
from regrun.config import config_section  # noqa: E402
from regrun.context import RunContext  # noqa: E402
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout  # noqa: E402
from regrun.monitor import Monitor  # noqa: E402
from regrun.problems.superres import SuperRes  # noqa: E402
from regrun.registration.superres_anchor import (  # noqa: E402
    COMMON_DISAGREEMENT,
    COMMON_MIN_MOVED,
    compose_inverse,
    frame0_affine,
    with_common_of,
)
from regrun.registration.superres_check import frame0_residual, held_out_residuals  # noqa: E402
from regrun.solvers.varpro_cg import VarProCG  # noqa: E402

GRID = [0.05, 0.1, 0.2, 0.4]  # the peer's weights, extended as heldout_sr_wide.py's


def write_set(root: Path, spec: dict) -> Path:
    """The spec's frames, truth and motion as a user's .npz (bench_lambda_sr.run_set's layout)."""
    truth, stack, w, _ = frame_set(spec["kind"], spec["size"], spec["frames"], spec["noise"], spec["seed"],
                                   motion=spec.get("motion", "affine"))
    path = root / f"{spec['kind']}_{spec['size']}_{spec['frames']}_{spec['noise']}_{spec['seed']}_" \
                  f"{spec.get('motion', 'affine')}.npz"
    np.savez(path, **{FRAMES_KEY: from_fair_layout(stack), TRUTH_KEY: from_fair_layout(truth), "w": w})
    return path


def anchored(model, w: torch.Tensor, rounds: int) -> list[torch.Tensor]:
    """w with its common motion set by frame 0's rows alone: `rounds` times, the image solved at w and the model's
    weight, frame 0 registered to it (superres_anchor.frame0_affine) and every frame moved by the inverse
    (compose_inverse), kept whatever the joint objective says (the regulariser's pull on the common motion left out).
    The motion after each round."""
    out = []
    for _ in range(rounds):
        f = model.solve(w, 2000, 1e-10, x0=model.initial_image()).x
        v = frame0_affine(model, f)
        if v is None:
            break
        w = compose_inverse(model, v, w)
        out.append(w)
    return out or [w]


def common_swapped(model, w_to: torch.Tensor, w_from: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """w_to with w_from's common motion (superres_anchor.with_common_of) and the two's disagreement at the fine
    points (domain units): its common part's RMS and the RMS of the rest, frame by frame."""
    w, d = with_common_of(model, w_to, w_from)
    return w, {"common_rms": d["common"], "rest_rms": d["rest"]}


def user_files(path: Path) -> tuple[str, str, str]:
    """(frames, truth, true motion) of a .npz set or of a folder as heldout_sr_wide.py / make_sr_frames.py write."""
    if path.is_dir():
        truth = next(p for p in (path / "truth.png", path / "truth.tiff", path / "truth.npy") if p.exists())
        return str(path / "frames"), str(truth), str(path / "motion.json")
    return str(path), str(path), str(path)


def run_set(ctx, path: Path, extra: dict, peer: bool, root_motions: Path) -> dict:
    frames_at, truth_at, motion_at = user_files(path)
    factor = int(extra.pop("factor", 2))
    extra.setdefault("common_from_start", False)  # main's answer unless asked: the rule is scored beside it

    def problem(lam, **kw):
        cfg = config_section("problem", "superres", data="frames", frames=frames_at, truth=truth_at,
                             true_motion=motion_at, lambda_f=lam, factor=factor, **kw)
        return SuperRes(cfg, ctx)

    starts = []
    original = varpro_module.start_params

    def recording(p, init):  # the solver's start, as it took it
        out = original(p, init)
        starts.append(out.detach().clone())
        return out

    varpro_module.start_params = recording
    try:
        p = problem("auto", **extra)
        c0 = time.process_time()
        res = VarProCG(config_section("solver", "varpro_cg"), ctx).solve(p, Monitor())
        metrics, _ = p.evaluate(res)
        cpu = time.process_time() - c0
    finally:
        varpro_module.start_params = original
    model = p.model
    w_fin = res.solution["w"].detach()
    w_pre = p.motion.to_affine(starts[0])
    row = {"lam": model.lam, "psnr": metrics["psnr"], "motion_error": metrics.get("motion_error", math.nan),
           "cpu_s": cpu, "psnr_bicubic": bicubic_psnr(p),
           "check": {k: v for k, v in res.stats.items() if k.startswith("common_")},
           "second_start_kept": float(getattr(p, "second_start_kept", math.nan))}
    frames = list(range(1, model.q + 1))
    row["reanchor"] = {k: v for k, v in res.stats.items() if k.startswith("reanchor")}
    c0 = time.process_time()
    path_w = anchored(model, w_fin, 4)
    row["anchor_s"] = time.process_time() - c0
    w_anc = path_w[-1]
    row["anchor_rounds_error"] = [p.motion_error(v) for v in path_w]
    w_swap, row["pre_vs_final"] = common_swapped(model, w_fin, w_pre)
    motions = root_motions / f"{path.stem}_motions.npz"
    np.savez(motions, final=w_fin.cpu().numpy(), pre=w_pre.cpu().numpy(), lam=model.lam)
    for name, w in (("final", w_fin), ("pre", w_pre), ("anchor", w_anc), ("swap", w_swap)):
        c0 = time.process_time()
        cv = held_out_residuals(model, w, frames, dense_max=max(model.n, 2304))
        cv_s = time.process_time() - c0
        m, _ = p.evaluate(replace(res, solution={**res.solution, "w": w}, stats={}))
        split = split_error(p, w)
        row[name] = {"motion_error": p.motion_error(w), "psnr": m["psnr"], "cv": sum(cv),
                     "common_rms": split["common_rms"], "rest_rms": split["rest_rms"],
                     "cv_frames": [round(v, 6) for v in cv], "cv_s": cv_s}
    a, b = np.array(row["pre"]["cv_frames"]), np.array(row["final"]["cv_frames"])
    row["cv_ratio"] = float(a.sum() / b.sum())
    row["frames_pre_better"] = int((a < b).sum())
    d = np.log(a / b)
    row["cv_t"] = float(d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))) if len(d) > 1 else math.nan
    if peer:
        try:
            p0 = problem(1.0)
            w_peer = sitk_motion(p0)
            grid = weight_search(lambda lam: scores(problem(lam), solve_channels(problem(lam), w_peer)), GRID, True)
            best = max(grid, key=lambda g: g["psnr"])
            row["peer"] = {"motion_error": p0.motion_error(w_peer), "psnr": best["psnr"], "lam": best["lam"]}
        except ImportError:
            pass
    return row


def rescore(ctx, root: Path, out: Path) -> None:
    """Every set with saved motions under root: frame 0's held-out residual (superres_check.frame0_residual) at the
    final, pre-registered and common-swapped motions, at the saved weight, the edge mask settled at the final motion;
    PSNR of each motion's image (PCG to 1e-10)."""
    rows = json.loads(out.read_text()) if out.exists() else {}
    for mpath in sorted(root.glob("*_motions.npz")):
        stem = mpath.name[: -len("_motions.npz")]
        m = np.load(mpath)
        cfg = config_section("problem", "superres", data="frames", frames=str(root / f"{stem}.npz"),
                             truth=str(root / f"{stem}.npz"), true_motion=str(root / f"{stem}.npz"),
                             lambda_f=float(m["lam"]))
        p = SuperRes(cfg, ctx)
        model = p.model
        w_fin = torch.as_tensor(m["final"], dtype=model.dtype)
        w_pre = torch.as_tensor(m["pre"], dtype=model.dtype)
        model.settle_outside(w_fin)
        w_swap, stats = common_swapped(model, w_fin, w_pre)
        row = {"pre_vs_final": stats}
        for name, w in (("final", w_fin), ("pre", w_pre), ("swap", w_swap)):
            c0 = time.process_time()
            f = model.solve(w, 2000, 1e-10, x0=model.initial_image()).x
            r0 = frame0_residual(model, w, f)
            row[name] = {"frame0": r0, "frame0_s": time.process_time() - c0, "motion_error": p.motion_error(w),
                         "psnr": scores(p, f.reshape(p.fine.m).cpu().numpy())["psnr"]}
        rows[stem] = row
        out.write_text(json.dumps(rows, indent=1))
        print(stem, " ".join(f"{k} {row[k]['psnr']:.2f}/{row[k]['motion_error']:.3f}/{row[k]['frame0']:.5g}"
                             for k in ("final", "pre", "swap")), stats, flush=True)


def table(paths, gate: float) -> str:
    """Markdown, one row per set of the results files: main's answer (the run's), the rule's (the common-swapped
    motion where the pre-registration and the joint solve disagree on the common motion `gate` times more than frame
    by frame and there are COMMON_MIN_MOVED moved frames or more, else main's), the pre-registration's, the 4-round
    anchor's and the peer's, PSNR (dB) / motion error (px)."""
    lines = ["| set | frames | common / rest | main | rule | pre-registration | 4-round anchor | peer best | "
             "rule - main | rule - peer |", "|" + "---|" * 10]
    for path in paths:
        for name, r in json.loads(Path(path).read_text()).items():
            d = r["pre_vs_final"]
            ratio = d["common_rms"] / d["rest_rms"] if d["rest_rms"] > 0 else math.inf
            frames = len(r["final"]["cv_frames"]) + 1
            acts = ratio >= gate and frames - 1 >= COMMON_MIN_MOVED
            rule = r["swap"] if acts else r["final"]
            pe = r.get("peer", {"psnr": math.nan, "motion_error": math.nan})
            cell = lambda m: f"{m['psnr']:.2f} / {m['motion_error']:.3f}"  # noqa: E731
            lines.append(f"| {name} | {frames} | {ratio:.2f} | {cell(r['final'])} | "
                         f"{'**' + cell(rule) + '**' if acts else cell(rule)} | {cell(r['pre'])} | "
                         f"{cell(r['anchor'])} | {cell(pe)} | {rule['psnr'] - r['final']['psnr']:+.2f} | "
                         f"{rule['psnr'] - pe['psnr']:+.2f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", dest="sets", nargs="*", type=parse_set, default=[],
                    metavar="IMAGE,SIZE,FRAMES,NOISE,SEED[,MOTION]")
    ap.add_argument("--dirs", nargs="*", type=Path, default=[], help="sets as users' folders (heldout_sr_wide.py "
                    "write's; factor 2 unless --set-config factor=K)")
    ap.add_argument("--root", type=Path, default=Path("outputs/diag/joint_bias_sets"), help="where the sets' .npz go")
    ap.add_argument("--set-config", nargs="*", default=[], metavar="KEY=VALUE", help="problem settings of the run")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--out", type=Path, help="results .json (rows added to it when it exists)")
    ap.add_argument("--rescore", action="store_true", help="no runs: score the motions saved under --root")
    ap.add_argument("--table", nargs="+", type=Path, help="no runs: the markdown table of these results files")
    ap.add_argument("--gate", type=float, default=COMMON_DISAGREEMENT,
                    help="--table: the rule's common / rest disagreement (default the library's)")
    a = ap.parse_args(argv)
    if a.table:
        print(table(a.table, a.gate))
        return None
    torch.set_num_threads(1)
    try:
        import SimpleITK

        SimpleITK.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    except ImportError:
        pass
    extra = {}
    for kv in a.set_config:
        k, v = kv.split("=", 1)
        extra[k] = {"true": True, "false": False}.get(v, v)
    a.root.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    if a.rescore:
        return rescore(ctx, a.root, a.out)
    rows = json.loads(a.out.read_text()) if a.out.exists() else {}
    for spec in [*a.sets, *a.dirs]:
        path = spec if isinstance(spec, Path) else write_set(a.root, spec)
        row = run_set(ctx, path, dict(extra), not a.no_peer, a.root)
        rows[path.stem] = {"spec": str(spec) if isinstance(spec, Path) else spec, **row}
        a.out.write_text(json.dumps(rows, indent=1, default=str))
        pe = row.get("peer", {})
        print(f"{path.stem}: auto {row['psnr']:.2f} dB {row['motion_error']:.3f} px lam {row['lam']:.3g} "
              f"{row['cpu_s']:.1f} CPU-s | final {row['final']['psnr']:.2f}/{row['final']['motion_error']:.3f} "
              f"(common {row['final']['common_rms']:.3f} rest {row['final']['rest_rms']:.3f}) "
              f"pre {row['pre']['psnr']:.2f}/{row['pre']['motion_error']:.3f} (common {row['pre']['common_rms']:.3f} "
              f"rest {row['pre']['rest_rms']:.3f}) anchor {row['anchor']['psnr']:.2f}/{row['anchor']['motion_error']:.3f} "
              f"(common {row['anchor']['common_rms']:.3f}, {row['anchor_s']:.1f} s) {row['anchor_rounds_error']} "
              f"swap {row['swap']['psnr']:.2f}/{row['swap']['motion_error']:.3f} {row['pre_vs_final']} "
              f"{row['reanchor']} | cv pre/final {row['cv_ratio']:.4f} "
              f"({row['frames_pre_better']}/{len(row['pre']['cv_frames'])} t {row['cv_t']:.2f}, "
              f"{row['final']['cv_s']:.1f}+{row['pre']['cv_s']:.1f} s) | peer {pe.get('psnr', math.nan):.2f}/"
              f"{pe.get('motion_error', math.nan):.3f} {row['check']}", flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Where the two-stage peer beats regrun's best weight (issue 16 / 21; docs/superres.md "Where the peer beats
regrun's best at 20² (srpeer)"). The peer's image is regrun's own regularised least squares at the peer's motion
(bench_superres_frames.solve_channels, outside=drop's pixels settled at that motion), so a gap between the two can
come only from the motion, the frame pixels each keeps, or the weight. Per frame set (bench_lambda_sr.py's --set
syntax and frame_set) and per weight of --lam, the PSNR (every channel, as SuperRes.evaluate) of:

- exact@true / exact@peer / exact@pre: that least squares at the true motion, at the peer's (SimpleITK affine,
  bench_superres_frames.sitk_motion) and at regrun's pre-registration (the solver's start), each with the edge
  mask settled at that motion: the image model and prior are the same in all three, only the motion differs;
- varpro: varpro_cg (affine, from the pre-registration, as bench_lambda_sr and the user's run), the user's answer
  (SuperRes.evaluate), its motion error; exact@varpro: the least squares at varpro's final motion with the mask
  settled there alone (not the solver's accumulated mask): the mask's share of the gap;
- varpro_from_peer: varpro_cg started at the peer's motion instead: if it ends where varpro ends, the joint
  objective's minimum (not the start) holds the motion there;
- varpro_<model>: varpro_cg with problem.motion_model set to the set's drawn model (translation / rigid), from that
  model's pre-registration.

The best of each column over --lam (judged with the truth) and the motion errors (RMS fine px,
SuperRes.motion_error) are printed per set and written to --out as JSON.

--starts: instead, the pre-registration alone: the full ladder's and the stopped ladder's motion errors, their
distance (the second start's gate) and CPU-s (srstart: does the gate fire on frames over 16 px?); each stage's
error; each scale's own minimum (theta 0.1 and the last, started at the truth); on frames of GLOBAL_START_MIN px
and up, per frame, the comparison of the ladder's and the global start's candidates (losses, errors), the ladder
with it forced to the global start, and with the candidates judged at the last scale instead.

--replay: instead, `auto` as the user runs it (every default) without the small frames' second start
(superres_model.PREREG_SMALL_MAX set to 0: main's single start) and with it ("end"; the session's first replays ran
the stopped ladder alone and two starts without the gate, superres_start.second_start): PSNR, weight, motion
error, CPU-s.

    python scripts/diag_superres_peer_gap.py --set fair:EPIslice-T@160:0,20,8,0.005,2645,rigid --out OUT/gap.json
    python scripts/diag_superres_peer_gap.py --replay --supersample 4 --set <E's 20²-32² sets> --out OUT/e.json
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import torch
from bench_lambda_sr import bicubic_psnr, parse_set  # scripts/bench_lambda_sr.py
from bench_superres_frames import scores, sitk_motion, solve_channels  # scripts/bench_superres_frames.py
from diag_superres_tiny import save_set  # scripts/diag_superres_tiny.py

from regrun.config import config_section
from regrun.imaging.transforms import Affine as transform_affine
from regrun.context import RunContext
from regrun.monitor import Monitor
from regrun.problems.superres import SuperRes
from regrun.registration import superres_model
from regrun.registration.superres_start import start_distance, start_params, stopped_ladder
from regrun.solvers.varpro_cg import VarProCG

# a factor of sqrt(2) apart, spanning the best weights of regrun and the peer on batch S's three gap sets (0.2-0.4)
LAMS = (0.05, 0.0707, 0.1, 0.141, 0.2, 0.283, 0.4, 0.566, 0.8)


def replay(spec, problem, ctx) -> dict:
    """`auto` (every default, cg_iters 50 as bench_lambda_sr) with main's single start (PREREG_SMALL_MAX 0) and
    with the small frames' second start: PSNR, weight, motion error and CPU-s of each."""
    row = {"set": f"{spec['kind']},{spec['size']},{spec['frames']},{spec['noise']},{spec['seed']},{spec['motion']}"}
    keep = superres_model.PREREG_SMALL_MAX
    try:
        for name, small_max in (("main", 0), ("end", keep)):
            superres_model.PREREG_SMALL_MAX = small_max
            p = problem("auto")
            t0 = time.process_time()
            res = VarProCG(config_section("solver", "varpro_cg", cg_iters=50), ctx).solve(p, Monitor())
            cpu = time.process_time() - t0
            m, _ = p.evaluate(res)
            row[name] = {"psnr": m["psnr"], "lam": res.metrics["lam_chosen"], "err": m["motion_error"], "cpu": cpu}
    finally:
        superres_model.PREREG_SMALL_MAX = keep
    print(f"{row['set']}: main {row['main']['psnr']:.2f} (err {row['main']['err']:.3f}, lam {row['main']['lam']:.3g}, "
          f"{row['main']['cpu']:.1f} s) end {row['end']['psnr']:.2f} (err {row['end']['err']:.3f}, lam "
          f"{row['end']['lam']:.3g}, {row['end']['cpu']:.1f} s) diff {row['end']['psnr'] - row['main']['psnr']:+.2f}",
          flush=True)
    return row


def stage_params(p, w):
    """A preregister trace's motion (q, n) as problem.motion_model's parameters (gains 1 where the model has them)."""
    if p.motion.gain:
        w = torch.cat((w, torch.ones(w.shape[0], 1, dtype=w.dtype, device=w.device)), 1)
    return w.reshape(-1)


def frame_errors(p, w):
    """Each frame's RMS motion error in fine px (SuperRes.motion_error's distance, frame by frame)."""
    h = torch.tensor(p.model.fine.h, dtype=w.dtype, device=w.device)
    return ((p.model.warp_points(w) - p.model.warp_points(p.w_true)) / h).pow(2).sum(-1).mean(-1).sqrt()


def starts(spec, problem) -> dict:
    """The pre-registration alone (outside=drop, the user's defaults): the full ladder's end and the ladder
    stopped at PREREG_SMALL_END (superres_start.stopped_ladder), their motion errors against the truth, their
    distance (second_start's gate, fine px RMS) and the CPU-s of each."""
    p = problem(0.1)
    transform = None if p.motion.is_affine else p.motion.transform
    trace = []
    t0 = time.process_time()
    full = p.model.preregister(drop_outside=True, transform=transform, gain=p.motion.gain, trace=trace)
    t1 = time.process_time()
    alt = stopped_ladder(p, transform)
    t2 = time.process_time()
    # the comparison of the two starts at the first sharp scale (frames of GLOBAL_START_MIN px and up), per frame:
    # its losses and each candidate's motion error; then the full ladder with the comparison forced to the global
    # start on every frame (its losses' ladder half set to +inf)
    compare, real = {}, p.model._register_scale

    def spy(*a, force=False, last=False, **k):
        out = real(*a, **k)
        if k.get("stride") == 2:
            compare.update(loss=out[2].detach().clone(), w=out[0].detach().clone())
            if last:  # judge the two candidates by the last scale's misfit after its LM (every point, 20 steps)
                theta_end = type(p.model).preregister.__defaults__[0][-1]
                end = real(theta_end, 1, a[2], out[0], out[1], a[5], 20, 1e-6)
                compare.update(loss_last=end[2].detach().clone(), w_last=end[0].detach().clone())
                out = (out[0], out[1], end[2], out[3])
            elif force:
                loss = out[2].clone()
                loss[:p.model.q] = float("inf")
                out = (out[0], out[1], loss, out[3])
        return out

    p.model._register_scale = spy
    p.model.preregister(drop_outside=True, transform=transform, gain=p.motion.gain)
    cmp_rows = []
    if compare:
        q = p.model.q
        e = [v for half in compare["w"].split(q) for v in
             frame_errors(p, p.motion.to_affine(stage_params(p, half))).tolist()]
        cmp_rows = [(j + 1, float(compare["loss"][j]), float(compare["loss"][q + j]), e[j], e[q + j])
                    for j in range(q)]
        p.model._register_scale = lambda *a, **k: spy(*a, force=True, **k)
    forced = p.model.preregister(drop_outside=True, transform=transform, gain=p.motion.gain)
    by_last = None
    if cmp_rows:
        p.model._register_scale = lambda *a, **k: spy(*a, last=True, **k)
        by_last = p.motion_error(p.motion.to_affine(
            p.model.preregister(drop_outside=True, transform=transform, gain=p.motion.gain)))
        e = [v for half in compare["w_last"].split(q) for v in
             frame_errors(p, p.motion.to_affine(stage_params(p, half))).tolist()]
        cmp_rows = [r + (float(compare["loss_last"][j]), float(compare["loss_last"][q + j]), e[j], e[q + j])
                    for j, r in enumerate(cmp_rows)]
    p.model._register_scale = real
    # where each scale's own minimum lies: the registration at theta 0.1 (the stopped ladder's last scale) and at
    # the full ladder's last, started at the true motion (20 LM steps, the ladder's max_iter)
    from_truth = {}
    if p.motion.is_affine and not p.motion.gain:
        wt = p.w_true.reshape(p.model.q, 6)
        for theta in (superres_model.PREREG_SMALL_END, type(p.model).preregister.__defaults__[0][-1]):
            w = p.model._register_scale(theta, 1, transform_affine(), wt, None, True, 20, 1e-6)[0].reshape(-1)
            from_truth[f"{theta:g}"] = (p.motion_error(w), float(frame_errors(p, w).max()))
    row = {"set": f"{spec['kind']},{spec['size']},{spec['frames']},{spec['noise']},{spec['seed']},{spec['motion']}",
           "from_truth": from_truth, "compare": cmp_rows, "err_compare_last": by_last, "err_forced_global": p.motion_error(p.motion.to_affine(forced)) if cmp_rows else None,
           "err_full": p.motion_error(p.motion.to_affine(full)), "err_stopped": p.motion_error(p.motion.to_affine(alt)),
           "distance": start_distance(p, full, alt), "cpu_full": t1 - t0, "cpu_stopped": t2 - t1,
           # each stage of the full ladder (global start, comparison, every scale): its motion error, and per frame
           # the worst frame's (the trace's motion is the transform's parameters without the gains)
           "stages": [(name, p.motion_error(p.motion.to_affine(stage_params(p, w))),
                       float(frame_errors(p, p.motion.to_affine(stage_params(p, w))).max())) for name, w in trace]}
    for j, lw, lg, ew, eg, lw2, lg2, ew2, eg2 in row["compare"]:
        print(f"  compare frame {j}: loss ladder {lw:.4g} global {lg:.4g} -> {'global' if lg < lw else 'ladder'};"
              f" error ladder {ew:.2f} global {eg:.2f}; at the last scale: loss {lw2:.4g} / {lg2:.4g} -> "
              f"{'global' if lg2 < lw2 else 'ladder'}, error {ew2:.2f} / {eg2:.2f}")
    if row["compare"]:
        print(f"  forced to the global start: error {row['err_forced_global']:.3f}; compared at the last scale: "
              f"error {row['err_compare_last']:.3f}")
    for theta, (e, m) in row["from_truth"].items():
        print(f"  theta {theta} from the truth: error {e:.3f} (worst {m:.2f})")
    print("  " + "; ".join(f"{n} {e:.3f} (worst {m:.2f})" for n, e, m in row["stages"]))
    print(f"{row['set']}: error full {row['err_full']:.3f} stopped {row['err_stopped']:.3f} distance "
          f"{row['distance']:.3f} px (gate {superres_model.SECOND_START_MOVE:g}); CPU-s {row['cpu_full']:.2f} / "
          f"{row['cpu_stopped']:.2f}", flush=True)
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", dest="sets", nargs="+", type=parse_set, required=True)
    ap.add_argument("--lam", nargs="+", type=float, default=list(LAMS))
    ap.add_argument("--supersample", type=int, default=8)
    ap.add_argument("--replay", action="store_true", help="auto with main's ladder and with the small frames' end")
    ap.add_argument("--starts", action="store_true", help="the pre-registration alone: full and stopped ladder")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.sets:
            path = save_set(Path(tmp), spec, args.supersample, spec["noise"])

            def problem(lam, model="affine"):
                return SuperRes(config_section("problem", "superres", data="frames", frames=str(path),
                                               truth=str(path), true_motion=str(path), lambda_f=lam,
                                               motion_model=model), ctx)

            def exact(lam, w):
                p = problem(lam)
                return scores(p, solve_channels(p, w))["psnr"]

            def varpro(lam, start, model="affine"):
                """varpro_cg from the motion parameters `start`: (PSNR, motion error, final affine motion, CPU-s)."""
                p = problem(lam, model)
                p.model.preregister = lambda **_: start.clone()
                t0 = time.process_time()
                res = VarProCG(config_section("solver", "varpro_cg", cg_iters=50), ctx).solve(p, Monitor())
                cpu = time.process_time() - t0
                m, _ = p.evaluate(res)
                return m["psnr"], m["motion_error"], p.model.affine_part(res.solution["w"]).detach(), cpu

            if args.starts:
                rows.append(starts(spec, problem))
                continue
            if args.replay:
                rows.append(replay(spec, problem, ctx))
                continue
            p0 = problem(1.0)
            w_true = p0.w_true
            pre = start_params(p0, "preregister")
            w_pre = p0.motion.to_affine(pre)
            t0 = time.process_time()
            w_peer = sitk_motion(p0)
            cpu_peer = time.process_time() - t0
            row = {"set": f"{spec['kind']} {spec['size']}/{spec['frames']}/{spec['noise']} s{spec['seed']} "
                          f"({spec['motion']})", "bicubic": bicubic_psnr(p0),
                   "err_pre": p0.motion_error(w_pre), "err_peer": p0.motion_error(w_peer), "cpu_peer": cpu_peer,
                   "lams": args.lam, "cols": {}}
            if spec["motion"] != "affine":
                pm = problem(1.0, spec["motion"])
                pre_m = start_params(pm, "preregister")
                row[f"err_pre_{spec['motion']}"] = pm.motion_error(pm.motion.to_affine(pre_m))
            cols = row["cols"]

            def put(name, value):
                cols.setdefault(name, []).append(value)

            for lam in args.lam:
                put("exact@true", exact(lam, w_true))
                put("exact@peer", exact(lam, w_peer))
                put("exact@pre", exact(lam, w_pre))
                ps, err, w_r, cpu = varpro(lam, pre)
                put("varpro", ps)
                put("varpro_err", err)
                put("varpro_cpu", cpu)
                put("exact@varpro", exact(lam, w_r))
                ps, err, _, _ = varpro(lam, w_peer)
                put("varpro_from_peer", ps)
                put("varpro_from_peer_err", err)
                if spec["motion"] != "affine":
                    ps, err, _, _ = varpro(lam, pre_m, spec["motion"])
                    put(f"varpro_{spec['motion']}", ps)
                    put(f"varpro_{spec['motion']}_err", err)
            best = {}
            for name, vals in cols.items():
                if name.endswith(("_err", "_cpu")):
                    continue
                i = max(range(len(vals)), key=lambda k: vals[k] if not math.isnan(vals[k]) else -1e9)
                best[name] = {"lam": args.lam[i], "psnr": vals[i]}
                if name + "_err" in cols:
                    best[name]["err"] = cols[name + "_err"][i]
            row["best"] = best
            print(f"{row['set']}: bicubic {row['bicubic']:.2f}; motion error pre {row['err_pre']:.3f} peer "
                  f"{row['err_peer']:.3f} px; best: " + "; ".join(
                      f"{k} {v['psnr']:.2f} @{v['lam']:g}" + (f" (err {v['err']:.3f})" if "err" in v else "")
                      for k, v in best.items()), flush=True)
            rows.append(row)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Batch NE's two misses on drawings (docs/superres.md, "Two misses on drawings in batch NE (srbar)"; issue 16).

Per frame set (bench_lambda_sr's sets and frames, `--supersample` as there; the bench's pre-registration fixed):
`auto` as the user runs it, then at each motion (the pre-registration, `auto`'s final motion, the two-stage
SimpleITK peer's, the true one) its RMS error against the truth (SuperRes.motion_error, per frame too), and over
a log grid of weights the rule's inputs (GCV at gamma 1 and at problem.lam_gcv_gamma, from the exact trace where
the frames are small enough for the dense factor) beside the PSNR of the exact regularised image at that motion:
which motion's curve puts the rule's minimum where, and how much of a gap to the peer is the motion's (regrun's
image at the peer's motion against the peer's best) rather than the weight's.

    python scripts/diag_superres_ne_misses.py --out OUT/ne.json --set bartarget,64,16,0.005,2331,translation
    python scripts/diag_superres_ne_misses.py --table OUT/ne.json

--floor-climb <bench_lambda_sr.py arguments>: the bench's run (`--reuse` as there) with a candidate gate: where a
search's marginal-likelihood floor binds (GCV's minimum fell below it) and the gate skipped the climb, the search
runs again with the climb ungated. Each row gets "floor_climb": per search, whether that happened; a set with no
such search is main's run bit for bit (the same calls in the same order).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from bench_lambda_sr import describe, parse_set  # scripts/bench_lambda_sr.py: the same sets
from bench_superres_frames import scores, sitk_motion, solve_channels
from curves_lambda_sr_cv import write  # scripts/curves_lambda_sr_cv.py: the bench's frames, as a file
from diag_lambda_sr_steps import auto_run, run_sets  # scripts/diag_lambda_sr_steps.py: the --set / --table loop

from regrun.config import config_section
from regrun.monitor import Monitor
from regrun.optim.parameter_choice import criterion, rademacher
from regrun.problems.superres import SuperRes
from regrun.registration.superres_weight import ImageSolve, evaluate_at
from regrun.solvers.varpro_cg import VarProCG


def per_frame_error(p, w: torch.Tensor) -> list[float]:
    """SuperRes.motion_error of each frame alone (the others set to the truth)."""
    q = p.model.q
    wt = p.w_true.to(w).reshape(q, -1)
    out = []
    for j in range(q):
        wj = wt.clone()
        wj[j] = w.reshape(q, -1)[j]
        out.append(float(p.motion_error(wj.reshape(-1))) * q ** 0.5)  # the RMS over one frame's points
    return out


def curve(p, w: torch.Tensor, lams, gamma: float, probes) -> list[dict]:
    """GCV (gamma 1 and the rule's gamma) and PSNR of the regularised image over lams, at motion w."""
    p.model.settle_outside(w)  # the motion's own edge mask, as the search decides it
    solve = ImageSolve(p.model, w, p.final_iters, p.lam_rtol)
    rows = []
    for lam in lams:
        fit = evaluate_at(p.model, solve, probes, float(lam))
        img = fit.state.reshape(p.fine.m).cpu().numpy()
        rows.append({"lam": float(lam), "rss": fit.rss, "trace": fit.trace, "m": fit.m,
                     "gcv1": criterion("gcv", fit, 1.0, 1.0, 1.0), "gcv": criterion("gcv", fit, 1.0, 1.0, gamma),
                     "psnr": scores(p, img)["psnr"]})
    return rows


def one_set(ctx, tmp: Path, spec, lams, supersample: int) -> dict:
    path = write(tmp, spec, supersample)
    p, res, w0, cpu_auto = auto_run(ctx, path, spec)
    metrics, _ = p.evaluate(res)
    auto = {k: float(v) for k, v in res.metrics.items() if k.startswith("lam_") and isinstance(v, (int, float))}
    auto.update(psnr=float(metrics["psnr"]), cpu_s=cpu_auto)
    motions = {"pre-registered": w0, "auto final": res.solution["w"].detach(), "peer": sitk_motion(p),
               "true": p.w_true.to(w0)}
    d = p.model.frames.reshape(-1)
    probes = rademacher(p.weight_settings.probes, d.shape, ctx.generator(int(p.cfg.lam_seed)), d.dtype, d.device)
    out = {"set": describe({"image": spec["kind"], **spec, "channels": 1}), "spec": spec, "auto": auto,
           "details": [{k: (float(v) if isinstance(v, (int, float)) else str(v)) for k, v in ch.details.items()}
                       for ch in p.weight_searches],
           "search_curves": [{k: [float(x) for x in v] for k, v in ch.curve.items()} for ch in p.weight_searches],
           "motions": {}}
    # `auto` again, the solver started from the peer's motion in place of the pre-registration: whether regrun's
    # joint objective keeps a good start (then the gap is the pre-registration's) or leaves it
    p2 = SuperRes(p.cfg, ctx)
    w_peer = motions["peer"]
    p2.model.preregister = lambda **_: w_peer.clone()
    res2 = VarProCG(config_section("solver", "varpro_cg", cg_iters=50), ctx).solve(p2, Monitor())
    m2, _ = p2.evaluate(res2)
    out["auto_from_peer"] = {"lam": float(res2.metrics["lam_chosen"]), "psnr": float(m2["psnr"]),
                             "motion_error": float(p2.motion_error(res2.solution["w"].detach()))}
    print(f"{out['set']} auto from the peer's motion: {out['auto_from_peer']}", flush=True)
    for name, w in motions.items():
        out["motions"][name] = {"error": float(p.motion_error(w)), "per_frame": per_frame_error(p, w),
                                "curve": curve(p, w, lams, p.weight_settings.gamma, probes)}
        # the peer's own image (PCG to 1e-10 at its motion): the bench's peer column, for the check
        if name == "peer":
            for lam in (0.2, 0.4):
                p.model.set_weight(lam)
                out["motions"][name][f"peer_image_{lam}"] = scores(p, solve_channels(p, w))["psnr"]
        print(f"{out['set']} {name}: motion error {out['motions'][name]['error']:.4g}", flush=True)
    return out


def table(rows) -> str:
    lines = []
    for r in rows:
        a = r["auto"]
        lines.append(f"### {r['set']}: auto {a['lam_chosen']:.4g} ({a['psnr']:.2f} dB); first "
                     f"{a.get('lam_first', float('nan')):.4g}, again {a.get('lam_rechosen', float('nan')):.4g}, "
                     f"split from {a.get('lam_split_from', float('nan')):.4g}")
        lines += ["", "| motion | RMS error (worst frame) | λ: PSNR / GCV γ=1 / GCV rule ... | GCV γ=1 min | GCV rule "
                  "min | PSNR peak |", "|---|---|---|---|---|---|"]
        for name, m in r["motions"].items():
            c = m["curve"]
            cells = "; ".join(f"{x['lam']:.3g}: {x['psnr']:.2f} / {x['gcv1']:.4g} / {x['gcv']:.4g}" for x in c)
            g1, g = min(c, key=lambda x: x["gcv1"]), min(c, key=lambda x: x["gcv"])
            pk = max(c, key=lambda x: x["psnr"])
            lines.append(f"| {name} | {m['error']:.3g} ({max(m['per_frame']):.3g}) | {cells} | {g1['lam']:.3g} "
                         f"({g1['psnr']:.2f}) | {g['lam']:.3g} ({g['psnr']:.2f}) | {pk['lam']:.3g} ({pk['psnr']:.2f}) |")
        lines.append("")
    return "\n".join(lines)


FLOOR_CLIMBS: list[bool] = []


def floor_climb_choose(original):
    """superres_weight.choose with the candidate gate (module docstring, --floor-climb)."""
    def choose(evaluate, settings, sigma, *args, **kwargs):
        choice = original(evaluate, settings, sigma, *args, **kwargs)
        d = choice.details
        hit = "lam_rule_below_floor" in d and "lam_climb_skipped" in d
        FLOOR_CLIMBS.append(hit)
        if hit:  # the same search (the same evaluator: its cached fits) with the climb allowed
            choice = original(evaluate, settings, sigma, *args, **{**kwargs, "climb_below_noise": False})
            choice.details["lam_floor_climb"] = f"gate skipped at {d['lam_climb_skipped']}"
        return choice
    return choose


def screen_table(new_paths, old_paths) -> str:
    """The candidate's rows (--floor-climb runs) beside main's (bench runs of the same sets): the searches where
    the candidate climbed, lambda and PSNR both ways, and regrun's best weight."""
    def key(r):
        return (r["image"], r["size"], r["frames"], r["noise"], r["seed"], r["motion"])
    old = {key(r): r for p in old_paths for r in json.loads(Path(p).read_text())["rows"]}
    lines = ["| set | size / frames / noise | searches climbed past the gate | λ main / candidate | PSNR main / "
             "candidate | Δ dB | regrun best λ (PSNR) |", "|---|---|---|---|---|---|---|"]
    deltas = []
    for p in new_paths:
        for r in json.loads(Path(p).read_text())["rows"]:
            hits = r.get("floor_climb", [])
            if not any(hits):
                continue
            o = old.get(key(r))
            a = r["auto_gcv"]
            lo, po = (o["auto_gcv"]["lam"], o["auto_gcv"]["psnr"]) if o else (float("nan"),) * 2
            deltas.append(a["psnr"] - po)
            mot = "" if r["motion"] == "affine" else f" ({r['motion']})"
            lines.append(f"| {r['image']}{mot} s{r['seed']} | {r['size']}² / {r['frames']} / {100 * r['noise']:g}% | "
                         f"{', '.join(str(i) for i, h in enumerate(hits) if h)} of {len(hits)} | {lo:.3g} / "
                         f"{a['lam']:.3g} | {po:.2f} / {a['psnr']:.2f} | {a['psnr'] - po:+.2f} | "
                         f"{r['regrun_best_lam']:.3g} ({r['psnr_regrun_best']:.2f}) |")
    n = sum(len(json.loads(Path(p).read_text())["rows"]) for p in new_paths)
    lines.append(f"\n{len(deltas)} of {n} sets changed; summed {sum(deltas):+.2f} dB, worst "
                 f"{min(deltas, default=0.0):+.2f}")
    return "\n".join(lines)


def floor_climb_bench(argv):
    import bench_lambda_sr as bench
    from regrun.registration import superres_weight
    superres_weight.choose = floor_climb_choose(superres_weight.choose)
    run_set = bench.run_set

    def recorded(*args, **kwargs):
        FLOOR_CLIMBS.clear()
        row = run_set(*args, **kwargs)
        row["floor_climb"] = list(FLOOR_CLIMBS)
        return row

    bench.run_set = recorded
    bench.main(argv)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", dest="sets", nargs="+", type=parse_set)
    ap.add_argument("--lams", type=float, nargs="+", default=[0.03, 0.0433, 0.0612, 0.1, 0.141, 0.2, 0.283, 0.4, 0.8])
    ap.add_argument("--supersample", type=int, default=4)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--table", type=Path, nargs="+", help="no runs: the markdown tables of these --out files")
    args = ap.parse_args(argv)
    run_sets(args, table, lambda ctx, tmp, spec: one_set(ctx, tmp, spec, args.lams, args.supersample), table)


if __name__ == "__main__":
    import sys
    if sys.argv[1:2] == ["--screen-table"]:  # --screen-table NEW.json... --old MAIN.json...
        i = sys.argv.index("--old")
        print(screen_table(sys.argv[2:i], sys.argv[i + 1:]))
    elif sys.argv[1:2] == ["--floor-climb"]:
        floor_climb_bench(sys.argv[2:])
    else:
        main()

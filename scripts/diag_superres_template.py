#!/usr/bin/env python
"""A fused template for the super-resolution pre-registration on sharp drawings through 22-32 px frames (issue 16;
docs/superres.md "A fused template for sharp drawings (srtemplate)").

New scenes (as scripts/diag_superres_prereg.py's, added to its SCENES by name so bench_lambda_sr's --set takes
them): text in fonts and sizes no earlier batch used (matplotlib's bundled fonts, so every machine draws the same):
text_italic (DejaVu Serif Italic 12 px), text_stix (STIX General 13 px), text_cmr (Computer Modern Roman 16 px),
text_oblique (DejaVu Sans Oblique 14 px), text_cmtt (Computer Modern Typewriter 12 px).

    python scripts/diag_superres_template.py bench <bench_lambda_sr.py's options>   # the bench with the scenes
    python scripts/diag_superres_template.py draw --out OUT/scenes                 # the scenes as PNGs
    python scripts/diag_superres_template.py fused --set <sets> [--supersample 8] [--lams 3.2+3.2 3.2+0.8]
    python scripts/diag_superres_template.py replay --set <sets> [--supersample 8]   # `auto` without / with it

fused: per set, the motion error (RMS fine px, per frame) of main's pre-registration (frame 0's spline as the
template) and of each frame registered again, from there, to a fused template: the least-squares image f at the
current motion at a coarse weight, seen through the pixel's box (superres_fused.BoxTemplate), scale by scale, in
rounds at the weights of a schedule (--lams; superres_fused.fused_motion); as checks of the cause the same ladder
to the true image and to the least-squares image at the true motion, and to frame 0's spline on the fine grid
(the ladder's mechanics without the fusion); the gate's quantities (the distance from the pre-registration, the
fit objective at both: superres_fused.fit_objective); varpro_cg at --lam from the pre-registration and from each
fused start (motion error, PSNR, its joint objective).
replay: `auto` as the user runs it without the fused start (superres_start.FUSED_MIN out of reach) and with it.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_lambda_sr  # noqa: E402  (scripts/bench_lambda_sr.py)
import diag_superres_prereg as prereg  # noqa: E402  (scripts/diag_superres_prereg.py: its scenes, its ladders)

NEW_SCENES = {
    "text_italic": lambda u: prereg._text(u, "DejaVuSerif-Italic.ttf", 12, 16, 15.5, 38),
    "text_stix": lambda u: prereg._text(u, "STIXGeneral.ttf", 13, 16, 15.0, 40),
    "text_cmr": lambda u: prereg._text(u, "cmr10.ttf", 16, 12, 20.0, 30),
    "text_oblique": lambda u: prereg._text(u, "DejaVuSans-Oblique.ttf", 14, 14, 17.5, 30),
    "text_cmtt": lambda u: prereg._text(u, "cmtt10.ttf", 12, 16, 15.0, 36),
}
prereg.SCENES.update(NEW_SCENES)  # prereg.source_image looks SCENES up at call time
FUSED_MIN = __import__("regrun.registration.superres_start", fromlist=["FUSED_MIN"]).FUSED_MIN


def each_set(args):
    """(name, the saved set's path, its problem, the run context: CPU, float64) for every --set, saved (at
    --supersample) in a temporary folder that lives while the caller iterates."""
    import tempfile

    from diag_superres_tiny import save_set  # scripts/diag_superres_tiny.py

    from regrun.context import RunContext

    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.sets:
            name = ",".join(str(spec[k]) for k in ("kind", "size", "frames", "noise", "seed", "motion"))
            path = save_set(Path(tmp), spec, args.supersample, spec["noise"])
            yield name, path, prereg._problem(spec, args.supersample, Path(tmp), ctx), ctx


def fused(args) -> list[dict]:
    import time

    import numpy as np

    from regrun.imaging.transforms import Affine
    from regrun.registration.superres_fused import FIT_LAM, fit_objective, fused_image, fused_ladder, fused_motion
    from regrun.registration.superres_start import start_distance, start_params

    rows = []
    for name, path, p, ctx in each_set(args):
        m, q = p.model, p.model.q
        t0 = time.process_time()
        fused_switch("main")  # main's pre-registration: without the fused start
        try:
            w0 = p.motion.to_affine(start_params(p, "preregister")).reshape(q, 6)
        finally:
            fused_switch(None)
        starts = {"main": w0}
        cpu = {"main": time.process_time() - t0}
        ident = Affine().identity(m.dtype, m.device).repeat(q, 1)
        starts["true image ladder, from identity"] = fused_ladder(m, p.truth.reshape(-1), ident)
        starts["frame 0 (fine spline) ladder"] = fused_ladder(m, m.initial_image(), ident)
        gate = {}
        for lam in sorted({float(v) for sched in args.lams for v in sched.split("+")}):
            starts[f"f at true motion lam {lam:g} ladder"] = fused_ladder(
                m, fused_image(m, p.w_true, lam), ident)
        for sched in args.lams:  # each a schedule: the fused image's weight in each round, "3.2+0.8"
            w = w0
            t0 = time.process_time()
            for r, lam in enumerate(float(v) for v in sched.split("+")):
                key = f"fused {sched} round {r + 1}"
                w = fused_motion(m, w, (lam,)).reshape(q, 6)
                starts[key] = w
                cpu[key] = time.process_time() - t0
            gate[key] = {"distance": start_distance(p, w0.reshape(-1), w.reshape(-1)),
                         "fit": {f"{g:g}": [fit_objective(m, w0, g), fit_objective(m, w, g)]
                                 for g in (FIT_LAM, 0.8)}}
        row = {"set": name, "frame_px": m.coarse.m[0], "errors": {}, "cpu": cpu, "varpro": {}, "gate": gate}
        print(name, f"{m.coarse.m[0]}px", flush=True)
        for k, w in starts.items():
            e = prereg._errors(p, w).numpy()
            row["errors"][k] = e.tolist()
            print(f"  {k:34s} rms {np.sqrt((e ** 2).mean()):6.3f} worst {e.max():6.2f} >1px {int((e > 1).sum()):2d}"
                  + (f" cpu {cpu[k]:.2f}" if k in cpu else ""), flush=True)
        for k, v in gate.items():
            print(f"  gate {k}: distance from main {v['distance']:.3f} px; fit objective main / fused "
                  + "  ".join(f"lam {g}: {a:.6g} / {b:.6g} ({b / a:.3f})" for g, (a, b) in v["fit"].items()),
                  flush=True)
        for k in ["main", *gate] if args.varpro else []:
            row["varpro"][k] = v = varpro_from(path, starts[k], args.lam, ctx)
            print(f"  varpro_cg lam {args.lam:g} from {k:28s} err {v['err']:.3f} psnr {v['psnr']:.2f} "
                  f"objective {v['objective']:.6g}", flush=True)
        rows.append(row)
    return rows


def varpro_from(path, w, lam, ctx) -> dict:
    """varpro_cg at the weight lam from the motion w on the set saved at path (solver.init=truth with w in the
    truth's place): its motion error, PSNR and joint objective."""
    from regrun.config import config_section
    from regrun.monitor import Monitor
    from regrun.problems.superres import SuperRes
    from regrun.solvers.varpro_cg import VarProCG

    pp = SuperRes(config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                                 true_motion=str(path), lambda_f=lam), ctx)
    truth = pp.w_true
    pp.w_true = w.reshape(-1).clone()
    res = VarProCG(config_section("solver", "varpro_cg", cg_iters=50, init="truth"), ctx).solve(pp, Monitor())
    pp.w_true = truth
    met, _ = pp.evaluate(res)
    return {"err": met["motion_error"], "psnr": met["psnr"], "objective": met["objective"]}


def fused_switch(v) -> None:
    """replay's change: "main" without the fused start (superres_start.FUSED_MIN out of reach), "end" with it,
    None: as it was."""
    from regrun.registration import superres_start

    superres_start.FUSED_MIN = 10**9 if v == "main" else FUSED_MIN


def study_cli(ap, argv, study) -> list[dict]:
    """Parse argv with ap (and --out), run study(args) on one thread, write its rows to --out as JSON."""
    import json

    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    rows = study(a)
    if a.out:
        a.out.write_text(json.dumps(rows, indent=1))
    return rows


def replay_cli(argv, switch) -> list[dict]:
    """`replay --set ... [--supersample] [--out]`: diag_superres_prereg.replay with the change switch(v) sets."""
    import argparse
    import json

    ap = argparse.ArgumentParser()
    ap.add_argument("--set", dest="sets", nargs="+", type=bench_lambda_sr.parse_set, required=True)
    ap.add_argument("--supersample", type=int, default=4)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    a.always_wide = False
    torch.set_num_threads(1)
    rows = prereg.replay(a, switch=switch)
    if a.out:
        a.out.write_text(json.dumps(rows, indent=1))
    return rows


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("bench", "draw", "fused", "replay"):
        raise SystemExit("usage: diag_superres_template.py bench|draw|fused|replay ...")
    if argv[0] == "replay":
        return replay_cli(argv[1:], fused_switch)
    if argv[0] == "bench":
        return bench_lambda_sr.main(argv[1:])
    if argv[0] == "fused":
        import argparse
        import json

        ap = argparse.ArgumentParser()
        ap.add_argument("--set", dest="sets", nargs="+", type=bench_lambda_sr.parse_set, required=True)
        ap.add_argument("--supersample", type=int, default=4)
        ap.add_argument("--lams", nargs="+", default=["3.2+3.2", "3.2+0.8"], help="schedules: the fused image's "
                        "weight in each round, joined by +")
        ap.add_argument("--lam", type=float, default=0.2, help="varpro_cg's fixed weight")
        ap.add_argument("--no-varpro", dest="varpro", action="store_false", help="the starts only")
        ap.add_argument("--out", type=Path)
        a = ap.parse_args(argv[1:])
        torch.set_num_threads(1)
        rows = fused(a)
        if a.out:
            a.out.write_text(json.dumps(rows, indent=1))
        return rows
    return prereg.draw(Path(argv[argv.index("--out") + 1]) if "--out" in argv else Path("outputs/scenes"))


if __name__ == "__main__":
    main()

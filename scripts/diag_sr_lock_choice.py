#!/usr/bin/env python
"""`problem.motion_model=auto`'s choice of a smaller model where its affine answer locked (srlock2, issue 16).

The user's first answer (affine, the frames less their level: user_answer, in this process) and its area scales
(superres_motion.area_scales; outside [1/2, 2]: srscale's detector of a locked answer). Then the smaller models'
answers the choice scores (superres_model_choice.choose_motion_model: each from its own pre-registration at the
affine answer's weight) with their motion error against the truth, and the choice's statistic scored two ways:
  - as `auto` scores it: every model's end on one mask (the locked affine end's included), z per extra parameter;
  - without the affine end: translation against rigid on the mask the two smaller ends keep.
Beside them each smaller model's answer at its own weight (`problem.motion_model=NAME`, lambda_f=auto: what the
second solve gives) and the same two-model z at that pair's ends. Per set one line, and all numbers as JSON.

    PYTHONPATH=. python scripts/diag_sr_lock_choice.py OUT/frames/SET.npz ... --out OUT/lock_choice.json
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from diag_sr_scale import run_sets  # noqa: E402  scripts/diag_sr_scale.py
from diag_sr_solve_history import user_answer  # noqa: E402  scripts/diag_sr_solve_history.py


def measure(frames: Path) -> dict:
    from regrun.config import config_section
    from regrun.monitor import Monitor
    from regrun.registration.superres_model_choice import SMALLER, choice_noise, data_misfits, misfit_z, pick
    from regrun.registration.superres_motion import area_scales
    from regrun.solvers.varpro_cg import VarProCG

    t0 = time.process_time()
    p, res, metrics, _ = user_answer(frames)
    solver = VarProCG(config_section("solver", "varpro_cg"), p.ctx)
    lam = float(p.model.lam)
    sigma = choice_noise(p)
    unit = dict(sigma=sigma, cell=p.model.sqrt_hd ** 2, q=p.model.q)
    row = {"set": frames.name, "affine": {"motion_error": metrics["motion_error"], "lam": lam,
                                          **area_scales(p.model, res.solution["w"])}, "sigma": sigma}
    at_lam, own = {"affine": res.solution["w"].detach()}, {}
    for name in SMALLER:
        c = p.with_changes({"motion_model": name, "lambda_f": lam})
        at_lam[name] = solver.solve(c, Monitor()).solution["w"].detach()
        o = p.with_changes({"motion_model": name})
        r = solver.solve(o, Monitor())
        own[name] = r.solution["w"].detach()
        row[name] = {"at_lam_motion_error": c.motion_error(at_lam[name]), "own_motion_error": o.motion_error(own[name]),
                     "own_lam": float(o.model.lam)}
    # data_misfits narrows its problem's mask: a fresh problem for each scoring
    three = data_misfits(p.with_changes({"motion_model": "rigid", "lambda_f": lam}), at_lam)
    z3 = misfit_z(three, **unit)
    two = data_misfits(p.with_changes({"motion_model": "rigid", "lambda_f": lam}),
                       {k: at_lam[k] for k in SMALLER})
    two_own = data_misfits(p.with_changes({"motion_model": "rigid", "lambda_f": lam}), own)
    z2 = {n: misfit_z({**m, "affine": m["rigid"]}, **unit)["translation_rigid"] for n, m in
          (("at_lam", two), ("own", two_own))}
    row.update(z_auto=z3, chosen_auto=pick(z3, p.motion_z), rss_auto=three, z_tr_two_at_lam=z2["at_lam"],
               z_tr_two_own=z2["own"], cpu_s=time.process_time() - t0)
    return row


def summary(r: dict) -> str:
    a = r["affine"]
    return (f"{r['set'][:48]:48s} affine {a['motion_error']:.2f} px areas {a['motion_area_min']:.2f}-"
            f"{a['motion_area_max']:.2f} | at lam {a['lam']:.3g}: rigid {r['rigid']['at_lam_motion_error']:.2f} "
            f"transl {r['translation']['at_lam_motion_error']:.2f}; own lam: rigid {r['rigid']['own_motion_error']:.2f}"
            f" ({r['rigid']['own_lam']:.3g}) transl {r['translation']['own_motion_error']:.2f} "
            f"({r['translation']['own_lam']:.3g}) | auto: z RA {r['z_auto']['rigid_affine']:.3g} TR "
            f"{r['z_auto']['translation_rigid']:.3g} -> {r['chosen_auto']}; two-model z TR at lam "
            f"{r['z_tr_two_at_lam']:.3g}, own {r['z_tr_two_own']:.3g} | {r['cpu_s']:.0f} CPU-s")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("frames", type=Path, nargs="+", help="kept sets (bench_lambda_sr.py --keep): frames, truth, motion")
    ap.add_argument("--out", type=Path, help="all numbers as JSON (one file, rewritten after every set)")
    args = ap.parse_args(argv)
    run_sets(args.frames, measure, summary, args.out)


if __name__ == "__main__":
    main()

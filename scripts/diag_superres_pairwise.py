#!/usr/bin/env python
"""Pairwise pre-registration for sharp drawings through 24-31 px frames whose first motion is 2-3 px off
(docs/superres.md, "Pairwise registration for sharp drawings (srpair)").

    python scripts/diag_superres_pairwise.py --set <bench_lambda_sr sets> [--supersample 8] [--refs 16] --out F.json
    python scripts/diag_superres_pairwise.py replay --set <sets> [--supersample 8] --out F.json  # `auto` main / end

Per set, the motion error against the truth (RMS fine px per frame; worst; frames > 1 px) of: main's start without
the fused start (frame 0's spline as the template), main's start as it is (with superres_start.fused_start), every
frame registered to --refs reference frames (superres_pairwise.pairwise_motions) made consistent by plain least
squares and by robust least squares (superres_pairwise.consistent_motion), and the fused rounds
(superres_fused.fused_motion) from the robust motion; a multistart (every frame from its first motion shifted by
whole fine px up to --ms-radius, the ladder's last three scales, the lowest end per frame) against the true image
and, in --ms-rounds rounds, against the least-squares image at the current motion (λ 3.2); the truth itself; beside each the fit objective (superres_fused.fit_objective)
and the distance from main's start, and the CPU seconds of each stage; with --varpro varpro_cg at --lam (0.2) from main's start and the
pairwise ones (motion error, PSNR, joint objective).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_lambda_sr  # noqa: E402  (scripts/bench_lambda_sr.py)
import diag_superres_prereg as prereg  # noqa: E402
import diag_superres_template as template  # noqa: E402  (its scenes and its switch of the fused start)


def study(args) -> list[dict]:
    import numpy as np

    from regrun.imaging.transforms import affine, affine_identity
    from regrun.registration.superres_fused import fit_objective, fused_image, fused_motion
    from regrun.registration.superres_pairwise import consistent_motion, pairwise_motions
    from regrun.registration.superres_start import start_distance, start_params

    rows = []
    for name, path, p, ctx in template.each_set(args):
        m, q = p.model, p.model.q
        starts, cpu = {}, {}
        t0 = time.process_time()
        template.fused_switch("main")
        try:
            starts["main, no fused start"] = p.motion.to_affine(start_params(p, "preregister")).reshape(q, 6)
        finally:
            template.fused_switch(None)
        cpu["main, no fused start"] = time.process_time() - t0
        t0 = time.process_time()
        starts["main (fused start)"] = p.motion.to_affine(start_params(p, "preregister")).reshape(q, 6)
        cpu["main (fused start)"] = time.process_time() - t0
        starts["truth"] = p.w_true.reshape(q, 6)
        for label, tmpl in () if not args.multistart else (("true image", lambda w: p.truth.reshape(-1)),
                            ("fused", lambda w: fused_image(m, w.reshape(-1), 3.2))):
            t0 = time.process_time()
            w = starts["main, no fused start"]
            for r in range(args.ms_rounds if label == "fused" else 1):
                w = multistart(m, tmpl(w), w, args.ms_radius)
            starts[f"multistart, {label}"] = w
            cpu[f"multistart, {label}"] = time.process_time() - t0
        t0 = time.process_time()
        pairs = pairwise_motions(m, range(min(args.refs, q + 1)))
        cpu["pairs"] = time.process_time() - t0
        starts["pairwise, plain LS"] = consistent_motion(m, pairs, rounds=0)
        t0 = time.process_time()
        wts = {}
        starts["pairwise, robust"] = consistent_motion(m, pairs, weights_out=wts)
        cpu["pairwise, robust"] = cpu["pairs"] + time.process_time() - t0
        t0 = time.process_time()
        starts["pairwise robust + fused"] = fused_motion(m, starts["pairwise, robust"]).reshape(q, 6)
        cpu["pairwise robust + fused"] = cpu["pairwise, robust"] + time.process_time() - t0
        # each pair's own error: y_ij against the true y_i^-1 o y_j (how often a pair lands in the wrong basin),
        # and how far frames i and j lie apart in truth
        h = torch.tensor(m.fine.h, dtype=m.dtype)
        true = [affine(v, m.x) for v in (affine_identity(m.dtype), *p.w_true.reshape(q, 6))]
        pair_err = [float(((true[j] - affine(p.w_true.reshape(q, 6)[i - 1], affine(w, m.x)) if i else
                            true[j] - affine(w, m.x)) / h).pow(2).sum(-1).mean().sqrt())
                    for (i, j), w in pairs.items()]
        apart = [float(((true[j] - true[i]) / h).pow(2).sum(-1).mean().sqrt()) for (i, j) in pairs]
        pe = np.array(pair_err)
        row = {"set": name, "frame_px": m.coarse.m[0], "errors": {}, "cpu": cpu, "fit": {}, "distance": {},
               "pair_errors": pair_err, "pairs_apart": apart,
               "pair_weights": {f"{i},{j}": v for (i, j), v in wts.items()}}
        print(name, f"{m.coarse.m[0]}px  pairs {len(pe)}: error median {np.median(pe):.2f}, "
              f"<0.5 px {int((pe < 0.5).sum())}, >1 px {int((pe > 1).sum())}; "
              f"robust weight >0.5 on {sum(v[0] > 0.5 for v in wts.values())}", flush=True)
        for k, w in starts.items():
            e = prereg._errors(p, w).numpy()
            row["errors"][k] = e.tolist()
            row["fit"][k] = fit_objective(m, w.reshape(-1))
            row["distance"][k] = start_distance(p, starts["main (fused start)"].reshape(-1), w.reshape(-1))
            print(f"  {k:26s} rms {np.sqrt((e ** 2).mean()):6.3f} worst {e.max():6.2f} >1px {int((e > 1).sum()):2d}"
                  f"  fit {row['fit'][k]:.6g}  from main {row['distance'][k]:.3f}"
                  + (f"  cpu {cpu[k]:.2f}" if k in cpu else ""), flush=True)
        if args.varpro:
            row["varpro"] = {}
            for k in ("main (fused start)", "pairwise, robust", "pairwise robust + fused"):
                row["varpro"][k] = v = template.varpro_from(path, starts[k], args.lam, ctx)
                print(f"  varpro_cg lam {args.lam:g} from {k:24s} err {v['err']:.3f} psnr {v['psnr']:.2f} "
                      f"objective {v['objective']:.6g}", flush=True)
        rows.append(row)
    return rows


def multistart(m, f, w, radius, thetas=(1e-1, 1e-2, 1e-3)):
    """Each frame registered to the fine image f (superres_fused.BoxTemplate) from its motion w (q, 6) shifted by
    every whole fine px within radius each way, by the ladder's last scales thetas, all starts in one batch; per
    frame the start whose registration ends lowest."""
    from regrun.imaging.transforms import Affine
    from regrun.registration.superres_fused import BoxTemplate

    q = m.q
    h = torch.tensor(m.fine.h, dtype=m.dtype, device=m.device)
    offs = torch.tensor([(a, b) for a in range(-radius, radius + 1) for b in range(-radius, radius + 1)],
                        dtype=m.dtype, device=m.device) * h
    c = len(offs)
    ws = w.repeat(c, 1).clone()
    ws[:, 4:] += offs.repeat_interleave(q, 0)
    for th in thetas:
        ws, _, loss, _ = m._register_scale(th, 1, Affine(), ws, None, True, 20, 1e-6, wide_edge=True,
                                           template=BoxTemplate(f, m.fine, m.factor, th * m.factor ** 4))
    pick = loss.reshape(c, q).argmin(0)
    return ws.reshape(c, q, 6)[pick, torch.arange(q)]


def pair_switch(v) -> None:
    """replay's change: "main" without the pairwise second start, "end" with it, None: as it was."""
    from regrun.registration import superres_start

    superres_start.pairwise_start = (lambda *a: None) if v == "main" else PAIRWISE_START


PAIRWISE_START = __import__("regrun.registration.superres_start", fromlist=["pairwise_start"]).pairwise_start


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "replay":  # `auto` as the user runs it, main (no pairwise second start) and end
        return template.replay_cli(argv[1:], pair_switch)
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", dest="sets", nargs="+", type=bench_lambda_sr.parse_set, required=True)
    ap.add_argument("--supersample", type=int, default=4)
    ap.add_argument("--refs", type=int, default=16, help="reference frames 0..refs-1")
    ap.add_argument("--ms-radius", type=int, default=2, help="multistart: shifts of up to this many fine px")
    ap.add_argument("--ms-rounds", type=int, default=2, help="multistart against the fused image: rounds")
    ap.add_argument("--varpro", action="store_true", help="varpro_cg at --lam from main's and the pairwise starts")
    ap.add_argument("--lam", type=float, default=0.2, help="varpro_cg's fixed weight")
    ap.add_argument("--no-multistart", dest="multistart", action="store_false")
    return template.study_cli(ap, argv, study)


if __name__ == "__main__":
    main()

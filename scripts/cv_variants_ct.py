"""`solver.lam=auto` (cv) in several variants on the same sinograms, the solver's own search each time: the
chosen lambda, the PSNR of the answer against the truth and the FISTA runs, per case and variant (the grid
optimum and the peers come from scripts/bench_lambda_ct.py, not here). A variant is FOLD/OFFSETS/SOLVES
(every FOLD-th view held out, pooled over OFFSETS offsets, SOLVES training runs in all), optionally /GRID (the
initial log grid's weights; 0: about half of them) and /GUARD (1/0, solver.lam_cv_guard; default the solver's)
and /SCALE (solver.lam_cv_scale; default the solver's) and /DOSE (1/0, solver.lam_cv_dose; default the
solver's) and /WEIGHT (solver.lam_cv_weight; default the solver's; with `dose` the answer at the plain misfit's
pick, the rule before, is run beside: one more run). --scales: the PSNR at the same search's pick times each (one
more run each).

    python scripts/cv_variants_ct.py outputs/heldout_ct/s2027/*_128_15_*.npz --variants 8/1/9 8/2/8 8/2/10
    python scripts/cv_variants_ct.py metal_part:128:15:1e4:11:4 --variants 8/2/10    # a bench_lambda_ct case
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))


def main(argv=None):
    from diag_lambda_cv_offsets import load

    from regrun.config import config_section
    from regrun.optim.parameter_choice import ChoiceSettings
    from regrun.tomography.fista_tv import lipschitz, make_fista
    from regrun.tomography.fista_tv_weight import CT_RULES, choose_fista_weight

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="+")
    ap.add_argument("--variants", nargs="+", default=["8/1/9", "8/2/10"])
    ap.add_argument("--scales", type=float, nargs="*", default=[],
                    help="also the PSNR at the search's pick times these scales (one more run each)")
    ap.add_argument("--out", type=Path, default=Path("outputs/cv_variants.jsonl"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for spec in args.cases:
        p, name = load(spec)
        for variant in args.variants:
            fields = variant.split("/")
            fold, offsets, solves, grid = ([int(v) for v in fields[:4]] + [0])[:4]
            cfg = config_section("solver", "fista_tv", lam="auto", lam_cv_fold=fold, lam_cv_offsets=offsets,
                                 lam_solves=solves)
            guard = bool(int(fields[4])) if len(fields) > 4 else bool(cfg.lam_cv_guard)
            scale = float(fields[5]) if len(fields) > 5 else float(cfg.lam_cv_scale)
            dose = bool(int(fields[6])) if len(fields) > 6 else bool(cfg.lam_cv_dose)
            weight = fields[7] if len(fields) > 7 else str(cfg.lam_cv_weight)
            fista = make_fista(p, cfg, lipschitz(p, cfg))
            c0 = time.process_time()
            choice = choose_fista_weight(p, fista, int(cfg.iters), ChoiceSettings.from_config(cfg, "solver", CT_RULES),
                                         "fd", torch.Generator(), cv_fold=fold, cv_scale=scale,
                                         power_iters=int(cfg.power_iters),
                                         cv_reference=str(cfg.lam_cv_reference), cv_weight=weight,
                                         cv_offsets=offsets, cv_grid=grid or None, cv_guard=guard,
                                         cv_dose=dose)
            psnr = lambda x: p.quality(x * p.mask)["psnr"]  # noqa: E731
            pick = float(choice.details["lam_cv_pick"])  # before the scale (with /DOSE 1, not `scale` itself)
            with torch.no_grad():  # the same search's answer at other scales: one more run each
                at_scale = {f"{s:g}": psnr(fista.solve(torch.tensor(pick * s, dtype=torch.float64),
                                                       int(cfg.iters))) for s in args.scales}
                plain = choice.details.get("lam_cv_pick_plain")
                if plain is not None:  # weight dose: the plain misfit's pick at the same scale (the rule before)
                    lam_plain = float(plain) * choice.lam / pick
                    at_scale["plain"] = psnr(fista.solve(torch.tensor(lam_plain, dtype=torch.float64),
                                                         int(cfg.iters))) if lam_plain != choice.lam else psnr(choice.state)
            row = {"case": name, "variant": variant, "lam": choice.lam, "pick": pick, "psnr": psnr(choice.state),
                   "at_scale": at_scale,
                   "stats": choice.details,
                   "runs": choice.solves, "cpu_s": time.process_time() - c0,
                   "curve_lam": choice.curve["lam"].tolist(), "curve": choice.curve["criterion"].tolist()}
            with args.out.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(f"{name} {variant}: lam {row['lam']:.3g} psnr {row['psnr']:.2f} {at_scale} ({row['runs']} runs, "
                  f"{row['cpu_s']:.0f} CPU-s)", flush=True)


if __name__ == "__main__":
    main()

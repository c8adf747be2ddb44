"""The climb gate's decision per frame set (docs/superres.md, "The gate with the block-percentile noise estimate
(srgate)"): bench_lambda_sr.py's run (same arguments, `--reuse` as there) with `auto`'s searches wrapped so that
each search where the climb to quasi-optimality could run records the noise estimate it was given, the weight the
climb starts from, the fit's ratio to the noise's level ||r||^2 / ((m - tr H) sigma^2) there, and whether the
climb ran (the gate: ratio < 1). The rows get a "gate" list; `--table NEW.json... --old OLD.json...` prints the
decisions beside an earlier run's (another estimator): the search before the climb reads no sigma (GCV, the
marginal likelihood's floor), so the old estimator's ratio at the first search is the new one x (new/old sigma)^2.

    python scripts/diag_lambda_sr_gate.py [--skip-ratio C] <bench_lambda_sr.py arguments>
    python scripts/diag_lambda_sr_gate.py --table OUT/new.json --old OUT/old_a.json OUT/old_b.json
"""
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_lambda_sr as bench  # noqa: E402
from regrun.optim import parameter_choice  # noqa: E402
from regrun.registration import superres_weight  # noqa: E402

RECORDS: list[dict] = []
_choose = superres_weight.choose
_run_set = bench.run_set


def choose(evaluate, settings, sigma, *args, **kwargs):
    """superres_weight's choose(), its fits kept to read the gate's ratio at the climb's start."""
    fits = {}

    def kept(lam):
        fit = evaluate(lam)
        fits[lam] = fit
        return fit

    choice = _choose(kept, settings, sigma, *args, **kwargs)
    d = choice.details
    if "lam_climb_skipped" in d:
        start, climbed = choice.lam, False
    elif "lam_rule_minimum" in d:
        start, climbed = float(d["lam_rule_minimum"]), True
    else:  # no climb could run here (frames of 32 px or less and no binding floor)
        RECORDS.append({"sigma": sigma, "climb": None, "lam": choice.lam})
        return choice
    lam0 = min(fits, key=lambda x: abs(math.log(x / start)))
    fit = fits[lam0]
    # the gate's level: climb_sigma where the caller gives one (noiseest: the block percentile), else sigma
    level = kwargs.get("climb_sigma") or sigma
    RECORDS.append({"sigma": sigma, "level": level, "climb": climbed, "start": lam0, "lam": choice.lam,
                    "ratio": fit.rss / ((fit.m - fit.trace) * level**2)})
    return choice


def run_set(*args, **kwargs):
    RECORDS.clear()
    row = _run_set(*args, **kwargs)
    row["gate"] = list(RECORDS)
    return row


def key(r):
    return (r["image"], r["size"], r["frames"], r["noise"], r["seed"], r["motion"])


def true_sigma(r):
    """The frames' noise as the bench draws it (frame_set: noise x each channel's spread), RMS over channels."""
    _, stack, _, _ = bench.frame_set(r["image"], r["size"], r["frames"], r["noise"], r["seed"],
                                     supersample=r["supersample"], motion=r["motion"],
                                     gain=tuple(r["gain"]) if r["gain"] else None)
    st = np.asarray(stack, dtype=np.float64)
    var = st.var(axis=(0, 2, 3)) if st.ndim == 4 else st.var()[None]  # (frames, channels, m1, m2) in colour
    return float(np.sqrt((r["noise"] ** 2 * var / (1 + r["noise"] ** 2)).mean()))


def table(new_paths, old_paths):
    old = {key(r): r for p in old_paths for r in json.loads(Path(p).read_text())["rows"]}
    print("| set | size / frames / noise | sigma old / new (x truth) | first search: fit/noise old / new "
          "| climb old / new "
          "| lam old / new | PSNR old / new | delta dB | regrun best |")
    print("|---|---|---|---|---|---|---|---|---|")
    tot = []
    for p in new_paths:
        for r in json.loads(Path(p).read_text())["rows"]:
            o = old.get(key(r))
            a = r["auto_gcv"]
            so = o["auto_gcv"]["sigma"] if o else math.nan
            st = true_sigma(r)
            g = r["gate"][0] if r["gate"] else {"climb": None}
            if g["climb"] is None:
                fits, climbs = "-", "none possible"
            else:
                ro = g["ratio"] * (a["sigma"] / so) ** 2
                yes = {True: "yes", False: "no"}
                fits, climbs = f"{ro:.2f} / {g['ratio']:.2f}", f"{yes[ro < 1]} / {yes[g['climb']]}"
            again = [x for x in r["gate"][1:] if x["climb"] is not None]
            if again:
                climbs += " (again: " + ", ".join(f"{x['ratio']:.2f} {'yes' if x['climb'] else 'no'}"
                                                  for x in again) + ")"
            d = a["psnr"] - o["auto_gcv"]["psnr"] if o else math.nan
            tot.append(d)
            mot = "" if r["motion"] == "affine" else f" ({r['motion']})"
            print(f"| {r['image']}{mot} s{r['seed']} | {r['size']}² / {r['frames']} / {100 * r['noise']:g}% "
                  f"| {so:.3g} / {a['sigma']:.3g} ({so / st:.2f} / {a['sigma'] / st:.2f}) | {fits} | {climbs} | "
                  f"{o['auto_gcv']['lam'] if o else math.nan:.3g} / {a['lam']:.3g} | "
                  f"{o['auto_gcv']['psnr'] if o else math.nan:.2f} / {a['psnr']:.2f} | {d:+.2f} | "
                  f"{r['regrun_best_lam']:.3g} ({r['psnr_regrun_best']:.2f}) |")
    print(f"\nsummed {sum(tot):+.2f} dB, worst {min(tot):+.2f}, sets {len(tot)}")


if __name__ == "__main__":
    argv = sys.argv[1:]
    if argv and argv[0] == "--table":
        i = argv.index("--old")
        table(argv[1:i], argv[i + 1:])
    else:
        if argv[0] == "--skip-ratio":  # the gate's level, parameter_choice.CLIMB_SKIP_RATIO, for this run
            parameter_choice.CLIMB_SKIP_RATIO = float(argv[1])
            argv = argv[2:]
        superres_weight.choose = choose
        bench.run_set = run_set
        bench.main(argv)

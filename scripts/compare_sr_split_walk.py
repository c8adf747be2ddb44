#!/usr/bin/env python
"""The frame-split walk's readings beside what its move was worth (srwalk, docs/superres.md, "When does the split
walk's step up help?"): two sets of bench_lambda_sr.py outputs of the same frame sets, matched by (image, seed),
BASE (e.g. the walk off, or main) and NEW (a run whose rows carry superres_cv.split_readings' metrics); per set
the weights, NEW - BASE in dB (the truth's PSNR, `auto_gcv`), and NEW's first comparison: the steps taken, the
risk's fall up, its images' spread (bias), the reference's noise trace (var), fall / var and the per-pixel t.

    python scripts/compare_sr_split_walk.py --base OFF_A.json OFF_B.json --new ON_A.json ON_B.json
"""
import argparse
import json
import math


def rows(paths):
    return {(r["image"], r["seed"]): r for p in paths for r in json.load(open(p))["rows"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", nargs="+", required=True)
    ap.add_argument("--new", nargs="+", required=True)
    args = ap.parse_args()
    base, new = rows(args.base), rows(args.new)
    out, total = [], 0.0
    for key, r in new.items():
        if key not in base:
            continue
        x, y = r["auto_gcv"], base[key]["auto_gcv"]
        d = x["psnr"] - y["psnr"]
        total += d
        read = [x.get(f"split_{k}", math.nan) for k in ("moved", "fall", "bias", "var", "t")]
        out.append((d, f"| {r['image']} s{r['seed']} | {r['size']}²/{r['frames']} | {y['lam']:.3g} → {x['lam']:.3g} "
                       f"| {d:+.2f} | {read[0]:+.0f} | {read[1]:.3g} | {read[2]:.3g} | {read[3]:.3g} "
                       f"| {read[1] / read[3]:.3f} | {read[4]:.2f} |"))
    print("| set | size/frames | λ base → new | new − base dB | steps | fall | bias | var | fall/var | t |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for _, line in sorted(out, key=lambda t: -t[0]):
        print(line)
    print(f"\n{len(out)} sets, new - base summed {total:+.2f} dB")


if __name__ == "__main__":
    main()

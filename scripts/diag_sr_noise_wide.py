"""The frames' noise estimates against the noise drawn, on every set of earlier `auto` runs (docs/superres.md, "The
frames' noise estimate where no patch is free of texture (srnoise2)"). Per row of bench_lambda_sr.py's or
diag_noise_fit.py's results (their `auto_gcv`: the filter's sigma, the fit's sigma_fit, the motion model's choice
and z scores), the set's frames are drawn again twice from its seed, with and without the noise
(diag_noise_frames.model_frames: the model's luminance frames), and the drawn noise is the RMS of their difference.
Beside it: noise_std_images on the same frames (the row's own sigma as a check that the run read the same frames),
the same on the noiseless frames (what the scene alone reads as noise), the fit's Wahba estimate at the chosen
weight (superres_weight.record_fit_noise, the affine answer's where the row has it), the smaller of the two, and
the smaller with the final run's fit (`frames`), and the weak-texture patches of the final run's residual frames
(`residual`: /stats/noise_std_residual). No solves.

    python scripts/diag_sr_noise_wide.py --rows OUT(lead25)/mm_dev.json OUT(lead25)/mm_HL.json OUT/extra.json \\
        --out OUT/wide.json
    python scripts/diag_sr_noise_wide.py --table OUT/wide.json
"""
import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from diag_noise_frames import model_frames  # noqa: E402
from regrun.optim import parameter_choice as pc  # noqa: E402

MODELS = ("translation", "rigid", "affine")
# the kinds whose every patch holds texture (photographed or generated surfaces) and the drawn ones (sharp strokes)
TEXTURED = ("texture", "sk:grass", "sk:gravel", "sk:brick", "terrain")
DRAWN = ("lineart", "qrcode", "rendered_text", "handwriting", "barcode", "sk:text")


def group(kind: str) -> str:
    base = kind[4:] if kind.startswith("rgb:") else kind
    if base.split("@")[0] in TEXTURED:
        return "textured"
    return "drawn" if base.split("@")[0] in DRAWN else "photo"


def measure(rows) -> list[dict]:
    out = []
    for r in rows:
        spec = {"kind": r["image"], "size": r["size"], "frames": r["frames"], "noise": r["noise"], "seed": r["seed"],
                "motion": r["motion"], "gain": r.get("gain")}
        x, clean = model_frames(spec, r["noise"], r["supersample"]), model_frames(spec, 0.0, r["supersample"])
        drawn = float((x - clean).pow(2).mean().sqrt())
        a = r["auto_gcv"]
        fit = a.get("affine_sigma_fit", a.get("sigma_fit", math.nan))
        images = pc.noise_std_images(x)
        rec = {"set": f"{r['image']} {r['size']}²/{r['frames']} {100 * r['noise']:g}% s{r['seed']} {r['motion']}",
               "group": group(r["image"]), "frame_px": int(x.shape[-1]), "drawn": drawn, "images": images,
               # the same estimate on the noiseless frames: what the scene alone reads as noise
               "images_clean": pc.noise_std_images(clean), "row_sigma": a["sigma"], "fit": fit, "fit_final": a.get("sigma_fit", math.nan),
               "chosen": MODELS[int(a["motion_model_chosen"])] if "motion_model_chosen" in a else "-",
               "z_tr": a.get("motion_model_z_translation_rigid", math.nan),
               "z_ra": a.get("motion_model_z_rigid_affine", math.nan), "motion": r["motion"], "lam": a["lam"],
               "psnr": a["psnr"]}
        rec["smaller"] = min(images, fit) if math.isfinite(fit) else images
        # the weak-texture patches of the final run's residual frames (superres_weight.residual_noise; NaN in rows
        # of runs before it)
        rec["residual"] = a.get("sigma_residual", math.nan)
        # what the results record (/stats/noise_std_frames): the smaller of the filter's and the final run's fit
        rec["frames"] = min(images, rec["fit_final"]) if math.isfinite(rec["fit_final"]) else images
        out.append(rec)
        print(f"{rec['set']}: drawn {drawn:.4g} images {images / drawn:.2f}x (row {a['sigma'] / drawn:.2f}x) fit "
              f"{fit / drawn:.2f}x chosen {rec['chosen']}", flush=True)
    return out


def summary(recs, names) -> None:
    for g in ("textured", "drawn", "photo", "all"):
        part = [r for r in recs if g == "all" or r["group"] == g]
        if not part:
            continue
        cells = []
        for n in names:
            q = np.array([r[n] / r["drawn"] for r in part])
            lq = np.abs(np.log(np.maximum(q, 1e-12)))  # a noiseless frame set's filter can read 0
            cells.append(f"{n}: median {np.median(q):.2f}, {q.min():.2f}-{q.max():.2f}, within 1.5x on "
                         f"{int((lq <= math.log(1.5)).sum())}/{len(q)}, mean |log| {lq.mean():.2f}")
        print(f"- {g} ({len(part)} sets): " + "; ".join(cells))


def table(recs, names) -> None:
    print("| set | group | frame px | drawn σ | " + " | ".join(f"{n} × drawn" for n in names)
          + " | chosen (drawn with) | z tr→rig / rig→aff |")
    print("|---|---|---|---|" + "---|" * len(names) + "---|---|")
    for r in sorted(recs, key=lambda r: -r["images"] / r["drawn"]):
        print(f"| {r['set']} | {r['group']} | {r['frame_px']} | {r['drawn']:.3g} | "
              + " | ".join(f"{r[n] / r['drawn']:.2f}" for n in names)
              + f" | {r['chosen']} ({r['motion']}) | {r['z_tr']:.3g} / {r['z_ra']:.3g} |")
    summary(recs, names)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=Path, nargs="+", help="bench_lambda_sr.py / diag_noise_fit.py results (.json)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--table", type=Path, nargs="+")
    ap.add_argument("--names", nargs="+", default=["images", "images_clean", "fit", "smaller", "frames"])
    args = ap.parse_args(argv)
    if args.table:
        table([r for p in args.table for r in json.loads(p.read_text())["rows"]], args.names)
        return
    recs = measure([r for p in args.rows for r in json.loads(p.read_text())["rows"]])
    args.out.write_text(json.dumps({"rows": recs}, indent=1))
    table(recs, args.names)


if __name__ == "__main__":
    main()

"""The frames' noise level two ways against the noise the bench added (docs/superres.md, "The noise level from the
fit (srnoisefit)"): for each --set (bench_lambda_sr.py's IMAGE,SIZE,FRAMES,NOISE,SEED[,MOTION]), `auto` (gcv, the
defaults) is run alone, without the grid or the peer, and its row records the filter's estimate (noise_sigma,
parameter_choice.noise_std_images), the fit's (superres_weight.record_fit_noise: ||r||^2 / (m - tr H) at the
chosen weight; NaN at a main without it), the chosen weight and PSNR; the truth is diag_lambda_sr_gate.true_sigma.

    python scripts/diag_noise_fit.py --out OUT/fit.json --set sk:cell,96,16,0.005,909,translation ...
    python scripts/diag_noise_fit.py --table OUT/fit.json [--old OUT/main.json]
    python scripts/diag_noise_fit.py --defaults --supersample 8 --out OUT/fit.json --set ...   (the user's defaults)
"""
import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_lambda_sr as bench  # noqa: E402
from diag_lambda_sr_gate import true_sigma  # noqa: E402
from regrun.context import RunContext  # noqa: E402


def run(sets, out: Path, supersample: int = 4, defaults: bool = False, auto_set: dict | None = None) -> None:
    """defaults: the user's frames as regrun runs them today (the frames' level, motion_model=auto), else the bench's
    own defaults (affine, no level)."""
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    args = argparse.Namespace(supersample=supersample, rules=["gcv"], auto_set=auto_set or {}, outside="drop", split="noisefit",
                              reuse="none (auto only)", offset=False, motion_model="auto" if defaults else "affine",
                              frames_level=defaults, extension="zero", solver_set={}, prereg_as_given=False)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in sets:
            c0 = time.process_time()
            r = bench.run_set(ctx, Path(tmp), spec, args, reuse={})  # reuse: `auto` alone
            r["cpu_s"] = time.process_time() - c0
            r["sigma_true"] = true_sigma(r)
            rows.append(r)
            a = r["auto_gcv"]
            print(f"{r['image']} {r['size']} {r['frames']} {r['noise']} s{r['seed']}: lam {a['lam']:.4g} psnr "
                  f"{a['psnr']:.4f} sigma {a['sigma']:.4g} fit {a.get('sigma_fit', math.nan):.4g} true "
                  f"{r['sigma_true']:.4g} ({r['cpu_s']:.1f} CPU-s)", flush=True)
            out.write_text(json.dumps({"rows": rows}, indent=1))


def table(paths, old_paths) -> None:
    key = lambda r: (r["image"], r["size"], r["frames"], r["noise"], r["seed"], r["motion"])  # noqa: E731
    old = {key(r): r for p in old_paths for r in json.loads(Path(p).read_text())["rows"]}
    print("| set | size / frames / noise | true σ | σ̂ filter (× truth) | σ̂ fit (× truth) | tr H / m | λ | PSNR |"
          + (" main: λ (PSNR) |" if old else ""))
    print("|---|---|---|---|---|---|---|---|" + ("---|" if old else ""))
    for p in paths:
        for r in json.loads(Path(p).read_text())["rows"]:
            a, t = r["auto_gcv"], r["sigma_true"]
            mot = "" if r["motion"] == "affine" else f" ({r['motion']})"
            line = (f"| {r['image']}{mot} s{r['seed']} | {r['size']}² / {r['frames']} / {100 * r['noise']:g}% | "
                    f"{t:.3g} | {a['sigma']:.3g} ({a['sigma'] / t:.2f}) | {a['sigma_fit']:.3g} "
                    f"({a['sigma_fit'] / t:.2f}) | {a.get('trace_share', math.nan):.2f} | {a['lam']:.4g} | "
                    f"{a['psnr']:.2f} |")
            o = old.get(key(r))
            if old:
                same = o and o["auto_gcv"]["lam"] == a["lam"] and o["auto_gcv"]["psnr"] == a["psnr"]
                line += (f" {o['auto_gcv']['lam']:.4g} ({o['auto_gcv']['psnr']:.2f}){' same bits' if same else ''} |"
                         if o else " - |")
            print(line)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", dest="sets", nargs="+", type=bench.parse_set, default=[])
    ap.add_argument("--out", type=Path)
    ap.add_argument("--table", type=Path, nargs="+")
    ap.add_argument("--old", type=Path, nargs="+", default=[])
    ap.add_argument("--supersample", type=int, default=4, help="the scene's samples per fine pixel a side")
    ap.add_argument("--defaults", action="store_true", help="the user's defaults for frames: the frames' level and "
                    "motion_model=auto (bench_lambda_sr's --frames-level --motion-model auto)")
    ap.add_argument("--auto-set", nargs="+", default=[], metavar="KEY=VALUE", help="problem settings for `auto`")
    a = ap.parse_args()
    if a.table:
        table(a.table, a.old)
    else:
        run(a.sets, a.out, a.supersample, a.defaults, {k: yaml.safe_load(v) for k, v in
                                                        (kv.split("=", 1) for kv in a.auto_set)})

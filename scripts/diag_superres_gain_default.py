#!/usr/bin/env python
"""Should a user's frames get per-frame exposure gains by default? (srgain, session 22; issues 16 and 21)

Each frame set is run as a new user runs it (`problem=superres problem.data=frames problem.frames=... factor=K`, no
weight typed; truth and true motion only to judge) twice, with `problem.gain=false` and `problem.gain=true` named
on the command line (so the answer does not depend on the code's default): PSNR, motion error (RMS, fine pixels),
gain error where the set has gains, the exposure warning's spread, and the process's CPU seconds from the OS.

Sets: `W:NAME` is held-out batch W's set NAME (scripts/heldout_sr_wide.py, PNG folders), anything else a
bench_lambda_sr `--set` spec IMAGE,SIZE,FRAMES,NOISE,SEED[,MOTION[,LO-HI]] (drawn by its frame_set and written to
an .npz as its run_set does; LO-HI: each moved frame's gain uniform in it).

    python scripts/diag_superres_gain_default.py run OUT/gain --batch seen --out OUT/gain/seen.json
    python scripts/diag_superres_gain_default.py table OUT/gain/seen.json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Seen, gain-free: earlier batches' specs (E, G-small: 20^2 photo crops; K: fair 32^2-48^2; H: logo 48^2 RGB; NE:
# clipart 64^2 RGB; G: circuit 64^2; F: cartoon 128^2/16 RGB) and held-out batch W's 19 gain-free sets.
SEEN = ["sk:retina@560:300,20,8,0.01,701,rigid", "sk:hubble_deep_field@300:600,20,16,0.03,702,translation",
        "sk:camera@360:200,20,16,0.01,715,rigid", "fair:PET-CT-CT,32,8,0.01,1008,rigid",
        "fair:EPIslice-R,48,16,0.005,1009,translation", "sk:logo,48,16,0.01,906,rigid",
        "clipart,64,8,0.005,2338,rigid", "circuit,64,8,0.01,802,translation",
        "cartoon,128,16,0.003,601,translation"] + [
    f"W:{n}" for n in ("n4_polygons", "n6_deadleaves", "n12_phantom", "n24_ellipses", "n32_terrain", "wide_phantom",
                       "tall_deadleaves", "shift_phantom", "rot_polygons", "shear_ellipses", "noise5_phantom",
                       "noise2_deadleaves", "poisson_phantom", "uint8_polygons", "k3_phantom", "k4_deadleaves",
                       "photo_shelf_rgb", "photo_chess", "photo_engine_u8_rot")]
# Seen, with gains: srwide's dev sets (7801-7803), one at +-1% (7804, new) and W's gain_phantom (+-15%).
GAIN = ["ellipses,48,8,0.01,7804,affine,0.99-1.01", "deadleaves,48,8,0.01,7802,affine,0.98-1.02",
        "phantom,48,8,0.01,7801,affine,0.95-1.05", "polygons,48,8,0.01,7803,affine,0.85-1.15", "W:gain_phantom"]
# Held out (srgain): seeds 9321-9326, unused before; written down before any measuring run, never tuned on.
HELDOUT = ["deadleaves,40,8,0.01,9321,affine", "flags,64,16,0.01,9322,rigid", "terrain,32,16,0.02,9323,affine",
           "polygons,64,8,0.005,9324,affine,0.98-1.02", "ellipses,48,16,0.01,9325,rigid,0.95-1.05",
           "voronoi,48,8,0.01,9326,affine,0.9-1.1"]
# "M:ARGS": scripts/make_sr_frames.py's options ARGS (its PNG folder). Held-out GX (the second solve with gains,
# session 22: seeds 9901-9908), seen since: dev for srgain2.
GX = ["M:--size 32 --frames 8 --noise 0.01 --gain 0.95 1.05 --seed 9901",
      "M:--size 48 --frames 16 --noise 0.01 --gain 0.9 1.1 --image skfile:camera.png@100:200:160 --seed 9902",
      "M:--size 64 --frames 8 --noise 0.005 --gain 0.97 1.03 --seed 9903",
      "M:--size 48 --frames 8 --noise 0.03 --gain 0.85 1.15 --channels 3 --seed 9904",
      "M:--size 32 --frames 16 --noise 0.01 --seed 9905",
      "M:--size 64 --frames 8 --noise 0.01 --image skfile:coffee.png@50:300:200 --seed 9906",
      "M:--size 48 --frames 8 --noise 0.03 --bits 8 --seed 9907",
      "M:--size 24 --frames 8 --noise 0.01 --gain 0.9 1.1 --seed 9908"]
# srgain2's dev sets (seeds 9941-9949 and 9911-9916, new): small gains (+-1-3%) and gain-free chessboards, beside
# the seen ones.
DEV2 = ["deadleaves,48,8,0.01,9941,affine,0.985-1.015", "phantom,32,16,0.02,9942,affine,0.98-1.02",
        "voronoi,64,8,0.005,9943,rigid,0.97-1.03",
        "M:--size 48 --frames 8 --noise 0.01 --gain 0.97 1.03 --image skfile:chessboard_RGB.png@0:0:200 --seed 9944",
        "terrain,48,8,0.01,9945,affine,0.98-1.02", "sk:checkerboard,48,8,0.01,9946,affine",
        "maze,48,16,0.01,9947,affine",
        "M:--size 64 --frames 8 --noise 0.01 --image skfile:chessboard_RGB.png@40:40:160 --seed 9948",
        "circuit,32,8,0.03,9949,affine,0.98-1.02",
        # added after the first nine were read (seeds 9911-9916): more near the threshold, +-1% to +-2% at 1-3% noise
        "ellipses,48,8,0.01,9911,affine,0.99-1.01", "polygons,32,16,0.02,9912,affine,0.985-1.015",
        "deadleaves,32,8,0.03,9913,affine,0.98-1.02", "clipart,48,8,0.01,9914,rigid,0.99-1.01",
        "sk:checkerboard,32,8,0.02,9915,affine", "terrain,32,8,0.03,9916,affine"]
# srgain2's held-out batch (seeds 9921-9933, unused before; written down before any run, never tuned on): gain-free
# chessboards (photo and graphic), a colour cartoon at 96^2 and smooth ellipses at 3%; gains of +-1.5% to +-10%.
HELDOUT2 = ["M:--size 48 --frames 8 --noise 0.01 --image skfile:chessboard_RGB.png@20:20:160 --seed 9921",
            "sk:checkerboard,64,16,0.005,9922,rigid", "cartoon,96,8,0.01,9923,affine",
            "ellipses,32,16,0.03,9924,affine", "deadleaves,64,8,0.01,9925,affine,0.985-1.015",
            "polygons,48,16,0.01,9926,affine,0.98-1.02",
            "M:--size 48 --frames 8 --noise 0.02 --gain 0.98 1.02 --image skfile:chessboard_RGB.png@0:40:160 "
            "--seed 9927",
            "flags,48,8,0.01,9928,affine,0.97-1.03", "terrain,64,16,0.005,9929,rigid,0.97-1.03",
            "clipart,32,8,0.02,9930,affine,0.95-1.05", "phantom,96,8,0.01,9931,affine,0.9-1.1",
            "M:--size 48 --frames 16 --noise 0.01 --gain 0.98 1.02 --channels 3 --seed 9932",
            "circuit,48,8,0.03,9933,translation,0.985-1.015"]
BATCHES = {"seen": SEEN, "gain": GAIN, "heldout": HELDOUT, "gx": GX, "dev2": DEV2, "heldout2": HELDOUT2}


def write_set(root: Path, spec: str) -> dict:
    """The set on disk (written once): regrun's frames, truth and true-motion paths, and its factor."""
    if spec.startswith("W:"):
        from heldout_sr_wide import settings
        from make_sr_frames import write_frame_set

        name = spec[2:]
        bits, kw, wide = settings(name)
        d = root / name
        if not (d / "motion.json").exists():
            write_frame_set(d, "png", bits, {"image": "phantom", **wide}, **kw)
        truth = next(p for p in (d / "truth.png", d / "truth.tiff", d / "truth.npy") if p.exists())
        return {"frames": d / "frames", "truth": truth, "true_motion": d / "motion.json", "factor": kw["factor"]}
    if spec.startswith("M:"):
        import make_sr_frames

        args = spec[2:].split()
        d = root / "_".join(a.lstrip("-").replace(":", "_").replace("@", "_") for a in args)
        if not (d / "motion.json").exists():
            make_sr_frames.main([str(d), *args])
        truth = next(p for p in (d / "truth.png", d / "truth.tiff", d / "truth.npy") if p.exists())
        return {"frames": d / "frames", "truth": truth, "true_motion": d / "motion.json",
                "factor": json.loads((d / "motion.json").read_text())["factor"]}
    from bench_lambda_sr import frame_set, parse_set

    from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout

    s = parse_set(spec)
    path = root / (spec.replace(":", "_").replace(",", "_").replace("@", "_") + ".npz")
    if not path.exists():  # as bench_lambda_sr.run_set writes it (supersample 10 below 96 px, else 4)
        truth, stack, w, gains = frame_set(s["kind"], s["size"], s["frames"], s["noise"], s["seed"],
                                           supersample=10 if s["size"] < 96 else 4, motion=s["motion"],
                                           gain=s["gain"])
        if stack.ndim == 4:
            fr, tr = np.moveaxis(from_fair_layout(stack), 1, -1), np.moveaxis(from_fair_layout(truth), 0, -1)
        else:
            fr, tr = from_fair_layout(stack), from_fair_layout(truth)
        root.mkdir(parents=True, exist_ok=True)
        np.savez(path, **{FRAMES_KEY: fr, TRUTH_KEY: tr, "w": w, **({"gain": gains} if s["gain"] else {})})
    return {"frames": path, "truth": path, "true_motion": path, "factor": 2}


def user_run(paths: dict, gain: str, run_dir: Path) -> dict:
    """The README's command with problem.gain=GAIN named (default: not named, the code's default), in a
    subprocess (heldout_sr_wide.readme_run): metrics, warnings and CPU seconds."""
    from heldout_sr_wide import readme_run

    extra = () if gain == "default" else (f"problem.gain={gain}",)
    if gain == "false":  # gains off throughout: no second solve with them (problem.gain_again, since srgain)
        extra += ("problem.gain_again=false",)
    out = readme_run(paths["frames"], paths["factor"], paths["truth"], paths["true_motion"], run_dir, extra)
    if "message" in out:
        out["exposure_warned"] = "run again with problem.gain=true" in (out["message"] or "")  # the warning
    return out


def run(root: Path, specs, out: Path, gains) -> None:
    rows = json.loads(out.read_text())["rows"] if out.exists() else {}
    for spec in specs:
        paths = write_set(root, spec)
        row = rows.setdefault(spec, {})
        for g in gains:
            key = f"gain_{g}"
            if key in row:
                continue
            tag = spec.replace(":", "_").replace(",", "_").replace("@", "_").replace(" ", "_")
            row[key] = u = user_run(paths, g, out.parent / f"{out.stem}_runs" / f"{tag}_{key}")
            m = u.get("metrics", {})
            print(f"{spec} gain={g}: rc {u['rc']} {m.get('psnr', math.nan):.2f} dB, motion "
                  f"{m.get('motion_error', math.nan):.4f} px, spread {m.get('exposure_spread', math.nan):.4f}, "
                  f"{u['cpu_s']:.1f} CPU-s", flush=True)
            out.write_text(json.dumps({"code": os.environ.get("PYTHONPATH", ""), "rows": rows}, indent=1,
                                      default=str))


def table(paths) -> str:
    """Markdown: per set, gain=false beside gain=true (PSNR, motion, CPU-s), the differences; then the sums."""
    head = ("| set | false: PSNR | motion px | spread | CPU-s | true: PSNR | motion px | gain err | CPU-s | "
            "ΔPSNR (true − false) | CPU true/false |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    d_all, cpu = [], [0.0, 0.0]
    for p in paths:
        for spec, row in json.loads(Path(p).read_text())["rows"].items():
            a, b = (row.get(k, {}).get("metrics", {}) for k in ("gain_false", "gain_true"))
            if "psnr" not in a or "psnr" not in b:
                continue
            ca, cb = row["gain_false"]["cpu_s"], row["gain_true"]["cpu_s"]
            d = b["psnr"] - a["psnr"]
            d_all.append((d, spec))
            cpu[0] += ca
            cpu[1] += cb
            lines.append(f"| {spec} | {a['psnr']:.2f} | {a.get('motion_error', math.nan):.4f} | "
                         f"{a.get('exposure_spread', math.nan):.4f} | {ca:.1f} | {b['psnr']:.2f} | "
                         f"{b.get('motion_error', math.nan):.4f} | {b.get('gain_error', math.nan):.4f} | {cb:.1f} | "
                         f"{d:+.2f} | {cb / ca:.2f} |")
    if d_all:
        worst = min(d_all)
        lines.append(f"\n{len(d_all)} sets: ΔPSNR sum {sum(d for d, _ in d_all):+.2f} dB, worst {worst[0]:+.2f} "
                     f"({worst[1]}), best {max(d_all)[0]:+.2f}; CPU-s {cpu[0]:.1f} (false) against {cpu[1]:.1f} "
                     f"(true), x{cpu[1] / cpu[0]:.3f}")
    return "\n".join(lines)


def again_table(main_json: Path, branch_json: Path) -> str:
    """Markdown (srgain2): per set, the user's command as it comes at main and at this branch (whether it solved
    again with gains), beside gain=true and gain=false named (this branch's runs), the first solve's exposure
    measures, and the differences that the targets read."""
    ref = json.loads(Path(main_json).read_text())["rows"]
    head = ("| set | exposure_spread / exposure_std | main (again?) | this branch (again?) | gain=true | gain=false | "
            "branch − main | branch − true | CPU-s main / branch |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for spec, row in json.loads(Path(branch_json).read_text())["rows"].items():
        a, b = ref.get(spec, {}).get("gain_default", {}), row.get("gain_default", {})
        ma, mb = a.get("metrics", {}), b.get("metrics", {})
        t, f = (row.get(k, {}).get("metrics", {}).get("psnr", math.nan) for k in ("gain_true", "gain_false"))
        first = row.get("gain_false", {}).get("metrics", {})

        def again(m):
            return "yes" if m.get("solved_again") == 1.0 else "no"
        nan = math.nan
        lines.append(f"| {spec} | {first.get('exposure_spread', nan):.4f} / {first.get('exposure_std', nan):.4f} | "
                     f"{ma.get('psnr', math.nan):.3f} ({again(ma)}) | {mb.get('psnr', math.nan):.3f} ({again(mb)}) | "
                     f"{t:.3f} | {f:.3f} | {mb.get('psnr', math.nan) - ma.get('psnr', math.nan):+.3f} | "
                     f"{mb.get('psnr', nan) - t:+.3f} | {a.get('cpu_s', nan):.1f} / {b.get('cpu_s', nan):.1f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("run", "table", "again"))
    ap.add_argument("root", type=Path, nargs="+",
                    help="run: the sets' folder; table: results .json files; again: MAIN.json BRANCH.json")
    ap.add_argument("--batch", choices=list(BATCHES), help="run: these sets")
    ap.add_argument("--set", nargs="+", default=[], help="run: these sets (W:NAME or a bench_lambda_sr spec)")
    ap.add_argument("--part", type=int, nargs=2, default=(0, 1), metavar=("K", "N"),
                    help="run: sets K, K+N, K+2N, ... of the list (N processes)")
    ap.add_argument("--gains", nargs="+", default=["false", "true"], choices=("false", "true", "default"),
                    help="run: problem.gain for each run (default: not named)")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    if a.what == "table":
        print(table(a.root))
        return
    if a.what == "again":
        print(again_table(*a.root))
        return
    if a.out is None:
        ap.error("run needs --out")
    specs = ((BATCHES[a.batch] if a.batch else []) + a.set)[a.part[0]::a.part[1]]
    run(a.root[0], specs, a.out, a.gains)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Why solving with exposure gains loses on dark scenes (srdarkgain, session 27): the README's command on frame sets
written by scripts/srjpeg_batch.py (their lossless `png8` twins by default) under named override variants, and per
run the PSNR, the chosen weight, the motion error and the estimated gains against the drawn ones: their RMS error
(`gain_error`), their common factor (the mean of estimated / true over frames 1..; 1 where the gains carry no common
bias) and what is left of the error once that factor is divided out.

    PYTHONPATH=CODE python scripts/srdarkgain_diag.py OUT/gaindev --split gaindev --out OUT/diag.json \\
        --variants nogain=problem.gain_again=false gain=problem.gain=true \\
        gain_edge=problem.gain=true,problem.extension=edge [--only NAME ...] [--kind png8]
    python scripts/srdarkgain_diag.py --table OUT/diag.json [--pair nogain gain]

Variants: NAME=override[,override...]. Results: docs/superres.md, "srdarkgain".
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def gain_bias(run_dir: Path, motion: Path) -> dict:
    """The estimated gains (results.h5's result/gain) against the drawn ones (motion.json's gain, frame 0 first)."""
    import h5py

    h5 = run_dir / "results.h5"
    true = json.loads(motion.read_text()).get("gain")
    if not h5.exists() or true is None:
        return {}
    with h5py.File(h5) as f:
        if "result/gain" not in f:
            return {}
        est = np.asarray(f["result/gain"][()], dtype=float)
    true = np.asarray(true, dtype=float)
    ratio = (est[1:] / est[0]) / (true[1:] / true[0])
    common = float(ratio.mean())
    return {"gain_common": common, "gain_left": float(np.sqrt(np.mean((ratio / common - 1) ** 2)))}


def answer_scale(run_dir: Path) -> dict:
    """The least-squares factor s that brings the answer nearest the truth (results.h5's result/reconstruction and
    data/reference, colour where the run has it), and the PSNR of s times the answer (regrun's psnr): how much of
    the answer's error is its overall brightness alone."""
    import h5py

    from regrun.metrics import psnr

    h5 = run_dir / "results.h5"
    if not h5.exists():
        return {}
    with h5py.File(h5) as f:
        est = np.asarray(f["result/reconstruction"][()], dtype=float)
        tru = np.asarray(f["data/reference_colour" if "data/reference_colour" in f else "data/reference"][()], dtype=float)
    s = float((est * tru).sum() / (est * est).sum())
    return {"answer_scale": s, "psnr_check": psnr(est, tru), "psnr_rescaled": psnr(s * est, tru)}


def runs(root: Path, sets: dict, out: Path, names, variants: dict, kind: str) -> None:
    from heldout_sr_wide import readme_run

    rows = json.loads(out.read_text())["rows"] if out.exists() else {}
    for name in names:
        d = root / name / kind
        truth = next(p for p in (d / "truth.tiff", d / "truth.npy") if p.exists())
        row = rows.get(name, {"spec": sets[name]})
        for how, extra in variants.items():
            run_dir = out.parent / f"{out.stem}_runs" / name / kind / how
            r = readme_run(d / "frames", 2, truth, d / "motion.json", run_dir, tuple(extra))
            r.update(gain_bias(run_dir, d / "motion.json"), **answer_scale(run_dir))
            row[how] = r
            m = r.get("metrics", {})
            print(f"{name} {kind} {how}: psnr {m.get('psnr', math.nan):.2f} lam {m.get('lam_chosen', math.nan):.4g} "
                  f"motion_error {m.get('motion_error', math.nan):.4f} gain_error {m.get('gain_error', math.nan):.4f} "
                  f"common {r.get('gain_common', math.nan):.4f} left {r.get('gain_left', math.nan):.4f} answer x"
                  f"{r.get('answer_scale', math.nan):.4f} -> {r.get('psnr_rescaled', math.nan):.2f} "
                  f"cpu {r['cpu_s']:.1f}", flush=True)
        rows[name] = row
        out.write_text(json.dumps({"rows": rows}, indent=1, default=str))


def table(path: Path) -> str:
    rows = json.loads(path.read_text())["rows"]
    hows = sorted({h for r in rows.values() for h in r if h != "spec"}, key=lambda h: (h != "nogain", h))
    lines = ["| set | gains | " + " | ".join(f"{h}: PSNR / λ / motion err / gain common / left" for h in hows) + " |",
             "|" + "---|" * (2 + len(hows))]
    for name, r in rows.items():
        spec = r["spec"]
        gain = spec[7].get("gain", (1.0, 1.0)) if len(spec) > 7 else (1.0, 1.0)
        cells = []
        for h in hows:
            m, x = r.get(h, {}).get("metrics", {}), r.get(h, {})
            cells.append(f"{m.get('psnr', math.nan):.2f} / {m.get('lam_chosen', math.nan):.3g} / "
                         f"{m.get('motion_error', math.nan):.3f} / {x.get('gain_common', math.nan):.4f} / "
                         f"{x.get('gain_left', math.nan):.4f}")
        lines.append(f"| {name} s{spec[0]} | {gain[0]:g}-{gain[1]:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired(path: Path, a: str, b: str) -> str:
    """Variant b against variant a per set: PSNR, weight, gains' common factor / the answer's scale, whether the kept
    answer solved gains (results.h5's result/gain), b - a and the CPU seconds; the sums last (srgainmean)."""
    import h5py

    rows = json.loads(path.read_text())["rows"]

    def solved(name, kind, how):
        h5 = path.parent / f"{path.stem}_runs" / name / kind / how / "results.h5"
        with h5py.File(h5) as f:
            return "yes" if "result/gain" in f else "no"

    def cells(x):
        m = x["metrics"]
        common = x.get("gain_common", math.nan)
        return [f"{m['psnr']:.2f}", f"{m['lam_chosen']:.3g}",
                f"{'—' if math.isnan(common) else f'{common:.4f}'} / {x.get('answer_scale', math.nan):.3f}"]

    lines = [f"| set | gains | gains solved {a} / {b} | {a} PSNR | λ | gains common / image scale | {b} PSNR | λ | "
             f"gains common / image scale | {b} − {a} | CPU-s {a} / {b} |", "|" + "---|" * 11]
    total = [0.0, 0.0]
    for name, r in rows.items():
        spec, x, y = r["spec"], r[a], r[b]
        kind = next(k for k in ("png8", "jpeg") if (path.parent / f"{path.stem}_runs" / name / k).exists())
        gain = spec[7].get("gain") if len(spec) > 7 else None
        total[0] += x["metrics"]["psnr"]
        total[1] += y["metrics"]["psnr"]
        lines.append("| " + " | ".join([f"{name} s{spec[0]}", f"±{(gain[1] - 1) * 100:g}%" if gain else "none",
                                        f"{solved(name, kind, a)} / {solved(name, kind, b)}", *cells(x), *cells(y),
                                        f"{y['metrics']['psnr'] - x['metrics']['psnr']:+.2f}",
                                        f"{x['cpu_s']:.1f} / {y['cpu_s']:.1f}"]) + " |")
    lines.append(f"\nsummed: {a} {total[0]:.2f}, {b} {total[1]:.2f} ({total[1] - total[0]:+.2f} dB)")
    return "\n".join(lines)


def main(argv=None):
    from srjpeg_batch import SPLITS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", type=Path)
    ap.add_argument("--split", choices=sorted(SPLITS))
    ap.add_argument("--out", type=Path)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--kind", default="png8", choices=("png8", "jpeg"))
    ap.add_argument("--variants", nargs="*", default=["nogain=problem.gain_again=false", "gain=problem.gain=true"])
    ap.add_argument("--table", type=Path)
    ap.add_argument("--pair", nargs=2, metavar=("A", "B"), help="with --table: variant B against variant A")
    a = ap.parse_args(argv)
    if a.table:
        print(paired(a.table, *a.pair) if a.pair else table(a.table))
        return
    if a.root is None or a.split is None or a.out is None:
        ap.error("root, --split and --out are needed (or --table)")
    variants = {}
    for v in a.variants:
        name, sep, rest = v.partition("=")
        if not sep or not rest:
            ap.error(f"variant {v!r}: NAME=override[,override...]")
        variants[name] = rest.split(",")
    sets = SPLITS[a.split]
    names = a.only or list(sets)
    unknown = [n for n in names if n not in sets]
    if unknown:
        ap.error(f"not in split {a.split}: {', '.join(unknown)}")
    runs(a.root, sets, a.out, names, variants, a.kind)


if __name__ == "__main__":
    main()

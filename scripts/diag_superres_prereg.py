#!/usr/bin/env python
"""Sharp drawings and the super-resolution pre-registration's basin (issue 16; docs/superres.md "Sharp drawings:
the pre-registration's basin (srtext)").

New scenes (256^2 grey, drawn 4x larger with Pillow and 4x4-averaged as bench_lambda_sr's drawings; fonts are
matplotlib's bundled ones, so every machine draws the same): text_serif (DejaVu Serif 11 px, 18 lines), text_mono
(DejaVu Sans Mono 15 px, 13 lines), text_bold (DejaVu Sans Bold 22 px, 9 lines), sheetmusic (5-line staves 1 px
lines 5 px apart, filled note heads, stems, bar lines), spreadsheet (a ruled table of 1 px lines, numbers in the
cells), streetsign (signs of flat colour with borders and 20-30 px lettering on a shaded ground), chessboard (a
board of 22-30 px squares at a random angle, a few round pieces), lineart_dense (150 strokes 1-2 px wide).
They are added to scripts/bench_lambda_sr.py's scenes by name (its source_image is wrapped, not edited), so its
--set syntax and every number it prints hold for them:

    python scripts/diag_superres_prereg.py bench <bench_lambda_sr.py's options>      # the bench with the scenes
    python scripts/diag_superres_prereg.py draw --out OUT/scenes                    # the scenes as PNGs, to look at
    python scripts/diag_superres_prereg.py ladder --set <sets> [--wide] [--variants 0.001 g:0.001 t:0.1]
    python scripts/diag_superres_prereg.py edge --set <sets>      # narrow vs wide taper's ladder, their distance
    python scripts/diag_superres_prereg.py replay --set <sets> [--always-wide]    # `auto` without / with it
    python scripts/diag_superres_prereg.py minimum --set <sets> [--thetas 0.001 0.1] [--lam 0.2]

ladder: the motion error (RMS fine px, per frame) after every stage of the pre-registration, SimpleITK's peer's,
the identity's, and ladders of the given scales from the identity, the global start (g:) or the truth (t:).
minimum: where the misfits' own minima lie, each from the true motion (the pre-registration's at θ, the joint one
at the true image, varpro_cg at a fixed weight) and the forward model's mismatch on the noise-free frames.
--supersample (default 4, as batches NE and BR) for ladder, edge and replay.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_lambda_sr  # noqa: E402  (scripts/bench_lambda_sr.py)

N = 256  # the scenes' side (as bench_lambda_sr's drawings)
BIG = 4 * N  # drawn 4x larger, then 4x4-averaged: anti-aliased edges
FONT_DIR = Path(__import__("matplotlib").__file__).parent / "mpl-data" / "fonts" / "ttf"


def _font(name: str, px: int):
    from PIL import ImageFont

    return ImageFont.truetype(str(FONT_DIR / name), 4 * px)


def _words(u, per: int) -> str:
    return "".join(chr(97 + int(26 * float(u(1)))) if float(u(1)) > 0.17 else " " for _ in range(per))


def _text(u, font: str, px: int, lines: int, step: float, per: int):
    from PIL import Image, ImageDraw

    img = Image.new("L", (BIG, BIG), 250)
    draw, f = ImageDraw.Draw(img), _font(font, px)
    for row in range(lines):
        draw.text((24, 16 + 4 * step * row), _words(u, per), fill=10, font=f)
    return img


def _sheetmusic(u):
    from PIL import Image, ImageDraw

    img = Image.new("L", (BIG, BIG), 245)
    draw = ImageDraw.Draw(img)
    for staff in range(6):  # staves of 5 lines 5 px apart, 42 px between staves' tops
        top = 4 * (14 + 40 * staff)
        for k in range(5):
            draw.rectangle([16, top + 20 * k, BIG - 16, top + 20 * k + 3], fill=20)
        for bar in range(5):  # bar lines
            x = 16 + (BIG - 32) * bar // 4
            draw.rectangle([x, top, x + 3, top + 80], fill=20)
        x = 60.0
        while x < BIG - 60:  # notes: a filled head 6x5 px on a line or space, a stem 1 px 14 px long
            pos = int(13 * float(u(1))) - 2
            cy = top + 10 * pos
            draw.ellipse([x - 12, cy - 9, x + 12, cy + 9], fill=15)
            up = pos > 4
            sx = x + 10 if up else x - 12
            draw.rectangle([sx, cy - 56 if up else cy, sx + 3, cy if up else cy + 56], fill=15)
            x += 4 * (9 + 8 * float(u(1)))
    return img


def _spreadsheet(u):
    from PIL import Image, ImageDraw

    img = Image.new("L", (BIG, BIG), 248)
    draw, f = ImageDraw.Draw(img), _font("DejaVuSans.ttf", 9)
    rows, cols = 15, 5
    h, w = (BIG - 32) / rows, (BIG - 32) / cols
    draw.rectangle([16, 16, BIG - 16, 16 + h], fill=200)  # the header row shaded
    for i in range(rows + 1):
        draw.rectangle([16, 16 + i * h, BIG - 16, 16 + i * h + 3], fill=60)
    for j in range(cols + 1):
        draw.rectangle([16 + j * w, 16, 16 + j * w + 3, BIG - 16], fill=60)
    for i in range(rows):
        for j in range(cols):
            digits = 2 + int(4 * float(u(1)))
            text = "".join(str(int(10 * float(u(1)))) for _ in range(digits))
            draw.text((16 + j * w + 12, 16 + i * h + 10), text if i else chr(65 + j) * 3, fill=20, font=f)
    return img


def _streetsign(u):
    from PIL import Image, ImageDraw

    img = Image.new("L", (BIG, BIG))
    draw = ImageDraw.Draw(img)
    top, bottom = 90 + 60 * float(u(1)), 150 + 60 * float(u(1))
    for row in range(BIG):  # a shaded ground (sky to street)
        draw.line([(0, row), (BIG, row)], fill=int(top + (bottom - top) * row / BIG))
    font = _font("DejaVuSans-Bold.ttf", 22)
    for k in range(5):  # signs: a box or a disc of flat grey, a border, lettering
        x, y = float((BIG - 420) * u(1)), float((BIG - 200) * u(1))
        fill, ink = (30, 235) if float(u(1)) < 0.5 else (230, 25)
        if k % 3 == 2:
            draw.ellipse([x, y, x + 200, y + 200], fill=fill, outline=ink, width=16)
            draw.text((x + 40, y + 50), str(10 * (2 + int(7 * float(u(1))))), fill=ink, font=font)
        else:
            draw.rectangle([x, y, x + 420, y + 130], fill=fill, outline=ink, width=12)
            word = "".join(chr(65 + int(26 * float(u(1)))) for _ in range(4 + int(2 * float(u(1)))))
            draw.text((x + 24, y + 20), word, fill=ink, font=font)
        draw.rectangle([x + 90, y + 200, x + 110, BIG], fill=70)  # the post
    return img


def _chessboard(u):
    from PIL import Image, ImageDraw

    side = 4 * (22 + 8 * float(u(1)))
    angle = math.radians(30 * float(u(1)) - 15)
    img = Image.new("L", (BIG, BIG), 128)
    draw = ImageDraw.Draw(img)
    c, s, o = math.cos(angle), math.sin(angle), BIG / 2
    for i in range(-8, 8):
        for j in range(-8, 8):
            pts = [(a * side, b * side) for a, b in ((i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1))]
            draw.polygon([(o + c * x - s * y, o + s * x + c * y) for x, y in pts],
                         fill=230 if (i + j) % 2 else 35)
    for _ in range(12):  # pieces: discs with a ring, on random squares
        i, j = int(16 * float(u(1))) - 8, int(16 * float(u(1))) - 8
        x, y = (i + 0.5) * side, (j + 0.5) * side
        cx, cy, r = o + c * x - s * y, o + s * x + c * y, 0.35 * side
        tone = 200 if float(u(1)) < 0.5 else 60
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=tone, outline=255 - tone, width=8)
    return img


def _lineart_dense(u):
    from PIL import Image, ImageDraw

    img = Image.new("L", (BIG, BIG), 240)
    draw = ImageDraw.Draw(img)
    bench_lambda_sr.draw_strokes(draw, u, BIG, 150, 2, (0.02, 0.12), lambda c, r, shape: [
        tuple(float(v) for v in c + 2 * r * (u(2) - 0.5)) for _ in range(shape + 1)])
    return img


SCENES = {
    "text_serif": lambda u: _text(u, "DejaVuSerif.ttf", 11, 18, 14.0, 44),
    "text_mono": lambda u: _text(u, "DejaVuSansMono.ttf", 15, 13, 19.0, 25),
    "text_bold": lambda u: _text(u, "DejaVuSans-Bold.ttf", 22, 9, 28.0, 16),
    "sheetmusic": _sheetmusic,
    "spreadsheet": _spreadsheet,
    "streetsign": _streetsign,
    "chessboard": _chessboard,
    "lineart_dense": _lineart_dense,
}

_source_image = bench_lambda_sr.source_image


def source_image(kind: str, gen: torch.Generator, crop=None) -> torch.Tensor:
    """bench_lambda_sr.source_image with SCENES added (256^2 grey, rows top down)."""
    if kind not in SCENES:
        return _source_image(kind, gen, crop)
    u = lambda *shape: torch.rand(*shape, generator=gen, dtype=torch.float64)  # noqa: E731
    a = torch.as_tensor(np.asarray(SCENES[kind](u), dtype=np.float64))
    return a.reshape(N, 4, N, 4).mean((1, 3))


bench_lambda_sr.source_image = source_image  # image_function looks it up at call time


def draw(out: Path) -> None:
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    for kind in SCENES:
        a = source_image(kind, torch.Generator().manual_seed(0)).numpy()
        Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(out / f"{kind}.png")


def _problem(spec, supersample, root, ctx):
    from diag_superres_tiny import save_set  # scripts/diag_superres_tiny.py

    from regrun.config import config_section
    from regrun.problems.superres import SuperRes

    path = save_set(root, spec, supersample, spec["noise"])
    return SuperRes(config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                                   true_motion=str(path), lambda_f=0.1), ctx)


def _errors(p, w):
    """Per frame RMS motion error (fine px) of affine motions w (q, 6)."""
    h = torch.tensor(p.model.fine.h, dtype=w.dtype)
    return ((p.model.warp_points(w.reshape(-1)) - p.model.warp_points(p.w_true)) / h).pow(2).sum(-1).mean(-1).sqrt()


def ladder(args) -> list[dict]:
    """Per set: the motion error after every stage of the pre-registration (preregister's trace), the peer's, and
    the errors of candidate ladders (each from the identity unless said), per frame."""
    import tempfile
    import time

    from bench_superres_frames import sitk_motion  # scripts/bench_superres_frames.py

    from regrun.context import RunContext
    from regrun.imaging.transforms import Affine

    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.sets:
            p = _problem(spec, args.supersample, Path(tmp), ctx)
            m, q = p.model, p.model.q
            trace = []
            t0 = time.process_time()
            m.preregister(drop_outside=True, trace=trace, wide_edge=args.wide or None)
            row = {"set": spec, "cpu_prereg": time.process_time() - t0, "stages": {}}
            for name, w in trace:
                row["stages"][name] = _errors(p, w).tolist()
            row["stages"]["peer"] = _errors(p, sitk_motion(p).reshape(q, 6)).tolist()
            ident = Affine().identity(m.dtype, m.device).repeat(q, 1)

            def run(thetas, w, stride=1):
                for th in thetas:
                    w = m._register_scale(th, 1, Affine(), w, None, True, 20, 1e-3 if th != thetas[-1] else 1e-6,
                                          stride=stride, wide_edge=args.wide or None)[0]
                return w

            from regrun.registration.global_start import ANGLES, fit_params, phase_correlation_start

            row["stages"]["identity"] = _errors(p, ident).tolist()
            glob = fit_params(Affine(), phase_correlation_start(m.frames, m.coarse, ANGLES), m.coarse)
            starts = {"g": glob, "t": p.w_true.reshape(q, 6)}
            for name in args.variants:  # [g:|t:]THETA:THETA...: from the global start, the truth or the identity
                t0 = time.process_time()
                parts = name.split(":")
                start = starts.get(parts[0], ident)
                thetas = tuple(float(v) for v in parts[parts[0] in starts:])
                w = run(thetas, start)
                row["stages"][f"ladder {name}"] = _errors(p, w).tolist()
                row[f"cpu {name}"] = time.process_time() - t0
            rows.append(row)
            print(f"{spec['kind']},{spec['size']},{spec['frames']},{spec['noise']},{spec['seed']},{spec['motion']}")
            for name, e in row["stages"].items():
                e = np.array(e)
                print(f"  {name:28s} rms {np.sqrt((e ** 2).mean()):6.3f} worst {e.max():6.2f} >1px {int((e > 1).sum()):2d}"
                      f"  | " + " ".join(f"{v:4.1f}" for v in e), flush=True)
    return rows


def edge_scan(args) -> list[dict]:
    """Per set: the pre-registration (the user's: outside=drop, affine) with the narrow edge taper (main's on
    32-px frames) and with the wide one (preregister's wide_edge=True): each one's RMS motion error (fine px), worst
    frame and CPU-s, and their distance (superres_start.start_distance: wide_edge_start's gate)."""
    import tempfile
    import time

    from regrun.context import RunContext
    from regrun.registration.superres_start import start_distance

    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.sets:
            p = _problem(spec, args.supersample, Path(tmp), ctx)
            row = {"set": ",".join(str(spec[k]) for k in ("kind", "size", "frames", "noise", "seed", "motion")),
                   "frame_px": p.model.coarse.m[0]}
            ws = {}
            for name, wide in (("narrow", False), ("wide", True)):
                t0 = time.process_time()
                ws[name] = p.model.preregister(drop_outside=True, wide_edge=wide)
                cpu = time.process_time() - t0
                e = _errors(p, ws[name].reshape(p.model.q, 6))
                row[name] = {"err": float(e.pow(2).mean().sqrt()), "worst": float(e.max()), "cpu": cpu}
            row["distance"] = start_distance(p, ws["narrow"], ws["wide"])
            rows.append(row)
            print(f"{row['set']:45s} {row['frame_px']:3d}px " + "  ".join(
                f"{v}: {row[v]['err']:.3f} ({row[v]['worst']:.2f}) {row[v]['cpu']:.2f}s" for v in ("narrow", "wide"))
                + f"  distance {row['distance']:.3f}", flush=True)
    return rows


def replay(args, switch=None) -> list[dict]:
    """Per set: `auto` as the user runs it (every default, cg_iters 50 as bench_lambda_sr), "main" without the wide
    edge taper's candidate (superres_start.WIDE_EDGE_MIN out of reach) and "end" with it, or (--always-wide) the
    wide taper's ladder taken on 32-px frames whatever its distance: PSNR, weight, motion error, CPU-s.
    switch(v) (v "main" or "end"; None after the runs): another change to set and take back instead."""
    import tempfile
    import time

    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.monitor import Monitor
    from regrun.problems.superres import SuperRes
    from regrun.registration import superres_start
    from regrun.solvers.varpro_cg import VarProCG
    from diag_superres_tiny import save_set  # scripts/diag_superres_tiny.py

    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    keep, rows = (superres_start.WIDE_EDGE_MIN, superres_start.WIDE_EDGE_MOVE), []
    values = ("main", "end")
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.sets:
            path = save_set(Path(tmp), spec, args.supersample, spec["noise"])
            row = {"set": ",".join(str(spec[k]) for k in ("kind", "size", "frames", "noise", "seed", "motion"))}
            try:
                for v in values:
                    if switch is not None:
                        switch(v)
                    else:
                        superres_start.WIDE_EDGE_MIN = 10**9 if v == "main" else keep[0]
                        superres_start.WIDE_EDGE_MOVE = 0.0 if args.always_wide else keep[1]
                    p = SuperRes(config_section("problem", "superres", data="frames", frames=str(path),
                                                truth=str(path), true_motion=str(path), lambda_f="auto"), ctx)
                    t0 = time.process_time()
                    res = VarProCG(config_section("solver", "varpro_cg", cg_iters=50), ctx).solve(p, Monitor())
                    cpu = time.process_time() - t0
                    m, _ = p.evaluate(res)
                    row[str(v)] = {"psnr": m["psnr"], "lam": res.metrics["lam_chosen"], "err": m["motion_error"],
                                   "cpu": cpu, "second_kept": getattr(p, "second_start_kept", float("nan")),
                                   "pairwise_taken": m.get("start_pairwise_taken", float("nan"))}
            finally:
                superres_start.WIDE_EDGE_MIN, superres_start.WIDE_EDGE_MOVE = keep
                if switch is not None:
                    switch(None)
            rows.append(row)
            a, b = row["main"], row["end"]
            print(f"{row['set']:45s} " + "  ".join(f"{v}: {row[v]['psnr']:.2f} (err {row[v]['err']:.3f}, "
                                                  f"lam {row[v]['lam']:.3g}, {row[v]['cpu']:.1f} s)"
                                                  for v in values)
                  + f"  diff {b['psnr'] - a['psnr']:+.2f}" + (f"  second kept {b['second_kept']}  distance "
                  f"{row['distance']:.3f} ladders {row['ladder_err'][0]:.3f} / {row['ladder_err'][1]:.3f}"
                  if "distance" in row else ""), flush=True)
    return rows


def minimum(args) -> list[dict]:
    """Per set: where the misfits' own minima lie, each from the true motion (RMS fine px from it): the
    pre-registration's θ (--thetas) misfit with the narrow edge taper, the wide one and every point kept
    (outside=keep), with the share of frame j's coarse points the narrow taper weighs above 0 at the truth; the
    joint misfit ||A(w) f - b|| at the true image f (diag_superres_tiny.floor, affine and the set's own motion
    model); the forward model's mismatch at the true image and motion on the noise-free set (RMS, and RMS / the
    true image's RMS gradient: the motion shift it can cause); varpro_cg at the fixed weight --lam from the true
    motion and from the pre-registration (motion error, PSNR)."""
    import tempfile
    import time

    from diag_superres_tiny import floor, mismatch, save_set  # scripts/diag_superres_tiny.py

    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.imaging.grid import Grid
    from regrun.imaging.transforms import Affine, affine
    from regrun.monitor import Monitor
    from regrun.problems.superres import SuperRes
    from regrun.registration.objective import EdgeTaper
    from regrun.registration.superres_model import EDGE_TAPER
    from regrun.solvers.varpro_cg import VarProCG

    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.sets:
            t0 = time.process_time()
            name = ",".join(str(spec[k]) for k in ("kind", "size", "frames", "noise", "seed", "motion"))
            path = save_set(Path(tmp), spec, args.supersample, spec["noise"])
            p = _problem(spec, args.supersample, Path(tmp), ctx)
            m, q = p.model, p.model.q
            wt = p.w_true.reshape(q, 6)
            row = {"set": name, "frame_px": m.coarse.m[0], "prereg_from_truth": {}}
            for th in args.thetas:
                for label, drop, wide in (("narrow", True, False), ("wide", True, True), ("keep", False, False)):
                    w = m._register_scale(th, 1, Affine(), wt, None, drop, 20, 1e-6, wide_edge=wide)[0]
                    e = _errors(p, w)
                    row["prereg_from_truth"][f"{label} {th:g}"] = [float(e.pow(2).mean().sqrt()), float(e.max())]
            # the last scale's misfit per frame: in the truth's basin (from the truth) against at the ladder's end
            # (from the user's pre-registration, narrow taper): a start problem where the truth's is the lower
            th = args.thetas[0]
            w_user = m.preregister(drop_outside=True).reshape(q, 6)
            wt_end, _, lt, _ = m._register_scale(th, 1, Affine(), wt, None, True, 20, 1e-6, wide_edge=False)
            wu_end, _, lu, _ = m._register_scale(th, 1, Affine(), w_user, None, True, 20, 1e-6, wide_edge=False)
            h = torch.tensor(m.fine.h, dtype=m.dtype)
            apart = ((m.warp_points(wt_end.reshape(-1)) - m.warp_points(wu_end.reshape(-1))) / h).pow(2).sum(-1)
            row["prereg_misfit"] = {"truth_basin": lt.tolist(), "ladder_end": lu.tolist(),
                                    "apart": apart.mean(-1).sqrt().tolist(),
                                    "ladder_err": float(_errors(p, w_user).pow(2).mean().sqrt())}
            xc = m.coarse.centres(m.dtype, m.device).reshape(-1, 2)
            wts = EdgeTaper(Grid(m.coarse.omega, m.coarse.m), EDGE_TAPER[0], inset=EDGE_TAPER[1])(
                affine(wt[:, None, :], xc))
            row["kept_share"] = float((wts > 0).double().mean())
            row["weight_mean"] = float(wts.mean())
            row["floor_affine"] = floor(path, ctx, "affine")
            if spec["motion"] != "affine":
                row[f"floor_{spec['motion']}"] = floor(path, ctx, spec["motion"])
            clean = save_set(Path(tmp), spec, args.supersample, 0.0)  # set_SEED_0.0.npz: the same frames, no noise
            row["mismatch_clean"] = mismatch(clean, ctx)
            row["mismatch_clean"]["shift"] = row["mismatch_clean"]["mismatch_rms"] / row["mismatch_clean"]["grad_rms"]
            for init in ("truth", "preregister"):
                pp = SuperRes(config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                                             true_motion=str(path), lambda_f=args.lam), ctx)
                res = VarProCG(config_section("solver", "varpro_cg", cg_iters=50, init=init), ctx).solve(pp, Monitor())
                met, _ = pp.evaluate(res)
                row[f"varpro {init}"] = {"err": met["motion_error"], "psnr": met["psnr"], "w": res.solution["w"]}
            # the joint objective (regulariser rows in) at both ends, each image solved there, one data mask (the
            # one the true motion settles): which end does varpro_cg's own objective prefer?
            pp.model.settle_outside(p.w_true)
            pp.model.set_weight(args.lam)
            for init in ("truth", "preregister"):
                wv = row[f"varpro {init}"].pop("w")
                fv = pp.model.solve(wv, 300, 1e-10).x
                row[f"varpro {init}"]["objective"] = float(pp.model.residual(wv, fv).pow(2).sum())
            row["cpu"] = time.process_time() - t0
            rows.append(row)
            print(name, f"{row['frame_px']}px kept {row['kept_share']:.3f} (mean weight {row['weight_mean']:.3f})",
                  f"cpu {row['cpu']:.1f}", flush=True)
            print("  prereg from truth: " + "  ".join(f"{k} {v[0]:.3f} ({v[1]:.2f})"
                                                      for k, v in row["prereg_from_truth"].items()))
            print("  joint at true image: " + "  ".join(f"{k} {row[k]:.3f}" for k in row if k.startswith("floor")),
                  "| clean mismatch rms {mismatch_rms:.3f} grad {grad_rms:.2f} shift {shift:.3f}".format(
                      **row["mismatch_clean"]))
            print("  varpro lam", args.lam, "  ".join(f"{i}: err {row['varpro ' + i]['err']:.3f} psnr "
                                                     f"{row['varpro ' + i]['psnr']:.2f} objective "
                                                     f"{row['varpro ' + i]['objective']:.5g}"
                                                     for i in ("truth", "preregister")), flush=True)
            lt, lu = np.array(row["prereg_misfit"]["truth_basin"]), np.array(row["prereg_misfit"]["ladder_end"])
            far = np.array(row["prereg_misfit"]["apart"]) > 1.0
            print(f"  prereg misfit at theta {th:g} (ladder end {row['prereg_misfit']['ladder_err']:.3f} px): sum "
                  f"truth's basin {lt.sum():.5g}, ladder's end {lu.sum():.5g}; frames where the truth's basin is "
                  f"lower: {int((lt < lu).sum())} of {q}; of the frames whose two ends lie > 1 px apart: "
                  f"{int(((lt < lu) & far).sum())} of {int(far.sum())} (misfit ratio truth's / ladder's there "
                  f"{lt[far].sum() / max(lu[far].sum(), 1e-300):.3f})", flush=True)
    return rows


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("bench", "draw", "ladder", "edge", "replay", "minimum"):
        raise SystemExit("usage: diag_superres_prereg.py bench|draw|ladder|edge|replay|minimum ...")
    if argv[0] == "bench":
        return bench_lambda_sr.main(argv[1:])
    if argv[0] in ("edge", "replay"):
        import argparse
        import json

        ap = argparse.ArgumentParser()
        ap.add_argument("--set", dest="sets", nargs="+", type=bench_lambda_sr.parse_set, required=True)
        ap.add_argument("--supersample", type=int, default=4)
        ap.add_argument("--always-wide", action="store_true", help="replay: the wide taper's ladder on 32-px "
                        "frames whatever its distance (the gate at 0)")
        ap.add_argument("--out", type=Path)
        a = ap.parse_args(argv[1:])
        torch.set_num_threads(1)
        rows = edge_scan(a) if argv[0] == "edge" else replay(a)
        if a.out:
            a.out.write_text(json.dumps(rows, indent=1))
        return rows
    if argv[0] == "minimum":
        import argparse
        import json

        ap = argparse.ArgumentParser()
        ap.add_argument("--set", dest="sets", nargs="+", type=bench_lambda_sr.parse_set, required=True)
        ap.add_argument("--supersample", type=int, default=4)
        ap.add_argument("--thetas", type=float, nargs="+", default=[0.001])
        ap.add_argument("--lam", type=float, default=0.2, help="varpro_cg's fixed weight")
        ap.add_argument("--out", type=Path)
        a = ap.parse_args(argv[1:])
        torch.set_num_threads(1)
        rows = minimum(a)
        if a.out:
            a.out.write_text(json.dumps(rows, indent=1, default=str))
        return rows
    if argv[0] == "ladder":
        import argparse
        import json

        ap = argparse.ArgumentParser()
        ap.add_argument("--set", dest="sets", nargs="+", type=bench_lambda_sr.parse_set, required=True)
        ap.add_argument("--supersample", type=int, default=4)
        ap.add_argument("--variants", nargs="*", default=[], help="ladders from the identity: THETA:THETA:...")
        ap.add_argument("--wide", action="store_true", help="every scale with the wide edge taper (wide_edge)")
        ap.add_argument("--out", type=Path)
        a = ap.parse_args(argv[1:])
        torch.set_num_threads(1)
        rows = ladder(a)
        if a.out:
            a.out.write_text(json.dumps(rows, indent=1, default=str))
        return rows
    return draw(Path(argv[argv.index("--out") + 1]) if "--out" in argv else Path("outputs/scenes"))


if __name__ == "__main__":
    main()

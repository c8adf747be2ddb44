#!/usr/bin/env python
"""Held-out batch W (srwide, session 22): super-resolution frame sets unlike any earlier batch, run as a new user.

Every earlier SR batch drew 8 or 16 square frames at factor 2 with 0.5-3% Gaussian noise and small motions. Each
set here varies one or two things no batch varied (frame counts 4-32, non-square frames, shifts of 3-6 frame
pixels, rotations of 5-15 degrees, shears, 2% and 5% noise, Poisson noise, 8-bit PNG frames, unmodelled exposure
gains, factors 3 and 4, photos no batch used, colour). Seeds 7701-7720 (unused before this batch).

    python scripts/heldout_sr_wide.py write OUT/wide                     # the sets, as users' PNG/TIFF folders
    PYTHONPATH=CODE python scripts/heldout_sr_wide.py run OUT/wide --out OUT/wide_CODE.json [--only NAME ...]

`run`, per set: the README's command as a new user types it (`problem.data=frames problem.frames=DIR
problem.factor=K`, no weight, truth and true motion only to judge; a subprocess of CODE's regrun, its CPU seconds
from the OS), then in this process (CODE's regrun too): bicubic of frame 0, regrun varpro_cg on a weight grid judged
with the truth (the pre-registration computed once, as scripts/bench_lambda_sr.py), the two-stage SimpleITK peer
at every weight of its own grid, and both motion errors (RMS over the frames' points, fine pixels).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

# name: (what it varies, make_sr_frames.write_frame_set's settings). Every set 1% Gaussian noise, 8 frames, 48x48
# fine pixels, factor 2, affine motions of make_sr_frames (rotation +-10 deg, scale 0.95-1.05, shift +-5%) unless said.
BASE = {"size": 48, "factor": 2, "frames": 8, "noise": 0.01, "supersample": 10, "angle": 10.0, "gain": (1.0, 1.0)}
SETS = {
    "n4_polygons": ("4 frames", {"frames": 4}, {"image": "polygons"}),
    "n6_deadleaves": ("6 frames", {"frames": 6}, {"image": "deadleaves"}),
    "n12_phantom": ("12 frames", {"frames": 12}, {}),
    "n24_ellipses": ("24 frames at 32x32", {"frames": 24, "size": 32}, {"image": "ellipses"}),
    "n32_terrain": ("32 frames at 32x32, 2% noise", {"frames": 32, "size": 32, "noise": 0.02}, {"image": "terrain"}),
    "wide_phantom": ("non-square 40x72 (frames 20x36)", {}, {"shape": (40, 72)}),
    "tall_deadleaves": ("non-square 72x40, 16 frames", {"frames": 16}, {"shape": (72, 40), "image": "deadleaves"}),
    "shift_phantom": ("shifts 3-6 frame px at 64x64", {"size": 64}, {"shift": (3.0, 6.0)}),
    "rot_polygons": ("rotations 5-15 deg", {"angle": 15.0}, {"angle_min": 5.0, "image": "polygons"}),
    "shear_ellipses": ("shear +-0.1", {}, {"shear": 0.1, "image": "ellipses"}),
    "noise5_phantom": ("5% noise", {"noise": 0.05}, {}),
    "noise2_deadleaves": ("2% noise, 16 frames", {"noise": 0.02, "frames": 16}, {"image": "deadleaves"}),
    "poisson_phantom": ("Poisson noise, 400 counts at the mean", {}, {"photons": 400.0}),
    "uint8_polygons": ("8-bit PNG frames, 0.5% noise", {"noise": 0.005, "bits": 8}, {"image": "polygons"}),
    "gain_phantom": ("gains 0.85-1.15, not declared", {"gain": (0.85, 1.15)}, {}),
    "k3_phantom": ("factor 3 (frames 16x16), 12 frames", {"factor": 3, "frames": 12}, {}),
    "k4_deadleaves": ("factor 4 at 64x64 (frames 16x16), 16 frames", {"factor": 4, "frames": 16, "size": 64},
                      {"image": "deadleaves"}),
    "photo_shelf_rgb": ("colour photo no batch used (motorcycle_right.png, shelves)", {},
                        {"image": "rgb:skfile:motorcycle_right.png@20:480:200"}),
    "photo_chess": ("photo no batch used (chessboard_RGB.png, grey)", {},
                    {"image": "skfile:chessboard_RGB.png@0:0:200"}),
    "photo_engine_u8_rot": ("photo (motorcycle_right.png, engine) at 64x64, 16 frames, 8-bit, rotations 5-15 deg",
                            {"size": 64, "frames": 16, "angle": 15.0, "bits": 8},
                            {"angle_min": 5.0, "image": "skfile:motorcycle_right.png@250:280:160"}),
}
SEEDS = {name: 7701 + k for k, name in enumerate(SETS)}
GRID = [0.05, 0.1, 0.2, 0.4]  # extended by factors of 2 while the best is at an end, then sqrt(2) either side


def settings(name):
    _, kw, wide = SETS[name]
    kw = {**BASE, **kw, "seed": SEEDS[name]}
    return kw.pop("bits", 16), kw, wide


def write(root: Path) -> None:
    from make_sr_frames import write_frame_set

    for name in SETS:
        bits, kw, wide = settings(name)
        paths = write_frame_set(root / name, "png", bits, {"image": "phantom", **wide}, **kw)
        print(name, {k: str(v) for k, v in paths.items()}, flush=True)


def user_run(d: Path, factor: int, run_dir: Path) -> dict:
    """The README's command, as a new user runs it, in a subprocess: its metrics, status and CPU seconds."""
    truth = next(p for p in (d / "truth.png", d / "truth.tiff", d / "truth.npy") if p.exists())
    return readme_run(d / "frames", factor, truth, d / "motion.json", run_dir)


def readme_run(frames, factor: int, truth, true_motion, run_dir: Path, extra: tuple[str, ...] = ()) -> dict:
    """`regrun problem=superres problem.data=frames ...` with the frames' truth and motion (and `extra` overrides)
    in a subprocess: rc, wall and CPU seconds (the child's user + sys), the output's tail, and from its
    metrics.json the status, message and numeric metrics."""
    # -P: the regrun on PYTHONPATH (or installed), not the one in the working directory, which `python -c` would put
    # first: PYTHONPATH=MAIN run from a worktree ran the worktree's code (srgain2's first held-out "main" runs)
    cmd = [sys.executable, "-P", "-c", "from regrun.cli import main; main()", "problem=superres", "problem.data=frames",
           f"problem.frames={frames}", f"problem.factor={factor}", f"problem.truth={truth}",
           f"problem.true_motion={true_motion}", f"hydra.run.dir={run_dir}", *extra]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = {"rc": proc.returncode, "wall_s": time.perf_counter() - t0,
           "cpu_s": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime),
           "tail": (proc.stdout + proc.stderr).strip().splitlines()[-3:]}
    mj = run_dir / "metrics.json"
    if mj.exists():
        m = json.loads(mj.read_text())
        out["status"], out["message"] = m.get("status"), m.get("message")
        out["metrics"] = {k: v for k, v in m.get("metrics", {}).items() if isinstance(v, (int, float))}
    return out


def judged(d: Path, factor: int, user: dict) -> dict:
    """Bicubic, regrun's best weight (grid with the truth) and the peer's best, in this process."""
    from bench_lambda_sr import bicubic_psnr, weight_search
    from bench_superres_frames import scores, sitk_motion, solve_channels

    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.monitor import Monitor
    from regrun.problems.superres import SuperRes
    from regrun.registration.superres_start import start_params
    from regrun.solvers.varpro_cg import VarProCG

    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    truth = next(p for p in (d / "truth.png", d / "truth.tiff", d / "truth.npy") if p.exists())

    def problem(lam):
        cfg = config_section("problem", "superres", data="frames", frames=str(d / "frames"), truth=str(truth),
                             true_motion=str(d / "motion.json"), factor=factor, lambda_f=lam)
        return SuperRes(cfg, ctx)

    solver = VarProCG(config_section("solver", "varpro_cg", cg_iters=50), ctx)
    p0 = problem(1.0)
    row = {"psnr_bicubic": bicubic_psnr(p0)}
    c0 = time.process_time()
    w0 = start_params(p0, "preregister")
    row["prereg_motion_error"], row["prereg_cpu_s"] = p0.motion_error(w0), time.process_time() - c0
    w_alt = getattr(p0, "second_start", None)

    def regrun_at(lam):
        p = problem(lam)
        p.model.preregister = lambda thetas=None, **_: (w0 if thetas is None or w_alt is None else w_alt).clone()
        res = solver.solve(p, Monitor())
        metrics, _ = p.evaluate(res)
        return {"psnr": metrics["psnr"], "motion_error": metrics.get("motion_error", math.nan)}

    grid = weight_search(regrun_at, GRID, True)
    best = max(grid, key=lambda g: g["psnr"])
    row.update(grid=grid, regrun_best_lam=best["lam"], psnr_regrun_best=best["psnr"],
               regrun_best_motion_error=best["motion_error"])
    try:
        c0 = time.process_time()
        w_peer = sitk_motion(p0)
        row["peer_motion_cpu_s"] = time.process_time() - c0
        peer = weight_search(lambda lam: scores(problem(lam), solve_channels(problem(lam), w_peer)), GRID, True)
        pb = max(peer, key=lambda g: g["psnr"])
        row.update(peer=peer, peer_best_lam=pb["lam"], psnr_peer_best=pb["psnr"],
                   peer_motion_error=p0.motion_error(w_peer))
    except ImportError:
        row["psnr_peer_best"] = math.nan
    return row


def run(root: Path, names, out: Path, judge: bool) -> None:
    torch.set_num_threads(1)
    try:
        import SimpleITK

        SimpleITK.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    except ImportError:
        pass
    rows = json.loads(out.read_text())["rows"] if out.exists() else {}
    for name in names:
        _, kw, _ = settings(name)
        d = root / name
        user = user_run(d, kw["factor"], out.parent / f"{out.stem}_runs" / name)
        row = {"what": SETS[name][0], "seed": SEEDS[name], "user": user}
        if judge:
            row.update(judged(d, kw["factor"], user))
        rows[name] = row
        m = user.get("metrics", {})
        print(f"{name}: rc {user['rc']} {user.get('status')} auto {m.get('psnr', math.nan):.2f} dB "
              f"(lam {m.get('lam_chosen', math.nan):.3g}, motion {m.get('motion_error', math.nan):.3f} px, "
              f"{user['cpu_s']:.1f} CPU-s); bicubic {row.get('psnr_bicubic', math.nan):.2f}, best "
              f"{row.get('psnr_regrun_best', math.nan):.2f}, peer {row.get('psnr_peer_best', math.nan):.2f} "
              f"(motion {row.get('peer_motion_error', math.nan):.3f})", flush=True)
        out.write_text(json.dumps({"code": os.environ.get("PYTHONPATH", ""), "rows": rows}, indent=1, default=str))


def table(paths) -> str:
    """Markdown: one row per set, auto (the user's run) of each results file beside bicubic, best and peer."""
    runs = [json.loads(Path(p).read_text())["rows"] for p in paths]
    head = "| set | what | bicubic | regrun best λ (PSNR) | peer best λ (PSNR) | " + " | ".join(
        f"auto {Path(p).stem}: λ (PSNR) | motion px | CPU-s" for p in paths) + " | peer motion px |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name in SETS:
        ref = next((r[name] for r in runs if name in r and "psnr_bicubic" in r[name]), None)
        if ref is None:
            continue
        cells = []
        for r in runs:
            u = r.get(name, {}).get("user", {})
            m = u.get("metrics", {})
            if u.get("status") != "completed":
                cells.append(f"{u.get('status', '-')} (rc {u.get('rc', '-')}) | - | -")
                continue
            cells.append(f"{m.get('lam_chosen', math.nan):.3g} ({m['psnr']:.2f}) | "
                         f"{m.get('motion_error', math.nan):.3f} | {u['cpu_s']:.1f}")
        lines.append(f"| {name} s{SEEDS[name]} | {SETS[name][0]} | {ref['psnr_bicubic']:.2f} | "
                     f"{ref['regrun_best_lam']:.3g} ({ref['psnr_regrun_best']:.2f}) | "
                     f"{ref.get('peer_best_lam', math.nan):.3g} ({ref['psnr_peer_best']:.2f}) | "
                     + " | ".join(cells) + f" | {ref.get('peer_motion_error', math.nan):.3f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("write", "run", "table"))
    ap.add_argument("root", type=Path, nargs="+", help="write/run: the sets' folder; table: results .json files")
    ap.add_argument("--out", type=Path, help="run: the results .json (rows added to it when it exists)")
    ap.add_argument("--only", nargs="+", choices=list(SETS), help="run these sets alone")
    ap.add_argument("--no-judge", action="store_true", help="run: the user's command alone (no grid, no peer)")
    a = ap.parse_args(argv)
    if a.what == "write":
        write(a.root[0])
    elif a.what == "run":
        if a.out is None:
            ap.error("run needs --out")
        run(a.root[0], a.only or list(SETS), a.out, not a.no_judge)
    else:
        print(table(a.root))


if __name__ == "__main__":
    main()

"""Cost and memory of differentiating the projected residual r(w) = A(w) f(w) - b per mode as cg_iters grows
(synthetic phantom of --size, --frames frames).

Two tables, both timed as the median of --repeats calls in one process with torch pinned to --threads, so
each ratio (derivative time over objective time r(w)) is like for like:

1. Forward mode, what varpro_cg uses: the full Jacobian dr/dw (6q columns) for none / full / tail (last half,
   continued) / implicit. Memory: each (mode, cg_iters) runs in a fresh subprocess that reports the growth
   of its peak resident set size (ru_maxrss) across one Jacobian evaluation (--no-rss skips it). Forward
   mode stores no tape, so this shows no growth with the iteration count; it includes the one-off cost
   of the first functorch call in a process (~97 MiB at 32x32, `none` included).
2. Reverse mode, a vector-Jacobian product u^T dr/dw (random u, one reverse pass):
   - full_reverse: torch.autograd through the unrolled CG, which keeps every iteration for the backward;
   - implicit_vjp: CG without a tape, then one adjoint solve A^T A l = A^T u and one reverse pass through
     A^T(A f - b) at fixed f (the implicit mode of regrun.linalg.cg.solve_normal).
   Memory is counted exactly as the bytes autograd saves for backward (torch.autograd.graph.
   saved_tensors_hooks; distinct storages, summed over the whole call; for full_reverse all of them are
   alive at once when the backward starts). The two VJPs agree up to the CG error of the forward solve;
   their relative difference is reported.

    python scripts/bench_superres_jacobian.py --size 32 --iters 10 50 200 --out outputs/bench/superres_jacobian.json
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

MODES = ("none", "full", "tail", "implicit")
REVERSE = ("full_reverse", "implicit_vjp")


def build(size: int, frames: int):
    import torch
    from omegaconf import OmegaConf

    from regrun.config import PACKAGE_DIR
    from regrun.context import RunContext
    from regrun.problems.superres import SuperRes

    cfg = OmegaConf.load(PACKAGE_DIR.parent / "configs" / "problem" / "superres.yaml")
    cfg.size, cfg.n_frames = size, frames
    p = SuperRes(cfg, RunContext(torch.device("cpu"), torch.float64, 0, Path(".")))
    # Off the truth, so every derivative term is nonzero (at the truth of a noise-free case r ~ 0).
    w = p.w_true + 0.01
    return p, w


def reverse_vjp(kind: str, p, w, u, iters: int, check: bool = False):
    """(u^T dr/dw, saved bytes) for one reverse-mode variant."""
    import torch

    from regrun.linalg.cg import cg, diff_mode, solve_normal
    from regrun.memory import SavedBytes

    model = p.model
    x0 = model.initial_image()
    saved = SavedBytes()
    with saved:
        if kind == "full_reverse":
            wg = w.detach().requires_grad_(True)
            f = solve_normal(model.operator, wg, model.b, diff_mode("full"), iters, x0)
            r = model.operator(wg).matvec(f) - model.b
            (g,) = torch.autograd.grad(r, wg, u)
        else:
            # the implicit mode of regrun.linalg.cg.solve_normal written out with torch.autograd, because its
            # backward uses torch.func.vjp, which refuses saved-tensor hooks; `check` compares the two.
            op = model.operator(w)
            f = cg(op.normal(), op.rmatvec(model.b), x0, iters).x.detach()
            lam = cg(op.normal(), op.rmatvec(u), iters=iters).x
            wg = w.detach().requires_grad_(True)
            opg = model.operator(wg)
            # u^T d(A f)/dw at fixed f, minus lam^T d(A^T (A f - b))/dw at fixed f, in one reverse pass.
            out = (u * opg.matvec(f)).sum() - (lam * opg.rmatvec(opg.matvec(f) - model.b)).sum()
            (g,) = torch.autograd.grad(out, wg)
    if check and kind == "implicit_vjp":  # outside the hooks, which torch.func refuses
        wg = w.detach().requires_grad_(True)
        f_implicit = solve_normal(model.operator, wg, model.b, diff_mode("implicit"), iters, x0)
        (ref,) = torch.autograd.grad(model.operator(wg).matvec(f_implicit) - model.b, wg, u)
        assert float((g - ref).norm()) <= 1e-10 * float(ref.norm()), "implicit VJP disagrees"
    return g.detach(), saved.total


def measure_reverse(kind: str, iters: int, size: int, frames: int, repeats: int, threads: int) -> dict:
    import torch

    from regrun.solvers.varpro_cg import ProjectedResidual
    from regrun.linalg.cg import diff_mode

    torch.set_num_threads(threads)
    p, w = build(size, frames)
    pr = ProjectedResidual(p.model, diff_mode("none"), iters)
    u = torch.randn(pr.residual(w).shape, generator=torch.Generator().manual_seed(0), dtype=w.dtype)
    g, nbytes = reverse_vjp(kind, p, w, u, iters, check=True)  # warm-up, and the bytes (the same every call)
    t_res, t_vjp = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        pr.residual(w)
        t_res.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        reverse_vjp(kind, p, w, u, iters)
        t_vjp.append(time.perf_counter() - t0)
    r, j = statistics.median(t_res), statistics.median(t_vjp)
    return {"mode": kind, "cg_iters": iters, "size": size, "frames": frames, "params": int(w.numel()),
            "objective_s": r, "derivative_s": j, "ratio": j / r, "saved_mib": nbytes / 2**20, "vjp": g}


def measure(mode: str, iters: int, size: int, frames: int, repeats: int, threads: int) -> dict:
    import torch

    from regrun.linalg.cg import diff_mode
    from regrun.solvers.varpro_cg import ProjectedResidual

    torch.set_num_threads(threads)
    p, w = build(size, frames)
    pr = ProjectedResidual(p.model, diff_mode(mode, 0.5), iters)
    pr.residual(w)
    pr.residual_and_jacobian(w)  # warm-up (first functorch calls are slow)
    t_res, t_jac = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        pr.residual(w)
        t_res.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        pr.residual_and_jacobian(w)
        t_jac.append(time.perf_counter() - t0)
    r, j = statistics.median(t_res), statistics.median(t_jac)
    return {"mode": mode, "cg_iters": iters, "size": size, "frames": frames, "params": int(w.numel()),
            "objective_s": r, "jacobian_s": j, "ratio": j / r}


def peak_memory(mode: str, iters: int, size: int, frames: int, threads: int) -> float:
    """Extra peak RSS in MiB of one Jacobian evaluation (fresh process; objective evaluated first)."""
    code = (
        "import resource, torch, sys\n"
        f"torch.set_num_threads({threads})\n"
        "sys.path.insert(0, %r)\n" % str(Path(__file__).parent) +
        "from bench_superres_jacobian import build\n"
        "from regrun.linalg.cg import diff_mode\n"
        "from regrun.registration.superres_projection import ProjectedResidual\n"
        f"p, w = build({size}, {frames})\n"
        f"pr = ProjectedResidual(p.model, diff_mode({mode!r}, 0.5), {iters})\n"
        "pr.residual(w); pr.residual(w)\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "pr.residual_and_jacobian(w)\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--iters", type=int, nargs="+", default=[10, 50, 200])
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-rss", action="store_true", help="skip the per-mode RSS subprocesses (forward mode)")
    ap.add_argument("--no-forward", action="store_true", help="only the reverse-mode table")
    ap.add_argument("--out", default="outputs/bench/superres_jacobian.json",
                    help="JSON file; a CSV with the same rows is written beside it")
    args = ap.parse_args()
    rows = []
    if not args.no_forward:
        print("forward mode: Jacobian dr/dw (6q columns)")
        print(f"{'mode':13s} {'cg_iters':>8s} {'objective':>10s} {'jacobian':>10s} {'ratio':>7s} {'RSS MiB':>8s}")
        for iters in args.iters:
            for mode in args.modes:
                row = measure(mode, iters, args.size, args.frames, args.repeats, args.threads)
                row["kind"] = "jacobian_forward"
                row["derivative_s"] = row.pop("jacobian_s")
                row["rss_peak_mib"] = float("nan") if args.no_rss else peak_memory(
                    mode, iters, args.size, args.frames, args.threads)
                rows.append(row)
                print(f"{mode:13s} {iters:8d} {row['objective_s']:9.4f}s {row['derivative_s']:9.4f}s "
                      f"{row['ratio']:7.1f} {row['rss_peak_mib']:8.1f}")
    print("reverse mode: one vector-Jacobian product u^T dr/dw")
    print(f"{'mode':13s} {'cg_iters':>8s} {'objective':>10s} {'vjp':>10s} {'ratio':>7s} {'saved MiB':>10s} "
          f"{'rel diff':>9s}")
    for iters in args.iters:
        found = {k: measure_reverse(k, iters, args.size, args.frames, args.repeats, args.threads)
                 for k in REVERSE}
        a, b = found["full_reverse"].pop("vjp"), found["implicit_vjp"].pop("vjp")
        rel = float((a - b).norm() / a.norm())
        for k, row in found.items():
            row["kind"] = "vjp_reverse"
            row["rel_diff_full_vs_implicit"] = rel
            rows.append(row)
            print(f"{k:13s} {iters:8d} {row['objective_s']:9.4f}s {row['derivative_s']:9.4f}s "
                  f"{row['ratio']:7.1f} {row['saved_mib']:10.2f} {rel:9.1e}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"threads": args.threads, "size": args.size, "frames": args.frames,
                               "rows": rows}, indent=1))
    keys = sorted({k for row in rows for k in row})
    with open(out.with_suffix(".csv"), "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    print(f"written {out} and {out.with_suffix('.csv')}")


if __name__ == "__main__":
    main()

"""Detection's progress and ETA, predicted against measured (issue 19; docs/detection.md, "Progress and ETA"):
per scene, each node's CPU seconds against the registrar's work model (UnrolledRegistrar.work), and the ETA the
progress line would show at each node boundary, counting nodes (before) and weighing them by the model or by the
record of the previous scene, against the time that was actually left. One thread; the motif cache is used (and
filled). `--fit` also prints the least-squares constants of the model (FFT_SECONDS, SAMPLE_SECONDS in
regrun/detection/unrolled_registrar.py) from these scenes. Stores the per-node rows as CSV (default
outputs/bench_crab_eta.csv).

    python scripts/bench_crab_eta.py                      # 3 generated half-size scenes, the paper's 7.5 deg scene
    python scripts/bench_crab_eta.py --fit --full         # and the paper's scene at full size; fit the constants

ETA at a node boundary = elapsed / done x (1 - done): done is the share of nodes finished (counting) or of the
predicted work; CPU seconds stand for wall time (one thread, the machine's load divides both alike).
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch

from regrun.config import compose
from regrun.context import RunContext
from regrun.detection.calibration import load_calibration
from regrun.detection.motif_cache import cache_dir, cached_extract
from regrun.problems.crab_detection import CrabDetection
from regrun.solvers.hierarchical import build_detector, calibration_path

PAPER = ["problem.template=refine_crab", "problem.scene.source=paper", "solver.leaf.angle_max=60",
         "solver.spike.angle_max=50"]
SCENES = {"synthetic 20 deg": ["problem.scene.angle=20"],
          "synthetic -120 deg, claws 20": ["problem.scene.angle=-120", "problem.scene.articulation.claw=20",
                                           "problem.scene.seed=5"],
          "synthetic 75 deg, beach": ["problem.scene.angle=75", "problem.scene.background=beach",
                                      "problem.scene.seed=9"],
          "paper 7.5 deg": [*PAPER, "problem.scene.angle=7.5"],
          "paper 22.5 deg": [*PAPER, "problem.scene.angle=22.5"]}


def units(det, shape) -> dict[str, tuple[float, float, float]]:
    """Per node: (FFT units, sampled channel-points, batched calls) of the registrar's work model."""
    out = {}
    for node, layout in det.node_layouts(shape):
        fft, rounds = det.registrar.work_units(*layout)
        out[node] = (fft, sum(r[0] for r in rounds), sum(r[1] for r in rounds))
    return out


def etas(order, cpu, weights):
    """(done share, predicted remaining, actual remaining) at each node boundary inside the detection."""
    total_w = sum(weights[n] for n in order)
    out, elapsed, done = [], 0.0, 0.0
    for i, node in enumerate(order[:-1]):
        elapsed += cpu[node]
        done += weights[node] / total_w
        actual = sum(cpu[n] for n in order[i + 1:])
        out.append((done, elapsed / done * (1 - done), actual))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenes", nargs="+", default=list(SCENES), choices=list(SCENES))
    ap.add_argument("--full", action="store_true", help="also the paper's scenes at full size")
    ap.add_argument("--fit", action="store_true", help="print the least-squares FFT_SECONDS and SAMPLE_SECONDS")
    ap.add_argument("--out", default="outputs/bench_crab_eta.csv")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    runs = [(name, 2) for name in args.scenes]
    if args.full:
        runs += [(name, 1) for name in args.scenes if name.startswith("paper")]
    rows, summary, previous = [], [], {}
    for name, scale in runs:
        cfg = compose(["problem=crab_detection", "solver=hierarchical", f"problem.scale={scale}", *SCENES[name]])
        ctx = RunContext(device=torch.device("cpu"), dtype=torch.float64, seed=int(cfg.seed), out_dir=Path("."))
        problem = CrabDetection(cfg.problem, ctx)
        det = build_detector(cfg.solver, problem.template, problem.scale)
        path = calibration_path(cfg.solver, problem.calibration_key, problem.calibration_dir)
        if path is not None:
            load_calibration(path, det)
        cached_extract(det, cache_dir(cfg.solver.motif_cache))
        shape = tuple(problem.scene.image.shape)
        c0 = time.process_time()
        found = det.detect(problem.scene.image)
        total = time.process_time() - c0
        order = [n for n, _ in det.order]
        u = units(det, shape)
        model = det.predicted_work(shape)
        setup = (scale, tuple(SCENES[name][:1]) if name.startswith("paper") else "synthetic")
        record = previous.get(setup)  # what the solver's record would hold: the previous scene of this setup
        previous[setup] = dict(found.cpu)
        for n in order:
            rows.append({"scene": name, "scale": scale, "node": n, "cpu_s": round(found.cpu[n], 3),
                         "model_s": round(model[n], 3), "fft_units": u[n][0], "sample_units": u[n][1],
                         "calls": u[n][2]})
        line = {"scene": name, "scale": scale, "cpu_s": total, "model_s": sum(model.values())}
        for label, weights in (("nodes", {n: 1.0 for n in order}), ("model", model), ("record", record)):
            if weights is None:
                continue
            worst = max(etas(order, found.cpu, weights), key=lambda e: abs(e[1] - e[2]))
            half = min(etas(order, found.cpu, weights), key=lambda e: abs(e[0] - 0.5))
            line[label] = (half, worst)
        summary.append(line)
        print(f"{name} (scale {scale}): detection {total:.2f} CPU-s, model {line['model_s']:.2f} s; per node CPU / "
              "model: " + ", ".join(f"{n} {found.cpu[n]:.2f}/{model[n]:.2f}" for n in order), flush=True)
        for label in ("nodes", "model", "record"):
            if label in line:
                (d, p, a), (wd, wp, wa) = line[label]
                print(f"    ETA weighing by {label}: near half-way ({d:.0%} done) {p:.2f} s predicted, {a:.2f} s "
                      f"left; worst boundary ({wd:.0%}) {wp:.2f} vs {wa:.2f} s")
    if args.fit:
        a = torch.tensor([[r["fft_units"], r["sample_units"], r["calls"]] for r in rows], dtype=torch.float64)
        b = torch.tensor([r["cpu_s"] for r in rows], dtype=torch.float64)
        # relative least squares (each node's error relative to its own time: small and large nodes alike),
        # constants kept >= 0 by dropping a negative one and fitting the rest again
        use = [0, 1, 2]
        while True:
            sol = torch.linalg.lstsq(a[:, use] / b[:, None], torch.ones_like(b)[:, None]).solution.flatten()
            if bool((sol >= 0).all()) or len(use) == 1:
                break
            use.pop(int(torch.argmin(sol)))
        full = torch.zeros(3, dtype=torch.float64)
        full[use] = sol
        ratio = (a @ full) / b
        print(f"fit: FFT_SECONDS = {float(full[0]):.2e}, SAMPLE_SECONDS = {float(full[1]):.2e}, CALL_SECONDS = "
              f"{float(full[2]):.2e}; per node model/measured {float(ratio.min()):.2f}-{float(ratio.max()):.2f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)
    print(f"-> {out}")


if __name__ == "__main__":
    main()

"""CPU time of a whole `regrun problem=crab_detection` process, by phase (issue 17 §7; docs/detection.md, "Where a
whole run's time goes"). Each repeat is a fresh process on one thread (OMP_NUM_THREADS=1, MKL_NUM_THREADS=1, torch
one thread), with the motif cache warm (one run per size first, not counted). The process's user+sys CPU comes from
the OS (getrusage of the finished child); inside it, CPU seconds (time.process_time) are taken at: interpreter
start-up, the imports of `regrun.cli` (hydra, omegaconf, torch, h5py, every problem and solver), the CLI's own
config checks and hydra's compose (everything before the run starts), each phase of the run (data, solve >
extraction, solve > detection and each node in it, evaluation with the HDF5 writing, figures) and the rest (the
results file's finish, summary.md, exit). Prints a table and stores it as CSV (default
outputs/bench_crab_speed[_LABEL].csv).

    python scripts/bench_crab_speed.py       # synthetic crab at half size; the paper's 7.5 deg scene, half and full
    python scripts/bench_crab_speed.py --cases synthetic:2 --repeats 5 -- problem.scene.angle=-120
    python scripts/bench_crab_speed.py --label before              # a label column, to keep before/after apart

Wall time is printed beside CPU time; on a loaded machine read the CPU columns.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# case -> overrides. synthetic: `regrun problem=crab_detection` as it is (generated scene, whole circle; its
# calibration exists at half size only). paper: the authors' crab on Fig. 3's 7.5 deg beach scene, searched over the
# range its shipped calibrations (half and full size) were made for.
CASES = {"synthetic": [],
         "paper": ["problem.template=refine_crab", "problem.scene.source=paper", "problem.scene.angle=7.5",
                   "solver.leaf.angle_max=60", "solver.spike.angle_max=50"]}


def child(json_path: str, argv: list[str]) -> None:
    """One regrun process, instrumented: CPU seconds per step written to json_path at exit."""
    import atexit

    cpu = {"startup": time.process_time()}
    t = time.process_time()
    import regrun.cli as cli  # hydra, omegaconf: what the CLI needs before it parses anything
    cpu["imports"] = time.process_time() - t
    if hasattr(cli, "_pause_gc"):  # as the command's main() would, before the run's imports below (crabfast)
        cli._pause_gc()
    import contextlib

    t = time.process_time()
    from regrun import monitor, run as run_mod  # torch: imported by the CLI only once it runs
    from regrun.detection import detector
    cpu["imports_run"] = time.process_time() - t

    marks = {"main": None, "run": None, "end_run": None}
    phases: dict[str, float] = {}
    nodes: dict[str, float] = {}
    original_phase = monitor.Reporter.phase

    @contextlib.contextmanager
    def phase(self, name, *args, **kwargs):  # Reporter.phase's own arguments, whatever they are
        label = " > ".join([*self.phases, name])
        t0 = time.process_time()
        try:
            with original_phase(self, name, *args, **kwargs) as bar:
                yield bar
        finally:
            phases[label] = phases.get(label, 0.0) + time.process_time() - t0

    monitor.Reporter.phase = phase
    original_run, original_node = run_mod.run, detector.HierarchicalDetector._run_node

    def run(*args, **kwargs):
        marks["run"] = time.process_time()
        try:
            return original_run(*args, **kwargs)
        finally:
            marks["end_run"] = time.process_time()

    def run_node(self, node, y, extracting=False):  # HierarchicalDetector._run_node's signature
        t0 = time.process_time()
        try:
            return original_node(self, node, y, extracting)
        finally:
            if not extracting:  # detection (and completion's reruns), not extraction
                nodes[node] = nodes.get(node, 0.0) + time.process_time() - t0

    original_pair = run_mod.check_pair

    def check_pair(*args):  # imports the problem and solver modules (regrun.problems, regrun.solvers)
        t0 = time.process_time()
        try:
            return original_pair(*args)
        finally:
            cpu["registry_imports"] = time.process_time() - t0

    run_mod.run, run_mod.check_pair = run, check_pair
    detector.HierarchicalDetector._run_node = run_node

    def dump():
        end = time.process_time()
        start = marks["main"]
        out = {**cpu, "before_run": (marks["run"] or end) - start, "phases": phases, "nodes": nodes,
               "run": (marks["end_run"] or end) - (marks["run"] or end), "after_run": end - (marks["end_run"] or end),
               "total_inside": end, "modules": [m for m in sys.modules if "." not in m]}
        Path(json_path).write_text(json.dumps(out))

    atexit.register(dump)
    # as the `regrun` command: it ends without the interpreter's module teardown (regrun.cli._exit_now), which
    # runs the atexit hooks, this dump among them
    cli._console_script = lambda: True
    sys.argv = ["regrun", *argv]
    marks["main"] = time.process_time()
    cli.main()


def one(argv: list[str], workdir: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        path = f.name
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", path, "--", *argv], cwd=workdir, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"regrun {' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    inside = json.loads(Path(path).read_text())
    os.unlink(path)
    metrics = {}
    for line in proc.stdout.splitlines():
        parts = line.split("=")
        if len(parts) == 2 and parts[0].strip() in ("score", "success", "detection_time_s", "extraction_cached"):
            metrics[parts[0].strip()] = float(parts[1])
    return {"cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), "wall": wall,
            "inside": inside, **metrics}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(argv[1], argv[3:] if argv[2:3] == ["--"] else argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("overrides", nargs="*", help="regrun overrides added to problem=crab_detection")
    ap.add_argument("--cases", nargs="+", default=["synthetic:2", "paper:2", "paper:1"],
                    help=f"CASE:SCALE, CASE one of {', '.join(CASES)}, SCALE problem.scale (2: half size, 1: full)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--label", default="")
    ap.add_argument("--data-dir", default="../shared/refine_data", help="the refine_data folder (paper case)")
    ap.add_argument("--out", default=None, help="CSV path (default outputs/bench_crab_speed[_LABEL].csv)")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.cases:
            case, _, scale = spec.partition(":")
            cmd = ["problem=crab_detection", f"problem.scale={scale}", *CASES[case], *args.overrides]
            if case == "paper":
                cmd.append(f"problem.data_dir={Path(args.data_dir).resolve()}")
            one(cmd, Path(tmp))  # warms the motif cache (and the OS's file cache); not counted
            for rep in range(args.repeats):
                r = one(cmd, Path(tmp))
                ins = r["inside"]
                ph, nodes = ins["phases"], ins["nodes"]
                row = {"label": args.label, "case": spec, "repeat": rep, "cpu_s": round(r["cpu"], 2),
                       "wall_s": round(r["wall"], 2), "startup": ins["startup"], "imports": ins["imports"],
                       "imports_run": ins.get("imports_run", 0.0),
                       "before_run": ins["before_run"], "registry_imports": ins.get("registry_imports", 0.0),
                       "data": ph.get("data", 0.0),
                       "extraction": ph.get("solve > extraction", 0.0), "detection": ph.get("solve > detection", 0.0),
                       "solve_other": ph.get("solve", 0.0) - ph.get("solve > extraction", 0.0)
                       - ph.get("solve > detection", 0.0),
                       "evaluation": ph.get("evaluation", 0.0), "figures": ph.get("figures", 0.0)}
                row["run_other"] = ins["run"] - row["registry_imports"] - sum(ph.get(k, 0.0) for k in ("data", "solve", "evaluation", "figures"))
                row["after_run"] = ins["after_run"]
                row.update({f"node_{k}": v for k, v in nodes.items()})
                row.update({"score": r.get("score"), "success": r.get("success"),
                            "cached": r.get("extraction_cached"), "matplotlib": float("matplotlib" in ins["modules"])})
                rows.append({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()})
                print(" ".join(f"{k}={v}" for k, v in rows[-1].items()), flush=True)
    keys = list(dict.fromkeys(k for row in rows for k in row))
    print()
    print("| " + " | ".join(keys[1:]) + " |")
    print("|" + "---|" * (len(keys) - 1))
    for spec in args.cases:
        sel = [r for r in rows if r["case"] == spec]
        for row in sel:
            print("| " + " | ".join(str(row.get(k, "")) for k in keys[1:]) + " |")
        med = {k: statistics.median(r[k] for r in sel if isinstance(r.get(k), (int, float)))
               for k in keys[3:] if all(isinstance(r.get(k), (int, float)) for r in sel)}
        print(f"{spec}: median CPU {med['cpu_s']:.2f} s (min {min(r['cpu_s'] for r in sel):.2f}, max "
              f"{max(r['cpu_s'] for r in sel):.2f}); " + ", ".join(f"{k} {v:.2f}" for k, v in med.items()
                                                                    if k not in ('cpu_s', 'score', 'success', 'cached')))
    out = Path(args.out or f"outputs/bench_crab_speed{'_' + args.label if args.label else ''}.csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=keys)
        wr.writeheader()
        wr.writerows(rows)
    print(f"-> {out}")


if __name__ == "__main__":
    main()

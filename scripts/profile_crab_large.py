"""Where a large scene's detection spends its time and memory (issue 17 §4: large scenes with bounded memory;
docs/detection.md, "Held-out batch heldout15 and large scenes"): the issue's "done when" command run in this
process on one image file, with a thread sampling the process's resident memory every few milliseconds and the
main steps wrapped, so that each is charged its CPU seconds and the peak RSS reached inside it.

    python scripts/profile_crab_large.py PHOTO.png --template refine_crab [regrun overrides ...]

Steps (nested steps are charged to the innermost): the whole run, each tree node (`node X`), a node's coarse FFT
search (`coarse`: DenseCost and the per-stride reduction over its costs), the descent, instance extraction, the
figures and the results file. RSS is the OS's (includes freed memory the allocator keeps).
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
import threading
import time

import torch

PAGE = os.sysconf("SC_PAGE_SIZE")
STACK: list[str] = ["startup"]
STATS: dict[str, dict] = {}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def sampler(stop: threading.Event) -> None:
    while not stop.is_set():
        r = rss_mb()
        for label in set(STACK):
            s = STATS.setdefault(label, {"peak_mb": 0.0, "cpu_s": 0.0, "calls": 0})
            s["peak_mb"] = max(s["peak_mb"], r)
        time.sleep(0.003)


def wrap(owner, name: str, label) -> None:
    fn = getattr(owner, name)

    @functools.wraps(fn)
    def inner(*a, **k):
        lab = label(a, k) if callable(label) else label
        STACK.append(lab)
        c0 = time.process_time()
        try:
            return fn(*a, **k)
        finally:
            s = STATS.setdefault(lab, {"peak_mb": 0.0, "cpu_s": 0.0, "calls": 0})
            s["cpu_s"] += time.process_time() - c0
            s["calls"] += 1
            STACK.pop()

    setattr(owner, name, inner)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path")
    ap.add_argument("--template", default="refine_crab")
    ap.add_argument("--data-dir", default="../shared/refine_data")
    ap.add_argument("--out", default="outputs/profile_crab_large")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    from regrun import cli
    from regrun.detection import detector, figures, instances, unrolled_registrar
    from regrun.solvers import hierarchical

    wrap(detector.HierarchicalDetector, "_run_node", lambda a, k: f"node {a[1]}")
    wrap(detector.HierarchicalDetector, "node_scene", "node scene (maps, blur, pad)")
    wrap(unrolled_registrar, "coarse_starts", "coarse (FFT search + reduction)")
    wrap(unrolled_registrar.UnrolledRegistrar, "_register", "descent")
    wrap(detector.HierarchicalDetector, "complete", "completion")
    wrap(unrolled_registrar.UnrolledRegistrar, "_register_leaf", "leaf descent")
    wrap(unrolled_registrar.UnrolledRegistrar, "register_at", "register_at (completion's re-registration)")
    wrap(detector.HierarchicalDetector, "border_losses", "border_losses")
    wrap(detector.HierarchicalDetector, "observable", "observable (border rule)")
    wrap(detector.HierarchicalDetector, "channel_costs", "channel_costs (border rule)")
    wrap(detector.HierarchicalDetector, "node_result", "node_result (eq. 14 map)")
    wrap(detector.HierarchicalDetector, "_tell_ahead", "_tell_ahead (ETA)")
    wrap(detector.HierarchicalDetector, "judge_in_instance", "judge_in_instance")
    wrap(instances, "find_instances", "instances (NMS)")
    hierarchical.find_instances = instances.find_instances
    for name in ("detection_boxes", "occurrence_panels", "trace_plot"):
        wrap(figures, name, f"figures.{name}")
    stop = threading.Event()
    threading.Thread(target=sampler, args=(stop,), daemon=True).start()
    c0 = time.process_time()
    STACK.append("run")
    sys.argv = ["regrun", "problem=crab_detection", f"problem.template={args.template}", "problem.scene.source=file",
              f"problem.scene.path={os.path.abspath(args.path)}", f"problem.data_dir={os.path.abspath(args.data_dir)}",
              f"hydra.run.dir={args.out}", "progress=false", *args.overrides]
    cli.main()
    STACK.pop()
    stop.set()
    print(f"process CPU {time.process_time() - c0:.2f} s (user+sys of this thread's process after start-up)")
    print(f"{'step':<40} {'calls':>5} {'CPU s':>8} {'peak RSS MB':>12}")
    for label, s in sorted(STATS.items(), key=lambda kv: -kv[1]["peak_mb"]):
        print(f"{label:<40} {s['calls']:>5} {s['cpu_s']:>8.2f} {s['peak_mb']:>12.0f}")


if __name__ == "__main__":
    main()

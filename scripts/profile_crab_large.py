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


KEPT: list[tuple[str, int, int]] = []  # (node, strides of the grid, strides the coarse search kept)


def count_kept(module) -> None:
    """Record, per coarse search, how many of the grid's strides it keeps for the descent (coarse_keep)."""
    fn = module.coarse_starts

    @functools.wraps(fn)
    def inner(scene, image, motif, grid, *a, **k):
        keep, w0 = fn(scene, image, motif, grid, *a, **k)
        KEPT.append((next((s for s in reversed(STACK) if s.startswith("node ")), "?"), len(grid), keep.numel()))
        return keep, w0

    module.coarse_starts = inner


ROUNDS: dict[tuple[str, float], list[float]] = {}  # (node, round's sigma_in) -> [CPU s, items descended]


def time_leaf_rounds(module) -> None:
    """Charge each leaf descent (unrolled_descent under _register_leaf) to its node and round (the round whose
    cost _leaf_cost_factory made last: its sigma_in names it), with the items it descended."""
    current = {"sigma_in": None}
    factory, descent = module.UnrolledRegistrar._leaf_cost_factory, module.unrolled_descent

    def tag(self, y, x, mask, anchors, rnd):
        current["sigma_in"] = rnd.sigma_in
        return factory(self, y, x, mask, anchors, rnd)

    def timed(f, w0, *a, **k):
        if "leaf descent" not in STACK:
            return descent(f, w0, *a, **k)
        c0 = time.process_time()
        try:
            return descent(f, w0, *a, **k)
        finally:
            node = next((s for s in reversed(STACK) if s.startswith("node ")), "?")
            r = ROUNDS.setdefault((node, round(current["sigma_in"], 3)), [0.0, 0])
            r[0] += time.process_time() - c0
            r[1] += w0.shape[0]

    module.UnrolledRegistrar._leaf_cost_factory = tag
    module.unrolled_descent = timed


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
    count_kept(unrolled_registrar)
    time_leaf_rounds(unrolled_registrar)
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
    for node, total, kept in KEPT:
        print(f"coarse search of {node}: {kept} of {total} strides kept for the descent")
    for (node, sigma_in), (cpu, items) in ROUNDS.items():
        print(f"leaf round of {node} (sigma_in {sigma_in} px): {items} items descended, {cpu:.2f} CPU s")


if __name__ == "__main__":
    main()

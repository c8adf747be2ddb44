#!/usr/bin/env python
"""What superres_start.pairwise_start's price buys, stage by stage, and whether cheaper pairs decide the same
(docs/superres.md, "The pairwise second start's cost (srpaircost)").

    python scripts/diag_superres_paircost.py --set <bench_lambda_sr sets> [--supersample 8] [--stop 0.1 0.01] [--early 4] --out F.json
    python scripts/diag_superres_paircost.py replay --set <sets> [--supersample 8] --out F.json  # `auto` main / end

Per set (24-31 px frames, outside=drop, affine without gains: the frames pairwise_start weighs): the first start
(start_params with the pairwise start switched off) and its CPU-s; main's pairwise start (every frame to every
other by the full ladder, consistent_motion, fused_motion) with the CPU-s of the pairs, the consistency and the
fused rounds, its distance from the first start before and after the fused rounds (an early exit's margin) and
its decision (>= PAIR_MOVE); and for each --stop θ the same start with the pairs' ladder stopped at θ (its
scales >= θ), its CPU-s, its distance from the first start and from main's pairwise start, and its decision;
an early exit's test: the pairs to reference frames 0..--early-1 only, made consistent (no fused rounds), its CPU-s
and its distance from the first start (where it is small, does main's pairwise start stay under PAIR_MOVE?).
replay: `auto` as the user runs it, main (no early exit: PAIR_EARLY_MOVE 0) and end (the early exit built).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_lambda_sr  # noqa: E402  (scripts/bench_lambda_sr.py)
import diag_superres_template as template  # noqa: E402  (its scenes)


def stopped(model, theta):
    """A shallow copy of model whose preregister's ladder stops at theta (pairwise_motions copies it again)."""
    import copy

    cls = type(model)
    ladder = tuple(t for t in cls.preregister.__defaults__[0] if t >= theta)
    view = copy.copy(model)
    view.__class__ = type("Stopped", (cls,), {"preregister": lambda self, **kw: cls.preregister(
        self, thetas=ladder, **kw)})
    return view


def study(args) -> list[dict]:
    from regrun.registration import superres_start as start
    from regrun.registration.superres_fused import fused_motion
    from regrun.registration.superres_pairwise import consistent_motion, pairwise_motions

    own = start.pairwise_start
    rows = []
    for name, _, p, _ in template.each_set(args):
        got = {}
        start.pairwise_start = lambda problem, transform, first: got.update(transform=transform, first=first)
        try:
            t0 = time.process_time()
            start.start_params(p, "preregister")
            row = {"set": name, "first_cpu": time.process_time() - t0, "weighed": False}
        finally:
            start.pairwise_start = own
        m = p.model
        if (not got or p.outside != "drop" or got["transform"] is not None or p.motion.gain
                or not start.FUSED_MIN <= min(m.coarse.m) <= start.FUSED_MAX):
            rows.append(row)
            print(name, "not weighed", flush=True)
            continue
        first, row["weighed"] = got["first"], True
        t0 = time.process_time()
        early = consistent_motion(m, pairwise_motions(m, range(args.early)))
        row["early"] = r = {"refs": args.early, "cpu": time.process_time() - t0,
                            "from_first": start.start_distance(p, first, early)}
        print(f"{name} {m.coarse.m[0]}px early ({args.early} refs, no fused rounds) cpu {r['cpu']:.2f}  from first "
              f"{r['from_first']:.3f}", flush=True)
        ends = {}
        for stop in (None, *args.stop):
            t0 = time.process_time()
            pairs = pairwise_motions(m if stop is None else stopped(m, stop), range(m.q + 1))
            t1 = time.process_time()
            cons = consistent_motion(m, pairs)
            t2 = time.process_time()
            ends[stop] = w = fused_motion(m, cons)
            t3 = time.process_time()
            d = start.start_distance(p, first, w)
            row["main" if stop is None else f"stop {stop:g}"] = r = {
                "cpu": t3 - t0, "cpu_pairs": t1 - t0, "cpu_consistent": t2 - t1, "cpu_fused": t3 - t2,
                "from_first_before_fused": start.start_distance(p, first, cons), "from_first": d,
                "from_main": start.start_distance(p, ends[None], w), "taken": d >= start.PAIR_MOVE}
            print(f"{name} {m.coarse.m[0]}px {'main' if stop is None else f'stop {stop:g}':9s} cpu {r['cpu']:.2f} "
                  f"(pairs {r['cpu_pairs']:.2f} fused {r['cpu_fused']:.2f})  from first {d:.3f} (before the fused "
                  f"rounds {r['from_first_before_fused']:.3f})  from main {r['from_main']:.3f}  "
                  f"{'taken' if r['taken'] else '-'}", flush=True)
        rows.append(row)
    return rows


def early_switch(v) -> None:
    """replay's change: "main" without the early exit, "end" with it, None: as it was."""
    from regrun.registration import superres_start

    superres_start.PAIR_EARLY_MOVE = 0.0 if v == "main" else PAIR_EARLY_MOVE


PAIR_EARLY_MOVE = __import__("regrun.registration.superres_start", fromlist=["x"]).PAIR_EARLY_MOVE


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "replay":
        return template.replay_cli(argv[1:], early_switch)
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", dest="sets", nargs="+", type=bench_lambda_sr.parse_set, required=True)
    ap.add_argument("--supersample", type=int, default=8)
    ap.add_argument("--stop", type=float, nargs="*", default=[], help="the pairs' ladder stopped here")
    ap.add_argument("--early", type=int, default=4, help="the early exit's reference frames")
    return template.study_cli(ap, argv, study)


if __name__ == "__main__":
    main()

"""The set-up the CT benchmark scripts share (scripts/bench_ct_quality.py, scripts/ct_hypergradients.py): the
common command-line options (--problem-set KEY=VALUE for any further problem.* setting), the ct_fewview problem
on the CPU in float64 with pinned torch threads, and the JSON they write (the arguments and the rows)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def ct_parser(doc: str, size: int, views: int, iters, out: str) -> argparse.ArgumentParser:
    """--size, --views, --iters, --threads and --out with these defaults (iters a list: --iters takes
    several counts); the script adds its own options."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=size)
    ap.add_argument("--views", type=int, default=views)
    ap.add_argument("--iters", type=int, default=iters, nargs="+" if isinstance(iters, list) else None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path(out))
    ap.add_argument("--problem-set", nargs="+", default=[], metavar="KEY=VALUE",
                    help="further problem.* settings of ct_fewview (e.g. phantom=metal_part noise=poisson)")
    return ap


def ct_problem(args):
    """ct_fewview at args.size / args.views on the CPU in float64, with args.threads torch threads."""
    import torch

    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.problems.ct_fewview import CTFewView

    import yaml

    torch.set_num_threads(args.threads)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    extra = {}
    for item in getattr(args, "problem_set", []):
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--problem-set {item!r}: expected KEY=VALUE")
        extra[key] = yaml.safe_load(value)  # numbers and booleans as the YAML config would read them
    return CTFewView(config_section("problem", "ct_fewview", size=args.size, views=args.views, **extra), ctx)


def write_json(args, rows) -> None:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=1))

"""Alternative forms of crab detection's work model, fitted on the tuning set only and checked on stored traces
(issue 19; docs/detection.md, "Progress and ETA", "Other forms"). Runs nothing: the tuning CSV's units are
recomputed (bench_crab_eta.tuning_units, with the settings its runs had), each form's constants fitted by the
same relative non-negative least squares as bench_crab_eta --fit, then the held-out and extraction traces are
reweighed (bench_crab_eta.eta_errors) and the half-way ETA errors printed per form.

    python scripts/crab_eta_forms.py --tuning outputs/bench_crab_eta_tuning.csv \\
        --traces outputs/bench_crab_eta_heldout2.json outputs/bench_crab_eta_extraction.json \\
        --override solver.descent.spike_coarse_step=10

A node's units u are bench_crab_eta.node_units': [FFT float32, FFT float64, samples float32, samples float64,
calls] (float64 work is the spike nodes', float32 the leaves'). The forms were chosen after the held-out errors of
the original constants had been seen once: the check is held out for each form's constants, not for the forms.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import nnls

sys.path.insert(0, str(Path(__file__).parent))
import bench_crab_eta as B

FORMS = {
    # the code's form today: one constant per kind for both precisions
    "one constant per kind": lambda u: [u[0] + u[1], u[2] + u[3], u[4]],
    "all per precision": lambda u: list(u),
    "precision on the FFT term only": lambda u: [u[0], u[1], u[2] + u[3], u[4]],
    "spike descent samples apart": lambda u: [u[0] + u[1], u[2], u[3], u[4]],
    "spike node overhead apart": lambda u: [u[0] + u[1], u[2] + u[3], u[4] if u[1] > 0 else 0],
}
ORIGINAL = [8.4e-10, 2.9e-8, 0.0]  # the code's constants for the first form (unrolled_registrar.py)


def fit(form, data):
    a = np.array([form(u) for u, _ in data], float)
    b = np.array([c for _, c in data], float)
    return nnls(a / b[:, None], np.ones_like(b))[0]


def half_way(traces, form, x):
    out = []
    for t in traces:
        model = {n: float(np.dot(form(t["units"][n]), x)) for n in t["order"]}
        points = B.static_points(t["order"], [tuple(e) for e in t["events"]], t["total"], model)
        half = B.eta_errors(points, t["total"])[0][1]  # the report nearest half-way: (t, ETA, time left)
        out.append((t["name"], t["scale"], 100 * (half[1] / half[2] - 1)))
    return out


def span(values):
    return f"{min(values):+.0f} … {max(values):+.0f}%" if values else "—"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tuning", required=True, help="the tuning CSV (bench_crab_eta --set tuning)")
    ap.add_argument("--traces", nargs="+", required=True, help="stored traces (.json) to reweigh")
    ap.add_argument("--override", nargs="+", default=[], help="settings the tuning runs had (see tuning_units)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    data = B.tuning_units(args.tuning, args.override)
    traces = [t for path in args.traces for t in json.loads(Path(path).read_text())]
    print("| form | constants (tuning fit) | held-out half | held-out full | extraction half | extraction full |")
    print("|---|---|---|---|---|---|")
    for name, form in FORMS.items():
        for label, x in ([("original", np.array(ORIGINAL))] if name == "one constant per kind" else []) + \
                [("refit", fit(form, data))]:
            rows = half_way(traces, form, x)
            pick = [[r[2] for r in rows if ("extraction" in r[0]) == ex and r[1] == s]
                    for ex in (False, True) for s in (2, 1)]
            print(f"| {name} ({label}) | {', '.join(f'{v:.2e}' for v in x)} | " + " | ".join(map(span, pick)) + " |")


if __name__ == "__main__":
    main()

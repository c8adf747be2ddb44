"""Crab detection's and extraction's progress and ETA, predicted against measured (issue 19; docs/detection.md,
"Progress and ETA"). Per run, each node's CPU seconds against the registrar's work model (UnrolledRegistrar.work),
and the ETA a progress line would show, weighing the nodes three ways: counting them (before), by the work model
(a first run), by the record of the previous scene of the same setup and size (what the solver stores beside the
motif cache). One thread.

Sets, never mixed:
- `tuning` (the default): the 7 detections the work model's constants were fitted on (`--fit` prints the
  least-squares FFT_SECONDS, SAMPLE_SECONDS, CALL_SECONDS of regrun/detection/unrolled_registrar.py from them):
  three generated half-size scenes of the synthetic crab, the paper's 7.5 and 22.5 deg scenes at half size and
  (`--full`) full size.
- `heldout`: 16 detections nothing was fitted or chosen on (new seeds 31-48, new angles, two-crab scenes, crab-free
  beach crops, both templates, half and full size); `--fit` is refused on it.
- `heldout3`: 10 more detections for the online-corrected ETA (eta6; seeds 71-80, both templates, half and full
  size), run once after it was committed.
- `heldout4`: 8 more (eta7; seeds 91-98, both templates, half and full size), run once after its change was
  committed.
- `tuning8` (eta8): 8 more tuning detections (seeds 201-208, both templates, 4 at full size); since eta8 the
  constants are fitted per stage on tuning + tuning8 (`--reweigh TRACES --fit`).
- `heldout5`, `heldout6` (eta8; seeds 221-230 and 241-250, both templates, half and full size), each run once after
  a change was committed.
- `heldout9a`, `heldout9b` (eta9; seeds 261-270 and 281-290, both templates, half and full size, one crab, two
  crabs, crab-free), each run once after eta9's change was committed; `heldout9c`, `heldout9d` (seeds 301-310,
  321-330) likewise after the empty-maps rule that heldout9b's misses led to.
- `tuning10` (eta10; seeds 401-412, 8 at half size of which 4 crab-free): tuning, with tuning and tuning8 the 27
  traces eta10's constants and RUN_PRIOR_SHARE were chosen on; `heldout10a`, `heldout10b` (seeds 421-430, 441-450,
  both templates and sizes, one crab, two crabs, crab-free), each run once with eta10's final code.
- `heldout12a`, `heldout12b` (eta11; seeds 601-610, 621-630, both templates and sizes, one crab, two crabs,
  crab-free), each run once with eta11's first code (heldout10a/b and heldout11, seen, count as tuning since);
  their misses led to FOUND_PART_WEIGHT, so they are tuning too, and `heldout13a`, `heldout13b` (seeds 641-650,
  661-670) were run once with eta11's final code.
- `heldout15a`, `heldout15b`, `heldout15c` (crabbig; seeds 15181-15210, half size, both templates, one crab, two
  crabs, crab-free): 15a run once at crabbig's start commit, 15b/15c once each after a change.
- `heldout19` (etafull; seeds 19001-19010, 5 full and 5 half size, both templates, one crab, two crabs,
  crab-free): run once at etafull's start commit, its traces then replayed with etafull's fix.
- `heldout20` (etahalf; seeds 19101-19112, 4 full and 8 half size, the synthetic crab, the authors' crab and the
  robot) and `heldout20x` (the robot's first extraction, half and full size): run once at etahalf's start commit
  and once at its end.
- `extraction`: the first run's extraction (no motif cache) of the synthetic crab and refine_crab at half and full
  size, weighed by the extraction registrar's work model on the expected spike motifs.

    python scripts/bench_crab_eta.py --set tuning --full --fit
    python scripts/bench_crab_eta.py --set heldout
    python scripts/bench_crab_eta.py --set extraction --full
    python scripts/bench_crab_eta.py --reweigh outputs/bench_crab_eta_heldout.json   # the stored runs, other constants
    python scripts/bench_crab_eta.py --fit --reweigh outputs/bench_crab_eta_tuning.json \
        outputs/bench_crab_eta_tuning8.json                                  # per-stage constants from stored traces

The ETA is traced as the run goes: every time a node starts or its registrar reports (after each angle chunk
of the coarse search, after it, and after each batch of each descent round), five ways. Static (what progress did
before eta6): the share of the work done f (the finished nodes' shares plus the running node's share times its
reported fraction; counting nodes: finished / all, nothing inside a node), ETA = t / f x (1 - f), t the CPU
seconds since the run began, weighed by nodes, the model or the record. Online (what NodeProgress does now):
regrun.monitor.WorkETA fed the same reports, on the model's plan by node kind and stage, or on the record. The
error at 25 / 50 / 75% is at the report nearest that share of the run's CPU time: (ETA - time left) / time left
("half-way": 50%). "Worst" is the largest such error between a quarter and three quarters of the run;
"within20" the share of all reports after the first 10% of the run whose ETA is within 20% of the time left (eta8's
target; since eta9 on the reports the code made before eta9, without a spike descent's per-evaluation ones), and
"grid20" the share of the points of a 1% grid of the run's time from 10% on (eta9). "Before" is, since eta11, the
online ETA of main before eta11 (MAIN10: the code's work model, a spike node's empty maps told only as it starts)
replayed on the same trace (eta10: eta9's MAIN9; eta9: eta8's MAIN8; before eta9: LEGACY). `--blame` says which
node and stage's time left a run's ETA errs on (eta11). CPU seconds
stand for wall time (one thread; the machine's load divides both alike). Traces go to <out>.json after every run,
rows to CSV (default outputs/bench_crab_eta_<set>.csv), and a markdown table is printed.
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rows_csv import write_rows_csv  # scripts/rows_csv.py

import regrun.detection.unrolled_registrar as U
from regrun.config import compose
from regrun.context import RunContext
from regrun.detection.calibration import load_calibration
from regrun.detection.crab_data import load_template
from regrun.detection.detector import expected_seconds, scaled_plan, work_family
from regrun.detection.motif_cache import cache_dir, cached_extract
from regrun.monitor import PRIOR_SHARE, RUN_PRIOR_SHARE, WorkETA
from regrun.detection.scenes import (
    Scene,
    Truth,
    beach_region_crop,
    clutter_background,
    compose_scene,
    downscale_scene,
    part_ranges,
    random_pose,
)
from regrun.problems.crab_detection import CrabDetection
from regrun.solvers.hierarchical import build_detector, calibration_path

PAPER = ["problem.template=refine_crab", "problem.scene.source=paper", "solver.leaf.angle_max=60",
         "solver.spike.angle_max=50"]
TUNING = {"synthetic 20 deg": ["problem.scene.angle=20"],
          "synthetic -120 deg, claws 20": ["problem.scene.angle=-120", "problem.scene.articulation.claw=20",
                                           "problem.scene.seed=5"],
          "synthetic 75 deg, beach": ["problem.scene.angle=75", "problem.scene.background=beach",
                                      "problem.scene.seed=9"],
          "paper 7.5 deg": [*PAPER, "problem.scene.angle=7.5"],
          "paper 22.5 deg": [*PAPER, "problem.scene.angle=22.5"]}


@dataclass
class HeldOut:
    """A held-out scene: `crabs` 1 (at `angle`), 2 (side by side in a 1.4x wide scene, angles drawn over the
    circle) or 0 (a crab-free crop); parts articulated up to claw 15 / eye 5 deg; backgrounds from the seed."""

    template: str
    scale: int
    crabs: int
    seed: int
    background: str
    angle: float = 0.0

    @property
    def extra(self) -> list[str]:
        return no_calibration(self.template, self.scale)

    @property
    def name(self) -> str:
        what = {0: "crab-free", 1: f"{self.angle:g} deg", 2: "two crabs"}[self.crabs]
        return f"{self.template} {what}, {self.background}, seed {self.seed}"


HELDOUT = [HeldOut("synthetic", 2, 1, 31, "clutter", 143.0), HeldOut("synthetic", 2, 1, 32, "beach", -67.0),
           HeldOut("synthetic", 2, 2, 33, "clutter"), HeldOut("synthetic", 2, 0, 34, "beach"),
           HeldOut("synthetic", 2, 1, 35, "beach", 171.0),
           HeldOut("synthetic", 1, 1, 36, "beach", -155.0), HeldOut("synthetic", 1, 2, 37, "beach"),
           HeldOut("synthetic", 1, 0, 38, "clutter"),
           HeldOut("refine_crab", 2, 1, 41, "beach", 110.0), HeldOut("refine_crab", 2, 1, 42, "clutter", -35.0),
           HeldOut("refine_crab", 2, 2, 43, "beach"), HeldOut("refine_crab", 2, 0, 44, "beach"),
           HeldOut("refine_crab", 2, 1, 45, "beach", 62.0),
           HeldOut("refine_crab", 1, 1, 46, "beach", 160.0), HeldOut("refine_crab", 1, 2, 47, "clutter"),
           HeldOut("refine_crab", 1, 0, 48, "beach")]
# eta6's held-out set, run once after the online correction was committed (seeds 71-80, nobody's before): both
# templates, half and full size, one crab, two crabs and crab-free scenes
HELDOUT3 = [HeldOut("synthetic", 2, 1, 71, "clutter", 37.0), HeldOut("synthetic", 2, 2, 72, "beach"),
            HeldOut("synthetic", 2, 0, 73, "clutter"),
            HeldOut("synthetic", 1, 1, 74, "clutter", -100.0), HeldOut("synthetic", 1, 2, 75, "clutter"),
            HeldOut("refine_crab", 2, 1, 76, "beach", -150.0), HeldOut("refine_crab", 2, 2, 77, "clutter"),
            HeldOut("refine_crab", 2, 0, 78, "clutter"),
            HeldOut("refine_crab", 1, 1, 79, "clutter", 85.0), HeldOut("refine_crab", 1, 0, 80, "beach")]
# eta7's held-out set, run once after its change was committed (seeds 91-98, nobody's before): both templates, half
# and full size, one crab and crab-free scenes
HELDOUT4 = [HeldOut("synthetic", 2, 1, 91, "clutter", 128.0), HeldOut("synthetic", 2, 0, 92, "beach"),
            HeldOut("synthetic", 1, 1, 93, "beach", -40.0), HeldOut("synthetic", 1, 0, 94, "clutter"),
            HeldOut("refine_crab", 2, 1, 95, "clutter", -115.0), HeldOut("refine_crab", 2, 0, 96, "beach"),
            HeldOut("refine_crab", 1, 1, 97, "beach", 15.0), HeldOut("refine_crab", 1, 1, 98, "clutter", 170.0)]
# eta8's sets (seeds 201-208 and 221-230, nobody's before): `tuning8` adds full-size scenes of both templates to
# the tuning set (the work model's per-stage constants are fitted on tuning + tuning8), `heldout5` is run once after
# the change was committed
TUNING8 = [HeldOut("synthetic", 1, 1, 201, "clutter", 50.0), HeldOut("synthetic", 1, 0, 202, "beach"),
           HeldOut("synthetic", 2, 1, 203, "beach", -80.0), HeldOut("synthetic", 2, 2, 204, "clutter"),
           HeldOut("refine_crab", 1, 1, 205, "beach", 120.0), HeldOut("refine_crab", 1, 2, 206, "clutter"),
           HeldOut("refine_crab", 2, 1, 207, "clutter", -20.0), HeldOut("refine_crab", 2, 0, 208, "beach")]
HELDOUT5 = [HeldOut("synthetic", 1, 1, 221, "beach", 165.0), HeldOut("synthetic", 1, 0, 222, "clutter"),
            HeldOut("synthetic", 1, 2, 223, "beach"), HeldOut("refine_crab", 1, 1, 224, "clutter", -140.0),
            HeldOut("refine_crab", 1, 0, 225, "beach"),
            HeldOut("synthetic", 2, 1, 226, "clutter", -10.0), HeldOut("synthetic", 2, 2, 227, "beach"),
            HeldOut("refine_crab", 2, 1, 228, "beach", 95.0), HeldOut("refine_crab", 2, 0, 229, "clutter"),
            HeldOut("refine_crab", 2, 2, 230, "beach")]
# eta8's second held-out set (seeds 241-250, nobody's before), run once after the scan's single constant (chosen on
# the tuning traces after heldout5 had been seen) was committed
HELDOUT6 = [HeldOut("synthetic", 1, 1, 241, "clutter", -35.0), HeldOut("synthetic", 1, 0, 242, "beach"),
            HeldOut("synthetic", 1, 2, 243, "clutter"), HeldOut("refine_crab", 1, 1, 244, "beach", 70.0),
            HeldOut("refine_crab", 1, 0, 245, "clutter"),
            HeldOut("synthetic", 2, 1, 246, "beach", 130.0), HeldOut("synthetic", 2, 2, 247, "clutter"),
            HeldOut("refine_crab", 2, 1, 248, "clutter", -95.0), HeldOut("refine_crab", 2, 0, 249, "beach"),
            HeldOut("refine_crab", 2, 2, 250, "clutter")]
# eta9's two held-out sets (seeds 261-270 and 281-290, nobody's before), each run once after the change (the
# descents' skipped work, the yield, constants refitted on tuning + tuning8 rerun after crabeyes) was committed
HELDOUT9A = [HeldOut("synthetic", 1, 1, 261, "beach", 100.0), HeldOut("synthetic", 1, 0, 262, "clutter"),
             HeldOut("synthetic", 1, 2, 263, "beach"), HeldOut("refine_crab", 1, 1, 264, "clutter", -60.0),
             HeldOut("refine_crab", 1, 0, 265, "beach"),
             HeldOut("synthetic", 2, 1, 266, "clutter", -170.0), HeldOut("synthetic", 2, 2, 267, "beach"),
             HeldOut("refine_crab", 2, 1, 268, "beach", 45.0), HeldOut("refine_crab", 2, 0, 269, "clutter"),
             HeldOut("refine_crab", 2, 2, 270, "beach")]
HELDOUT9B = [HeldOut("synthetic", 1, 1, 281, "clutter", 25.0), HeldOut("synthetic", 1, 0, 282, "beach"),
             HeldOut("refine_crab", 1, 2, 283, "beach"), HeldOut("refine_crab", 1, 1, 284, "clutter", 155.0),
             HeldOut("refine_crab", 1, 0, 285, "clutter"),
             HeldOut("synthetic", 2, 1, 286, "beach", -125.0), HeldOut("synthetic", 2, 0, 287, "clutter"),
             HeldOut("synthetic", 2, 2, 288, "clutter"), HeldOut("refine_crab", 2, 1, 289, "clutter", -5.0),
             HeldOut("refine_crab", 2, 0, 290, "beach")]
# and, after heldout9b's misses (crab-free scenes whose spike descents stop at once) led to the empty-maps rule
# (UnrolledRegistrar._empty_maps) and extraction's leaf constant, two more (seeds 301-310 and 321-330, nobody's
# before), each run once after that was committed
HELDOUT9C = [HeldOut("synthetic", 1, 1, 301, "clutter", -45.0), HeldOut("synthetic", 1, 0, 302, "beach"),
             HeldOut("synthetic", 1, 2, 303, "clutter"), HeldOut("refine_crab", 1, 1, 304, "beach", 135.0),
             HeldOut("refine_crab", 1, 0, 305, "clutter"),
             HeldOut("synthetic", 2, 1, 306, "beach", 80.0), HeldOut("synthetic", 2, 0, 307, "beach"),
             HeldOut("refine_crab", 2, 1, 308, "clutter", -150.0), HeldOut("refine_crab", 2, 0, 309, "beach"),
             HeldOut("refine_crab", 2, 2, 310, "clutter")]
HELDOUT9D = [HeldOut("synthetic", 1, 1, 321, "beach", 160.0), HeldOut("synthetic", 1, 0, 322, "clutter"),
             HeldOut("refine_crab", 1, 2, 323, "clutter"), HeldOut("refine_crab", 1, 1, 324, "beach", -100.0),
             HeldOut("refine_crab", 1, 0, 325, "beach"),
             HeldOut("synthetic", 2, 1, 326, "clutter", 10.0), HeldOut("synthetic", 2, 0, 327, "clutter"),
             HeldOut("synthetic", 2, 2, 328, "beach"), HeldOut("refine_crab", 2, 1, 329, "beach", 65.0),
             HeldOut("refine_crab", 2, 0, 330, "clutter")]
# eta10's sets (seeds 401-412, 421-430, 441-450, nobody's before). `tuning10` is tuning: half-size crab-free scenes,
# which no earlier tuning set had whose crab descent stops at once (heldout9b-d's misses), beside crabs and full size;
# `heldout10a` and `heldout10b` are each run once with the final code
TUNING10 = [HeldOut("synthetic", 2, 0, 401, "clutter"), HeldOut("synthetic", 2, 0, 402, "beach"),
            HeldOut("refine_crab", 2, 0, 403, "clutter"), HeldOut("refine_crab", 2, 0, 404, "beach"),
            HeldOut("synthetic", 2, 1, 405, "clutter", 140.0), HeldOut("refine_crab", 2, 1, 406, "beach", -30.0),
            HeldOut("synthetic", 2, 2, 407, "beach"), HeldOut("refine_crab", 2, 2, 408, "clutter"),
            HeldOut("synthetic", 1, 0, 409, "clutter"), HeldOut("refine_crab", 1, 0, 410, "beach"),
            HeldOut("synthetic", 1, 1, 411, "beach", -110.0), HeldOut("refine_crab", 1, 1, 412, "clutter", 55.0)]
HELDOUT10A = [HeldOut("synthetic", 1, 1, 421, "clutter", 115.0), HeldOut("synthetic", 1, 0, 422, "beach"),
              HeldOut("refine_crab", 1, 2, 423, "beach"), HeldOut("refine_crab", 1, 1, 424, "clutter", -75.0),
              HeldOut("refine_crab", 1, 0, 425, "clutter"),
              HeldOut("synthetic", 2, 1, 426, "beach", -160.0), HeldOut("synthetic", 2, 0, 427, "clutter"),
              HeldOut("synthetic", 2, 2, 428, "clutter"), HeldOut("refine_crab", 2, 1, 429, "beach", 20.0),
              HeldOut("refine_crab", 2, 0, 430, "beach")]
HELDOUT10B = [HeldOut("synthetic", 1, 1, 441, "beach", -20.0), HeldOut("synthetic", 1, 2, 442, "clutter"),
              HeldOut("refine_crab", 1, 0, 443, "beach"), HeldOut("refine_crab", 1, 1, 444, "beach", 170.0),
              HeldOut("synthetic", 1, 0, 445, "clutter"),
              HeldOut("synthetic", 2, 1, 446, "clutter", 35.0), HeldOut("synthetic", 2, 0, 447, "beach"),
              HeldOut("refine_crab", 2, 2, 448, "beach"), HeldOut("refine_crab", 2, 1, 449, "clutter", -120.0),
              HeldOut("refine_crab", 2, 0, 450, "clutter")]
# `heldout11` (seeds 461-470): run once after crabfast and eta10 were merged (float32 spike descents under constants
# fitted on float64 ones; the searches' constants by node kind), to measure the ETA as it landed
HELDOUT11 = [HeldOut("synthetic", 1, 1, 461, "clutter", 140.0), HeldOut("synthetic", 1, 0, 462, "beach"),
             HeldOut("refine_crab", 1, 1, 463, "beach", -75.0), HeldOut("refine_crab", 1, 2, 464, "clutter"),
             HeldOut("synthetic", 1, 2, 465, "beach"),
             HeldOut("synthetic", 2, 2, 466, "beach"), HeldOut("synthetic", 2, 0, 467, "clutter"),
             HeldOut("refine_crab", 2, 1, 468, "clutter", 60.0), HeldOut("refine_crab", 2, 0, 469, "beach"),
             HeldOut("synthetic", 2, 1, 470, "beach", -160.0)]
# eta11's held-out sets (seeds 601-610 and 621-630, nobody's before), each run once with the final code
HELDOUT12A = [HeldOut("synthetic", 1, 1, 601, "beach", 75.0), HeldOut("refine_crab", 1, 0, 602, "clutter"),
              HeldOut("synthetic", 1, 2, 603, "clutter"), HeldOut("refine_crab", 1, 1, 604, "beach", -130.0),
              HeldOut("synthetic", 1, 0, 605, "beach"),
              HeldOut("synthetic", 2, 0, 606, "beach"), HeldOut("refine_crab", 2, 1, 607, "clutter", 170.0),
              HeldOut("refine_crab", 2, 0, 608, "clutter"), HeldOut("synthetic", 2, 2, 609, "clutter"),
              HeldOut("synthetic", 2, 1, 610, "clutter", -50.0)]
HELDOUT12B = [HeldOut("refine_crab", 1, 2, 621, "beach"), HeldOut("synthetic", 1, 1, 622, "clutter", -5.0),
              HeldOut("refine_crab", 1, 0, 623, "beach"), HeldOut("synthetic", 1, 0, 624, "clutter"),
              HeldOut("refine_crab", 1, 1, 625, "clutter", 40.0),
              HeldOut("refine_crab", 2, 0, 626, "beach"), HeldOut("synthetic", 2, 0, 627, "beach"),
              HeldOut("refine_crab", 2, 2, 628, "beach"), HeldOut("synthetic", 2, 1, 629, "beach", 100.0),
              HeldOut("refine_crab", 2, 1, 630, "clutter", -140.0)]
HELDOUT13A = [HeldOut("refine_crab", 1, 1, 641, "clutter", 95.0), HeldOut("synthetic", 1, 0, 642, "clutter"),
              HeldOut("refine_crab", 1, 0, 643, "clutter"), HeldOut("synthetic", 1, 2, 644, "beach"),
              HeldOut("synthetic", 1, 1, 645, "beach", -170.0),
              HeldOut("refine_crab", 2, 0, 646, "clutter"), HeldOut("synthetic", 2, 0, 647, "clutter"),
              HeldOut("refine_crab", 2, 1, 648, "beach", -65.0), HeldOut("synthetic", 2, 2, 649, "beach"),
              HeldOut("refine_crab", 2, 0, 650, "beach")]
HELDOUT13B = [HeldOut("synthetic", 1, 0, 661, "beach"), HeldOut("refine_crab", 1, 2, 662, "clutter"),
              HeldOut("refine_crab", 1, 0, 663, "beach"), HeldOut("synthetic", 1, 1, 664, "clutter", 30.0),
              HeldOut("refine_crab", 1, 1, 665, "beach", 145.0),
              HeldOut("synthetic", 2, 0, 666, "clutter"), HeldOut("refine_crab", 2, 2, 667, "clutter"),
              HeldOut("refine_crab", 2, 0, 668, "clutter"), HeldOut("synthetic", 2, 1, 669, "clutter", 5.0),
              HeldOut("synthetic", 2, 0, 670, "beach")]
# crabbig (heldout15's ETA part, half size only: the size eta11 missed): three sets, each run once; 15a at the
# branch's start commit (held out), 15b and 15c kept for after a change
HELDOUT15A = [HeldOut("synthetic", 2, 1, 15181, "clutter", -140.0), HeldOut("refine_crab", 2, 1, 15182, "beach", 63.0),
              HeldOut("synthetic", 2, 0, 15183, "clutter"), HeldOut("refine_crab", 2, 0, 15184, "clutter"),
              HeldOut("refine_crab", 2, 2, 15185, "beach"), HeldOut("synthetic", 2, 2, 15186, "clutter"),
              HeldOut("refine_crab", 2, 1, 15187, "clutter", 171.0), HeldOut("synthetic", 2, 0, 15188, "beach"),
              HeldOut("refine_crab", 2, 0, 15189, "beach"), HeldOut("synthetic", 2, 1, 15190, "beach", -17.0)]
HELDOUT15B = [HeldOut("refine_crab", 2, 1, 15191, "clutter", -88.0), HeldOut("synthetic", 2, 0, 15192, "clutter"),
              HeldOut("refine_crab", 2, 0, 15193, "clutter"), HeldOut("synthetic", 2, 1, 15194, "beach", 122.0),
              HeldOut("synthetic", 2, 2, 15195, "beach"), HeldOut("refine_crab", 2, 2, 15196, "clutter"),
              HeldOut("refine_crab", 2, 0, 15197, "beach"), HeldOut("synthetic", 2, 0, 15198, "beach"),
              HeldOut("refine_crab", 2, 1, 15199, "beach", -33.0), HeldOut("synthetic", 2, 1, 15200, "clutter", 8.0)]
HELDOUT15C = [HeldOut("synthetic", 2, 0, 15201, "clutter"), HeldOut("refine_crab", 2, 1, 15202, "beach", 150.0),
              HeldOut("refine_crab", 2, 0, 15203, "clutter"), HeldOut("synthetic", 2, 1, 15204, "clutter", -60.0),
              HeldOut("synthetic", 2, 2, 15205, "clutter"), HeldOut("refine_crab", 2, 2, 15206, "beach"),
              HeldOut("refine_crab", 2, 0, 15207, "beach"), HeldOut("synthetic", 2, 0, 15208, "beach"),
              HeldOut("refine_crab", 2, 1, 15209, "clutter", 100.0), HeldOut("synthetic", 2, 1, 15210, "beach", -175.0)]
# etafull (issue 19: the full-size ETA after crabbig's chunked search): seeds 19001-19010, nobody's before; run once
# at etafull's start commit (held out), then replayed with the fix
HELDOUT19 = [HeldOut("synthetic", 1, 1, 19001, "clutter", 120.0), HeldOut("refine_crab", 1, 0, 19002, "beach"),
             HeldOut("refine_crab", 1, 2, 19003, "clutter"), HeldOut("synthetic", 1, 0, 19004, "beach"),
             HeldOut("refine_crab", 1, 1, 19005, "beach", -45.0),
             HeldOut("synthetic", 2, 1, 19006, "beach", -100.0), HeldOut("refine_crab", 2, 0, 19007, "clutter"),
             HeldOut("synthetic", 2, 2, 19008, "clutter"), HeldOut("refine_crab", 2, 1, 19009, "clutter", 35.0),
             HeldOut("synthetic", 2, 0, 19010, "beach")]
# etahalf (issue 19: the half-size ETA to 80%, the extraction's ETA): seeds 19101-19112, nobody's before; 4 full and
# 8 half size, the synthetic crab, the authors' crab and the toy robot (a template no ETA constant or rule was chosen
# on), one, two or no instances; run once at etahalf's start commit (main's code) and once at its end. Beside it
# `heldout20x`: the first run's extraction (no motif cache) of the robot at half and full size
HELDOUT20 = [HeldOut("synthetic", 1, 1, 19101, "clutter", 65.0), HeldOut("refine_crab", 1, 0, 19102, "clutter"),
             HeldOut("synthetic", 1, 2, 19103, "beach"), HeldOut("robot", 1, 1, 19104, "clutter", -130.0),
             HeldOut("synthetic", 2, 1, 19105, "beach", -35.0), HeldOut("refine_crab", 2, 2, 19106, "clutter"),
             HeldOut("synthetic", 2, 0, 19107, "clutter"), HeldOut("refine_crab", 2, 1, 19108, "beach", 140.0),
             HeldOut("refine_crab", 2, 0, 19109, "beach"), HeldOut("robot", 2, 1, 19110, "clutter", 80.0),
             HeldOut("robot", 2, 0, 19111, "beach"), HeldOut("synthetic", 2, 1, 19112, "clutter", 160.0)]
EXTRACTION20 = [("robot", 2), ("robot", 1)]
TRACES: list[dict] = []  # per run: what --reweigh needs to recompute the ETAs with other constants
TRACE_FILE: list[Path] = []  # where TRACES are written after each run (a long set stopped midway keeps its runs)


def keep_trace(trace: dict) -> None:
    TRACES.append(trace)
    for path in TRACE_FILE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(TRACES))
EXTRACTION = [("synthetic", 2), ("refine_crab", 2), ("synthetic", 1), ("refine_crab", 1)]


def no_calibration(template: str, scale: int) -> list[str]:
    """The synthetic crab has no full-size calibration: its yaml gammas and alphas stand in (the work, hence the
    ETA, does not depend on them; the detections' weights do)."""
    return ["solver.calibration=none"] if template in ("synthetic", "robot") and scale == 1 else []


def heldout_scene(spec: HeldOut, data_dir: str) -> Scene:
    """The full-size scene of a held-out spec, downscaled by its scale."""
    full = load_template(spec.template, data_dir)
    gen = torch.Generator().manual_seed(spec.seed)
    size = (384, 512) if spec.crabs < 2 else (384, int(1.4 * 512))
    background = (clutter_background if spec.background == "clutter" else
                  lambda sz, g: beach_region_crop(data_dir, sz, "heldout", g))
    image = background(size, gen)
    # the robot's own ranges (docs/detection.md, "a toy robot"); the crab's names are not in the robot's parts
    ranges = part_ranges(full.parts, {"claw": 15.0, "eye": 5.0, "head": 10.0, "arm": 20.0})
    if spec.crabs == 1:
        centre, _, art = random_pose(gen, size, full, 0.0, ranges)
        image = compose_scene(full, image, centre, spec.angle, art).image
    elif spec.crabs == 2:
        half = (size[0], size[1] // 2)
        for k in (0, 1):
            centre, angle, art = random_pose(gen, half, full, 180.0, ranges)
            image = compose_scene(full, image, (centre[0], centre[1] + k * half[1]), angle, art).image
    return downscale_scene(Scene(image, Truth(None), spec.name), spec.scale)


def setup(template: str, scale: int, extra=()):
    """(problem with its default scene, detector with its calibration) for a template and scale."""
    cfg = compose(["problem=crab_detection", "solver=hierarchical", f"problem.scale={scale}",
                   f"problem.template={template}", *extra])
    ctx = RunContext(device=torch.device("cpu"), dtype=torch.float64, seed=int(cfg.seed), out_dir=Path("."))
    problem = CrabDetection(cfg.problem, ctx)
    det = build_detector(cfg.solver, problem.template, problem.scale)
    path = calibration_path(cfg.solver, problem.calibration_key, problem.calibration_dir)
    if path is not None:
        load_calibration(path, det)
    return cfg, problem, det


def traced(det, run):
    """Runs run() with the detector's hooks recording (CPU s since the start, node, fraction of the node's
    predicted work the registrar reported); returns (result, events, CPU seconds in all, node -> the share of its
    descent a spike node said as it started, node -> (CPU s, share) said before it started)."""
    events, node, expected, ahead = [], [None], {}, {}
    c0 = time.process_time()

    def started(message):
        node[0] = message.split(" ", 1)[-1]
        events.append((time.process_time() - c0, node[0], 0.0, 0.0))

    def inside(fraction, _now, skipped=0.0, expect=None):
        if expect is not None:
            expected[node[0]] = expect
        events.append((time.process_time() - c0, node[0], fraction, skipped))

    def told(n, share):  # a spike node's descent said before it starts (eta11)
        ahead[n] = (time.process_time() - c0, share)

    det.progress, det.inside, det.ahead = started, inside, told
    result = run()
    total = time.process_time() - c0
    det.progress, det.inside, det.ahead = (lambda m: None), None, None
    return result, events, total, expected, ahead


def static_points(order, events, total, weights):
    """(t, ETA, time left) at each report, as the static ETA computed it: share done f by the weights (finished
    nodes' shares plus the running node's share times its reported fraction), ETA = t / f x (1 - f). weights None:
    counting nodes (nothing moves inside a node)."""
    index = {n: i for i, n in enumerate(order)}
    if weights is None:
        shares, inside = {n: 1 / len(order) for n in order}, False
    else:
        s = sum(weights[n] for n in order)
        shares, inside = {n: weights[n] / s for n in order}, True
    points = []
    for t, node, frac, *_ in events:
        done = sum(shares[n] for n in order[:index[node]]) + (shares[node] * min(frac, 1.0) if inside else 0.0)
        if 0 < done < 1 and t < total:
            points.append((t, t / done * (1 - done), total - t))
    return points


def online_points(events, total, plan, prior_share=PRIOR_SHARE, kinds="stage", by_segment=True, legacy=False,
                  times=None, expected=None, ahead=None, **options):
    """(t, ETA, time left) at each report as NodeProgress computes it now: monitor.WorkETA on the node's plan
    [(kind, predicted seconds)], fed the reports on a clock that reads the trace's CPU seconds. kinds: "stage"
    (the code's: node kind x coarse search / scan / descent), "node" (node kind only), "one" (a single kind),
    "shared search" (the FFT search one kind for leaves and spike nodes). `times`: the ETA read at these times
    instead (grid_times), the reports before each fed as they came. `ahead`: node -> (CPU s, share), a node's
    descent said to run `share` before it starts (its maps empty as soon as its children ended: eta11), told to the
    ETA before the first report at or after that time."""
    def kind(k):
        return {"stage": k, "node": k.split()[0], "one": "work",
                "shared search": "coarse search" if k.endswith("coarse search") else k,
                "one spike descent": "spike descent" if k.startswith("spike descent") else k}[kinds]

    now = [0.0]
    eta = WorkETA({n: [(kind(seg[0]), *seg[1:]) for seg in segs] for n, segs in plan.items()}, clock=lambda: now[0],
                  prior_share=prior_share, by_segment=by_segment, **options)
    points, node = [], None
    grid = list(times or ())
    told = sorted((ta, a, sh) for a, (ta, sh) in (ahead or {}).items())
    for t, n, frac, skipped in events:
        while grid and grid[0] < t and node is not None:  # read between reports, as a progress line is
            while told and told[0][0] <= grid[0]:
                eta.expect(told[0][2], told.pop(0)[1])
            now[0] = grid.pop(0)
            left = eta.remaining()
            if left is not None:
                points.append((now[0], left, total - now[0]))
        now[0] = t
        while told and told[0][0] <= t:
            eta.expect(told[0][2], told.pop(0)[1])
        if n != node:
            eta.start(n)
            node = n
            if expected and n in expected and not legacy:  # the node's maps are empty (said as it starts)
                eta.expect(expected[n])
        # legacy: what the code before eta9 was told: no skipped work, and a spike descent reported only at its
        # end (its ETA at the reports in between is still read, on the clock, as a progress line would be)
        if not (legacy and inside_spike_descent(frac, plan[n])):
            eta.advance(frac, 0.0 if legacy else skipped)
        left = eta.remaining()
        if left is not None and t < total and times is None:
            points.append((t, left, total - t))
    return points


def grid_times(total: float) -> list[float]:
    """Every 1% of a run's time from 10% to 99%: where a progress line printed at a steady interval reads the ETA
    (eta9's measure beside eta8's share of the reports, which the descents' reports since eta9 would tilt)."""
    return [q / 100 * total for q in range(10, 100)]


def inside_spike_descent(frac: float, segs) -> bool:
    """Whether a report's fraction of a node's plan falls inside a spike node's descent, before its end (since
    eta9 the descent reports after each evaluation; it reported only at its end before)."""
    return segs[0][0].startswith("spike") and 2.0 < stage_position(frac, segs) < 3.0 - 1e-9


def events_of(trace) -> list[tuple[float, str, float, float]]:
    """A trace's reports as (CPU s, node, fraction of the node's plan done, fraction skipped); traces before eta9
    have no skipped work."""
    return [(e[0], e[1], e[2], e[3] if len(e) > 3 else 0.0) for e in trace["events"]]


def eta_errors(points, total):
    """(the reports nearest 25, 50 and 75% of the run's time; the report with the worst relative ETA error
    between a quarter and three quarters of it), each (t, ETA, time left)."""
    at = [min(points, key=lambda p: abs(p[0] - q * total)) for q in (0.25, 0.5, 0.75)]
    mid = [p for p in points if total / 4 <= p[0] <= 3 * total / 4] or [at[1]]
    worst = max(mid, key=lambda p: abs(p[1] / p[2] - 1))
    return at, worst


# the work model's constants before eta8 (one FFT and one sample constant, no scan term): the "before" column
LEGACY = {"fft": (8.4e-10, 8.4e-10), "sample": (2.9e-8, 2.9e-8), "call": 0.0, "scan": 0.0, "legacy": True}


# the work model's constants of eta8 (main before eta9: spike descents at their most iterations, no yield): the
# "before" column since eta9, replayed on the same traces
MAIN8 = {"fft": (1.04e-9, 1.04e-9), "sample": (3.93e-8, 2.85e-8), "call": 0.0, "scan": 9.32e-9, "yield": 1.0}


# main's work model before eta10 (eta9's constants, one scan constant, spike descents at their yield, no floor), and
# its ETA (no run prior): the "before" column since eta10, replayed on the same traces with the empty-maps rule main
# had (the scene's whole energy: `expected_main`, recorded beside the code's)
MAIN9 = {"fft": (1.20e-9, 1.20e-9), "sample": (5.55e-8, 9.2e-8), "call": 0.0, "scan": 1.12e-8, "yield": 0.335}


# main's ETA before eta11 (the "before" column since eta11, replayed on the same traces with the code's work model):
# a spike node's empty maps told as it starts only, and only a descent run at its floor makes the next ones
# expected at theirs
MAIN10 = {"floor_told_ahead": False, "run_prior_share": 0.5, "families": None, "runs_on_yield": None}


def families_of(plan) -> dict[str, str]:
    """kind -> family of a plan's kinds, as NodeProgress gives the detection's WorkETA (eta11)."""
    return {seg[0]: work_family(seg[0]) for segs in plan.values() for seg in segs}


def constants(extracting=False) -> dict:
    """The work model's constants now in unrolled_registrar.py, in LEGACY's form (`extracting`: the extraction
    registrar's, whose spike descents have their own sample constant and no yield)."""
    # samples by node kind and itemsize (units 2 and 3: float32, float64), as UnrolledRegistrar.work prices them
    spike = U.EXTRACTION_SPIKE_SAMPLE_SECONDS if extracting else U.SPIKE_SAMPLE_SECONDS
    spread = U.EXTRACTION_SPIKE_SPREAD_SECONDS if extracting else U.SPIKE_SPREAD_SECONDS
    leaf = (U.EXTRACTION_LEAF_SAMPLE_SECONDS,) * 2 if extracting else (U.SAMPLE_SECONDS[4], U.SAMPLE_SECONDS[8])
    fft = (U.EXTRACTION_FFT_SECONDS,) * 2 if extracting else (U.FFT_SECONDS[4], U.FFT_SECONDS[8])
    scan = U.EXTRACTION_SCAN_SECONDS if extracting else (U.SCAN_SECONDS[4], U.SCAN_SECONDS[8])
    return {"fft": fft, "sample": leaf, "spike_sample": (spike[4], spike[8]), "spread": (spread[4], spread[8]),
            "call": U.CALL_SECONDS, "scan": scan, "yield": 1.0 if extracting else U.SPIKE_YIELD,
            "floor": None if extracting else SPIKE_FLOOR, "pooled": U.POOLED_SCAN_SECONDS}


# the share of a spike descent's most work it runs when every item stops at its first step (the registrar's
# at_once_share at the detections' spike_iters = 32): the plan's floor since eta10
SPIKE_FLOOR = 2 / 33


def plan_from(units, kinds, c=None, extracting=False) -> dict[str, list[tuple[str, float]]]:
    """Per node the plan [(kind, predicted seconds)] of Detector.predicted_plan from the node's units, its kind
    (leaf or spike) and constants `c` (default: the code's; `extracting`: the extraction registrar's)."""
    c = c or constants(extracting)
    out = {}
    for n, u in units.items():
        kind = kinds[n]
        fft = c["fft"][0] * u[6] if c.get("legacy") else c["fft"][0] * u[0] + c["fft"][1] * u[1]
        scan = c["scan"] if isinstance(c["scan"], float) else c["scan"][kind == "spike"]
        # a spike node's samples at their own constants where `c` has them (etahalf; the older sets of constants
        # priced every float32 sample alike, and before etahalf an extraction's float32 spike samples at its leaves')
        sample = c.get("spike_sample", c["sample"]) if kind == "spike" else c["sample"]
        # and the window points a spike sample stands for (units 8, 9: float32, float64; etahalf)
        spread = c.get("spread", (0.0, 0.0)) if kind == "spike" and len(u) > 9 else (0.0, 0.0)
        spread_units = (u[8], u[9]) if len(u) > 9 else (0.0, 0.0)
        descent = (f"spike descent {n}" if kind == "spike" and not c.get("legacy") else f"{kind} descent",
                   sample[0] * u[2] + sample[1] * u[3] + c["call"] * u[4] + spread[0] * spread_units[0]
                   + spread[1] * spread_units[1])
        if kind == "spike" and c.get("yield", 1.0) < 1.0:
            descent = (*descent, c["yield"], *([c["floor"]] if c.get("floor") else []))
        # the pooled search's full-resolution spread (etafull): units stored since then, else recomputed
        pooled = c.get("pooled", 0.0) * (u[7] if len(u) > 7 else 0.0)
        out[n] = [(f"{kind} coarse search", fft), (f"{kind} scan", scan * u[5] + pooled), descent]
    return out


def ahead_of(trace) -> dict[str, tuple[float, float]]:
    """node -> (CPU s, share): when a trace's run said a node's descent would run `share` of its most work before
    the node started (its maps empty as soon as its children had ended: Detector.ahead, eta11; share None: a child
    found a part, the node's items will run on). A trace run before that recorded only what the node said as it
    started (`expected`): the same test on the same maps, which the run would have said as its last child ended,
    i.e. when the node after that child started (the parts found, which no trace before recorded, are not told)."""
    if "ahead" in trace:
        return {n: tuple(v) for n, v in trace["ahead"].items()}
    if not trace.get("expected"):  # nothing said (an extraction's trace, which holds no template to build from)
        return {}
    tree, order, ev = detector_of(trace).tree, trace["order"], events_of(trace)
    out = {}
    for n, share in (trace.get("expected") or {}).items():
        k = max(order.index(c) for c in tree[n])
        out[n] = (min(e[0] for e in ev if e[1] == order[k + 1]), share)
    return out


def plan_of(trace, c=None) -> dict[str, list[tuple[str, float]]]:
    """A trace's per-node plan from its units and constants `c` (default: the code's); the node's kind as its
    stored plan says (a trace stored before plans were: float64 work is a spike node's)."""
    units = trace_units(trace)
    kinds = {n: trace["plan"][n][0][0].split()[0] if "plan" in trace else "spike" if u[1] > 0 or u[3] > 0 else "leaf"
             for n, u in units.items()}
    return plan_from(units, kinds, c, trace["name"].endswith("extraction"))


def stored_plan(trace) -> dict[str, list[tuple[str, float]]]:
    """The plan a trace's run reported its fractions against (a trace stored before plans were: the legacy model's,
    whose search and scan are one segment)."""
    if "plan" in trace:
        return {n: [tuple(seg) for seg in segs] for n, segs in trace["plan"].items()}
    return {n: [segs[0], segs[2]] for n, segs in plan_of(trace, LEGACY).items()}


# how the code's search chunks report (etafull): a share of the whole search, FFTs and scan, which run chunk by
# chunk since crabbig; traces before etafull reported a share of the FFTs alone (their time held the chunks' scans
# all the same) and say nothing (`search_share` absent)
SEARCH_WHOLE = True


def search_whole(trace) -> bool:
    """Whether a trace's search chunks reported shares of the whole search (etafull on) or of its FFTs."""
    return trace.get("search_share") == "whole"


def stage_position(frac: float, segs, whole: bool = False) -> float:
    """A report's fraction of a node's predicted work, under the plan `segs` the run had, as a position on the
    node's stages: 0-1 the search's FFT chunks, 2 the search done (its scan after the chunks), 2-3 the descent. A
    plan stored before eta8 has two segments, the search (scan included) and the descent. `whole`: the chunks
    reported shares of the whole search (FFTs and scan: SEARCH_WHOLE), so 0-1 is that share."""
    secs = [seg[1] for seg in segs]
    total = sum(secs)
    if total <= 0:
        return 3.0 * min(frac, 1.0)
    x = min(frac, 1.0) * total
    fft, scan = (secs[0], 0.0) if len(secs) == 2 else (secs[0], secs[1])
    tol = 1e-9 * total
    if whole and x < fft + scan - tol:
        return x / (fft + scan)
    if x < fft - tol:
        return x / fft if fft > 0 else 0.0
    if x <= fft + scan + tol:
        return 2.0 if scan == 0 or x >= fft + scan - tol else 1.0 + (x - fft) / scan
    return 2.0 + (x - fft - scan) / max(secs[-1], 1e-300)


def remap(events, stored, plan, whole_from: bool = False, whole_to: bool = False):
    """A trace's reports as the fractions of `plan` (other constants, other segments) they would have said: each
    report's stage position under the plan it was run with, put back on `plan`'s segments. `whole_from` /
    `whole_to`: the search's chunks reported (report) shares of the whole search, not of its FFTs (SEARCH_WHOLE):
    a chunk's position is the share of the chunks run either way."""
    out = []
    for t, n, frac, skipped in events:
        p = stage_position(frac, stored[n], whole_from)
        secs = [seg[1] for seg in plan[n]]
        fft, scan, desc = secs[0], secs[1], secs[2]
        done = (p * (fft + scan) if whole_to else p * fft) if p < 1 else fft + (p - 1) * scan if p <= 2 else \
            fft + scan + (p - 2) * desc
        # skipped work is a descent's: its share of the stored descent, on the new one
        old = [seg[1] for seg in stored[n]]
        skip = skipped * sum(old) / max(old[-1], 1e-300) * desc
        total = max(fft + scan + desc, 1e-300)
        out.append((t, n, done / total, skip / total))
    return out


def fmt(err) -> str:
    if err is None:
        return "—"
    (_, (_, eta, left), _), worst = err
    return f"{eta:.2f} / {left:.2f} ({100 * (eta / left - 1):+.0f}%; worst {100 * (worst[1] / worst[2] - 1):+.0f}%)"


def node_units(registrar, layouts) -> dict[str, list[float]]:
    """Per node the work model's units: [FFT float32, FFT float64, samples float32, samples float64, calls, scan,
    FFT as counted before eta8, the scan's units if the search is pooled (etafull)] (float64 work is a spike node's; scan: angles x pixels of the coarse search's dense
    cost; the last: angles x (channels + 3) x points x log2 points, for LEGACY's constants)."""
    out = {}
    for node, layout in layouts:
        power = U.FFT_SIZE_POWER
        try:  # the FFT units of the model before eta8: channels + 3 transforms, no growth with size
            U.FFT_SIZE_POWER = 0.0
            shape, motif, grid, angles = layout
            legacy = U._fft_units((shape[0] + 3, *shape[1:]), motif, 1) if registrar.settings.coarse_step > 0 else 0.0
            step = registrar.settings.spike_coarse_step if motif.kind == "spike" else registrar.settings.coarse_step
            legacy *= len(U.coarse_angles(angles, step)) if step > 0 else 0
        finally:
            U.FFT_SIZE_POWER = power
        fft, rounds = registrar.work_units(*layout)
        spike = layout[1].kind == "spike"  # the searches' constants go by the node's kind, the samples by dtype
        double = registrar.work_itemsize(layout[1]) == 8
        points = sum(x[0] for x in rounds)
        out[node] = [0 if spike else fft, fft if spike else 0, 0 if double else points, points if double else 0,
                     sum(x[1] for x in rounds), registrar.scan_units(layout[0], layout[1], layout[3]), legacy,
                     registrar.pooled_scan_units(layout[0], layout[1], layout[3])]
        spread = registrar.spike_spread() * points if spike else 0.0  # window points of the spike samples
        out[node] += [0 if double else spread, spread if double else 0]
    return out


def trace_units(trace) -> dict[str, list[float]]:
    """A trace's units as the code now counts them, recomputed from its layouts (the detector of its template,
    scale and settings, motifs from the cache; the scene's shape as stored); a trace without a shape: as stored."""
    if "shape" not in trace:
        if trace["name"].endswith("extraction") and len(next(iter(trace["units"].values()))) < 10:
            # an extraction's units without the spread (before etahalf): recomputed from its template and scale
            # (the name says them, and the settings in brackets), as the extraction registrar counts them now
            if "units_now" not in trace:
                _, _, det = setup(trace["name"].split()[0], trace["scale"],
                                  [*no_calibration(trace["name"].split()[0], trace["scale"]),
                                   *re.findall(r"\((.*?)\)", trace["name"])])
                trace["units_now"] = node_units(det.extraction_registrar,
                                                det.node_layouts(det.canvas_shape(), extracting=True))
            return trace["units_now"]
        return trace["units"]
    if "units_now" not in trace:  # the units as the code now counts them (a detection's work is deterministic)
        det = detector_of(trace)
        trace["units_now"] = node_units(det.registrar, det.node_layouts(tuple(trace["shape"])))
    return trace["units_now"]


_DETECTORS: dict = {}


def measure(name, scale, order, cpu, stored, events, total, units, record=None, expected=None, ahead=None,
            whole=False):
    """One run's row: CPU and model seconds, ETA errors by nodes / model (static) / record (static) / online (the
    model's plan corrected online: what progress shows now) / before (main's online ETA before eta11, MAIN10) /
    online_record (the record as the prior). `stored`: the plan the run reported its fractions against; the
    model's plans are rebuilt from the node's units with the constants now in the code. `expected`: what the
    spike nodes said as they started (empty maps), `ahead`: what was said of them before (ahead_of)."""
    kind = {n: segs[0][0].split()[0] for n, segs in stored.items()}
    extracting = name.endswith("extraction")
    plan = plan_from(units, kind, extracting=extracting)
    # as the solver: the run prior and the families for the detection only
    code = {"run_prior_share": 0.0, "families": None} if extracting else \
        {"run_prior_share": RUN_PRIOR_SHARE, "families": families_of(plan)}
    model = {n: expected_seconds(segs) for n, segs in plan.items()}
    row = {"run": name, "scale": scale, "cpu_s": round(total, 2), "model_s": round(sum(model.values()), 2),
           "nodes_cpu_s": " ".join(f"{n}={cpu[n]:.2f}" for n in order),
           "nodes_model_s": " ".join(f"{n}={model[n]:.2f}" for n in order)}
    now = remap(events, stored, plan, whole, SEARCH_WHOLE)
    reported = {t for t, n, frac, _ in now if not inside_spike_descent(frac, plan[n])}
    points = {"nodes": static_points(order, now, total, None),
              "model": static_points(order, now, total, model),
              "record": static_points(order, now, total, record) if record else None,
              "before": online_points(now, total, plan, expected=expected, **{**code, **MAIN10}),
              "online": online_points(now, total, plan, expected=expected, ahead=ahead, **code),
              "online_record": online_points(now, total, scaled_plan(plan, record), expected=expected, ahead=ahead,
                                             **code)
              if record else None}
    for label, pts in points.items():
        err = eta_errors(pts, total) if pts else None
        for q, p in zip((25, 50, 75), err[0] if err else (None,) * 3):
            row[f"at{q}_{label}_pct"] = "" if p is None else round(100 * (p[1] / p[2] - 1), 1)
        row[f"half_{label}_pct"] = row[f"at50_{label}_pct"]
        row[f"worst_{label}_pct"] = "" if err is None else round(100 * (err[1][1] / err[1][2] - 1), 1)
        row[f"eta_{label}"] = fmt(err)
        # eta8's measure, on the reports the code before eta9 made (a spike descent's per-evaluation reports left
        # out: they would tilt the share towards the run's end)
        late = [abs(eta / left - 1) for t, eta, left in pts or () if t >= 0.1 * total and t in reported]
        row[f"within20_{label}"] = f"{sum(e <= 0.2 for e in late)}/{len(late)}" if late else ""
    for label, options in (("before", {**code, **MAIN10}), ("online", {**code, "ahead": ahead})):
        pts = online_points(now, total, plan, times=grid_times(total), expected=expected, **options)
        row[f"grid20_{label}"] = f"{sum(abs(eta / left - 1) <= 0.2 for _, eta, left in pts)}/{len(pts)}"
    print(f"{name} (scale {scale}): {total:.2f} CPU-s (model {row['model_s']:.2f}); per node CPU/model: "
          + ", ".join(f"{n} {cpu[n]:.2f}/{model[n]:.2f}" for n in order), flush=True)
    for label in points:
        print(f"    half-way ETA / left by {label}: {row[f'eta_{label}']}; within 20% after 10% of the run "
              f"{row[f'within20_{label}']}", flush=True)
    return row


def detections(runs, args):
    """runs: (name, template, scale, config overrides, scene or None: the config's own). Detection traced per
    run; the motif cache (solver.motif_cache=auto) spares the extractions. Returns (rows, per-node (work units,
    CPU s) for --fit)."""
    rows, units, previous, built = [], [], {}, {}
    for name, template, scale, extra, scene in runs:
        key = (template, scale, tuple(extra))
        if key not in built:
            cfg, problem, det = setup(template, scale, extra)
            cached_extract(det, cache_dir(cfg.solver.motif_cache))
            built[key] = (problem, det)
        problem, det = built[key]
        image = (scene.image if scene is not None else problem.scene.image).to(problem.template.image.dtype)
        shape = tuple(image.shape)
        plan = det.predicted_plan(shape)
        found, events, total, expected, ahead = traced(det, lambda d=det, y=image: d.detect(y))
        order = [n for n, _ in det.order]
        record = previous.get((template, scale, shape))
        previous[(template, scale, shape)] = dict(found.cpu)
        per_node = node_units(det.registrar, det.node_layouts(shape))
        rows.append(measure(name, scale, order, found.cpu, plan, events, total, per_node, record, expected,
                            ahead, SEARCH_WHOLE))
        units += [(per_node[n], found.cpu[n]) for n in order]
        keep_trace({"name": name, "scale": scale, "order": order, "cpu": found.cpu, "events": events,
                       "total": total, "units": per_node, "record": record, "plan": plan,
                    "template": template, "extra": list(extra), "shape": list(shape), "expected": expected,
                    "ahead": ahead, **({"search_share": "whole"} if SEARCH_WHOLE else {})})
    return rows, units


def extractions(args):
    rows = []
    for template, scale in (EXTRACTION20 if args.set == "heldout20x" else EXTRACTION):
        if scale == 1 and not args.full and args.set != "heldout20x":
            continue
        _, _, det = setup(template, scale, [*no_calibration(template, scale), *args.override])
        plan = det.predicted_plan(None, extracting=True)
        # what the model read: the extraction's registrar (unpruned) on the expected spike motifs
        per_node = node_units(det.extraction_registrar, det.node_layouts(det.canvas_shape(), extracting=True))
        canonical, events, total, _, _ = traced(det, det.extract)
        order = [n for n, _ in det.order]
        name = f"{template}{''.join(f' ({o})' for o in args.override)} extraction"
        rows.append(measure(name, scale, order, canonical.cpu, plan, events, total, per_node, whole=SEARCH_WHOLE))
        keep_trace({"name": name, "scale": scale, "order": order, "cpu": canonical.cpu, "events": events,
                       "total": total, "units": per_node, "record": None, "plan": plan,
                    **({"search_share": "whole"} if SEARCH_WHOLE else {})})
    return rows


def fit(units):
    """Relative least squares of the work model's constants (FFT and sample units in float32 and float64, calls)
    on per-node (work units, CPU s) of the tuning set (printed)."""
    a = torch.tensor([u for u, _ in units], dtype=torch.float64)
    b = torch.tensor([c for _, c in units], dtype=torch.float64)
    # each node's error relative to its own time (small and large nodes alike); constants kept >= 0 by dropping a
    # negative one and fitting the rest again
    use = [k for k in range(a.shape[1]) if bool((a[:, k] > 0).any())]
    while True:
        sol = torch.linalg.lstsq(a[:, use] / b[:, None], torch.ones_like(b)[:, None]).solution.flatten()
        if bool((sol >= 0).all()) or len(use) == 1:
            break
        use.pop(int(torch.argmin(sol)))
    full = torch.zeros(a.shape[1], dtype=torch.float64)
    full[use] = sol
    ratio = (a @ full) / b
    c = [float(v) for v in full]
    print(f"fit on {len(units)} nodes: FFT_SECONDS = {{4: {c[0]:.2e}, 8: {c[1]:.2e}}}, SAMPLE_SECONDS = "
          f"{{4: {c[2]:.2e}, 8: {c[3]:.2e}}}, CALL_SECONDS = {c[4]:.2e} (0: not fitted or dropped); per node "
          f"model/measured {float(ratio.min()):.2f}-{float(ratio.max()):.2f}")


def tuning_units(csv_path: str, override=()) -> list[tuple[list[float], float]]:
    """(units, CPU s) per node of a tuning CSV written before traces were stored: the units recomputed from the
    runs' layouts (deterministic: scene size, motifs, settings), the spike motifs laid out by expected_spike_boxes
    (within 1 px of the extracted ones; no extraction run). The settings are today's defaults plus `override`:
    the CSV does not record them, so a default changed since the runs must be overridden back (the stored tuning
    CSV was measured with solver.descent.spike_coarse_step=10; the default is 5 since, which doubles the spike
    nodes' FFT units)."""
    from regrun.detection.detector import Motif

    out = []
    for row in csv.DictReader(Path(csv_path).read_text().splitlines()):
        name, scale = row["run"], int(row["scale"])
        template = "refine_crab" if name.startswith("paper") else "synthetic"
        _, problem, det = setup(template, scale, [*TUNING[name], *override])
        for node, (r0, r1, c0, c1) in det.expected_spike_boxes().items():
            mask = torch.ones(r1 - r0, c1 - c0, dtype=det.template.image.dtype)
            centre = ((r1 - r0) // 2, (c1 - c0) // 2)
            det.motifs[node] = Motif(node, "spike", mask.expand(len(det.tree[node]), -1, -1), mask, centre, centre,
                                     (float(r0 - det.pad), float(c0 - det.pad)))
        per_node = node_units(det.registrar, det.node_layouts(tuple(problem.scene.image.shape)))
        cpu = dict(kv.split("=") for kv in row["nodes_cpu_s"].split())
        out += [(per_node[n], float(cpu[n])) for n in per_node]
    return out


def detector_of(trace):
    """The detector of a trace's template, scale and settings, its motifs from the cache (built once)."""
    key = (trace["template"], trace["scale"], tuple(trace["extra"]))
    if key not in _DETECTORS:
        cfg, _, det = setup(*key[:2], list(key[2]))
        cached_extract(det, cache_dir(cfg.solver.motif_cache))
        _DETECTORS[key] = det
    return _DETECTORS[key]


def stage_times(trace):
    """Per node of a trace (kind, units, CPU seconds of the search's FFT chunks, of its scan, of the descent). The
    search reports after each chunk of DenseCost.CHUNK angles but not after the last one: the time from its last
    chunk report to the search's end is the last chunk, as long per angle as the chunks before it, and the scan."""
    det = detector_of(trace)
    layouts = dict(det.node_layouts(tuple(trace["shape"])))
    st = det.registrar.settings
    stored, units = stored_plan(trace), trace_units(trace)
    out = []
    for n in trace["order"]:
        shape, motif, grid, angles = layouts[n]
        kind = "spike" if motif.kind == "spike" else "leaf"
        a_n = len(U.coarse_angles(angles, st.spike_coarse_step if kind == "spike" else st.coarse_step))
        mine = [(t, stage_position(f, stored[n], search_whole(trace))) for t, node, f, _ in events_of(trace)
                if node == n]
        t0 = mine[0][0]
        chunks = [(t, p) for t, p in mine if 0 < p < 1]
        searched = max(t for t, p in mine if p <= 2.0)
        last = max(t for t, _ in mine)
        if not chunks:
            continue  # one chunk: the FFTs and the scan are not told apart
        t_chunk, p_chunk = chunks[-1]
        per_angle = (t_chunk - t0) / (p_chunk * a_n)
        fft_time = per_angle * a_n
        out.append((kind, units[n], fft_time, searched - t0 - fft_time, last - searched))
    return out


def descent_times(trace):
    """Per node of a trace (kind, units, CPU seconds of its descent: from the search's end to its last report), from
    the reports alone (an extraction's trace holds no scene to rebuild the detector's layouts from)."""
    stored, units = stored_plan(trace), trace_units(trace)
    out = []
    for n in trace["order"]:
        mine = [(t, stage_position(f, stored[n], search_whole(trace))) for t, node, f, _ in events_of(trace)
                if node == n]
        searched = max(t for t, p in mine if p <= 2.0)
        out.append((stored[n][0][0].split()[0], units[n], max(t for t, _ in mine) - searched))
    return out


def fit_stages(traces):
    """The work model's constants from the stages of stored traces, each its own kind of work: the FFT constant
    from the searches' chunks (leaves and spike nodes alike: both search in leaf_dtype), the scan constant per node
    kind from the rest of the search, the sample constant per node kind from the descents; each the median of the
    nodes' measured seconds per unit (robust to a node whose stage a loaded machine slowed). Printed; the code
    takes the scan's median over both node kinds (SCAN_SECONDS' comment says why)."""
    import statistics

    per = {}
    for t in traces:
        if t["name"].endswith("extraction"):  # the extraction registrar's own sample constants (etahalf)
            for kind, u, desc in descent_times(t):
                bits = "float32" if u[2] > 0 else "float64"
                per.setdefault(f"extraction sample {kind} {bits}", []).append(desc / (u[2] + u[3]))
            continue
        for kind, u, fft, scan, desc in stage_times(t):
            per.setdefault("fft", []).append(fft / (u[0] + u[1]))
            per.setdefault(f"fft {kind}", []).append(fft / (u[0] + u[1]))
            per.setdefault(f"scan {kind}", []).append(scan / u[5])
            per.setdefault("scan", []).append(scan / u[5])
            if u[2] + u[3] > 0:
                per.setdefault(f"sample {kind}", []).append(desc / (u[2] + u[3]))
    for k, v in sorted(per.items()):
        q = sorted(v)
        print(f"{k}: median {statistics.median(q):.2e} s per unit (quartiles {q[len(q) // 4]:.2e} .. "
              f"{q[3 * len(q) // 4]:.2e}; {len(q)} nodes)")


def online_grid(traces, shares=(0.0, 0.1, 0.25, 0.5, 1.0, 4.0)):
    """Per grouping of kinds and prior share: the online ETA's relative error at 25, 50 and 75% of each run,
    by size (range over the runs, and the median of the absolute error)."""
    print("| kinds | prior share | size | at 25% | at 50% | at 75% | median of the absolute error | within 20% "
          "after 10% |")
    print("|---|---|---|---|---|---|---|---|")
    for kinds, by_segment in (("stage", True), ("stage", False), ("shared search", True), ("node", True),
                              ("one", True), ("one", False)):
        for share in shares:
            for scale in sorted({t["scale"] for t in traces}):
                errs, within = [], [0, 0]
                for t in traces:
                    if t["scale"] != scale:
                        continue
                    plan = plan_of(t)
                    points = online_points(remap(events_of(t), stored_plan(t), plan, search_whole(t), SEARCH_WHOLE),
                                           t["total"], plan, share, kinds, by_segment)
                    errs.append([100 * (p[1] / p[2] - 1) for p in eta_errors(points, t["total"])[0]])
                    late = [abs(p[1] / p[2] - 1) <= 0.2 for p in points if p[0] >= 0.1 * t["total"]]
                    within[0] += sum(late)
                    within[1] += len(late)
                cols = [f"{min(e[q] for e in errs):+.0f} … {max(e[q] for e in errs):+.0f}%" for q in range(3)]
                med = sorted(abs(v) for e in errs for v in e)[len(errs) * 3 // 2]
                print(f"| {kinds}{'' if by_segment else ', no segment'} | {share:g} | "
                      f"{'full' if scale == 1 else 'half'} ({len(errs)}) | " + " | ".join(cols) + f" | {med:.0f}% | "
                      f"{within[0]}/{within[1]} |")


def stage_bounds(trace) -> dict[str, tuple[float, float, float]]:
    """Per node of a trace, the CPU s it started, ended its search (FFTs and scan) and ended (the next node's
    start, or the run's end)."""
    ev, order, stored = events_of(trace), trace["order"], stored_plan(trace)
    first = {n: min(e[0] for e in ev if e[1] == n) for n in order}
    whole = search_whole(trace)
    return {n: (first[n], max(e[0] for e in ev if e[1] == n and stage_position(e[2], stored[n], whole) <= 2.0),
                first[order[k + 1]] if k + 1 < len(order) else trace["total"]) for k, n in enumerate(order)}


def blame_of(trace, options) -> tuple[int, int, dict[str, float]]:
    """(reports off by more than 20%, reports counted, per node group x stage the mean of (predicted - actual time
    left of that stage) / time left over the reports off): the reports and the measure of `within20`, the ETA of
    the code with `options` (MAIN10: main's), on the code's plan. Groups: the leaves, each spike node; stages: the
    search (FFTs and scan), the descent (from the search's end to the node's end)."""
    plan = plan_of(trace)
    total, bounds = trace["total"], stage_bounds(trace)
    events = remap(events_of(trace), stored_plan(trace), plan, search_whole(trace), SEARCH_WHOLE)
    now = [0.0]
    code = {"run_prior_share": RUN_PRIOR_SHARE, "families": families_of(plan)}  # the detection's, as the solver's
    eta = WorkETA(plan, clock=lambda: now[0], **{**code, **{k: v for k, v in options.items() if k != "ahead"}})
    told = sorted((t, n, sh) for n, (t, sh) in (options.get("ahead") or {}).items())
    node, off, counted, out = None, 0, 0, {}
    for t, n, frac, skipped in events:
        now[0] = t
        while told and told[0][0] <= t:
            eta.expect(told[0][2], told.pop(0)[1])
        if n != node:
            eta.start(n)
            node = n
            if n in (trace.get("expected") or {}):
                eta.expect(trace["expected"][n])
        eta.advance(frac, skipped)
        left = eta.remaining_by_segment()
        if left is None or t < 0.1 * total or t >= total or inside_spike_descent(frac, plan[n]):
            continue
        counted += 1
        if abs(sum(left.values()) / (total - t) - 1) <= 0.2:
            continue
        off += 1
        for m, (a, b, c) in bounds.items():
            group = m if plan[m][0][0].startswith("spike") else "leaves"
            for i, (stage, actual) in enumerate((("search", 0.0), ("search", max(b - max(t, a), 0.0)),
                                                 ("descent", max(c - max(t, b), 0.0)))):
                key = f"{group} {stage}"
                out[key] = out.get(key, 0.0) + (left.get((m, i), 0.0) - actual) / (total - t)
    return off, counted, {k: v / max(off, 1) for k, v in out.items()}


def blame(traces):
    """Per run: the reports whose ETA is off by more than 20% (after the first 10% of the run), before (MAIN10) and
    now, and now the mean error of each node group and stage's time left over them (blame_of)."""
    for t in traces:
        off0, n0, _ = blame_of(t, MAIN10)
        off, n, parts = blame_of(t, {"ahead": ahead_of(t)})
        print(f"{t['name']} ({'full' if t['scale'] == 1 else 'half'}): off by > 20% at {off0}/{n0} reports before, "
              f"{off}/{n} now; " + ", ".join(f"{k} {100 * v:+.0f}%" for k, v in parts.items() if abs(v) >= 0.005))


def stages(traces):
    """Per run and node: where the node starts (share of the run's CPU time), its coarse search's and descent's CPU
    seconds against the work model (from the reports at the stage boundary), and the time after its registrar's
    last report until the next node starts (or the run ends), which no report covers (eta7)."""
    for t in traces:
        ev, order, total = events_of(t), t["order"], t["total"]
        first = {n: min(i for i, e in enumerate(ev) if e[1] == n) for n in order}
        rows, tail = [], 0.0
        for k, n in enumerate(order):
            mine = [e for e in ev if e[1] == n]
            plan = plan_of(t)[n]
            stored = stored_plan(t)[n]
            t0, last = mine[0][0], max(e[0] for e in mine)
            searched = max(e[0] for e in mine if stage_position(e[2], stored, search_whole(t)) <= 2.0)
            end = ev[first[order[k + 1]]][0] if k + 1 < len(order) else total
            tail += end - last
            rows.append(f"{n} at {t0 / total:.0%}: search {(searched - t0) / (plan[0][1] + plan[1][1]):.2f}, "
                        f"descent {(last - searched) / max(plan[2][1], 1e-12):.2f}, after {end - last:.2f} s")
        print(f"{t['name']} ({'full' if t['scale'] == 1 else 'half'}, {total:.2f} CPU-s; after the last reports "
              f"{tail:.2f} s, {tail / total:.1%}): " + "; ".join(rows))


def scan_cost(args, repeats=5):
    """The coarse search's scan measured per unit (angles x H x W of the dense cost), per node kind and size, on
    the synthetic crab's nodes laid out on a held-out-sized scene (384x512 at full size; the maps random: only
    their shapes count): the search (coarse_starts) timed less its FFT chunks alone (DenseCost.chunks on the grid
    the search runs on, pooled or not), medians of `repeats` (etafull). For a pooled search the full-resolution
    spread of the pooled costs (_pooled_costs' repeat and pad) is timed apart from the reduction."""
    g = torch.Generator().manual_seed(0)
    for scale in (2, 1):
        _, _, det = setup("synthetic", scale, no_calibration("synthetic", scale))
        cached_extract(det, cache_dir(compose(["problem=crab_detection", "solver=hierarchical"]).solver.motif_cache))
        reg, st = det.registrar, det.registrar.settings
        for node, (shape, motif, grid, angles) in det.node_layouts((3, 384 // scale, 512 // scale)):
            spike = motif.kind == "spike"
            c = 1 if spike else shape[0]
            y = torch.rand(c, *shape[-2:], generator=g, dtype=torch.float32)
            x = torch.rand(c, *motif.mask.shape, generator=g, dtype=torch.float32)
            ang = U.coarse_angles(angles, st.spike_coarse_step if spike else st.coarse_step)
            for pool in sorted({st.spike_coarse_pool if spike else 1, 1}, reverse=True):
                scan_one(node, scale, reg, st, shape, motif, grid, angles, ang, y, x, pool, repeats)


def scan_one(node, scale, reg, st, shape, motif, grid, angles, ang, y, x, pool, repeats):
    """scan_cost's measurement of one node searched with `pool`."""
    from regrun.detection.rotation_search import DenseCost
    spike = motif.kind == "spike"
    mask = motif.mask.to(torch.float32)
    times = {"search": [], "fft": [], "spread": []}
    for _ in range(repeats):
        t = time.process_time()
        U.coarse_starts(y, x, motif, grid, ang, st.coarse_starts, 0.0, 8, pool=pool)
        times["search"].append(time.process_time() - t)
        avg = torch.nn.functional.avg_pool2d
        cr, cc = (int(v) for v in motif.centre)
        yp, xp = (avg(y[None], pool, ceil_mode=True)[0], avg(x[None], pool, ceil_mode=True)[0]) \
            if pool > 1 else (y, x)
        mp = (avg(mask[None, None], pool, ceil_mode=True)[0, 0] > 0).float() if pool > 1 else mask
        t = time.process_time()
        for _i, _d in DenseCost(yp, xp * mp, mp, ang, (cr // pool, cc // pool), fast=True).chunks():
            pass
        times["fft"].append(time.process_time() - t)
        t = time.process_time()
        for _i, _d in (U._pooled_costs(y, x, mask, motif.centre, ang, pool) if pool > 1 else ()):
            pass
        times["spread"].append(max(time.process_time() - t - times["fft"][-1], 0.0) if pool > 1 else 0.0)
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    units = reg.scan_units(shape, motif, angles)
    print(f"scale {scale} {node:10s} pool {pool} angles {len(ang):3d} H x W {shape[-2]}x{shape[-1]}: "
          f"search {med['search']:.3f} s, FFTs {med['fft']:.3f} s, scan {med['search'] - med['fft']:.3f} s "
          f"= {(med['search'] - med['fft']) / units:.2e} s/unit (of it the pooled spread "
          f"{med['spread'] / units:.2e}); model scan {U.SCAN_SECONDS[8 if spike else 4]:.2e}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", choices=("tuning", "tuning8", "heldout", "heldout3", "heldout4", "heldout5", "heldout6",
                                       "heldout9a", "heldout9b", "heldout9c", "heldout9d", "tuning10", "heldout10a",
                                       "heldout10b", "heldout11", "heldout12a", "heldout12b", "heldout13a",
                                       "heldout13b", "heldout15a", "heldout15b", "heldout15c", "heldout19", "heldout20",
                                       "heldout20x", "extraction"),
                    default="tuning")
    ap.add_argument("--full", action="store_true", help="tuning, extraction: also full size")
    ap.add_argument("--only", nargs="+", help="heldout: run only the scenes whose names contain one of these")
    ap.add_argument("--fit", action="store_true", help="tuning only: print the least-squares constants")
    ap.add_argument("--fit-from", nargs="+", metavar="FILE", help="run nothing: fit the constants on a tuning CSV "
                    "(units recomputed) and/or stored traces (.json), e.g. the extraction of one template")
    ap.add_argument("--override", nargs="+", default=[], metavar="KEY=VALUE", help="--fit-from: settings the "
                    "tuning CSV's runs had that differ from today's defaults (units are recomputed with them); "
                    "extraction sets: settings the extractions run with (e.g. solver.descent.spike_dtype=run)")
    ap.add_argument("--data-dir", default="../shared/refine_data")
    ap.add_argument("--out", default=None)
    ap.add_argument("--reweigh", metavar="JSON", nargs="+", help="run nothing: recompute the ETAs of stored traces "
                    "(the runs' <out>.json) with the constants now in the code (a detection's work does not depend "
                    "on them)")
    ap.add_argument("--stages", action="store_true", help="--reweigh: per node, each stage's measured/model "
                    "ratio and the time after its last report")
    ap.add_argument("--blame", action="store_true", help="--reweigh: per run, which node and stage's time left "
                    "the ETA errs on at its reports off by more than 20%% (before and now)")
    ap.add_argument("--online-grid", action="store_true", help="--reweigh: the online ETA's error at 25/50/75%% "
                    "of each run for each grouping of kinds and prior share (how PRIOR_SHARE was chosen)")
    ap.add_argument("--scan-cost", action="store_true", help="run nothing else: the coarse search's scan per unit, "
                    "per node kind and size, pooled search's full-resolution spread apart (etafull)")
    args = ap.parse_args(argv)
    if args.scan_cost:
        torch.set_num_threads(1)
        scan_cost(args)
        return
    if args.fit and args.set != "tuning" and not args.reweigh:
        ap.error("--fit fits the work model's constants on the tuning set only (held-out scenes stay unseen)")
    torch.set_num_threads(1)
    out = Path(args.out or f"outputs/bench_crab_eta_{args.set}{'_reweighed' if args.reweigh else ''}.csv")
    if not args.reweigh:
        TRACE_FILE.append(out.with_suffix(".json"))
    units = []
    if args.fit_from:
        for path in args.fit_from:
            if path.endswith(".json"):
                units += [(t["units"][n], t["cpu"][n]) for t in json.loads(Path(path).read_text()) for n in t["order"]]
            else:
                units += tuning_units(path, args.override)
        fit(units)
        return
    if args.reweigh:
        traces = [t for path in args.reweigh for t in json.loads(Path(path).read_text())]
        if args.online_grid or args.stages or args.fit or args.blame:
            (online_grid if args.online_grid else stages if args.stages else blame if args.blame else
             fit_stages)(traces)
            return
        rows = [measure(t["name"], t["scale"], t["order"], t["cpu"], stored_plan(t), events_of(t),
                        t["total"], trace_units(t), t["record"], t.get("expected"), ahead_of(t), search_whole(t))
                for t in traces]
    elif args.set in ("extraction", "heldout20x"):
        rows = extractions(args)
    elif args.set.startswith("heldout") or args.set in ("tuning8", "tuning10"):
        specs = [s for s in {"heldout": HELDOUT, "heldout3": HELDOUT3, "heldout4": HELDOUT4, "heldout5": HELDOUT5,
                             "heldout6": HELDOUT6, "heldout9a": HELDOUT9A, "heldout9b": HELDOUT9B,
                             "heldout9c": HELDOUT9C, "heldout9d": HELDOUT9D, "heldout10a": HELDOUT10A,
                             "heldout10b": HELDOUT10B, "heldout11": HELDOUT11, "heldout12a": HELDOUT12A,
                             "heldout12b": HELDOUT12B, "heldout13a": HELDOUT13A, "heldout13b": HELDOUT13B,
                             "heldout15a": HELDOUT15A, "heldout15b": HELDOUT15B, "heldout15c": HELDOUT15C,
                             "heldout19": HELDOUT19, "heldout20": HELDOUT20,
                             "tuning8": TUNING8, "tuning10": TUNING10}[args.set]
                 if not args.only or any(o in s.name for o in args.only)]
        runs = [(s.name, s.template, s.scale, s.extra, heldout_scene(s, args.data_dir)) for s in specs]
        rows, _ = detections(runs, args)
    else:
        tpl = {name: "refine_crab" if name.startswith("paper") else "synthetic" for name in TUNING}
        runs = [(name, tpl[name], 2, extra, None) for name, extra in TUNING.items()]
        if args.full:
            runs += [(name, tpl[name], 1, extra, None) for name, extra in TUNING.items() if name.startswith("paper")]
        rows, units = detections(runs, args)
    if args.fit:
        fit(units)
    print("\n| run | size | CPU s (model) | ETA error at 25 / 50 / 75% of the run: nodes | model, static | "
          "online, before | online | record, static | record, online | within 20% after 10%: before / now | "
          "on the 1% grid: before / now |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        cells = [" / ".join("—" if r[f"at{q}_{lb}_pct"] == "" else f"{r[f'at{q}_{lb}_pct']:+.0f}%" for q in (25, 50, 75))
                 for lb in ("nodes", "model", "before", "online", "record", "online_record")]
        print(f"| {r['run']} | {'full' if r['scale'] == 1 else 'half'} | {r['cpu_s']:.2f} ({r['model_s']:.2f}) | "
              + " | ".join(cells) + f" | {r['within20_before']} / {r['within20_online']} | {r['grid20_before']} / "
              f"{r['grid20_online']} |")
    for scale in sorted({r["scale"] for r in rows}):
        for lb in ("nodes", "model", "before", "online"):
            got = [tuple(map(int, r[f"within20_{lb}"].split("/"))) for r in rows
                   if r["scale"] == scale and r[f"within20_{lb}"]]
            print(f"{'full' if scale == 1 else 'half'} size, {lb}: ETA within 20% at {sum(a for a, _ in got)} of "
                  f"{sum(b for _, b in got)} reports after the first 10% of the run ({len(got)} runs)")
        for lb in ("before", "online"):
            got = [tuple(map(int, r[f"grid20_{lb}"].split("/"))) for r in rows if r["scale"] == scale]
            print(f"{'full' if scale == 1 else 'half'} size, {lb}: ETA within 20% at {sum(a for a, _ in got)} of "
                  f"{sum(b for _, b in got)} points of the 1% grid from 10% of the run ({len(got)} runs)")
    for lb in ("model", "online"):
        for q in (25, 50, 75):
            ok = [abs(r[f"at{q}_{lb}_pct"]) for r in rows if r[f"at{q}_{lb}_pct"] != ""]
            print(f"ETA error at {q}% by {lb}: median {sorted(ok)[len(ok) // 2]:.0f}%, worst {max(ok):.0f}% "
                  f"over {len(ok)} runs")
    write_rows_csv(out, rows)


if __name__ == "__main__":
    main()

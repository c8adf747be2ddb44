"""What a run says while it runs, and the per-iteration callbacks (history, progress, divergence, time limit).

`Reporter` is the run's voice: its start line, one line per phase (`with ctx.phase("data"): ...`), progress
inside a phase and the end line, echoed to the console and appended to the run folder's `regrun.log`. On a
terminal progress is a tqdm bar; elsewhere (a pipe, a file, a batch job) it is a plain line every few seconds,
never carriage-return frames. Solvers call `monitor.step(iter=..., J=..., ...)` once per iteration and stop when
it returns True; `monitor.start(total, desc)` opens a progress bar inside the current phase.
"""
from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from pathlib import Path
from typing import IO, Iterator

import numpy as np

from .errors import Diverged


class Callback:
    def start(self, total: int | None, desc: str, upto: bool = False) -> None:
        """A new piece of work of `total` steps (None: unknown); `upto`: the total is a cap (the solver stops
        early once converged), so the ETA is an upper bound."""

    def step(self, row: dict) -> bool:
        """Return True to ask the solver to stop."""
        return False

    def close(self) -> None: ...


class HistoryRecorder(Callback):
    """Keeps every row; columns that a row lacks are NaN so all columns stay in lockstep."""

    def __init__(self):
        self.columns: dict[str, list] = {}
        self.n_rows = 0

    def step(self, row):
        for key in row:
            if key not in self.columns:
                self.columns[key] = [math.nan] * self.n_rows
        for key, col in self.columns.items():
            col.append(float(row.get(key, math.nan)))
        self.n_rows += 1
        return False

    def as_arrays(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, dtype=np.float64) for k, v in self.columns.items()}


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    return f"{minutes} min {sec:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class Progress:
    """Progress of one piece of work with a known (or unknown) total.

    On a terminal: a tqdm bar on stderr (left behind on neither the console nor the log). Elsewhere: a plain
    line `  desc: n/total (pct), elapsed, ETA ..., key=value` at most every `every` seconds and one at the end
    when the work took longer than that, through the reporter (so also in regrun.log). A step beyond the
    announced total raises the total, so a bar never ends at `10/9`. `upto`: the total is a cap (iterations that
    stop at convergence): the line says `3/<=200` and `ETA <= ...`, an upper bound."""

    def __init__(self, reporter: "Reporter", total: int | None, desc: str, every: float, upto: bool = False):
        self.reporter, self.total, self.desc, self.every, self.upto = reporter, total, desc, every, upto
        self.n = self.printed = 0
        self.shown: dict[str, str] = {}
        self.t0 = self.last = time.perf_counter()
        self.left: float | None = None  # seconds left, when an estimate (WorkETA) says; else extrapolated from n
        self.left_note = ""  # said after the ETA: how far to trust it (NodeProgress: measured on one node only)
        self.bar = None
        if reporter.interactive:
            from tqdm import tqdm

            reporter.end_open_line()
            self.bar = tqdm(total=total, desc=f"{desc} (at most)" if upto and total else desc, leave=False,
                            dynamic_ncols=True, file=reporter.tty)

    def update(self, n: int = 1, **shown) -> None:
        self.n += n
        if self.upto and self.total is not None and self.n > self.total:
            # a cap the work went past (lambda_f=auto's floor search ran 19 solves under a cap of 10, printing
            # `11/<=11 (100%)` ... `18/<=18 (100%)` after an `ETA <= 5.2 s` with 3 minutes to go): the count alone
            # from here, no total and no ETA, saying the cap was passed
            self.open_ended(f"past its cap of {self.total}")
        elif self.total is not None and self.n > self.total:
            self.total = self.n
            if self.bar is not None:
                self.bar.total = self.n
        self.shown.update({k: (f"{v:.3e}" if isinstance(v, float) else str(v)) for k, v in shown.items()})
        if self.bar is not None:
            self.bar.update(n)
            if self.shown:
                self.bar.set_postfix(self.shown, refresh=False)
        elif time.perf_counter() - self.last >= self.every:
            self._line()

    def open_ended(self, then: str) -> None:
        """From here on the number of steps is unknown (work that goes on until a test says stop, past the cap
        announced for what came before): no total, no ETA; the description says what follows (`then`)."""
        self.total, self.upto, self.left = None, False, None
        self.desc = f"{self.desc}, then {then}"
        if self.bar is not None:
            self.bar.total = None
            self.bar.set_description(self.desc, refresh=False)

    def line(self) -> str:
        elapsed = time.perf_counter() - self.t0
        text = f"  {self.desc}: {self.n}"
        bound = "<=" if self.upto else ""
        if self.total:
            text += f"/{bound}{self.total} ({100 * self.n / self.total:.0f}%)"
        text += f", {_duration(elapsed)}"
        if self.total and self.n < self.total and (self.n > 0 or self.left is not None):
            left = elapsed / self.n * (self.total - self.n) if self.left is None else self.left
            text += f", ETA {bound + ' ' if bound else ''}{_duration(left)}{self.left_note}"
        if self.shown:
            text += ", " + ", ".join(f"{k}={v}" for k, v in self.shown.items())
        return text

    def _line(self) -> None:
        self.last, self.printed = time.perf_counter(), self.n
        self.reporter.line(self.line())

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
            self.reporter.line(self.line(), console=False)
        elif self.n != self.printed and time.perf_counter() - self.t0 >= self.every:
            self._line()


# How much evidence a kind of work needs before its own measured rate outweighs the run's: as a share of the work
# predicted for that kind in the whole phase (chosen on the tuning traces of scripts/bench_crab_eta.py;
# docs/detection.md, "The ETA corrected online").
PRIOR_SHARE = 0.25
# The share of a descent's most work after which its items still running are taken to run on (WorkETA.remaining)
RUN_ON_SHARE = 0.1
# How much the run's rate, which a kind not seen yet takes, is held to the prior (rate 1) as a share of the phase's
# predicted work, where the prior is in this machine's seconds (WorkETA's run_prior_share; NodeProgress's callers
# pass it for a CPU work model or a record). eta10 chose 0.5 on its tuning traces: the leaves' rate, the template's
# more than the machine's, was carried to the spike nodes. Since eta11 a kind not run yet takes its family's rate
# (WorkETA's families: a spike node's search the leaves' searches'), and the prior is not needed: on the 37 eta11
# tuning traces 0 / 0.1 / 0.5 put 85 / 83 / 80% of the half-size reports after 10% of the run within 20% and
# 93 / 94 / 95% of the full-size ones (without families 0.5 was 78 / 92%)
RUN_PRIOR_SHARE = 0.0
# The share of its most work a spike descent is expected to run when one of its children found a part (told it runs
# on) in a scene whose spike parts before it ran, or were told to run, at their floor: a crab-free scene's false
# claw, on which the crab's items run on instead of stopping at once. Measured (etahalf): on the seen half-size
# traces of heldout19, heldout15c and heldout13a the three such crabs ran 0.60, 0.60 and 0.64 of their most work
# (seeds 15203, 646, 19007; eta11 saw 0.35-0.75 on three tuning scenes and 0.60 / 0.86 on seeds 646 / 668), where
# the prior yield (SPIKE_YIELD, 0.335) left their ETA 28-40% short of the crab's descent; crabs in crab scenes ran
# 0.27-0.37 there and keep the prior.
RUNS_ON_YIELD = 0.6


class WorkETA:
    """The time left of a phase made of parts (nodes, steps), each a sequence of segments (kind, predicted
    seconds) run in order, with the work model corrected online from what this run has measured.

    A prior work model is wrong by a factor that differs by kind of work (a float64 FFT search at full size ran
    1.4-1.7x its prediction where float32 leaves ran 0.8-1.1x), and by machine and load. So each kind's rate
    (measured seconds per predicted second) is learnt as the run goes: time between two reports is charged to the
    segments the reports say were done (split by their predicted seconds), and a kind's rate is its measured rate
    blended with the run's overall rate (all kinds so far: the machine's speed, which the phase's elapsed time
    already carries) by the work done of that kind against PRIOR_SHARE of the kind's predicted total:

        rate_k = (measured_k + W_k * rate_run) / (predicted_done_k + W_k),  W_k = prior_share * predicted_total_k

    A kind nothing has measured runs at the run's rate, which is what the static ETA (elapsed / share done x
    share left) assumed for every kind; with one kind and prior_share 0 this *is* the static ETA. With
    run_prior_share > 0 (a prior in this machine's seconds: RUN_PRIOR_SHARE) the run's rate is itself blended with
    the prior's rate 1 by run_prior_share of the phase's predicted work, so that the leaves' rate, which is the
    template's as much as the machine's, is carried to the spike nodes in proportion to how much has run (eta10). `clock` is a
    function returning seconds (time.perf_counter; a fake one in tests, CPU seconds in bench_crab_eta).

    `families` (kind -> family) groups kinds that are the same work on different parts (a leaf's FFT search and a
    spike node's): a kind nothing has measured takes its family's measured rate, blended with the run's by the
    kind's prior weight, instead of the run's alone (eta11: the leaves' descents, whose rate is the template's,
    no longer set the spike nodes' searches; then the run prior is no longer needed, RUN_PRIOR_SHARE 0).

    Work that may stop early (a descent whose items stop at a rate the scene sets) is a segment (kind, seconds of
    its most work, yield): the share of that work expected to run. Its reports say how much of it was skipped
    (advance's `skipped`): skipped work takes no time, so the kind's rate stays per second of work run; the rest
    of a segment not started is its yield of its most work, of one part-run what its running items can still do
    (RUN_ON_SHARE) (eta9).

    A segment may also say the least share it can run, its floor (kind, seconds, yield, floor): every item stopped
    at its first step. Once a part's descents have run at their floor (a spike node whose maps held nothing to
    descend), the parts after it that have not started their descents are expected at theirs: what this run
    observed of its scene, trusted over the prior yield until a descent says otherwise (eta10: the crab-free
    scenes whose eye pair stops at once and whose crab's maps hold faint false-claw bumps)."""

    def __init__(self, parts: dict[str, list[tuple]], clock=time.perf_counter,
                 prior_share: float = PRIOR_SHARE, by_segment: bool = True, run_prior_share: float = 0.0,
                 floor_told_ahead: bool = True, families: dict[str, str] | None = None,
                 runs_on_yield: float | None = RUNS_ON_YIELD):
        # a segment is (kind, predicted seconds) or (kind, predicted seconds of its most work, expected yield): only
        # the latter's skipped work is told apart (a record of measured seconds already holds its run's early stops)
        self.yields = {name: [float(seg[2]) if len(seg) > 2 else None for seg in segs] for name, segs in parts.items()}
        self.floors = {name: [float(seg[3]) if len(seg) > 3 else None for seg in segs] for name, segs in parts.items()}
        self.at_once = False  # the last part with floors ran every one of its descents at its floor
        self.runs_on: set[str] = set()  # parts told not to expect the floor of those before them (expect(None))
        self.parts = {name: [(seg[0], max(float(seg[1]), 0.0)) for seg in segs] for name, segs in parts.items()}
        self.clock, self.prior_share, self.by_segment = clock, prior_share, by_segment
        self.run_prior_share = run_prior_share
        self.floor_told_ahead = floor_told_ahead  # a part told it will run at its floor sets at_once (eta11)
        self.families = families or {}  # kind -> family: kinds that are the same work on other parts (eta11)
        self.runs_on_yield = runs_on_yield  # a part told it runs on after floors (RUNS_ON_YIELD; None: the prior)
        self.kind_total: dict[str, float] = {}
        for segs in self.parts.values():
            for kind, sec in segs:
                self.kind_total[kind] = self.kind_total.get(kind, 0.0) + sec
        self.measured = dict.fromkeys(self.kind_total, 0.0)
        self.predicted = dict.fromkeys(self.kind_total, 0.0)  # predicted seconds of the work done, by kind
        self.finished: set[str] = set()
        self.running: str | None = None
        self.done = 0.0  # predicted seconds of the running part done
        self.seg_measured: list[float] = []  # the running part's segments: measured, predicted seconds done
        self.seg_predicted: list[float] = []
        self.seg_skipped: list[float] = []
        self.skipped = 0.0
        self.t0 = self.last = None
        # a part's lead: the time from its start to its last report of no work before its first work (building its
        # scene, blurring it, the scene's FFTs: set-up that no segment predicts). Charged to no kind: charged to the
        # first chunk, the leaves' 6-10 s set-up on a 4000x4000 photo made the first ETA 46 min where 6.7 min were
        # left (newuser6). Each part not started is expected to need the mean lead measured so far.
        self.in_lead = False
        self.lead_seconds, self.lead_parts = 0.0, 0

    def start(self, part: str) -> None:
        """`part` starts now (the one running before it has ended)."""
        now = self.clock()
        if self.t0 is None:
            self.t0 = self.last = now
        if self.running is not None:
            self._close(now)
        self.running, self.done, self.last = (part if part in self.parts else None), 0.0, now
        n = len(self.parts[part]) if self.running is not None else 0
        self.seg_measured, self.seg_predicted, self.seg_skipped = [0.0] * n, [0.0] * n, [0.0] * n
        self.skipped = 0.0  # predicted seconds of the running part skipped
        self.in_lead = self.running is not None

    def advance(self, fraction: float, skipped: float = 0.0) -> None:
        """The running part has done `fraction` of its predicted work, of which `skipped` (a share of the part's
        predicted work, counted since the part started) will not run: a descent whose items stopped early."""
        if self.running is not None:
            total = sum(sec for _, sec in self.parts[self.running])
            self._advance(min(max(fraction, 0.0), 1.0) * total, self.clock(), min(max(skipped, 0.0), 1.0) * total)

    def expect(self, share: float | None, part: str | None = None) -> None:
        """`part`'s work that may stop early (its segments with a yield) is now expected to run `share` of its most
        work (a spike node whose maps are empty: its items stop at once); `part` None: the running one. Said of a
        part not started yet as soon as its maps are known (its children's ended: eta11). A part expected at its
        floor makes the parts after it expected at theirs, as one that ran at its floor does (`at_once`). `share`
        None: the part is not expected at a floor the parts before it ran (one of its children found a part: a
        crab-free scene's false claw, on which the crab's items run on; eta11)."""
        part = self.running if part is None else part
        if part is None or part not in self.parts or part in self.finished:
            return
        if share is None:
            self.runs_on.add(part)
            return
        self.yields[part] = [None if y is None else float(share) for y in self.yields[part]]
        floors = [f for f in self.floors[part] if f is not None]
        if self.floor_told_ahead and floors and all(share <= f * (1 + 1e-6) for f in floors):
            self.at_once = True

    def finish(self) -> None:
        if self.running is not None:
            self._close(self.clock())
            self.running = None

    def _close(self, now: float) -> None:
        """The running part has ended at `now`. The time since its last report is part of its cost too (a
        detection node builds its occurrence map and screens its strides after its registrar's last report, and
        the next node builds its scene before it starts): charged to the part's segments by their predicted
        seconds, so every kind's rate carries the share of such work that parts of its kind need."""
        self._advance(math.inf, now)
        spent, segs = now - self.last, self.parts[self.running]
        total = sum(sec for _, sec in segs)
        if spent > 0 and total > 0:
            for i, (kind, sec) in enumerate(segs):
                self.measured[kind] += spent * sec / total
                self.seg_measured[i] += spent * sec / total
        self.last = now
        self.finished.add(self.running)
        floored = [(i, f) for i, f in enumerate(self.floors[self.running]) if f is not None]
        if floored:  # what the next descents are expected to run: their floor if these ran at theirs
            self.at_once = all(self.seg_predicted[i] <= f * segs[i][1] * (1 + 1e-6) for i, f in floored)

    def _advance(self, upto: float, now: float, skipped: float | None = None) -> None:
        segs = self.parts[self.running]
        upto = min(upto, sum(sec for _, sec in segs))
        if upto <= self.done:
            if self.in_lead and upto <= 0.0 and math.isfinite(now - self.last):
                self.lead_seconds += now - self.last  # set-up before the part's first work (lead)
                self.last = now
            return  # no new work: the time waits for the next report that says what it was spent on
        if self.in_lead:
            self.in_lead, self.lead_parts = False, self.lead_parts + 1
        spent, start, covered = now - self.last, 0.0, []
        for i, (kind, sec) in enumerate(segs):
            a, b = max(start, self.done), min(start + sec, upto)
            if b > a:
                covered.append((i, kind, b - a))
            start += sec
        span = sum(c for _, _, c in covered)
        # the work skipped since the last report is done without time: the time is charged to the work that ran
        # (by its share of each covered segment that has a yield), so a kind's rate stays seconds per predicted
        # second *run*
        yielding = sum(c for i, _, c in covered if self.yields[self.running][i] is not None)
        skip = 0.0 if skipped is None else min(max(skipped - self.skipped, 0.0), yielding)
        for i, kind, c in covered:
            c_ran = c - (skip * c / yielding if self.yields[self.running][i] is not None else 0.0)
            self.predicted[kind] += c_ran
            self.measured[kind] += spent * c / span
            self.seg_predicted[i] += c_ran
            self.seg_measured[i] += spent * c / span
            self.seg_skipped[i] += c - c_ran
        self.skipped += skip
        self.done, self.last = upto, now

    def rates(self) -> dict[str, float] | None:
        """Measured seconds per predicted second, by kind; None before anything was measured."""
        pred = sum(self.predicted.values())
        if pred <= 0:
            return None
        # the run's rate, what a kind not seen yet takes: its measured rate blended with the prior's 1 by
        # RUN_PRIOR_SHARE of the phase's predicted work
        w = self.run_prior_share * sum(self.kind_total.values())
        run = (sum(self.measured.values()) + w) / (pred + w)
        fam_m, fam_p = {}, {}  # by family: measured, predicted seconds of the work done
        for kind, fam in self.families.items():
            if kind in self.measured:
                fam_m[fam] = fam_m.get(fam, 0.0) + self.measured[kind]
                fam_p[fam] = fam_p.get(fam, 0.0) + self.predicted[kind]
        out = {}
        for kind, total in self.kind_total.items():
            w = self.prior_share * total
            base = run  # what the kind takes before its own work has run: its family's rate, else the run's
            fam = self.families.get(kind)
            if fam is not None and fam_p.get(fam, 0.0) > 0:
                base = (fam_m[fam] + w * run) / (fam_p[fam] + w)
            out[kind] = (self.measured[kind] + w * base) / (self.predicted[kind] + w) if self.predicted[kind] + w > 0 \
                else base
        return out

    def remaining(self) -> float | None:
        """Seconds left (None: nothing measured yet): the work left, and the lead of each part not started (and
        of the running one while in its lead) at the mean lead measured so far."""
        left = self.remaining_by_segment()
        return None if left is None else sum(left.values()) + self.lead_left()

    def lead_left(self) -> float:
        """Seconds of set-up (lead) still ahead: the mean measured lead for every part not started, and what is
        left of it for the running part while it has not reported work yet."""
        if not self.lead_parts:
            return 0.0
        mean = self.lead_seconds / self.lead_parts
        ahead = sum(1 for name in self.parts if name not in self.finished and name != self.running)
        now = max(mean - (self.clock() - self.last), 0.0) if self.in_lead else 0.0
        return mean * ahead + now

    def remaining_by_segment(self) -> dict[tuple[str, int], float] | None:
        """Seconds left per (part, segment index) of the parts not finished (None: nothing measured yet); the time
        since the last report is taken off the running part's first segments left (bench_crab_eta's --blame
        reads which segment's prediction an ETA's error comes from)."""
        rates = self.rates()
        if rates is None:
            return None
        out = {}
        for name, segs in self.parts.items():
            if name in self.finished:
                continue
            start = 0.0
            running = name == self.running
            done = self.done if running else 0.0
            for i, (kind, sec) in enumerate(segs):
                rate, share = rates[kind], self.yields[name][i]
                share = 1.0 if share is None else share
                if self.at_once and self.floors[name][i] is not None:
                    # after floors: a part nothing was found for stops at its floor too; one whose child found a
                    # part (a false claw) runs on, longer than the prior yield says (RUNS_ON_YIELD)
                    if name not in self.runs_on:
                        share = min(share, self.floors[name][i])
                    elif self.runs_on_yield is not None:
                        share = max(share, self.runs_on_yield)
                if running and self.by_segment and self.seg_predicted[i] > 0:
                    # a segment part-done: the rest of the same work runs as its start did, blended like a kind
                    w = self.prior_share * sec
                    rate = (self.seg_measured[i] + w * rate) / (self.seg_predicted[i] + w)
                most = max(start + sec - max(start, done), 0.0)  # the segment's most work left
                if running and self.yields[name][i] is not None and self.seg_predicted[i] + self.seg_skipped[i] > 0:
                    # a descent part-run. Its items stop in their first iterations or run on: once a tenth of its
                    # most work is behind it (3 of a spike descent's 32 iterations) the items still running are
                    # taken to run on, and the rest is their most work; before that, what the yield leaves of the
                    # work expected once the work run is counted, at most their most work. (The share run so far,
                    # 1 before the first stop, says little of the rest: blending it in as rates are gave 65 / 46%
                    # of the 1% grid within 20% on the tuning traces at full / half size, this rule 66 / 49%.)
                    covered = self.seg_predicted[i] + self.seg_skipped[i]
                    left_work = most if covered >= RUN_ON_SHARE * sec else \
                        min(most, max(share * sec - self.seg_predicted[i], share * most))
                else:
                    left_work = share * most
                out[name, i] = rate * left_work
                start += sec
            if name == self.running and not self.in_lead:  # time since the last report was spent on what is left
                since = self.clock() - self.last
                for i in range(len(segs)):
                    took = min(since, out[name, i])
                    out[name, i] -= took
                    since -= took
        return out

    def fraction(self) -> float:
        """The share of the phase's time done: elapsed / (elapsed + remaining); by the predicted work while
        nothing has been measured."""
        left = self.remaining()
        elapsed = 0.0 if self.t0 is None else self.clock() - self.t0
        if left is not None and elapsed + left > 0:
            return elapsed / (elapsed + left)
        total = sum(sec for segs in self.parts.values() for _, sec in segs)
        done = sum(sec for name in self.finished for _, sec in self.parts[name]) + self.done
        return done / total if total > 0 else 0.0


class Reporter:
    """Prints the run's lines to `stream` and appends them to `log_path` (regrun.log).

    `progress=False` keeps the phase lines and drops progress bars/lines; `interactive` (default: whether
    `tty` is a terminal) picks tqdm bars over plain lines; `every` is the plain lines' interval in seconds.
    `prefix` starts every console line (not the log's) and makes each phase's start a line of its own: parallel
    jobs of a sweep share one console, where a phase's "... done" waiting on its line took the next job's line
    (newuser7, newuser8); a prefix also means plain progress lines, not tqdm bars."""

    def __init__(self, log_path: Path | None = None, stream: IO | None = None, progress: bool = True,
                 interactive: bool | None = None, every: float = 10.0, tty: IO | None = None,
                 name: str = "regrun", prefix: str = ""):
        self.stream = stream if stream is not None else sys.stdout
        self.tty = tty if tty is not None else sys.stderr
        self.err = sys.stderr  # the real one, so a line printed while capture() is on is logged once
        self.progress = progress
        self.prefix = prefix
        self.interactive = progress and not prefix and (_isatty(self.tty) if interactive is None else interactive)
        self.every = every
        self.name = name  # the prefix of phase lines: the command that speaks
        self.log = open(log_path, "a", buffering=1) if log_path is not None else None
        self.phases: list[str] = []
        self.open_line: str | None = None
        self.timings: list[tuple[str, float]] = []  # (phase label, seconds), for the run's summary
        # (phase label, CPU seconds of this process, all its threads): on a loaded machine wall time says little of
        # the work (ux5: the report set a run's solve wall time beside a peer's CPU time)
        self.cpu_timings: list[tuple[str, float]] = []
        self.t0 = time.perf_counter()

    @classmethod
    def silent(cls) -> "Reporter":
        return cls(stream=_Null(), progress=False)

    def _print(self, text: str = "", end: str = "\n", err: bool = False) -> None:
        """To the console; once its reader has left (`regrun ... | head -3`, a pager quit) the run goes on and
        says the rest to regrun.log only: a BrokenPipeError had ended the run `failed` (userpass)."""
        stream = self.err if err else self.stream
        try:
            # text and end in one write: print writes them apart, and a parallel job's line landed in between
            print(f"{self.prefix}{text}{end}" if self.prefix and text else f"{text}{end}", end="", file=stream,
                  flush=True)
        except BrokenPipeError:
            _reader_left(stream)
            if err:
                self.err = _Null()
            else:
                self.stream = _Null()

    def line(self, text: str, console: bool = True, err: bool = False) -> None:
        if console:
            self.end_open_line()
            self._print(text, err=err)
        if self.log is not None and not self.log.closed:
            self.log.write(f"{time.strftime('%H:%M:%S')} {text}\n")

    def end_open_line(self) -> None:
        """A phase's start line waits for its end (`regrun: data ... done in 0.1 s`); anything else printed in
        between ends it first."""
        if self.open_line is not None:
            self._print()
            self.open_line = None

    @contextlib.contextmanager
    def phase(self, name: str, total: int | None = None, every: float | None = None,
              upto: bool = False) -> Iterator[Progress | None]:
        """One step of the run: a line when it starts and one with its time when it ends. With a total, yields
        a Progress to `update()` (plain lines at most every `every` seconds, default the reporter's; `upto`: the
        total is a cap, the work may end before it); otherwise None."""
        label = " > ".join([*self.phases, name])
        self.end_open_line()
        if self.prefix:
            self.line(f"{self.name}: {label} ...")
        else:
            self._print(f"{self.name}: {label} ...", end="")
            self.line(f"{self.name}: {label} ...", console=False)
            self.open_line = label
        self.phases.append(name)
        t0, cpu0 = time.perf_counter(), time.process_time()
        progress = self.progress_bar(total, name, every, upto) if total is not None else None
        ok = False
        try:
            yield progress
            ok = True
        finally:
            if progress is not None:
                progress.close()
            self.phases.pop()
            self.timings.append((label, time.perf_counter() - t0))
            self.cpu_timings.append((label, time.process_time() - cpu0))
            took = _duration(self.timings[-1][1])
            end = f"done in {took}" if ok else f"stopped after {took}"
            if self.open_line == label:
                self._print(f" {end}")
                self.open_line = None
                self.line(f"{self.name}: {label} {end}", console=False)
            else:
                self.line(f"{self.name}: {label} {end}")

    def progress_bar(self, total: int | None, desc: str, every: float | None = None,
                     upto: bool = False) -> Progress | None:
        if not self.progress:
            return None
        return Progress(self, total, desc, self.every if every is None else every, upto)

    @contextlib.contextmanager
    def capture(self) -> Iterator[None]:
        """While inside: whatever is printed (a solver's table, a library's warning) also goes to the log."""
        if self.log is None:
            yield
            return
        old = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(old[0], self), _Tee(old[1], self)
        try:
            yield
        finally:
            for tee in (sys.stdout, sys.stderr):
                if isinstance(tee, _Tee):
                    tee.flush_partial()
            sys.stdout, sys.stderr = old

    def close(self) -> None:
        if self.log is not None:
            self.log.close()


class _Tee:
    """A stream that writes through to `inner` and copies whole lines into the reporter's log."""

    def __init__(self, inner, reporter: Reporter):
        self.inner, self.reporter, self.pending = inner, reporter, ""

    def write(self, text: str) -> int:
        if text:
            self.reporter.end_open_line()
        try:
            self.inner.write(text)
        except BrokenPipeError:  # a library's print after the console's reader left: the log still gets it
            _reader_left(self.inner)
            self.inner = _Null()
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            if "\r" not in line:  # a carriage-return frame of somebody's progress bar is not worth keeping
                self.reporter.line(line, console=False)
        return len(text)

    def flush_partial(self) -> None:
        if self.pending.strip() and "\r" not in self.pending:
            self.reporter.line(self.pending, console=False)
        self.pending = ""

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return _isatty(self.inner)

    def __getattr__(self, name):
        return getattr(self.inner, name)


class _Null:
    def write(self, text):
        return len(text)

    def flush(self):
        pass


class PipeSafe:
    """A console stream that outlives its reader: a sweep's own lines (and Hydra's log lines through it) after
    `regrun -m ... | head -1` had the joblib sweep's process end in a BrokenPipeError traceback once its jobs were
    done, without the summary (userpass). The rest goes to /dev/null; each job's regrun.log has its lines."""

    def __init__(self, inner):
        self.inner = inner

    def write(self, text: str) -> int:
        try:
            return self.inner.write(text)
        except BrokenPipeError:
            _reader_left(self.inner)
            return len(text)

    def flush(self) -> None:
        try:
            self.inner.flush()
        except BrokenPipeError:
            _reader_left(self.inner)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def _reader_left(stream) -> None:
    """Point the stream's file descriptor at /dev/null, so that what is still buffered in it, and Python's flush
    at exit, do not raise BrokenPipeError again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class ProgressBar(Callback):
    """The solver's iterations as progress inside the current phase, with the latest values of a few columns."""

    def __init__(self, show: tuple[str, ...] = ("J", "grad_norm"), enabled: bool = True,
                 reporter: Reporter | None = None):
        self.show = show
        self.reporter = reporter if reporter is not None else Reporter(progress=enabled)
        self.enabled = enabled
        self.bar: Progress | None = None

    def start(self, total, desc, upto=False):
        if not self.enabled:
            return
        self.close()
        self.bar = self.reporter.progress_bar(total, desc, upto=upto)

    def step(self, row):
        if self.bar is not None:
            self.bar.update(1, **{k: float(row[k]) for k in self.show if k in row})
        return False

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class DivergenceGuard(Callback):
    """Raises Diverged as soon as a recorded value is NaN or infinite."""

    def __init__(self, watch: tuple[str, ...] = ("J", "grad_norm", "loss", "residual")):
        self.watch = watch

    def step(self, row):
        for key in self.watch:
            if key in row and not math.isfinite(float(row[key])):
                raise Diverged(f"{key} became {row[key]} at iteration {row.get('iter', '?')}")
        return False


class TimeLimit(Callback):
    """Asks the solver to stop once `seconds` have passed (0 disables it)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.t0 = time.perf_counter()
        self.fired = False  # whether it asked: the run then names the limit as the solve's stop (a failure)

    def expired(self) -> bool:
        """Whether the limit has passed (and so asks the solver to stop); also read by searches that run outside
        the solver's iterations (RunContext.out_of_time: the weight search)."""
        self.fired = self.fired or (self.seconds > 0 and time.perf_counter() - self.t0 > self.seconds)
        return self.fired

    def step(self, row):
        return self.expired()


class CtrlC(Callback):
    """Ctrl-C (and SIGTERM, Slurm's warning signal) that cannot be lost. Python raises the handler's exception
    wherever the main thread happens to be, and where that is a finaliser or a garbage-collection callback the
    exception is printed and dropped, so the run went on and ended `completed` (newuser5: 2 of 13 interrupts; a
    SIGTERM in a weakref callback kept a run going, newuser19). The handler also keeps what it raised, and the
    solver's next step, the weight searches' time checks and the run's phases raise it again."""

    def __init__(self):
        self.caught = False
        self._make = None

    def handler(self, signum, frame):
        self.stop(lambda: KeyboardInterrupt("interrupted by Ctrl-C"))

    def stop(self, make) -> None:
        """Raise make()'s exception now, and again at every check until the run has stopped."""
        self.caught, self._make = True, make
        raise make()

    def check(self) -> None:
        if self.caught:
            raise self._make()

    def step(self, row):
        self.check()
        return False


class Monitor:
    def __init__(self, callbacks: list[Callback] | None = None):
        self.history = HistoryRecorder()
        self.callbacks = [self.history, *(callbacks or [])]
        self.t0 = time.perf_counter()
        self.started: tuple | None = None  # the last start's (total, desc, upto), for next_run
        self.runs = 1

    def start(self, total: int | None = None, desc: str = "", upto: bool = False) -> None:
        """upto: `total` is a cap (iterations stop early once converged; the ETA is then an upper bound)."""
        self.started, self.runs = (total, desc, upto), 1
        for cb in self.callbacks:
            cb.start(total, desc, upto=upto)

    def next_run(self) -> None:
        """A further run of the solver (RunRows: edge rounds, a re-chosen weight, a second start): its progress
        counted afresh under the solver's cap and named by its number. Counted on, the steps of every run read
        `varpro_cg, then past its cap of 10: 33` for minutes, as if the solver ignored its cap (newuser9)."""
        self.runs += 1
        if self.started is None:
            return
        total, desc, upto = self.started
        for cb in self.callbacks:
            if isinstance(cb, ProgressBar):
                cb.start(total, f"{desc}, run {self.runs}", upto=upto)

    def step(self, **row) -> bool:
        row.setdefault("time", time.perf_counter() - self.t0)
        stop = False
        for cb in self.callbacks:
            stop = cb.step(row) or stop
        return stop

    def close(self) -> None:
        for cb in self.callbacks:
            cb.close()


class RunRows:
    """A monitor for one of several solver runs in turn (edge rounds, weight re-choices): iterations numbered on
    from the previous runs', each row tagged (e.g. edge_round=1, lambda_f=0.2); start() is a no-op because the
    solver started the monitor once, before the first run. A run after the first (first_iter > 0) starts the
    progress afresh at its first row (Monitor.next_run)."""

    def __init__(self, monitor, first_iter: int, **tags: float):
        self.monitor, self.first_iter, self.tags = monitor, first_iter, tags
        self.next_iter = first_iter

    def start(self, *args, **kwargs) -> None:
        pass

    def next_run(self) -> None:
        self.monitor.next_run()

    def step(self, **row) -> bool:
        if self.next_iter == self.first_iter > 0:
            self.next_run()
        row["iter"] = row.get("iter", 0) + self.first_iter
        self.next_iter = int(row["iter"]) + 1
        return self.monitor.step(**self.tags, **row)

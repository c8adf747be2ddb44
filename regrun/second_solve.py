"""The run's second look at its first answer: the problem's solve_again, the second solve it asks for and keep_first.

One sequence for the regrun command (run.py) and the benches that report what it answers (scripts/bench_lambda_sr.py's
`auto`): the bench left out the gains' second solve and recorded a first answer 17 px off where the command's was
0.44 px (docs/superres.md, "srperiod" and "srbenchuser")."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Answer:
    """One solve of one problem: what run.py records of it."""
    problem: Any
    solver: Any
    result: Any
    metrics: dict[str, float]
    arrays: dict = field(default_factory=dict)


@dataclass
class SecondLook:
    answer: Answer  # the answer kept: the second where it stands, else the first
    first: Answer
    changes: dict | None = None  # solve_again's config changes; None where the first answer stood unasked
    record: dict[str, float] = field(default_factory=dict)  # keep_first's metrics of the decision


def answer_metrics(metrics: dict, result) -> dict[str, float]:
    """The run's metrics of an answer: the problem's evaluation and the solver's own, as floats."""
    return {k: float(v) for k, v in {**metrics, **result.metrics}.items()}


def second_look(first: Answer, solve_changed: Callable[[dict], Answer], say: Callable[[str], None],
                before_second: Callable[[Answer], None] | None = None) -> SecondLook:
    """The answer a run keeps: `first`, or the problem solved again under solve_again's changes (`solve_changed`
    builds and solves that problem from the start) unless keep_first keeps the first. `say` gets the log lines;
    `before_second` sees the first answer before the second solve (run.py writes it, kept if the second is
    stopped). The kept answer's metrics carry the decision's (first_solve_*, motion_model_*, solved_again)."""
    problem, metrics = first.problem, first.metrics
    again = problem.solve_again(metrics, first.result, first.solver)
    if again is None:
        return SecondLook(first, first)
    changes, why = again
    say(f"regrun: {why}")
    prefixed = {f"first_solve_{k}": v for k, v in metrics.items() if k.startswith("exposure_") or k == "psnr"}
    # the decision's own metrics (problem.motion_model=auto's choice) describe the answer kept: unprefixed
    prefixed.update({k: v for k, v in metrics.items() if k.startswith("motion_model_")})
    if before_second is not None:
        before_second(first)
    second = solve_changed(changes)
    record, kept = problem.keep_first(metrics, second.metrics)
    if kept is not None:  # the second answer is worse by the first's own measure: the first stands, as it was
        say(f"regrun: {kept}")
        metrics.update(record, solved_again=1.0)
        first.result.message = f"{first.result.message}; {why}; {kept}"
        return SecondLook(first, first, changes, record)
    second.metrics.update(prefixed, **record, solved_again=1.0)
    second.result.message = f"{second.result.message}; {why}"
    if "motion_model" not in changes:  # the exposure check's solve with gains: the motion model chosen on it
        third = model_look(second, lambda more: solve_changed({**changes, **more}), say, prefixed, why)
        if third is not None:
            return SecondLook(third, first, changes, record)
    return SecondLook(second, first, changes, record)


def model_look(second: Answer, solve_changed: Callable[[dict], Answer], say: Callable[[str], None],
               prefixed: dict[str, float], why_gains: str) -> Answer | None:
    """After the exposure check's solve with gains stood: its own second look, where only problem.motion_model=auto
    can ask (gains solved, no exposure check): the smaller model solved again with gains, unless keep_first keeps
    the affine answer. The answer that stands then, None where the affine one does (prefixed: the first answer's
    record; why_gains: why gains were solved). Without it the exposure check's solve kept the affine model whatever
    the frames said: hubble15 s8606 (20^2, 2%) 2.2 px off with gains, 0.32 px with the rigid model the gain-free
    answer chose; held out +2.72 dB summed over 9 sets (docs/superres.md, "srgainmean2")."""
    problem, metrics = second.problem, second.metrics
    again = problem.solve_again(metrics, second.result, second.solver)
    if again is None:
        return None
    changes, why = again
    say(f"regrun: {why}")
    third = solve_changed(changes)
    record, kept = problem.keep_first(metrics, third.metrics)
    if kept is not None:
        say(f"regrun: {kept}")
        metrics.update(record)
        second.result.message = f"{second.result.message}; {why}; {kept}"
        return None
    chosen = {k: v for k, v in metrics.items() if k.startswith("motion_model_")}
    third.metrics.update(prefixed, **chosen, **record, solved_again=1.0)
    third.result.message = f"{third.result.message}; {why_gains}; {why}"
    return third

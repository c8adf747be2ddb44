"""scripts/bench_lambda_sr.py scores a typed weight at the answer the regrun command keeps (srfixed): its grid ran the
first (affine) solve alone while `auto` and the command went on to the run's second look (the motion model chosen from
the frames, the chosen model solved again), so the grid read camera s9484 at 0.2 as 22.90 dB where the command gives
29.30, and "regrun's own best lambda_f" was too low on every set whose model auto chose smaller."""
from types import SimpleNamespace

import torch
from script_module import load_script


class Problem:
    """A stand-in for SuperRes as second_look uses it: `asks` the changes solve_again asks for (None: the first
    answer stands), with_changes the problem they make."""

    def __init__(self, asks=None, changes=None):
        self.asks, self.changes = asks, changes or {}

    def solve_again(self, metrics, result=None, solver=None):
        if self.asks is None:
            return None
        metrics["motion_model_chosen"] = 0.0
        return self.asks, f"asked {self.asks}"

    def keep_first(self, before, after):
        return {}, None

    def with_changes(self, changes):
        return Problem(changes=changes)


def solver_on(device):
    """solve(p, patch) -> (result, metrics, CPU-s, evaluation CPU-s) as run_set's: the affine answer misregistered,
    the translation model's right (the numbers of camera s9484 at 0.2), computed on the run's device."""
    solved = []

    def solve(p, patch=True):
        solved.append((dict(p.changes), patch))
        good = p.changes.get("motion_model") == "translation"
        err = torch.tensor(0.029 if good else 0.342, dtype=torch.float64, device=device)
        psnr = torch.tensor(29.30 if good else 22.90, dtype=torch.float64, device=device)
        return (SimpleNamespace(message="done", metrics={}),
                {"psnr": float(psnr), "motion_error": float(err), "frames_check_ratio": 0.2}, 1.0, 0.5)

    return solve, solved


def test_a_typed_weight_is_scored_at_the_answer_the_command_keeps(device):
    bench = load_script("bench_lambda_sr")
    solve, solved = solver_on(device)
    point = bench.grid_point(*bench.user_answer(Problem(asks={"motion_model": "translation"}), None, solve,
                                                lambda line: None))
    # the first solve at the stored pre-registration, the chosen model's from its own (patch=False), as `auto`'s
    assert solved == [({}, True), ({"motion_model": "translation"}, False)]
    assert point["psnr"] == 29.30 and point["motion_error"] == 0.029 and point["solved_again"] == 1.0
    assert point["first_psnr"] == 22.90 and point["first_motion_error"] == 0.342
    assert point["motion_model_chosen"] == 0.0


def test_a_first_answer_that_stands_is_the_point(device):
    bench = load_script("bench_lambda_sr")
    solve, solved = solver_on(device)
    point = bench.grid_point(*bench.user_answer(Problem(), None, solve, lambda line: None))
    assert solved == [({}, True)]
    assert point["psnr"] == point["first_psnr"] == 22.90 and point["solved_again"] == 0.0
    assert 1.0 <= point["cpu_s"] < 1.5  # the solve's, and the second look's own (no second solve here)

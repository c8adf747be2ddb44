"""The exposure check's solve with gains gets the motion model's choice too (second_solve.model_look; srgainmean2):
before, a run whose exposure varied kept the affine model whatever problem.motion_model=auto would have chosen."""
from types import SimpleNamespace

from regrun.second_solve import Answer, second_look


class Problem:
    """solve_again and keep_first as SuperRes has them, scripted: `asks` the changes (or None), `keeps` the line."""

    def __init__(self, asks=None, keeps=None):
        self.asks, self.keeps = asks, keeps

    def solve_again(self, metrics, result=None, solver=None):
        if self.asks is None:
            return None
        if "motion_model" in self.asks:
            metrics["motion_model_chosen"] = 1.0
        return self.asks, f"asked {self.asks}"

    def keep_first(self, before, after):
        return ({"motion_model_check_rise": 3.0}, self.keeps) if self.keeps else ({}, None)


def answer(problem, psnr):
    return Answer(problem, None, SimpleNamespace(message="done"), {"psnr": psnr, "exposure_std": 0.01})


def run(keeps=None):
    solved = []
    problems = {(("gain", True),): Problem(asks={"motion_model": "rigid"}, keeps=keeps),
                (("gain", True), ("motion_model", "rigid")): Problem()}

    def solve_changed(changes):
        solved.append(changes)
        return answer(problems[tuple(sorted(changes.items()))], 30.0 + len(solved))

    lines = []
    look = second_look(answer(Problem(asks={"gain": True}), 29.0), solve_changed, lines.append)
    return look, solved, lines


def test_the_solve_with_gains_is_solved_again_with_the_model_it_chooses():
    look, solved, lines = run()
    assert solved == [{"gain": True}, {"gain": True, "motion_model": "rigid"}]
    m = look.answer.metrics
    # the kept answer is the third; it carries the first answer's record and the choice made on the second
    assert m["psnr"] == 32.0 and m["first_solve_psnr"] == 29.0 and m["motion_model_chosen"] == 1.0
    assert m["solved_again"] == 1.0 and look.changes == {"gain": True}
    assert len(lines) == 2 and look.answer.result.message == "done; asked {'gain': True}; asked {'motion_model': 'rigid'}"


def test_keep_first_keeps_the_affine_answer_with_gains():
    look, solved, lines = run(keeps="the affine answer kept")
    assert len(solved) == 2 and look.answer.metrics["psnr"] == 31.0
    assert look.answer.metrics["motion_model_check_rise"] == 3.0
    assert lines[-1] == "regrun: the affine answer kept" and "the affine answer kept" in look.answer.result.message

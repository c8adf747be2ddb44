"""choose_threshold when a parent's failures are all inf (the root's one-child strides: detector.border_losses)."""
import math

import torch

from regrun.detection.calibration import DECAY, choose_threshold


def test_a_parent_with_no_finite_failure_takes_its_weakest_child_absent_as_the_best_failure():
    inf = torch.full((5,), math.inf, dtype=torch.float64)[torch.zeros(5, dtype=torch.bool)]  # no finite failure
    r = choose_threshold([1e-6, 5e-6], inf, absent=8e-3)
    assert r["separable"] and r["failure_min"] == 8e-3
    assert math.isclose(r["gamma"], 0.5 * (5e-6 + 8e-3)) and math.isclose(r["alpha"], DECAY / (8e-3 - r["gamma"]))
    # a finite failure below it still rules; a leaf (absent inf) keeps the old fallback 2 s_max
    assert choose_threshold([1e-6], torch.tensor([4e-3], dtype=torch.float64), absent=8e-3)["failure_min"] == 4e-3
    assert math.isclose(choose_threshold([5e-6], inf)["gamma"], 1e-5)

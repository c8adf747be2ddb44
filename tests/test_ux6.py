"""Sixth new-user pass (ux6): each problem a newcomer met with their own data, as a test that failed before its fix
(docs/sweeps.md, "Sixth new-user pass")."""
from __future__ import annotations

import pytest

from regrun.config import config_section
from regrun.errors import UserError


@pytest.mark.parametrize("kind", ["leaf", "spike"])
def test_an_angle_range_past_the_whole_circle_is_named_with_its_limit(kind):
    # solver.leaf.angle_max=400 was taken, then refused as "calibrated with angle_max=180.0, this run uses 400.0:
    # recalibrate", sending the user to a calibration that cannot help
    from regrun.solvers.hierarchical import node_settings

    cfg = config_section("solver", "hierarchical")
    cfg[kind].angle_max = 400.0
    with pytest.raises(UserError, match=rf"solver.{kind}.angle_max=400 .* must be <= 180"):
        node_settings(cfg[kind], 2, kind)
    cfg[kind].angle_max = 180.0
    assert node_settings(cfg[kind], 2, kind).angle_max == 180.0

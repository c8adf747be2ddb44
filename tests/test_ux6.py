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


def test_a_path_refused_for_its_overlap_is_said_so_with_its_correlation():
    # a held-out pair's message read "second path (ncc) not kept (correlation -inf against 0.66224)": the -inf was
    # the overlap rule's mark, not a correlation
    from types import SimpleNamespace

    from regrun.solvers.multilevel import Multilevel

    class Pair:
        def with_distance(self, distance):
            return self

        def overlap_correlation(self, w):
            return {1: 0.66224, 2: 0.91}[w]

        def overlap_admitted(self, w):
            return w == 1

    solver = Multilevel.__new__(Multilevel)
    solver._pyramid = lambda *args, **kwargs: (2, SimpleNamespace(J=0.5), None, None, None)
    w, _, stats, message = solver._second_path(Pair(), "ncc", 1, SimpleNamespace(J=1.0), None, None)
    assert w == 1 and stats["second_path_correlation"] == 0.91
    assert message == (", second path (ncc) not kept (correlation 0.91, overlap under half the permitted "
                       "against 0.66224)")

"""Built-in solvers; importing a module registers it."""
from . import (  # noqa: F401  # noqa: F401
    ad_cost,
    bilevel,
    continuation,
    covering_vs_optimization,  # noqa: F401
    fbp,  # noqa: F401
    fista_tv,
    grid_search,
    hierarchical,  # noqa: F401
    joint_gn,  # noqa: F401
    motif_study,  # noqa: F401
    multilevel,  # noqa: F401
    predictor_study,
    single_scale,  # noqa: F401
    two_stage,  # noqa: F401
    varpro_cg,  # noqa: F401
)

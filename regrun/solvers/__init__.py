"""Built-in solvers; importing a module registers it."""
from . import single_scale  # noqa: F401
from . import varpro_cg  # noqa: F401
from . import two_stage  # noqa: F401
from . import joint_gn  # noqa: F401
from . import ad_cost, continuation, predictor_study  # noqa: F401
from . import multilevel  # noqa: F401
from . import fbp  # noqa: F401
from . import hierarchical  # noqa: F401
from . import fista_tv, grid_search, bilevel  # noqa: F401
from . import motif_study  # noqa: F401
from . import covering_vs_optimization  # noqa: F401

"""Built-in solvers; importing a module registers it."""
from . import single_scale  # noqa: F401

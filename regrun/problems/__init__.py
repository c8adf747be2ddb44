"""Built-in problems; importing a module registers it."""
from . import multiscale_affine  # noqa: F401

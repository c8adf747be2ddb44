"""Built-in problems; importing a module registers it."""
from . import (
    crab_detection,  # noqa: F401
    ct_fewview,  # noqa: F401
    motif_pose,  # noqa: F401
    multiscale_affine,  # noqa: F401
    spike_pair,  # noqa: F401
    superres,  # noqa: F401
)

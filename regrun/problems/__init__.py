"""Built-in problems; importing a module registers it."""
from . import multiscale_affine  # noqa: F401
from . import superres  # noqa: F401
from . import ct_fewview  # noqa: F401
from . import crab_detection  # noqa: F401
from . import spike_pair  # noqa: F401
from . import motif_pose  # noqa: F401

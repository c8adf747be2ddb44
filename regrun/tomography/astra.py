"""ASTRA Toolbox as an optional projector backend (`pip install astra-toolbox`, in the `bench` extra).

Only 2-D scans, on ASTRA's CPU projectors: `linear` for parallel beams (Joseph, the same model as ours: the
sinograms agree to ~1e-5 relative) and `line_fanflat` for fan beams (ASTRA has no CPU Joseph projector for fan
beams, so it is a different discretisation, ~2% away). ASTRA computes in float32 on numpy arrays, so tensors go
to the CPU and back (not for CUDA runs), and the transpose is exact to float32 round-off only.
Cone beams are refused: ASTRA's 3-D projectors need CUDA and, without a GPU, kill the process (SIGFPE) instead
of raising. We also could not check ASTRA's 3-D axis conventions against ours without a GPU.
Use it where ASTRA's speed or a comparison matters. The torch projector (xray.py) is the default and was as
fast or faster than ASTRA's CPU projectors in scripts/bench_xray.py.
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import UserError
from .xray import Projector
from .geometry import Geometry


def astra_available() -> bool:
    try:
        import astra  # noqa: F401
    except ImportError:
        return False
    return True


class AstraTransform(Projector):
    """The X-ray transform of a 2-D `geometry` by ASTRA's CPU projectors, with the Projector interface."""

    def __init__(self, geometry: Geometry):
        try:
            import astra
        except ImportError:
            raise UserError("problem.projector=astra needs astra-toolbox (pip install astra-toolbox); "
                            "use problem.projector=torch") from None
        if geometry.volume.ndim != 2:
            raise UserError("problem.projector=astra covers 2-D scans only: ASTRA's 3-D projectors need CUDA and "
                            "abort the process without it; use problem.projector=torch for cone beams")
        self.geometry = geometry
        n1, n2 = geometry.volume.shape
        voxel = geometry.volume.voxel
        # ASTRA's volume: rows along -x2 (row 0 at the top), columns along x1, centred, in voxel units
        vol_geom = astra.create_vol_geom(n2, n1, -n1 * voxel / 2, n1 * voxel / 2, -n2 * voxel / 2, n2 * voxel / 2)
        kind = "parallel_vec" if geometry.kind == "parallel" else "fanflat_vec"
        proj_geom = astra.create_proj_geom(kind, geometry.detector[0], np.asarray(geometry.vectors))
        self._pid = astra.create_projector("linear" if geometry.kind == "parallel" else "line_fanflat", proj_geom,
                                           vol_geom)
        self._op = astra.OpTomo(self._pid)
        self.projector_type = "linear" if geometry.kind == "parallel" else "line_fanflat"

    def _to_astra(self, x: torch.Tensor) -> np.ndarray:
        """Our [i, j] = (x1_i, x2_j) layout to ASTRA's [row, column] = (-x2, x1)."""
        return np.ascontiguousarray(x.detach().cpu().numpy().T[::-1], dtype=np.float32)

    def _from_astra(self, a: np.ndarray, like: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(a[::-1].T), dtype=like.dtype, device=like.device)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        xf, batch = self._flat(x, self.in_shape, "volume")
        n1, n2 = self.in_shape
        out = [torch.as_tensor((self._op * self._to_astra(v.reshape(n1, n2)).ravel()).reshape(self.out_shape),
                               dtype=x.dtype, device=x.device) for v in xf]
        return torch.stack(out).reshape(*batch, *self.out_shape)

    def backproject(self, y: torch.Tensor) -> torch.Tensor:
        yf, batch = self._flat(y, self.out_shape, "sinogram")
        n1, n2 = self.in_shape
        out = []
        for s in yf:
            img = (self._op.T * np.ascontiguousarray(s.detach().cpu().numpy(), dtype=np.float32)).reshape(n2, n1)
            out.append(self._from_astra(img, y))
        return torch.stack(out).reshape(*batch, *self.in_shape)

    def __del__(self):
        try:
            import astra

            astra.projector.delete(self._pid)
        except Exception:  # interpreter shutdown or a failed __init__: nothing left to free
            pass

import os
import sys
from pathlib import Path

import pytest
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._device import _device_constructors

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FAIR_DATA = SHARED / "fair_data"

torch.set_num_threads(1)
os.environ.setdefault("MPLBACKEND", "Agg")

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device here (the cpu case ran; see docs/devices.md)"))]


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """Every device this machine has: cpu always, cuda when torch.cuda.is_available() (else skipped, with the
    reason). Tests that compute take it, so a GPU machine runs them on the GPU with no edits."""
    return torch.device(request.param)


@pytest.fixture
def fair_data():
    if not (FAIR_DATA / "hands-T.jpg").is_file():
        pytest.skip("../shared/fair_data is not present")
    return FAIR_DATA


# ---- the device rule, checked on any machine -----------------------------------------------------------------

_REGRUN_DIR = str(REPO / "regrun") + os.sep
_TORCH_DIR = str(Path(torch.__file__).resolve().parent) + os.sep
_FACTORIES = frozenset(_device_constructors())


def _caller() -> str | None:
    """Where regrun's code made the torch call: file:line, then up to two regrun callers (a helper such as
    Grid.centres is at fault only if its caller gave no device). None when the call came from elsewhere."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_TORCH_DIR):
        frame = frame.f_back
    chain = []
    while frame is not None and len(chain) < 3:
        path = os.path.realpath(frame.f_code.co_filename)
        if not path.startswith(_REGRUN_DIR):
            break
        chain.append(f"{os.path.relpath(path, REPO)}:{frame.f_lineno}")
        frame = frame.f_back
    return " <- ".join(chain) or None


def _tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors(v)


class DeviceAudit(TorchFunctionMode):
    """Records breaches of the device rule by regrun's own code while active.

    - A tensor made from nothing (torch.tensor, zeros, arange, as_tensor of a NumPy array, ...) without naming
      its device: on a GPU run it lands on the CPU and the next operation with a run tensor fails. Data made
      on purpose on the CPU (with a CPU generator, then moved by ctx.tensor) says device="cpu" or passes the
      generator. This is what would have caught both bugs of issue 8 on a CPU-only machine.
    - With `strict`, a floating-point result of any torch operation that is not on `device` in `dtype`: a
      value that left the run's dtype (float64 leaking into a float32 run) or device.
    """

    def __init__(self, device: torch.device, dtype: torch.dtype):
        super().__init__()
        self.device, self.dtype = torch.device(device), dtype
        self.strict = False
        self.breaches: dict[str, str] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func in _FACTORIES and kwargs.get("device") is None and "generator" not in kwargs \
                and not any(True for a in args for _ in _tensors(a)):
            where = _caller()
            if where:
                self.breaches.setdefault(where, f"torch.{func.__name__}(...) without device=")
        if self.strict and "generator" not in kwargs:
            for t in _tensors(out):
                if t.is_floating_point() and (t.dtype != self.dtype or t.device.type != self.device.type):
                    where = _caller()
                    if where:
                        self.breaches.setdefault(where, f"{getattr(func, '__name__', func)} gave {t.dtype} on "
                                                        f"{t.device} in a {self.dtype} run on {self.device}")
        return out

    def report(self) -> str:
        return "\n".join(f"{where}: {what}" for where, what in sorted(self.breaches.items()))


@pytest.fixture
def device_audit():
    return DeviceAudit

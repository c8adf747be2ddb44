import os
import signal
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
# The Ctrl-C tests' commands must start as at a terminal. A shell starts a script's background job (`pytest ... &`)
# with SIGINT ignored, which every child inherits and Python's start-up keeps: the suite run so failed its eight
# Ctrl-C tests (session 33). A handler, unlike SIG_IGN, is reset to the default at exec, so the children get Python's.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device here (the cpu case ran; see docs/devices.md)"))]


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """Every device this machine has: cpu always, cuda when torch.cuda.is_available() (else skipped, with the
    reason). Tests that compute take it, so a GPU machine runs them on the GPU with no edits."""
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def _private_user_cache(tmp_path_factory, monkeypatch):
    """Runs with solver.motif_cache=auto (the default) write to $XDG_CACHE_HOME: give every test its own, so the
    suite never touches the real ~/.cache and no test depends on what an earlier one left there."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg_cache")))


@pytest.fixture
def fair_data():
    if not (FAIR_DATA / "hands-T.jpg").is_file():
        pytest.skip("../shared/fair_data is not present")
    return FAIR_DATA


# ---- the device rule, checked on any machine -----------------------------------------------------------------

_REGRUN_DIR = str(REPO / "regrun") + os.sep
_TORCH_DIR = str(Path(torch.__file__).resolve().parent) + os.sep
_FACTORIES = frozenset(_device_constructors())
# torch's transforms and checkpointing make their own scratch tensors (on the CPU in some versions): not regrun's
_TORCH_MACHINERY = tuple(os.sep + p for p in ("_functorch" + os.sep, "utils" + os.sep + "checkpoint.py",
                                                "autograd" + os.sep))
_CONVERSIONS = frozenset((torch.Tensor.to, torch.Tensor.type_as, torch.Tensor.copy_, torch.Tensor.__setitem__))


def _caller() -> str | None:
    """Where regrun's code made the torch call: file:line, then up to two regrun callers (a helper such as
    Grid.centres is at fault only if its caller gave no device). None when the call came from elsewhere."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_TORCH_DIR):
        if any(part in frame.f_code.co_filename for part in _TORCH_MACHINERY):
            return None  # torch's own bookkeeping inside a transform or checkpoint (torch 2.11's jacfwd, ...)
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
    - With `strict`, an operation that mixes floating-point tensors of different dtypes (or devices): torch
      promotes float32 with float64 silently, so a value that left the run's dtype shows where it meets one
      that did not, just as a CPU tensor meeting a GPU one fails on a GPU. Explicit conversions (.to, type_as,
      copy_) are not mixing, and neither are 0-d tensors (a CPU scalar may meet a GPU tensor), so deliberate
      float64 bookkeeping (e.g. the batched LM's loss and damping) passes.
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
        if self.strict and func not in _CONVERSIONS:
            kinds = {(t.dtype, t.device.type) for a in (*args, *kwargs.values()) for t in _tensors(a)
                     if t.is_floating_point() and t.dim() > 0}
            if len(kinds) > 1:
                where = _caller()
                if where:
                    mixed = " with ".join(f"{d} on {dev}" for d, dev in sorted(kinds, key=str))
                    self.breaches.setdefault(where, f"{getattr(func, '__name__', func)} mixes {mixed} in a "
                                                    f"{self.dtype} run on {self.device}")
        return out

    def report(self) -> str:
        return "\n".join(f"{where}: {what}" for where, what in sorted(self.breaches.items()))


@pytest.fixture
def device_audit():
    return DeviceAudit


def host_reads(fn, device):
    """(fn(), the host's reads of the device while it ran: CUDA sync debug mode's warnings), or (fn(), None) off
    CUDA, where the same code runs and there is nothing to count."""
    if device.type != "cuda":
        return fn(), None
    import warnings

    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = fn()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return out, [w for w in caught if "synchroniz" in str(w.message)]

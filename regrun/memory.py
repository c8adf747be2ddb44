"""Memory instrumentation: the bytes autograd saves for the backward pass, and the CUDA allocator's peak."""
from __future__ import annotations

from typing import Callable

import torch


class SavedBytes:
    """Bytes of the distinct storages autograd saves for backward inside the `with` block (a storage saved
    by several operations counts once)."""

    def __init__(self):
        self.seen: dict[int, int] = {}

    def _pack(self, t):
        try:
            st = t.untyped_storage()
            self.seen[st.data_ptr()] = max(self.seen.get(st.data_ptr(), 0), st.nbytes())
        except (RuntimeError, NotImplementedError):  # functorch wrappers have no storage of their own
            self.seen[id(t)] = t.numel() * t.element_size()
        return t

    def __enter__(self):
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)

    @property
    def total(self) -> int:
        return sum(self.seen.values())


def saved_bytes(fn: Callable[[], object]) -> int:
    """Saved-for-backward bytes of one call of fn (its result is kept alive until counted)."""
    with SavedBytes() as counter:
        out = fn()
    del out
    return counter.total


def marginal_saved_bytes(fn: Callable[[int], object], k: int = 2, extra: int = 2) -> float:
    """Saved bytes per iteration: (saved(fn(k + extra)) - saved(fn(k))) / extra, where fn(n) runs n
    iterations; the inputs and the first iterations' one-off tensors cancel out."""
    return (saved_bytes(lambda: fn(k + extra)) - saved_bytes(lambda: fn(k))) / extra


def cuda_peak_bytes(fn: Callable[[], object], device: torch.device) -> int | None:
    """Peak CUDA allocation above the level before the call (None off CUDA)."""
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    out = fn()
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) - base
    del out
    return int(peak)


def rss_peak_bytes(fn: Callable[[], object]) -> int | None:
    """Peak resident memory of this process above its level before the call: the kernel's high-water mark
    (VmHWM) reset to the current size through /proc/self/clear_refs first (Linux 4.0+). It counts whatever the
    call makes resident, torch's CPU tensors included, which the saved-tensor count and tracemalloc do not see;
    memory the allocator kept from earlier frees is reused without showing (in a long-lived process even a 64 MiB
    tensor was seen not to show), so measure in a fresh process with MALLOC_MMAP_THRESHOLD_ set, as
    scripts/bench_bilevel_memory.py does (tensors mapped and unmapped each time). None where the kernel does not
    allow the reset."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        base = _status_kib("VmRSS")
    except OSError:
        return None
    out = fn()
    peak = _status_kib("VmHWM")
    del out
    return max(0, peak - base) * 1024


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field}")

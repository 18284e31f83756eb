"""Pinned host buffers and per-device side streams for the CUDA path's staging copies."""

from __future__ import annotations

import threading

import torch

# Free pinned buffers kept for reuse (pinning is slow: ~1 ms per MiB the first time).
POOL_KEEP_BYTES = 1 << 30


class PinnedPool:
    """Pinned host buffers, reused once the event of their last copy has completed."""

    def __init__(self, keep_bytes: int = POOL_KEEP_BYTES):
        self._lock = threading.Lock()
        self._free: list[tuple[torch.Tensor, object]] = []  # (uint8 buffer, event or None)
        self._keep = keep_bytes
        self.allocated = 0  # buffers pinned so far (tests read it)

    def take(self, nbytes: int) -> torch.Tensor:
        with self._lock:
            best = None
            for i, (buf, ev) in enumerate(self._free):
                if buf.numel() >= nbytes and buf.numel() <= 2 * max(nbytes, 1 << 20) and (ev is None or ev.query()):
                    if best is None or buf.numel() < self._free[best][0].numel():
                        best = i
            if best is not None:
                return self._free.pop(best)[0]
            self.allocated += 1
        size = 1 << max(12, (max(nbytes, 1) - 1).bit_length())  # power of two: reusable across sizes
        return torch.empty(size, dtype=torch.uint8, pin_memory=True)

    def give(self, buf: torch.Tensor, event) -> None:
        with self._lock:
            self._free.append((buf, event))
            total = sum(b.numel() for b, _ in self._free)
            while total > self._keep and self._free:
                b, ev = self._free.pop(0)
                if ev is not None:
                    ev.synchronize()  # a buffer still being copied must outlive its copy
                total -= b.numel()


POOL = PinnedPool()
_SIDE: dict[int, torch.cuda.Stream] = {}
_SIDE_LOCK = threading.Lock()


def side_stream(device: torch.device):
    with _SIDE_LOCK:
        s = _SIDE.get(device.index)
        if s is None:
            s = _SIDE[device.index] = torch.cuda.Stream(device=device)
        return s

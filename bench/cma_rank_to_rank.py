"""Rank-to-rank single copy against two copies through shared memory, for a broadcast of an ordinary torch
tensor between two processes (docs/performance.md "Large ordinary tensors").

The receiver reads the sender's tensor with process_vm_readv straight into its own (what MPI's vader BTL does
with its `cma` single-copy mechanism); the other way is the lane's: the sender copies into a shared block,
the receiver copies out (here one after the other). Prints GB/s of the moved tensor, two passes each.

    python bench/cma_rank_to_rank.py BYTES REPS          # 4 KiB pages
    THP=1 python bench/cma_rank_to_rank.py BYTES REPS    # MADV_HUGEPAGE + MADV_COLLAPSE, as our huge-page assist
"""

import ctypes
import mmap
import os
import sys
import time

import torch

libc = ctypes.CDLL(None, use_errno=True)
MADV_HUGEPAGE, MADV_COLLAPSE = 14, 25
HUGE = 2 << 20


class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def readv(pid: int, dst: int, src: int, n: int) -> None:
    local, remote = IoVec(dst, n), IoVec(src, n)
    got = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    if got != n:
        raise OSError(ctypes.get_errno(), f"process_vm_readv moved {got} of {n} bytes")


def huge_pages(t: torch.Tensor) -> None:
    if os.environ.get("THP") != "1":
        return
    lo = (t.data_ptr() + HUGE - 1) & ~(HUGE - 1)
    hi = (t.data_ptr() + t.numel() * t.element_size()) & ~(HUGE - 1)
    if hi > lo:
        for advice in (MADV_HUGEPAGE, MADV_COLLAPSE):
            libc.madvise(ctypes.c_void_p(lo), ctypes.c_size_t(hi - lo), advice)


def sender(n: int, shm: mmap.mmap, ctl: int, ack: int) -> None:
    t = torch.arange(n, dtype=torch.float32)
    huge_pages(t)
    os.write(ack, t.data_ptr().to_bytes(8, "little"))
    block = torch.frombuffer(shm, dtype=torch.float32)
    while os.read(ctl, 1) != b"q":
        block.copy_(t)  # copy in
        os.write(ack, b"k")
    os._exit(0)


def main() -> None:
    size, reps = int(sys.argv[1]), int(sys.argv[2])
    n = size // 4
    r_ctl, w_ctl = os.pipe()
    r_ack, w_ack = os.pipe()
    shm = mmap.mmap(-1, size)  # a shared block, as the lane's
    pid = os.fork()
    if pid == 0:
        sender(n, shm, r_ctl, w_ack)
    addr = int.from_bytes(os.read(r_ack, 8), "little")
    out = torch.zeros(n, dtype=torch.float32)
    huge_pages(out)
    block = torch.frombuffer(shm, dtype=torch.float32)
    want = torch.arange(n, dtype=torch.float32)
    res: dict[str, list[float]] = {}
    for mode in ("cma", "copy in + copy out") * 2:
        out.zero_()
        t0 = time.perf_counter()
        for _ in range(reps):
            if mode == "cma":
                readv(pid, out.data_ptr(), addr, size)
            else:
                os.write(w_ctl, b"c")
                os.read(r_ack, 1)
                out.copy_(block)  # copy out
        dt = (time.perf_counter() - t0) / reps
        assert torch.equal(out, want), mode
        res.setdefault(mode, []).append(round(size / dt / 1e9, 2))
    os.write(w_ctl, b"q")
    os.waitpid(pid, 0)
    print(f"{size} bytes, THP={os.environ.get('THP', '0')}: GB/s {res}")


if __name__ == "__main__":
    main()

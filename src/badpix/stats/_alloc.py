"""Large buffers backed by transparent huge pages.

Fresh memory is expensive on these VMs (``../shared/PERFORMANCE.md``: filling a
new 1 GiB array ran at 0.7 GB/s against 8 GB/s for an existing one) because
every 4 KiB page faults on first touch.  Where the kernel's THP mode is
``madvise`` (the default on Debian), asking for huge pages with
``MADV_HUGEPAGE`` cuts the faults 512-fold: filling 800 MiB took 0.08 s instead
of 0.84 s here.  Elsewhere (no ``madvise``, small arrays) this is plain
``np.empty``.
"""

from __future__ import annotations

import mmap

import numpy as np

#: below this, np.empty is as fast and keeps the allocator's reuse
HUGE_THRESHOLD = 64 * 2**20


def empty_huge(shape: tuple[int, ...], dtype: np.dtype | type | str) -> np.ndarray:
    """Like ``np.empty``, backed by anonymous memory advised to use huge pages.

    >>> a = empty_huge((1024, 1024, 80), np.uint8)
    >>> a.shape, a.dtype, a.flags.writeable
    ((1024, 1024, 80), dtype('uint8'), True)
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    if nbytes < HUGE_THRESHOLD or advice is None:
        return np.empty(shape, dtype)
    buf = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        buf.madvise(advice)
    except OSError:  # kernel without THP: ordinary pages, still correct
        pass
    # the array keeps the mmap alive; it is unmapped when the array is collected
    return np.frombuffer(buf, dtype=dtype).reshape(shape)

"""Memory checks: nothing big is allocated before a check says it fits.

Files are untrusted: a header may declare a frame far larger than the file (a 4 KiB
``.npy`` declaring 10**6 x 10**6 pixels, a TIFF whose width is patched to 4e9).
Readers report frame shape and dtype from headers alone; :func:`check_scan_memory`
then bounds everything one scan will allocate before its first buffer exists, the
same way for folders of frames and single stacks of every format.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from .errors import MemoryBudgetError, ParameterError

if TYPE_CHECKING:
    from .detect.params import RuleParams
    from .stack import Stack

__all__ = ["available_memory", "check_allocation", "check_params_fit", "check_scan_memory",
           "scan_memory_need"]

#: bytes of per-pixel state a scan holds for each band pixel beyond the frames: the
#: moment accumulators (count, mean and second moment, min, max or the exact integer
#: sums: up to 10 arrays of 8 bytes) and the rules' score and flag images.  An upper
#: bound, not a measurement: it only has to reject the absurd and admit real stacks.
STATE_BYTES_PER_PIXEL = 128


def available_memory() -> int:
    """Bytes of memory available to this process now.

    On Linux the kernel's ``MemAvailable`` estimate, read from ``/proc/meminfo``
    as ``psutil.virtual_memory().available`` reads it (without psutil's ~10 ms
    import in every scan); psutil elsewhere.

    >>> available_memory() > 0
    True
    """
    kib = _meminfo_available_kib()
    if kib is not None:
        return kib * 1024
    import psutil

    return int(psutil.virtual_memory().available)


def _meminfo_available_kib(path: str = "/proc/meminfo") -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in KiB, ``None`` without it (not Linux, < 3.14)."""
    try:
        with open(path, "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def check_allocation(nbytes: int, what: str, path: str | os.PathLike | None = None,
                     fraction: float = 0.8) -> None:
    """Refuse to allocate more than ``fraction`` of the available memory.

    >>> check_allocation(10**18, "frame block", "a.npy")
    Traceback (most recent call last):
    ...
    badpix.errors.MemoryBudgetError: a.npy: frame block needs 931322574.62 GiB but only ...
    """
    limit = fraction * available_memory()
    if nbytes > limit:
        msg = f"{what} needs {_gib(nbytes)} but only {_gib(limit)} of memory is available"
        if path is not None:
            msg = f"{os.fspath(path)}: {msg}"
        raise MemoryBudgetError(msg)


def scan_memory_need(n_frames: int, frame_shape: tuple[int, ...], itemsize: int,
                     band_pixels: int, memory_limit: int | None,
                     available: int) -> dict[str, int]:
    """Bytes of each buffer kind a scan allocates (upper bounds), by name.

    ``frames``: two blocks of at least one frame (read while the other is computed);
    ``state``: per-pixel accumulators and rule images over every band pixel;
    ``median``: the exact median's in-memory part, bounded by ``memory_limit``
    (default a quarter of ``available``) because beyond it the median spills to disk.

    >>> need = scan_memory_need(10, (4, 5, 1), 2, 20, None, 2**30)
    >>> need["frames"], need["state"], need["median"]
    (80, 2560, 400)
    """
    frame = int(np.prod(frame_shape, dtype=object)) * itemsize
    median_cap = int(0.25 * available) if memory_limit is None else int(memory_limit)
    return {"frames": 2 * frame, "state": band_pixels * STATE_BYTES_PER_PIXEL,
            "median": min(n_frames * band_pixels * itemsize, median_cap)}


def check_params_fit(stack: Stack, params: RuleParams) -> None:
    """Refuse rule windows larger than the smallest band (option name and bound in the message).

    A median window wider than the band only reflects the band into itself: it
    finds nothing and, at 10001 x 10001, runs for hours.
    """
    rows = min(b.shape[0] for b in stack.bands)
    cols = min(b.shape[1] for b in stack.bands)
    # the defaults (5) stay valid on tiny test bands; beyond, a window must fit the band
    bound = max(5, rows, cols)
    bound -= 1 - bound % 2  # windows are odd
    for name in ("outlier_size", "size", "counting_size"):
        v = getattr(params, name)
        if v > bound:
            raise ParameterError(
                f"--{name.replace('_', '-')} {v} is larger than the band ({rows} x {cols} "
                f"pixels): at most {bound}")


def check_scan_memory(stack: Stack, params: RuleParams | None = None,
                      memory_limit: int | None = None) -> None:
    """The one check before a scan allocates anything: options, then memory.

    Raises :class:`~badpix.errors.ParameterError` for rule windows larger than a
    band or a ``memory_limit`` below two frames, and
    :class:`~badpix.errors.MemoryBudgetError` (naming the first file) when the
    scan's buffers (:func:`scan_memory_need`) exceed 80 % of the available memory.
    """
    if params is not None:
        check_params_fit(stack, params)
    path = stack.reader.paths[0] if stack.reader.paths else None
    available = available_memory()
    band_pixels = sum(int(np.prod(b.shape, dtype=object)) for b in stack.bands)
    need = scan_memory_need(stack.n_frames, stack.frame_shape, stack.dtype.itemsize,
                            band_pixels, memory_limit, available)
    if memory_limit is not None and memory_limit < need["frames"]:
        raise ParameterError(f"--memory-limit {memory_limit} bytes is below what two frames "
                             f"of {stack.frame_shape} {stack.dtype} need ({need['frames']} "
                             "bytes)")
    total = sum(need.values())
    if total > 0.8 * available:
        parts = ", ".join(f"{k} {_gib(v)}" for k, v in need.items())
        where = f"{os.fspath(path)}: " if path is not None else ""
        raise MemoryBudgetError(
            f"{where}{stack.n_frames} frames of {stack.frame_shape} {stack.dtype} need "
            f"{_gib(total)} to scan ({parts}) but only {_gib(0.8 * available)} of memory "
            "is available")

"""Pay a scan's fixed start-up costs in a background thread while the stack is opened.

A ``badpix scan`` process spends a large part of its wall time on one-off costs
that do not depend on the data: ``import numba`` and the kernel modules, numba's
CPU target loading its lowering registries on the first cached kernel (inside
``load_overload``), scipy.special (power messages) and rasterio (GeoTIFF
outputs).  :func:`start` begins them in a daemon thread as soon as the command
runs, so they overlap with opening the files, sampling frames for the counting
decision and planning on the main thread.

Safety: Python's per-module import locks make a module imported by both threads
load once (the second waits); the thread imports only third-party packages and
badpix modules that import nothing but numpy/numba, so it can form no import
cycle with the main thread.  The target refresh runs under numba's
``global_compiler_lock``, the lock every compile or cache load takes, so the
main thread's first kernel waits for it instead of racing it.  Everything is
best effort: on any error the main thread simply does the work itself.

>>> with running(geotiff=False) as t:
...     pass
>>> t.is_alive()
False
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


def _warm(geotiff: bool) -> None:
    with contextlib.suppress(Exception):
        from numba.core.compiler_lock import global_compiler_lock
        from numba.core.registry import cpu_target

        import badpix.detect._kernels  # noqa: F401
        import badpix.stats._kernels  # noqa: F401

        with global_compiler_lock:
            cpu_target.target_context.refresh()
    with contextlib.suppress(Exception):
        import scipy.special  # noqa: F401
    if geotiff:
        with contextlib.suppress(Exception):
            import rasterio  # noqa: F401


def start(geotiff: bool = True) -> threading.Thread:
    """Start the warm-up thread (daemon: a failing or interrupted scan does not wait for it)."""
    thread = threading.Thread(target=_warm, args=(geotiff,), name="badpix-warmup", daemon=True)
    thread.start()
    return thread


@contextlib.contextmanager
def running(geotiff: bool = True) -> Iterator[threading.Thread]:
    """:func:`start` for the block; joined at its end, so that an early user error does not
    end the interpreter while the thread is still importing extension modules."""
    thread = start(geotiff)
    try:
        yield thread
    finally:
        thread.join()

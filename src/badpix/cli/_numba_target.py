"""Load numba's CPU target for a CLI scan without its BLAS probe (scipy.linalg, 0.15-0.3 s).

The first cached kernel a process runs makes numba refresh its CPU target, which
imports ``numba.np.arraymath``; that module imports all of ``scipy.linalg`` at
import time only to decide whether ``np.cov``/``np.corrcoef`` inside jitted code
use a BLAS inner product.  No badpix kernel uses them (nor ``np.dot`` or
``np.linalg``, whose overloads import scipy.linalg themselves when compiled), and
a scan imports scipy.linalg for nothing else, so a CLI scan refreshes the target
once with ``scipy.linalg`` hidden.  The hiding lasts for the refresh only and
happens only in ``badpix scan``'s own process, on its main thread, before any
kernel: code that imports badpix as a library is untouched.

>>> import sys
>>> with _scipy_linalg_hidden():  # (a doctest must not change numba in the test process)
...     pass
>>> sys.modules.get("scipy.linalg", "absent") is not None  # restored, or never hidden
True
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

_HIDDEN = "scipy.linalg"


@contextlib.contextmanager
def _scipy_linalg_hidden() -> Iterator[None]:
    if _HIDDEN in sys.modules:  # already loaded: nothing to save
        yield
        return
    sys.modules[_HIDDEN] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        yield
    finally:
        if sys.modules.get(_HIDDEN, 0) is None:
            del sys.modules[_HIDDEN]


def load_cpu_target() -> None:
    """Refresh numba's CPU target now (what the first kernel would do), skipping the probe."""
    from numba.core.compiler_lock import global_compiler_lock
    from numba.core.registry import cpu_target

    with global_compiler_lock, _scipy_linalg_hidden():
        cpu_target.target_context.refresh()

"""End a ``badpix`` process without the interpreter's teardown (0.25-0.35 s after a scan).

When a script returns, CPython joins the non-daemon threads, runs the ``atexit``
handlers, flushes ``sys.stdout``/``sys.stderr`` and then tears the interpreter
down: every module is cleared and every object freed.  After a scan that last
step is the largest fixed cost left but one: numba's refreshed CPU target (its
typing templates, registries and LLVM objects) takes ~0.24 s to free, the whole
scan ~0.3 s, for memory the operating system takes back at once anyway.

:func:`badpix.cli.run` is the executable's entry point (``badpix``, ``python -m
badpix``): it registers :func:`exit_without_teardown` with ``atexit`` (:func:`arm`)
before any command module is imported, runs :func:`badpix.cli.main` and exits
with its code (:func:`leave`).  ``atexit`` runs its handlers
last-in first-out, so this one runs after the threads are joined and after every
handler the commands' libraries register (numba, rasterio, logging,
``concurrent.futures``, ``weakref.finalize`` of temporary folders); it then
flushes the standard streams and ends the process with the command's exit code
(``os._exit``).  Nothing is skipped but the freeing.  It stands aside (the
interpreter ends as usual) when the command raised, when a flush fails, when
coverage measures the process (its data is saved by an earlier handler), when
some handler was registered before :func:`arm` (it would run after ours, so
never; importing ``badpix.cli`` with typer and rich registers none) and when
``BADPIX_FULL_EXIT`` is set.  ``badpix.cli.main`` itself, which tests and
scripts call in-process, returns as before.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import NoReturn

#: the exit code :func:`leave` got; ``None`` until the command returned
_CODE: list[int | None] = [None]


def exit_without_teardown() -> None:
    """``atexit`` handler: flush stdout/stderr and ``os._exit`` with the command's code."""
    code = _CODE[0]
    if code is None or os.environ.get("BADPIX_FULL_EXIT") or "coverage" in sys.modules:
        return
    try:
        if "logging" in sys.modules:  # its own atexit handler may be older than this one
            sys.modules["logging"].shutdown()
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):  # a closed pipe: let the interpreter report it as usual
        return
    os._exit(code)


def _no_older_handlers() -> bool:
    """Whether no ``atexit`` handler is registered yet (one would run after ours: never)."""
    count = getattr(atexit, "_ncallbacks", None)  # CPython's; unknown elsewhere: no fast exit
    return count is not None and count() == 0


def arm() -> bool:
    """Register :func:`exit_without_teardown` (first, so it runs last) if no handler is older."""
    if not _no_older_handlers():
        return False
    atexit.register(exit_without_teardown)
    return True


def leave(code: int, armed: bool) -> NoReturn:
    """``sys.exit(code)``; when armed, the handler ends the process with ``code``."""
    if armed:
        _CODE[0] = code
    sys.exit(code)

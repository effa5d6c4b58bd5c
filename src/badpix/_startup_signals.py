"""Ctrl-C or SIGTERM while the ``badpix`` executable is still importing: one line, no traceback.

The CLI's handler (:mod:`badpix.cli._common`) is installed only once typer, rich and
numpy are imported, about half a second after start; before that Python's default
handler printed a ``KeyboardInterrupt`` traceback of whatever module was loading.
Nothing has been opened or written yet, so the process can simply exit.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

_MESSAGES = {signal.SIGINT: b"badpix: interrupted\n", signal.SIGTERM: b"badpix: terminated\n"}


def exit_now(signum: int, frame: object) -> None:
    """Say why and leave at once (exit 130 / 143, as shells report a signal)."""
    os.write(2, _MESSAGES.get(signum, b"badpix: interrupted\n"))
    os._exit(128 + int(signum))


def install() -> bool:
    """Install :func:`exit_now` when this process is the ``badpix`` executable starting up.

    A library import (``import badpix`` in a program or under pytest) is left alone.

    >>> install()  # under pytest the program is not ``badpix``
    False
    """
    program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if program != "badpix" or threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return False  # ignored by the caller (e.g. a background job): keep it so
    signal.signal(signal.SIGINT, exit_now)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, exit_now)
    return True

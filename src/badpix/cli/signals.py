"""SIGTERM ends a run like Ctrl-C: one line, staging and temporary files removed.

Python turns SIGINT into :class:`KeyboardInterrupt`, which unwinds every ``with``
and ``finally`` (staging folders, spilled medians, temporary names); SIGTERM's
default action kills the process on the spot and leaves them behind.  The handler
below raises :class:`Terminated` instead, a ``KeyboardInterrupt`` that carries the
shell's exit code for SIGTERM (128 + 15).
"""

from __future__ import annotations

import signal
import threading


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM."""

    exit_code = 128 + signal.SIGTERM

    def __str__(self) -> str:
        return "terminated"


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def install_signal_handlers() -> None:
    """SIGTERM raises :class:`Terminated` (only from the main thread, where Python allows it).

    >>> install_signal_handlers(); signal.getsignal(signal.SIGTERM) is _raise_terminated
    True
    >>> signal.signal(signal.SIGTERM, signal.SIG_DFL) is _raise_terminated
    True
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


def interrupt_exit_code(exc: KeyboardInterrupt) -> int:
    """130 for Ctrl-C (SIGINT), 143 for SIGTERM.

    >>> interrupt_exit_code(KeyboardInterrupt()), interrupt_exit_code(Terminated())
    (130, 143)
    """
    return int(getattr(exc, "exit_code", 128 + signal.SIGINT))

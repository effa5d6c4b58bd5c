"""SIGTERM ends a run like Ctrl-C: one line, staging and temporary files removed.

Python turns SIGINT into :class:`KeyboardInterrupt`, which unwinds every ``with``
and ``finally`` (staging folders, spilled medians, temporary names); SIGTERM's
default action kills the process on the spot and leaves them behind.  The CLI's
signal handler (:func:`badpix.cli._common.run_app`) raises :class:`Terminated`
instead, a ``KeyboardInterrupt`` that carries the shell's exit code for SIGTERM.

>>> Terminated().exit_code, str(Terminated())
(143, 'terminated')
"""

from __future__ import annotations

import signal


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM."""

    exit_code = 128 + signal.SIGTERM

    def __str__(self) -> str:
        return "terminated"

"""Exceptions raised by badpix.

Every error a user can cause derives from :class:`BadpixError`; the CLI turns
it into one line on stderr and exit code 2.  Messages name the file (or
option) and the problem, e.g. ``"frames/frame_7.npy: shape (768, 512, 3)
differs from the first frame's (768, 640, 3)"``.
"""

from __future__ import annotations

import os


class BadpixError(Exception):
    """Root of all errors caused by input, options or the environment.

    >>> import badpix
    >>> try:
    ...     badpix.open_stack("no/such/folder")
    ... except badpix.BadpixError as exc:
    ...     print(exc)
    no/such/folder: no such file or folder
    """


class InputError(BadpixError):
    """An input file or folder is missing, unreadable or inconsistent."""

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{self.path}: {problem}")


class FrameMismatchError(InputError):
    """A frame's shape or dtype differs from the first frame's."""


class DecodeError(InputError):
    """A file could not be decoded."""


class LayoutError(BadpixError):
    """A band layout is malformed or does not fit the frames."""


class ParameterError(BadpixError):
    """An option has an invalid value."""


class OutputError(BadpixError):
    """An output could not be written."""


class MemoryBudgetError(BadpixError):
    """An array declared by a file would not fit in the memory available."""

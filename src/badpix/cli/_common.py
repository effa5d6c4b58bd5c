"""Shared CLI machinery: error handling, progress bars, common options."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator

import click
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from ..errors import BadpixError

console = Console(stderr=True, highlight=False)
out = Console(highlight=False)

EXIT_BAD_INPUT = 2

QuietOption = typer.Option(False, "--quiet", "-q", help="No progress bar or chatter.")


def _click_exception_classes() -> tuple[type[BaseException], ...]:
    """The ``ClickException`` classes the installed typer really raises.

    typer >= 0.22 vendors its own click (``typer._click``), older typer uses
    ``click`` itself; so ``click.ClickException`` alone may catch nothing.  The
    public ``typer.BadParameter`` derives from whichever one typer uses, so its
    bases name the right class without a private module path.
    """
    found = [cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "ClickException"]
    found.append(click.exceptions.ClickException)
    return tuple(dict.fromkeys(found))


_CLICK_ERRORS = _click_exception_classes()
_EXITS = tuple(dict.fromkeys((typer.Exit, click.exceptions.Exit)))
_ABORTS = tuple(dict.fromkeys((typer.Abort, click.exceptions.Abort)))


def _show_click_error(exc: BaseException) -> int:
    """Print a click/typer error as one line (+ the help hint); return its exit code."""
    code = int(getattr(exc, "exit_code", 1))
    ctx = getattr(exc, "ctx", None)
    if "NoArgsIsHelp" in type(exc).__name__:  # bare ``badpix``: the help text is the message
        exc.show()
        return code
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    console.print(Text("badpix: error: ", style="bold red") + Text(message), soft_wrap=True)
    if ctx is not None and getattr(ctx, "help_option_names", None):
        console.print(f"Try '{ctx.command_path} {ctx.help_option_names[0]}' for help.",
                      markup=False, soft_wrap=True)
    return code


def _in_llvmlite(frame) -> bool:
    """Whether the main thread is inside llvmlite (numba compiling or loading a kernel)."""
    while frame is not None:
        if "llvmlite" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


class _Interrupted:
    """SIGINT handler that remembers it fired, then raises ``KeyboardInterrupt``.

    typer turns ``KeyboardInterrupt`` into a silent exit code 130; the flag lets
    :func:`run_app` still say why it stopped.  Cleanup (staging folders, temp
    files) runs as usual because the exception unwinds every ``finally``.

    While numba compiles, llvmlite calls back into Python from C (ctypes); an
    exception raised there is printed as "Exception ignored ..." and dropped, and
    the scan would go on.  So inside llvmlite the signal is sent again 50 ms later.
    """

    def __init__(self) -> None:
        self.fired = False
        self.active = True

    def _again(self) -> None:
        if self.active:
            os.kill(os.getpid(), signal.SIGINT)

    def __call__(self, signum, frame) -> None:
        self.fired = True
        if _in_llvmlite(frame):
            timer = threading.Timer(0.05, self._again)
            timer.daemon = True
            timer.start()
            return
        raise KeyboardInterrupt


@contextlib.contextmanager
def _watch_sigint() -> Iterator[_Interrupted]:
    flag = _Interrupted()
    # only replace Python's default handler, and only where signals can be set
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield flag
        return
    signal.signal(signal.SIGINT, flag)
    try:
        yield flag
    finally:
        flag.active = False
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _quiet_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the exit flush stays silent."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def run_app(app: typer.Typer, argv: list[str]) -> int:
    """Run the Typer app and return the process exit code.

    User errors become one line on stderr and exit code 2: a
    :class:`~badpix.errors.BadpixError` as ``badpix: error: ...``, a usage error
    (unknown option or command, missing or invalid argument) as
    ``badpix: error: ...`` plus ``Try 'badpix CMD --help' for help.``.  Ctrl-C
    prints ``badpix: interrupted`` and gives 130; a closed pipe is quiet.

    Examples
    --------
    >>> from badpix.cli import app
    >>> run_app(app, ["--version"])  # doctest: +ELLIPSIS
    badpix ...
    0
    """
    code = 0
    with _watch_sigint() as interrupted:
        try:
            # standalone_mode=False: errors come to us instead of typer's rich panels
            rv = app(args=argv, prog_name="badpix", standalone_mode=False)
            code = rv if isinstance(rv, int) else 0
        except BadpixError as exc:
            console.print(Text("badpix: error: ", style="bold red") + Text(str(exc)),
                          soft_wrap=True)
            code = EXIT_BAD_INPUT
        except _CLICK_ERRORS as exc:
            code = _show_click_error(exc)
        except _EXITS as exc:
            code = int(getattr(exc, "exit_code", 0) or 0)
        except _ABORTS:
            interrupted.fired = True
        except KeyboardInterrupt:
            interrupted.fired = True
        except BrokenPipeError:
            _quiet_stdout()
            return 0
        except SystemExit as exc:  # typer exits itself on a broken pipe
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if interrupted.fired:
        with contextlib.suppress(OSError):
            console.print("badpix: interrupted")
        return 130
    return code


class _RateColumn(ProgressColumn):
    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if not speed else f"{speed:,.1f} frames/s", style="progress.data.speed")


@contextlib.contextmanager
def frame_progress(description: str, total: int, quiet: bool = False) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n_frames)``; shows a bar with frames/s and ETA on a TTY unless quiet."""
    show = not quiet and console.is_terminal and not os.environ.get("BADPIX_NO_PROGRESS")
    if not show:
        yield lambda n: None
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


def info(message: str, quiet: bool = False) -> None:
    """A line of chatter on stderr (suppressed with ``-q``)."""
    if not quiet:
        console.print(message, soft_wrap=True)


__all__ = ["QuietOption", "console", "frame_progress", "info", "out", "run_app"]

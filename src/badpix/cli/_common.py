"""Shared CLI machinery: error handling, progress bars, common options."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.text import Text

from ..errors import BadpixError

if TYPE_CHECKING:  # rich.progress (~20 ms) is imported when a bar is shown
    from rich.progress import Progress

console = Console(stderr=True, highlight=False)
out = Console(highlight=False)

EXIT_BAD_INPUT = 2

QuietOption = typer.Option(False, "--quiet", "-q", help="No progress bar or chatter.")


def _click_exception_classes() -> tuple[type[BaseException], ...]:
    """The ``ClickException`` classes the installed typer really raises.

    typer >= 0.22 vendors its own click (``typer._click``), older typer uses
    ``click`` itself; so ``click.ClickException`` alone may catch nothing.  The
    public ``typer.BadParameter`` derives from whichever one typer uses, so its
    bases name the right class without a private module path.  ``click`` itself
    is added only when something imported it (an older typer does; typer 0.29
    does not, and importing it for nothing cost ~10 ms).
    """
    found = [cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "ClickException"]
    found += [c.exceptions.ClickException for c in _click_itself()]
    return tuple(dict.fromkeys(found))


def _click_itself() -> list:
    """``[click]`` when the click package is loaded, else ``[]``."""
    click = sys.modules.get("click")
    return [click] if click is not None and hasattr(click, "exceptions") else []


_CLICK_ERRORS = _click_exception_classes()
_EXITS = tuple(dict.fromkeys((typer.Exit, *(c.exceptions.Exit for c in _click_itself()))))
_ABORTS = tuple(dict.fromkeys((typer.Abort, *(c.exceptions.Abort for c in _click_itself()))))


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
        self.signum = signal.SIGINT

    def _again(self) -> None:
        if self.active:
            os.kill(os.getpid(), self.signum)

    def __call__(self, signum, frame) -> None:
        from ..io.atomic import signal_held

        self.fired = True
        self.signum = signum
        if signal_held(signum):  # e.g. a temporary file made but not yet owned: sent again
            return
        if _in_llvmlite(frame):
            timer = threading.Timer(0.05, self._again)
            timer.daemon = True
            timer.start()
            return
        from .signals import Terminated

        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt

    @property
    def exit_code(self) -> int:
        """130 after SIGINT, 143 after SIGTERM (128 + the signal, as shells report it)."""
        return 128 + int(self.signum)

    @property
    def message(self) -> str:
        return "badpix: terminated" if self.signum == signal.SIGTERM else "badpix: interrupted"


@contextlib.contextmanager
def _watch_sigint() -> Iterator[_Interrupted]:
    from .._startup_signals import exit_now

    flag = _Interrupted()
    # only replace Python's default handler (or the start-up one), where signals can be set
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) not in (signal.default_int_handler, exit_now)):
        yield flag
        return
    if signal.getsignal(signal.SIGTERM) is exit_now:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # SIGTERM unwinds like Ctrl-C (staging and temporary files removed), exit 143
    previous_term = signal.signal(signal.SIGTERM, flag)
    signal.signal(signal.SIGINT, flag)
    try:
        yield flag
    finally:
        flag.active = False
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, previous_term)


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
    prints ``badpix: interrupted`` and gives 130, SIGTERM ``badpix: terminated`` and
    143; a closed pipe is quiet.

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
            console.print(interrupted.message)
        return interrupted.exit_code
    return code


def _rate_column():
    """A frames/s column (built here: rich.progress is imported only for a bar)."""
    from rich.progress import ProgressColumn

    class _RateColumn(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if not speed else f"{speed:,.1f} frames/s",
                        style="progress.data.speed")

    return _RateColumn()


def _count_column():
    """``done/total`` for bars, nothing for spinners."""
    from rich.progress import ProgressColumn

    class _CountColumn(ProgressColumn):
        def render(self, task) -> Text:
            if task.total is None or task.fields.get("spinner"):
                return Text("")
            return Text(f"{int(task.completed)}/{int(task.total)}", style="progress.download")

    return _CountColumn()


@contextlib.contextmanager
def frame_progress(description: str, total: int, quiet: bool = False) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n_frames)``; shows a bar with frames/s and ETA on a TTY unless quiet."""
    show = not quiet and console.is_terminal and not os.environ.get("BADPIX_NO_PROGRESS")
    if not show:
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _rate_column(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


#: (module, function) of the kernels every scan compiles on its first run
HOT_KERNELS = (("badpix.stats._kernels.median", "moments_median_narrow"),
               ("badpix.stats._kernels.moments", "int_update_narrow"),
               ("badpix.stats._kernels.moments", "float_update"),
               ("badpix.stats._kernels.moments", "narrow_finalize"),
               ("badpix.stats._kernels.median", "temporal_median"),
               ("badpix.detect._kernels", "pack_rule"))


def kernels_cold() -> bool:
    """Whether numba's on-disk cache lacks the index file of a hot kernel (first run).

    numba writes ``<function>-<line>.py<ver>.nbi`` beside the compiled code
    the first time a ``cache=True`` function is compiled; without it that run
    compiles (~15 s for a scan on these machines) instead of loading.

    >>> isinstance(kernels_cold(), bool)
    True
    """
    import importlib

    for module, name in HOT_KERNELS:
        try:
            cache = getattr(importlib.import_module(module), name)._cache
            index = cache._cache_file._index_path
        except (ImportError, AttributeError):
            continue  # a numba without these internals: say nothing rather than guess
        if not os.path.exists(index):
            return True
    return False


def compile_notice(quiet: bool = False) -> bool:
    """Print the one-time "compiling kernels" line when the numba cache is cold."""
    if quiet or not kernels_cold():
        return False
    console.print("[dim]compiling kernels (first run after install, ~15 s)...[/]")
    return True


class Phases:
    """Phase callbacks for :func:`phase_progress`: ``advance(n)`` for frames read,
    ``phase(name, done)`` for the steps after reading (median, rules per band, writing).

    Without a display both are no-ops, so the engine can always call them.
    """

    def __init__(self, progress: Progress | None = None, read_task: int | None = None):
        self._progress = progress
        self._read = read_task
        self._tasks: dict[str, int] = {}
        self._lock = threading.Lock()
        #: phase shown once every frame is read, for engines that report no phases
        self.after_reading: str | None = None
        self._auto: str | None = None

    def advance(self, n: int) -> None:
        if self._progress is None or self._read is None:
            return
        self._progress.advance(self._read, n)
        task = self._progress.tasks[self._read]
        if self.after_reading and self._auto is None and task.completed >= (task.total or 0):
            self._auto = self.after_reading
            self.phase(self._auto)

    def phase(self, name: str, done: bool = False) -> None:
        """Start (``done=False``) or finish the phase ``name``; bands' rules may overlap."""
        if self._progress is None:
            return
        with self._lock:
            if not done and self._auto is not None and name != self._auto \
                    and self._auto in self._tasks:
                self._progress.update(self._tasks.pop(self._auto), total=1, completed=1)
            if not done:
                if self._read is not None:  # reading is over once a later phase starts
                    task = self._progress.tasks[self._read]
                    if task.total is not None and task.completed < task.total:
                        self._progress.update(self._read, total=task.completed)
                self._tasks[name] = self._progress.add_task(name, total=None, spinner=True)
            elif name in self._tasks:
                self._progress.update(self._tasks.pop(name), total=1, completed=1)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """``with phases.step("writing"): ...`` shows a spinner for the block."""
        self.phase(name)
        try:
            yield
        finally:
            self.phase(name, done=True)


@contextlib.contextmanager
def phase_progress(description: str, total: int, quiet: bool = False) -> Iterator[Phases]:
    """A display with one bar for reading ``total`` frames and a spinner per later phase.

    Yields :class:`Phases`: pass ``phases.advance`` where a frame callback is
    taken and ``phases.phase`` to engines that report phases; wrap other steps
    in ``phases.step(name)``.  A phase that is over shows its elapsed time.
    Quiet or not on a terminal, nothing is shown.
    """
    show = not quiet and console.is_terminal and not os.environ.get("BADPIX_NO_PROGRESS")
    if not show:
        yield Phases()
        return
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(finished_text="[green]done[/]"),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        _count_column(),
        _rate_column(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        yield Phases(progress, progress.add_task(f"{description}: reading", total=total))


def info(message: str, quiet: bool = False) -> None:
    """A line of chatter on stderr (suppressed with ``-q``)."""
    if not quiet:
        console.print(message, soft_wrap=True)


__all__ = ["Phases", "QuietOption", "compile_notice", "console", "frame_progress", "info",
           "kernels_cold", "out", "phase_progress", "run_app"]

"""Shared CLI machinery: error handling, progress bars, common options."""

from __future__ import annotations

import contextlib
import os
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
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from ..errors import BadpixError

console = Console(stderr=True, highlight=False)
out = Console(highlight=False)

EXIT_BAD_INPUT = 2

QuietOption = typer.Option(False, "--quiet", "-q", help="No progress bar or chatter.")


def run_app(app: typer.Typer, argv: list[str]) -> int:
    """Run the Typer app; user errors become one line on stderr and exit code 2."""
    try:
        app(args=argv, prog_name="badpix", standalone_mode=False)
    except BadpixError as exc:
        console.print(f"[bold red]badpix: error:[/] {exc}", soft_wrap=True)
        return EXIT_BAD_INPUT
    except click.exceptions.Abort:
        console.print("badpix: aborted")
        return 130
    except click.exceptions.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        console.print("badpix: interrupted")
        return 130
    except BrokenPipeError:
        return 0
    return 0


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


#: (module, function) of the kernels every scan compiles on its first run
HOT_KERNELS = (("badpix.stats._kernels", "moments_median_narrow"),
               ("badpix.stats._kernels", "int_update_narrow"),
               ("badpix.stats._kernels", "float_update"),
               ("badpix.stats._kernels", "narrow_finalize"),
               ("badpix.stats._kernels", "temporal_median"),
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


class _CountColumn(ProgressColumn):
    def render(self, task) -> Text:
        if task.total is None or task.fields.get("spinner"):
            return Text("")
        return Text(f"{int(task.completed)}/{int(task.total)}", style="progress.download")


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
    with Progress(
        SpinnerColumn(finished_text="[green]done[/]"),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        _CountColumn(),
        _RateColumn(),
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

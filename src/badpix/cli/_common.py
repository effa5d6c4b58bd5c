"""Shared CLI machinery: error handling, progress bars, common options."""

from __future__ import annotations

import contextlib
import os
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


def run_app(app: typer.Typer, argv: list[str]) -> int:
    """Run the Typer app; user errors become one line on stderr and exit code 2."""
    from .signals import install_signal_handlers, interrupt_exit_code

    install_signal_handlers()  # SIGTERM unwinds like Ctrl-C (exit 143)
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
    except KeyboardInterrupt as exc:
        console.print(f"badpix: {exc or 'interrupted'}")
        return interrupt_exit_code(exc)
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


def info(message: str, quiet: bool = False) -> None:
    """A line of chatter on stderr (suppressed with ``-q``)."""
    if not quiet:
        console.print(message, soft_wrap=True)


__all__ = ["QuietOption", "console", "frame_progress", "info", "out", "run_app"]

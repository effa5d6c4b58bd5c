"""The ``badpix`` command line: one module per command, each a thin call into the library.

Commands are listed in :data:`COMMANDS` (name, module, one-line help): ``badpix
--help`` renders that table without importing any command module, and ``badpix
<cmd>`` imports only ``badpix.cli.<module>`` and calls its ``register(app)``.  A
module that is not installed (an entry added ahead of its module) is left out.
A new command is a module with ``register(app)`` and one row here; the help
text must equal the first paragraph of the command's own help (a test checks).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from difflib import get_close_matches
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from ._common import run_app
from ._exit import arm, leave

#: (command, module in badpix.cli, first paragraph of its help), in ``--help`` order
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("demo", "demo", "Scan a built-in synthetic sample and print precision/recall against its "
                     "planted truth."),
    ("scan", "scan", "Scan a stack of frames for defective pixels."),
    ("localvar", "localvar", "Local variance (or std) over a k x k window; keeps CRS and "
                             "transform, prints the average."),
    ("repair", "repair", "Repair flagged pixels in every frame and write them in the input's "
                         "own format."),
    ("fill", "repair", "Fill NaN/nodata gaps smoothly (harmonic) from their edges; keeps CRS, "
                       "transform,\nnodata and tags."),
    ("export-badpixels", "repair", "Write a dcraw/LibRaw .badpixels file (col row unixtime) "
                                   "for darktable,\nRawTherapee and dcraw -P."),
    ("background", "background", "Median background per frame, bit-identical to dcnum 0.31 "
                                 "(RT-DC / imaging flow cytometry)."),
    ("synth", "synth", "Synthetic stack (smooth moving scene, noise, drift) with planted "
                       "defects of every class."),
    ("evaluate", "evaluate", "Per-class precision and recall of a scan against planted "
                             "defects."),
    ("timeline", "timeline", "Print how many defects existed at each capture date and plot it "
                             "(timeline.png)."),
    ("report", "report", "Write a self-contained HTML report: quicklooks, threshold "
                         "histograms, top defects."),
    ("show", "report", "Print a compact summary of a scan folder: counts per class, top "
                       "defects, parameters."),
    ("doctor", "doctor", "Versions of badpix and its libraries, numba's threads and cache, the "
                         "readers available."),
)

_MODULE = {name: module for name, module, _ in COMMANDS}
_HELP = {name: help for name, _, help in COMMANDS}


def _installed(module: str) -> bool:
    # find_spec looks the file up without importing it
    return importlib.util.find_spec(f"{__name__}.{module}") is not None


class LazyGroup(TyperGroup):
    """A Typer group that imports a command's module only when the command runs."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        loaded = [n for n in self.commands if n not in _MODULE]
        return [n for n, m, _ in COMMANDS if _installed(m)] + loaded

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        module = _MODULE.get(cmd_name)
        if module is None or not _installed(module):
            return None
        if self._listing:  # the root --help only needs the name and the help line
            return TyperCommand(cmd_name, help=_HELP[cmd_name], rich_markup_mode="rich")
        sub = typer.Typer(rich_markup_mode="rich", add_completion=False,
                          pretty_exceptions_enable=False)
        importlib.import_module(f"{__name__}.{module}").register(sub)
        for name, cmd in typer.main.get_group(sub).commands.items():
            self.commands.setdefault(name, cmd)
        return self.commands.get(cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except typer.core._click.exceptions.UsageError as exc:
            matches = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if matches and "Did you mean" not in exc.message:
                names = ", ".join(repr(m) for m in matches)
                exc.message = f"{exc.message.rstrip('.')}. Did you mean {names}?"
            raise


app = typer.Typer(
    name="badpix",
    cls=LazyGroup,
    help="Find and fix defective pixels in stacks of image frames.\n\n"
    "Examples:\n\n"
    "  badpix demo\n\n"
    "  badpix scan frames/ -o scan/ --layout l2-l1-m0\n\n"
    "  badpix localvar dem.tif -o var.tif --size 3",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from .._version import __version__

        typer.echo(f"badpix {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the badpix version and exit."),
) -> None:
    # no docstring: the app's help text above is what ``badpix --help`` shows (the callback
    # also keeps the app a group while LazyGroup adds the commands)
    pass


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); returns the exit code.

    The ``badpix`` executable calls it through :func:`run`, which also ends the
    process without the interpreter's teardown (:mod:`badpix.cli._exit`).
    """
    return run_app(app, sys.argv[1:] if argv is None else argv)


def run() -> None:
    """Entry point of the ``badpix`` executable (pyproject.toml) and ``python -m badpix``.

    :func:`main`, then the exit without the interpreter's teardown of
    :mod:`badpix.cli._exit` (0.25-0.35 s after a scan).
    """
    armed = arm()  # before main imports any command module
    leave(main(), armed)


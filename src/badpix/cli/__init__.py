"""The ``badpix`` command line: one module per command, each a thin call into the library.

Every module in this package that defines ``register(app)`` adds its commands;
``ORDER`` (an int, default 100) sorts them in ``--help``.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

from ._common import run_app

app = typer.Typer(
    name="badpix",
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
    # no docstring: the app's help text above is what ``badpix --help`` shows
    pass


def _register_all() -> None:
    modules = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "register"):
            modules.append(mod)
    for mod in sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__)):
        mod.register(app)


_register_all()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``badpix`` script."""
    return run_app(app, sys.argv[1:] if argv is None else argv)

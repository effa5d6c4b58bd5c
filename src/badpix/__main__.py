"""``python -m badpix`` runs the command line (as the ``badpix`` executable does)."""

from .cli import run

run()

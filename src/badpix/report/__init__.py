"""badpix.report: a self-contained HTML report of a scan folder and a terminal summary.

>>> from badpix.report import write_report      # doctest: +SKIP
>>> write_report("scan/")                        # doctest: +SKIP
PosixPath('scan/report.html')

Matplotlib is imported (Agg backend) only when a report is built.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_report", "print_summary", "write_report"]


def __getattr__(name: str) -> Any:
    # lazy: `badpix show` should not pay for matplotlib
    if name in ("write_report", "build_report"):
        from . import html

        return getattr(html, name)
    if name == "print_summary":
        from .show import print_summary

        return print_summary
    raise AttributeError(f"module 'badpix.report' has no attribute {name!r}")

"""``badpix report`` (HTML page of a scan folder) and ``badpix show`` (terminal summary)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import ParameterError
from ._common import QuietOption, info, out

ORDER = 80

REPORT_EPILOG = """
Examples:

  badpix report scan/

  badpix report scan/ -o /tmp/scan.html --top 50

  badpix report scan/ --frames frames/      # time series of the top defects
"""

SHOW_EPILOG = """
Examples:

  badpix show scan/

  badpix show scan/ --top 10
"""


def open_scan_stack(scan, frames: str, dataset: str | None = None):
    """The scanned stack again, with the scan's own band layout (for time series)."""
    from ..layout import Layout
    from ..stack import open_stack

    layout = Layout(tuple(scan.bands), source=(scan.summary.get("layout") or {}).get("source",
                                                                                        "scan"))
    stack = open_stack(frames, layout=layout, dataset=dataset)
    if tuple(stack.frame_shape) != tuple(scan.frame_shape):
        raise ParameterError(f"--frames: frames are {tuple(stack.frame_shape)}, the scan's were "
                             f"{tuple(scan.frame_shape)}")
    return stack


def report_command(
    scan_dir: Path = typer.Argument(..., help="Scan output folder (from badpix scan)."),
    output: Path = typer.Option(None, "--output", "-o",
                                help="HTML file (default SCAN_DIR/report.html)."),
    top: int = typer.Option(20, "--top", help="Defects listed per band."),
    frames: str = typer.Option(None, "--frames",
                               help="The scanned frames (folder, glob, file): adds the top "
                                    "defects' time series (one more pass over the frames)."),
    dataset: str = typer.Option(None, "--dataset", "-d", help="HDF5 dataset path of --frames."),
    histeq: bool = typer.Option(False, "--histeq",
                                help="Histogram-equalise the mean quicklook (default: "
                                     "0.5-99.5 % stretch)."),
    quiet: bool = QuietOption,
) -> None:
    """Write a self-contained HTML report: quicklooks, threshold histograms, top defects."""
    from ..io.scandir import load_scan
    from ..report import write_report

    if top < 0:
        raise ParameterError(f"--top: must be >= 0, got {top}")
    scan = load_scan(scan_dir)
    stack = open_scan_stack(scan, frames, dataset) if frames else None
    path = write_report(scan_dir, output, stack, top=top,
                        stretch_method="histeq" if histeq else "percentile")
    info(f"report in {path}", quiet)


def show_command(
    scan_dir: Path = typer.Argument(..., help="Scan output folder (from badpix scan)."),
    top: int = typer.Option(5, "--top", help="Defects listed per band (0: none)."),
) -> None:
    """Print a compact summary of a scan folder: counts per class, top defects, parameters."""
    from ..io.scandir import load_scan
    from ..report.show import print_summary

    if top < 0:
        raise ParameterError(f"--top: must be >= 0, got {top}")
    print_summary(load_scan(scan_dir), out, top=top)


def register(app: typer.Typer) -> None:
    app.command("report", epilog=REPORT_EPILOG)(report_command)
    app.command("show", epilog=SHOW_EPILOG)(show_command)

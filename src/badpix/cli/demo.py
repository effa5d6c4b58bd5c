"""``badpix demo``: make a sample stack with planted defects, scan it, score the scan."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from ._common import QuietOption, frame_progress, info, out

ORDER = 5


def demo_command(
    folder: Path = typer.Argument(None, help="Where to put the sample and the scan "
                                  "(default: a new temporary folder)."),
    frames: int = typer.Option(40, help="Number of frames."),
    shape: str = typer.Option("768,256", help="Frame rows,cols."),
    seed: int = typer.Option(0, help="Random seed of the sample."),
    report: bool = typer.Option(True, "--report/--no-report", help="Also write report.html."),
    quiet: bool = QuietOption,
) -> None:
    """Scan a built-in synthetic sample and print precision/recall against its planted truth.

    The sample imitates the remote-sensing case: 3-channel uint16 .npy frames
    (768 rows) with the l2-l1-m0 band layout, a moving scene, noise, drift and
    planted stuck, outlier, hot, dead and noisy pixels.

    Example: badpix demo /tmp/badpix-demo
    """
    from .. import open_stack
    from ..engine import scan_stack
    from ..evaluate import evaluate
    from ..io.scandir import write_scan_dir
    from ..synth import write_synthetic
    from .evaluate import evaluation_table
    from .scan import print_counts

    try:
        rows, cols = (int(v) for v in shape.split(","))
    except ValueError:
        from ..errors import ParameterError

        raise ParameterError(f"--shape: give rows,cols (e.g. 768,256), not {shape!r}") from None
    root = folder or Path(tempfile.mkdtemp(prefix="badpix-demo-"))
    sample, scan_dir = root / "frames", root / "scan"
    info(f"writing {frames} synthetic frames of {rows}x{cols}x3 uint16 to {sample}/", quiet)
    truth = write_synthetic(sample, "npy", shape=(rows, cols), n_frames=frames, channels=3,
                            dtype="uint16", seed=seed, overwrite=True)
    stack = open_stack(sample, layout="l2-l1-m0")
    with frame_progress("scan", stack.n_frames, quiet) as advance:
        result = scan_stack(stack, progress=advance)
    write_scan_dir(result, scan_dir)
    print_counts(result, quiet)
    out.print(evaluation_table(evaluate(scan_dir, truth),
                               "precision / recall against the planted truth (bands only)"))
    if report:
        from ..report import write_report

        write_report(scan_dir, stack=stack)
    out.print(f"sample frames : {sample}/  (truth: {sample / 'truth.json'})")
    out.print(f"scan outputs  : {scan_dir}/  (mask_<band>.tif, stats_<band>.tif, defects.csv, "
              "summary.json" + (", report.html)" if report else ")"))


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)

"""``badpix repair``, ``badpix fill`` and ``badpix export-badpixels``."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import ParameterError
from ._common import QuietOption, console, frame_progress, info

ORDER = 30

REPAIR_EPILOG = """
Examples:

  badpix repair frames/ --mask scan/ -o repaired/

  badpix repair 'photos/*.jpg' --mask scan/ --classes hot,stuck -o fixed/

  badpix repair raw_frames/ --mask camera.badpixels --cfa RGGB -o fixed/

  badpix repair stack.tif --mask mask.png --method inpaint -o stack_fixed.tif
"""


def repair_command(
    input: str = typer.Argument(..., help="Folder, glob, file, or file.h5:dataset."),
    mask: str = typer.Option(..., "--mask", "-m",
                             help="Scan output folder, mask file (.tif/.png/.npy, nonzero = bad) "
                                  "or .badpixels file."),
    output: Path = typer.Option(None, "--output", "-o",
                                help="Output folder (or file for single-file input)."),
    method: str = typer.Option("neighbors", "--method",
                               help="neighbors (weighted mean), median, or inpaint (harmonic)."),
    classes: str = typer.Option(None, "--classes",
                                help="Defect classes from a scan folder, e.g. hot,stuck "
                                     "(default: all)."),
    cfa: str = typer.Option(None, "--cfa", help="Bayer pattern of raw frames: RGGB, BGGR, "
                                                "GRBG or GBRG (same-colour neighbours only)."),
    in_place: bool = typer.Option(False, "--in-place",
                                  help="Replace the input files (each atomically)."),
    jpeg_quality: int = typer.Option(None, "--jpeg-quality",
                                     help="JPEG quality 1-100 (default: the input's own tables)."),
    dataset: str = typer.Option(None, "--dataset", help="HDF5 dataset path."),
    block_frames: int = typer.Option(16, "--block-frames", help="Frames per block."),
    quiet: bool = QuietOption,
) -> None:
    """Repair flagged pixels in every frame and write them in the input's own format.

    The input is never changed unless --in-place is given.
    """
    from ..repair import repair_stack
    from ..stack import open_stack

    if output is None and not in_place:
        raise ParameterError("-o/--output is required (or --in-place to replace the input)")
    if output is not None and in_place:
        raise ParameterError("give either -o/--output or --in-place, not both")
    if block_frames < 1:
        raise ParameterError(f"--block-frames must be at least 1, got {block_frames}")
    n = open_stack(input, dataset=dataset).n_frames
    with frame_progress("repair", n, quiet) as advance:
        result = repair_stack(input, mask, output, method=method, cfa=cfa, classes=classes,
                              in_place=in_place, jpeg_quality=jpeg_quality, dataset=dataset,
                              block_frames=block_frames, progress=advance)
    where = "in place" if in_place else f"to {output}"
    extra = f", JPEG quality {result.jpeg_quality}" if result.jpeg_quality else ""
    info(f"repaired {result.n_pixels} pixels in each of {result.n_frames} frames "
         f"({result.method}, {result.frames_per_second:.1f} frames/s{extra}); "
         f"wrote {len(result.outputs)} file(s) {where}", quiet)
    if result.n_unrepairable:
        info(f"[yellow]{result.n_unrepairable} flagged pixels have no valid pixel of their "
             "channel/colour and were left unchanged[/]", quiet)


def fill_command(
    raster: Path = typer.Argument(..., help="Single raster (GeoTIFF, TIFF, PNG) with gaps."),
    output: Path = typer.Option(..., "--output", "-o", help="Output raster."),
    max_size: int = typer.Option(None, "--max-size",
                                 help="Only fill gaps of at most this many pixels."),
    quiet: bool = QuietOption,
) -> None:
    """Fill NaN/nodata gaps smoothly (harmonic) from their edges; keeps CRS, transform,
    nodata and tags.

    Example: badpix fill dem.tif -o dem_filled.tif --max-size 500
    """
    from ..repair import fill_raster

    if max_size is not None and max_size < 1:
        raise ParameterError(f"--max-size must be at least 1, got {max_size}")
    res = fill_raster(raster, output, max_size=max_size)
    info(f"filled {res['filled']} pixels, {res['left']} left as nodata; wrote {output}", quiet)


def export_badpixels_command(
    scan_dir: Path = typer.Argument(..., help="Scan output folder (or a mask file)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output .badpixels file."),
    classes: str = typer.Option(None, "--classes", help="Defect classes (default: all)."),
    timestamp: int = typer.Option(None, "--timestamp",
                                  help="Unix time from which dcraw applies the map (0 = every "
                                       "photo; default: each pixel's onset from a photo scan, "
                                       "0 for defects present from the first photo, else 0)."),
    tz: str = typer.Option(None, "--tz",
                           help="Time zone of the camera clock (EXIF times without offset), "
                                "e.g. Europe/Berlin or +02:00: the zone dcraw runs in. "
                                "Default UTC."),
    force: bool = typer.Option(False, "--force",
                               help="Export even when the scan was not of raw mosaics "
                                    "(JPEG/PNG/RGB photos): coordinates will not match dcraw's."),
    shape: str = typer.Option(None, "--shape",
                              help="ROWSxCOLS of the frames when SCAN_DIR is a mask file."),
    quiet: bool = QuietOption,
) -> None:
    """Write a dcraw/LibRaw .badpixels file (col row unixtime) for darktable,
    RawTherapee and dcraw -P.

    dcraw applies the file to raw mosaic coordinates: scans of JPEG/PNG photos or
    RGB frames are refused unless --force is given.  Onset times are the camera's
    clock read as UTC unless --tz names its zone.

    Example: badpix export-badpixels scan/ -o camera.badpixels --classes hot,dead
    """
    from ..io.badpixels import mosaic_problem, write_badpixels
    from ..repair.masks import load_mask, scan_frame_shape

    input_format = None
    if scan_dir.is_dir():
        frame_shape = scan_frame_shape(scan_dir)
        input_format = _scan_input_format(scan_dir)
    elif shape is not None:
        try:
            rows, cols = (int(v) for v in shape.lower().split("x"))
        except ValueError:
            raise ParameterError(f"--shape: expected ROWSxCOLS, got {shape!r}") from None
        frame_shape = (rows, cols, 1)
    else:
        frame_shape = _mask_file_shape(scan_dir)
    problem = mosaic_problem(input_format, frame_shape[2])
    if problem and not force:
        raise ParameterError(f"{scan_dir}: {problem}; dcraw/LibRaw apply .badpixels to raw "
                             "mosaic pixels - scan the raw files, or give --force")
    if problem:
        console.print(f"[yellow]badpix: warning:[/] {scan_dir}: {problem}; the coordinates "
                      "are not raw mosaic coordinates (--force)", soft_wrap=True)
    mask = load_mask(scan_dir, frame_shape, classes)
    if timestamp is None:
        timestamp = _onset_timestamps(scan_dir, frame_shape, tz) if scan_dir.is_dir() else 0
    zone = "UTC" if tz is None else tz
    n = write_badpixels(output, mask, timestamp=timestamp,
                        comment=f"badpix export-badpixels {scan_dir} classes={classes or 'all'}"
                                f"\ntimes: camera clock in {zone}; 0 = from the first photo")
    info(f"wrote {n} bad pixels to {output}", quiet)


def _scan_input_format(scan_dir: Path) -> str | None:
    import json

    try:
        return json.loads((scan_dir / "summary.json").read_text())["input"].get("format")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _onset_timestamps(scan_dir: Path, frame_shape: tuple[int, int, int], tz: str | None = None):
    """Per-pixel onset times (s since 1970, NaN: none) from a photo scan's defects.csv, or 0.

    A defect whose onset is the first photo (in capture order) gets 0: it was
    there before the series began, and dcraw must apply it to older photos too.
    """
    import csv
    import json

    import numpy as np

    from ..io.badpixels import clock_timestamps
    from ..timefmt import parse_time

    path = scan_dir / "defects.csv"
    if not path.is_file():
        return 0
    first = None
    try:
        times = json.loads((scan_dir / "summary.json").read_text())["onset"]["frame_times"]
        stamps_all = [parse_time(t) for t in times or []]
        if stamps_all and all(t is not None for t in stamps_all):
            first = min(t.timestamp() for t in stamps_all)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if "onset_time" not in (reader.fieldnames or []):
            return 0
        stamps = np.full(frame_shape[:2], np.nan)
        for row in reader:
            when = parse_time(row["onset_time"])
            if when is not None:
                r, c = int(row["row"]), int(row["col"])
                # several bands (colour planes) may list one photosite: the earliest wins
                stamps[r, c] = np.fmin(stamps[r, c], when.timestamp())
    stamps = clock_timestamps(stamps, tz)
    if first is not None:
        stamps[stamps <= clock_timestamps(np.array([first]), tz)[0]] = 0.0
    return stamps


def _mask_file_shape(path: Path) -> tuple[int, int, int]:
    from ..repair.masks import _read_image

    if path.suffix.lower() == ".npy":
        import numpy as np

        shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
    elif path.suffix.lower() in (".tif", ".tiff", ".png"):
        shape = _read_image(path).shape
    else:
        raise ParameterError(f"{path}: give a scan folder or a mask file (.npy/.tif/.png), "
                             "or --shape for a .badpixels file")
    return (shape[0], shape[1], shape[2] if len(shape) == 3 else 1)


def register(app: typer.Typer) -> None:
    app.command("repair", epilog=REPAIR_EPILOG)(repair_command)
    app.command("fill")(fill_command)
    app.command("export-badpixels")(export_badpixels_command)

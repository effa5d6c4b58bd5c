"""``badpix background``: median background images (dcnum-compatible sparse or rolling median)."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import typer

from ._common import QuietOption, frame_progress, info, out

ORDER = 40


def background_command(
    input: str = typer.Argument(..., help="Stack: .rtdc/HDF5 file (events/image), folder, glob, "
                                "TIFF or .npy; 'file.h5:group/dataset' picks a dataset."),
    output: Path = typer.Option(..., "--output", "-o",
                                help="Output: .rtdc/.h5/.hdf5 file (dcnum/dclab layout) or a "
                                "folder (image_bg.tif + frames.csv + background.json)."),
    method: str = typer.Option("sparse", "--method", "-m", help="sparse or rolling."),
    kernel_size: int = typer.Option(None, "--kernel-size", "-k",
                                    help="Frames per median window [default: 200 sparse, "
                                    "100 rolling (must be even)]."),
    split_time: float = typer.Option(1.0, "--split-time", help="Sparse: seconds between images."),
    thresh_cleansing: float = typer.Option(0.0, "--thresh-cleansing",
                                           help="Sparse: cleansing threshold factor "
                                           "(0 = keep the --frac-cleansing quantile)."),
    frac_cleansing: float = typer.Option(0.8, "--frac-cleansing",
                                         help="Sparse: fraction of images to keep (1 = no "
                                         "cleansing)."),
    no_offset_correction: bool = typer.Option(False, "--no-offset-correction",
                                              help="Sparse: do not compute bg_off."),
    subtract: Path = typer.Option(None, "--subtract",
                                  help="Also write corrected frames (frame - image_bg - bg_off, "
                                  "float32) to this .npy/.tif/.h5 file."),
    compression: str = typer.Option("zstd", "--compression",
                                    help="HDF5 output: zstd (hdf5plugin, as dcnum), gzip or none."),
    image_format: str = typer.Option("tif", "--image-format",
                                     help="Folder output: tif or npy."),
    quiet: bool = QuietOption,
) -> None:
    """Median background per frame, bit-identical to dcnum 0.31 (RT-DC / imaging flow cytometry).

    Examples:

      badpix background M001.rtdc -o M001_bg.rtdc

      badpix background M001.rtdc -o M001_bg.rtdc --method rolling --kernel-size 100

      badpix background frames/ -o bg/ --kernel-size 50 --split-time 0.5
    """
    from ..background import background_to_file

    advance: list = [lambda n: None]

    with contextlib.ExitStack() as stack, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        def on_start(src) -> None:
            # the bar starts once the input is open and its frame count known
            info(f"{src.label}: {src.n_frames} frames of {src.frame_shape} {src.dtype}", quiet)
            advance[0] = stack.enter_context(
                frame_progress(f"background ({method})", src.n_frames, quiet))

        result, written = background_to_file(
            input, output, method=method, kernel_size=kernel_size, split_time=split_time,
            thresh_cleansing=thresh_cleansing, frac_cleansing=frac_cleansing,
            offset_correction=not no_offset_correction, subtract=subtract,
            compression=compression, image_format=image_format,
            progress=lambda n: advance[0](n), on_start=on_start)
    notes = list(result.notes)
    for w in caught:
        text = str(w.message)
        if text not in notes:
            notes.append(text)
    for note in notes:
        info(f"note: {note}", quiet)
    n_img = len(set(result.index.tolist()))
    line = f"{result.n_frames} frames -> {n_img} background image(s)"
    if result.method == "sparse":
        line += (f" (kept {int(result.kept.sum())} of {len(result.kept)} after cleansing; "
                 f"times from {result.time_source})")
    info(line, quiet)
    for p in written:
        out.print(str(p))


def register(app: typer.Typer) -> None:
    app.command("background", help=background_command.__doc__)(background_command)

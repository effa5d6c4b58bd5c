"""``badpix synth``: write a synthetic stack with planted defects and its truth."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer

from ..errors import ParameterError
from ._common import QuietOption, info, out

ORDER = 50


def _shape(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise ParameterError(f"--shape must be H,W (e.g. 256,256), got {text!r}") from None
    return h, w


def synth_command(
    output: Path = typer.Argument(..., help="Folder to write (frames, truth.json, truth_mask.npz)."),
    kind: str = typer.Option("npy", "--kind", help="npy, png, jpeg, tiff, geotiff or h5."),
    frames: int = typer.Option(40, "--frames", "-n", help="Number of frames."),
    shape: str = typer.Option("256,256", "--shape", help="Frame size H,W."),
    channels: int = typer.Option(1, "--channels", "-c", help="Channels per frame."),
    dtype: str = typer.Option("uint16", "--dtype", help="uint8, uint16 or float32."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same stack)."),
    strength: float = typer.Option(1.0, "--strength",
                                   help="Scales every planted offset (< 1 is harder)."),
    fraction: float = typer.Option(2e-4, "--fraction",
                                   help="Fraction of pixels planted per defect class."),
    scene: str = typer.Option("moving", "--scene", help="moving, static or flat."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a non-empty folder."),
    quiet: bool = QuietOption,
) -> None:
    """Synthetic stack (smooth moving scene, noise, drift) with planted defects of every class.

    Example: badpix synth syn/ --kind npy --frames 40 --shape 256,256 --dtype uint16
    """
    from ..synth import write_synthetic

    truth = write_synthetic(output, kind, overwrite=overwrite, shape=_shape(shape),
                            n_frames=frames, channels=channels, dtype=dtype, seed=seed,
                            strength=strength, defect_fraction=fraction, scene=scene)
    kinds = Counter(p.kind for p in truth.pixels)
    out.print(f"{output}: {frames} frames of {truth.shape} {truth.dtype} ({kind}); planted "
              + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    if kind == "jpeg":
        info("note: JPEG compression smears defects into their neighbours", quiet)
    info(f"truth: {output / 'truth.json'}", quiet)


def register(app: typer.Typer) -> None:
    app.command("synth")(synth_command)

"""Synthetic stacks on disk, written with the libraries real data comes from.

:func:`write_synthetic` writes the frames of :func:`~badpix.synth.make.make_synthetic`
as ``.npy``, PNG, JPEG, TIFF, GeoTIFF or one HDF5 file, plus ``truth.json`` and
``truth_mask.npz``, into a folder that appears complete or not at all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import ParameterError
from ..io.atomic import StagedDir
from .make import make_synthetic
from .truth import Truth

__all__ = ["WRITE_KINDS", "write_synthetic"]

WRITE_KINDS = ("npy", "jpeg", "png", "tiff", "geotiff", "h5")


def write_synthetic(out: str | os.PathLike, kind: str = "npy", *, quality: int = 95,
                    overwrite: bool = False, **make_kwargs) -> Truth:
    """Make a synthetic stack and write it to the folder ``out`` with the real libraries.

    ``kind``: ``npy`` (``frame_0000.npy`` per frame), ``png`` / ``jpeg`` (Pillow;
    uint8, or uint16 grey for PNG), ``tiff`` (tifffile, one file per frame),
    ``geotiff`` (rasterio, one file per frame, EPSG:32633 UTM 33N, 10 m pixels),
    ``h5`` (h5py, ``stack.h5`` with dataset ``events/image`` of shape
    ``(n, rows, cols[, channels])``).  Also writes ``truth.json`` and
    ``truth_mask.npz`` (``mask``: uint8 ``(rows, cols, channels)`` expected bits).
    JPEG is lossy: 8x8-block compression smears every defect into its
    neighbours and blurs small offsets, so expect lower precision there.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> t = write_synthetic(d, "npy", shape=(16, 16), n_frames=4, dtype="uint8",
    ...                     counts={"stuck": 1})
    >>> sorted(p.name for p in Path(d).iterdir())[:2], len(t.pixels)
    (['frame_0000.npy', 'frame_0001.npy'], 1)
    """
    if kind not in WRITE_KINDS:
        raise ParameterError(f"kind must be one of {', '.join(WRITE_KINDS)}, got {kind!r}")
    dtype = np.dtype(make_kwargs.get("dtype", "uint16"))
    channels = int(make_kwargs.get("channels", 1))
    if kind == "jpeg" and (dtype != np.uint8 or channels not in (1, 3)):
        raise ParameterError("jpeg needs --dtype uint8 and 1 or 3 channels")
    if kind == "png" and not (dtype == np.uint8 and channels in (1, 3, 4)
                              or dtype == np.uint16 and channels == 1):
        raise ParameterError("png needs uint8 with 1, 3 or 4 channels, or uint16 grey")
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        from ..errors import OutputError

        raise OutputError(f"{out}: folder is not empty (use --overwrite)")
    syn = make_synthetic(**make_kwargs)
    with StagedDir(out) as stage:
        d = stage.path
        if kind == "h5":
            import h5py

            data = syn.frames[..., 0] if channels == 1 else syn.frames
            with h5py.File(d / "stack.h5", "w") as f:
                ds = f.create_dataset("events/image", data=data,
                                      chunks=(1, *data.shape[1:]), compression="gzip")
                ds.attrs["description"] = "badpix synthetic stack"
        else:
            for i, frame in enumerate(syn.iter_frames()):
                _write_frame(d, i, frame, kind, quality)
        (d / "truth.json").write_text(json.dumps(syn.truth.to_dict(), indent=1))
        # .npz: not a frame suffix, so a scan of this folder does not pick it up
        np.savez_compressed(d / "truth_mask.npz", mask=syn.truth.mask())
    return syn.truth


def _write_frame(d: Path, i: int, frame: np.ndarray, kind: str, quality: int) -> None:
    name = f"frame_{i:04d}"
    if kind == "npy":
        np.save(d / f"{name}.npy", frame)
    elif kind in ("png", "jpeg"):
        from PIL import Image

        if frame.dtype == np.uint16:
            img = Image.fromarray(frame.astype(np.uint16), mode=None)
        else:
            img = Image.fromarray(frame)
        if kind == "png":
            img.save(d / f"{name}.png")
        else:
            img.save(d / f"{name}.jpg", quality=quality)
    elif kind == "tiff":
        import tifffile

        tifffile.imwrite(d / f"{name}.tif", frame,
                         photometric="rgb" if frame.ndim == 3 and frame.shape[2] == 3
                         else "minisblack")
    else:  # geotiff
        import rasterio
        from affine import Affine

        bands = frame[None] if frame.ndim == 2 else np.moveaxis(frame, -1, 0)
        with rasterio.open(d / f"{name}.tif", "w", driver="GTiff", width=bands.shape[2],
                           height=bands.shape[1], count=bands.shape[0], dtype=bands.dtype.name,
                           crs="EPSG:32633", transform=Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4650000.0),
                           ) as dst:
            dst.write(bands)

"""The background section of a report: background level, cleansing decisions, ``bg_off``.

Renders a :class:`~badpix.background.result.BackgroundResult`, given directly
or read from ``background.h5`` in the scan folder.  ``badpix background`` has
no file writer yet; until it has, the reader accepts the layout of
:meth:`BackgroundResult.to_xarray` written flat to HDF5: datasets
``image_bg`` (M, rows, cols[, ch]), ``index`` (N,), optional ``bg_off`` (N,),
``time`` (N,), ``step_times`` (M_all,), ``kept`` (M_all,) bool, and root
attributes ``method`` plus the parameters.

>>> background_section("/nonexistent")
''
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import numpy as np

#: file names looked for in a scan folder, first match wins
BACKGROUND_FILES = ("background.h5", "background.hdf5")


def load_background(path: str | os.PathLike):
    """A :class:`BackgroundResult` from an HDF5 file in the layout above."""
    import h5py

    from ..background.result import BackgroundResult
    from ..errors import InputError

    try:
        with h5py.File(path, "r") as f:
            def get(name: str) -> np.ndarray | None:
                return f[name][()] if name in f else None

            if "index" not in f:
                raise InputError(path, "not a badpix background file (no 'index' dataset)")
            params = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()
                      if k != "method"}
            method = f.attrs.get("method", "sparse")
            if isinstance(method, bytes):
                method = method.decode()
            kept = get("kept")
            return BackgroundResult(str(method), get("image_bg"), get("index"),
                                    bg_off=get("bg_off"), times=get("time"),
                                    step_times=get("step_times"),
                                    kept=None if kept is None else kept.astype(bool),
                                    params=params)
    except OSError as exc:
        raise InputError(path, f"cannot read background file ({exc})") from None


def _image_levels(images: np.ndarray | None) -> np.ndarray | None:
    if images is None or len(images) == 0:
        return None
    return images.reshape(len(images), -1).mean(axis=1, dtype=np.float64)


def background_section_from_result(result, title: str = "Background") -> str:
    """HTML of a background run: three plots and a table of the parameters."""
    from . import plots
    from .quicklook import data_uri

    def img(png: bytes, alt: str) -> str:
        return (f'<figure><img class="plot" alt="{html.escape(alt)}" src="{data_uri(png)}">'
                "</figure>")

    n = result.n_frames
    t = result.times if result.times is not None else np.arange(n, dtype=np.float64)
    xlabel = "time (s)" if result.times is not None else "frame"
    parts = []
    levels = _image_levels(result.images)
    if levels is not None:
        per_frame = levels[np.asarray(result.index, np.int64)]
        parts.append(img(plots.series_png(t, {"mean of the frame's background image": per_frame},
                                          "background level per frame", xlabel, "mean value"),
                         "background series"))
    if result.kept is not None and result.step_times is not None:
        kept = np.asarray(result.kept, bool)
        st = np.asarray(result.step_times, np.float64)
        decision = kept.astype(np.float64)
        rejected = np.column_stack([st[~kept], np.zeros(int((~kept).sum()))])
        parts.append(img(plots.series_png(st, {"kept (1) / dropped (0)": decision},
                                          f"cleansing: {int(kept.sum())} of {kept.size} "
                                          "background images kept", xlabel if
                                          result.times is not None else "step", "kept",
                                          marks={"dropped": rejected}),
                         "cleansing decision per image"))
    if result.bg_off is not None:
        parts.append(img(plots.series_png(t, {"bg_off": np.asarray(result.bg_off)},
                                          "offset correction bg_off", xlabel, "bg_off"),
                         "bg_off over time"))
    rows = [("method", result.method), ("frames", n),
            ("background images", "–" if result.images is None else len(result.images))]
    if result.kept is not None:
        kept = np.asarray(result.kept, bool)
        rows.append(("cleansing", f"{int(kept.sum())} of {kept.size} background images kept"))
    rows += [(k, v) for k, v in (result.params or {}).items()]
    rows += [("note", note) for note in getattr(result, "notes", [])]
    table = "<table class=\"kv\">" + "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in rows) + "</table>"
    return (f'<section id="background"><h2>{html.escape(title)}</h2>{table}'
            f'<div class="grid">{"".join(f"<div>{p}</div>" for p in parts)}</div></section>')


def background_section(scan_dir: str | os.PathLike, result: Any = None) -> str:
    """The section for ``result`` or for a background file in ``scan_dir``; ``""`` if none."""
    if result is None:
        d = Path(scan_dir)
        path = next((d / f for f in BACKGROUND_FILES if (d / f).is_file()), None)
        if path is None:
            return ""
        result = load_background(path)
    return background_section_from_result(result)

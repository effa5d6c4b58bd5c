"""Harmonic inpainting: a smooth fill of each connected bad region from its boundary.

Each bad pixel ``u_i`` satisfies the discrete Laplace equation over its
4-neighbours inside the image: ``deg_i * u_i - sum(bad neighbours u_j) = sum(valid
neighbour values)``.  Valid pixels are the Dirichlet boundary; the image edge is
a free (Neumann) boundary because outside neighbours are simply not counted.  The
sparse system depends only on the mask, so it is LU-factorised once
(:func:`scipy.sparse.linalg.splu`) and every frame is one sparse product plus one
triangular solve with all frames as right-hand-side columns.

With a Bayer ``cfa`` each of the four 2x2 sub-lattices (R, G1, G2, B) is solved on
its own, so colours never mix.  A region that touches no valid pixel (a whole
channel flagged) is left unchanged.

>>> import numpy as np
>>> img = np.add.outer(np.arange(6.0), np.arange(6.0))     # a plane: harmonic
>>> bad = np.zeros((6, 6), bool); bad[2:4, 1:5] = True
>>> out = fill_array(np.where(bad, np.nan, img), bad)
>>> bool(np.allclose(out, img))
True
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy import ndimage
from scipy.sparse.linalg import splu

from ..errors import InputError, OutputError, ParameterError
from ..io.atomic import atomic_path
from ..io.base import GeoRef
from ..io.writers import command_tags, write_geotiff


@dataclass
class HarmonicSolver:
    """Factorised harmonic fill for a fixed mask ``(h, w, c)``.

    ``targets`` are flat indices (C order) of the pixels solved for;
    :meth:`solve` maps a block of flattened frames ``(n, h*w*c)`` to their new
    values ``(n, len(targets))``.
    """

    targets: np.ndarray
    unrepairable: np.ndarray
    boundary: sp.csr_matrix | None  # (n_targets, n_sources): sums valid neighbour values
    sources: np.ndarray  # flat indices of the valid neighbours
    lu: object | None

    @classmethod
    def build(cls, mask: np.ndarray, cfa: str | None = None) -> HarmonicSolver:
        m = np.asarray(mask, bool)
        if m.ndim == 2:
            m = m[:, :, None]
        h, w, c = m.shape
        index = np.arange(h * w * c, dtype=np.int64).reshape(h, w, c)
        planes = []  # (bad 2-D plane, flat index of each plane pixel)
        for ch in range(c):
            if cfa is None:
                planes.append((m[:, :, ch], index[:, :, ch]))
            else:
                for dy in (0, 1):
                    for dx in (0, 1):
                        planes.append((m[dy::2, dx::2, ch], index[dy::2, dx::2, ch]))
        rows_a, cols_a, rows_b, cols_b = [], [], [], []
        diag: list[np.ndarray] = []
        targets, lost = [], []
        n_t = 0
        for bad, idx in planes:
            if not bad.any():
                continue
            labels, n_lab = ndimage.label(bad)  # 4-connectivity: the stencil's
            # components that touch a valid pixel; the others cannot be solved
            touch = ndimage.binary_dilation(~bad) & bad
            good_labels = np.zeros(n_lab + 1, bool)
            good_labels[np.unique(labels[touch])] = True
            good_labels[0] = False
            solve = good_labels[labels]
            lost.append(idx[bad & ~solve])
            if not solve.any():
                continue
            ph, pw = bad.shape
            local = np.full(bad.shape, -1, np.int64)
            ys, xs = np.nonzero(solve)
            local[ys, xs] = n_t + np.arange(ys.size)
            targets.append(idx[ys, xs])
            deg = np.zeros(ys.size)
            for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                yy, xx = ys + dy, xs + dx
                inside = (yy >= 0) & (yy < ph) & (xx >= 0) & (xx < pw)
                deg += inside
                yi, xi = yy[inside], xx[inside]
                me = local[ys[inside], xs[inside]]
                nb_bad = bad[yi, xi]
                # a bad neighbour is an unknown of the same component
                rows_a.append(me[nb_bad])
                cols_a.append(local[yi[nb_bad], xi[nb_bad]])
                rows_b.append(me[~nb_bad])
                cols_b.append(idx[yi[~nb_bad], xi[~nb_bad]])
            diag.append(deg)
            n_t += ys.size
        empty = np.empty(0, np.int64)
        lost_all = np.sort(np.concatenate(lost)) if lost else empty
        if n_t == 0:
            return cls(empty, lost_all, None, empty, None)
        ra, ca = np.concatenate(rows_a), np.concatenate(cols_a)
        dg = np.concatenate(diag)
        a = sp.csc_matrix(
            (np.concatenate([dg, -np.ones(ra.size)]),
             (np.concatenate([np.arange(n_t), ra]), np.concatenate([np.arange(n_t), ca]))),
            shape=(n_t, n_t))
        rb, cb = np.concatenate(rows_b), np.concatenate(cols_b)
        sources, cb_local = np.unique(cb, return_inverse=True)
        boundary = sp.csr_matrix((np.ones(rb.size), (rb, cb_local)), shape=(n_t, sources.size))
        return cls(np.concatenate(targets), lost_all, boundary, sources, splu(a))

    def solve(self, flat: np.ndarray) -> np.ndarray:
        """New values ``(n, n_targets)`` for frames ``flat`` ``(n, pixels)``."""
        if self.lu is None:
            return np.empty((flat.shape[0], 0))
        vals = flat[:, self.sources].astype(np.float64)  # (n, n_sources)
        rhs = self.boundary @ vals.T  # (n_targets, n)
        return np.asarray(self.lu.solve(np.ascontiguousarray(rhs))).T


def fill_array(image: np.ndarray, mask: np.ndarray | None = None,
               max_size: int | None = None) -> np.ndarray:
    """Harmonic fill of ``mask`` (default: the NaN pixels) in a 2-D or (h, w, c) image.

    Regions larger than ``max_size`` pixels (per channel) are left as they are.
    Returns a new array of the input dtype.

    >>> import numpy as np
    >>> fill_array(np.array([[1.0, np.nan, 3.0]])).tolist()
    [[1.0, 2.0, 3.0]]
    """
    img = np.asarray(image)
    if mask is None:
        mask = np.isnan(img) if img.dtype.kind == "f" else np.zeros(img.shape, bool)
    m = np.asarray(mask, bool)
    if m.shape[:2] != img.shape[:2]:
        raise ParameterError(f"mask shape {m.shape} does not match the image's {img.shape}")
    m3 = m if m.ndim == 3 else m[:, :, None]
    if img.ndim == 3 and m3.shape[2] != img.shape[2]:
        m3 = np.broadcast_to(m3, img.shape)
    if max_size is not None:
        m3 = m3.copy()
        for ch in range(m3.shape[2]):
            labels, n = ndimage.label(m3[:, :, ch])
            if n:
                sizes = np.bincount(labels.ravel())
                big = sizes > max_size
                big[0] = False
                m3[:, :, ch] &= ~big[labels]
    from .plan import RepairPlan

    out = np.array(img, copy=True)
    frame = out if out.ndim == 3 else out[:, :, None]
    RepairPlan.build(m3, "inpaint", frame_shape=frame.shape).apply(frame)
    return out


def fill_raster(source: str | os.PathLike, output: str | os.PathLike, *,
                max_size: int | None = None) -> dict:
    """Fill nodata/NaN gaps of a single raster and write it with the same CRS, transform,
    nodata, tags and band descriptions (atomically), plus ``badpix_*`` provenance tags.
    A GeoTIFF input gives a Cloud Optimized GeoTIFF of the input's dtype.

    Returns ``{"filled": n_pixels, "left": n_pixels}``.

    >>> fill_raster("dem.tif", "dem_filled.tif")          # doctest: +SKIP
    {'filled': 1234, 'left': 0}
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    src_path = Path(source)
    if not src_path.is_file():
        raise InputError(src_path, "no such file")
    out_path = Path(output)
    if out_path.resolve() == src_path.resolve():
        raise OutputError(f"{out_path}: is the input; choose another output file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            with rasterio.open(src_path) as src:
                data = src.read()
                profile = src.profile.copy()
                tags = src.tags()
                band_tags = [src.tags(i + 1) for i in range(src.count)]
                descriptions = src.descriptions
                nodata = src.nodata
                colorinterp = src.colorinterp
        except RasterioIOError as exc:
            raise InputError(src_path, f"not a readable raster ({exc})") from None
    gaps = np.zeros(data.shape, bool)
    if nodata is not None:
        gaps |= np.isnan(data) if np.isnan(nodata) else data == nodata
    if data.dtype.kind == "f":
        gaps |= np.isnan(data)
    image = np.moveaxis(data, 0, -1)
    filled = fill_array(image, np.moveaxis(gaps, 0, -1), max_size=max_size)
    out = np.ascontiguousarray(np.moveaxis(filled, -1, 0))
    left = int((out == nodata).sum()) if nodata is not None and not np.isnan(nodata) else 0
    if out.dtype.kind == "f":
        left += int(np.isnan(out).sum())
    tags = {**tags, **command_tags(f"fill max_size={max_size}", src_path)}
    if profile["driver"] in ("GTiff", "COG"):
        # GeoTIFF in, Cloud Optimized GeoTIFF out, in the input's dtype
        crs = profile.get("crs")
        gt = tuple(float(v) for v in profile["transform"].to_gdal())
        plain = crs is None and gt == (0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
        write_geotiff(out_path, out, georef=None if plain else GeoRef(
                          crs.to_wkt() if crs else None, gt),
                      nodata=nodata, tags=tags, band_tags=band_tags,
                      descriptions=descriptions if any(descriptions) else None)
        return {"filled": int(gaps.sum()) - left, "left": left}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with atomic_path(out_path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
            dst.write(out)
            dst.update_tags(**tags)
            for i in range(dst.count):
                if band_tags[i]:
                    dst.update_tags(i + 1, **band_tags[i])
                if descriptions[i]:
                    dst.set_band_description(i + 1, descriptions[i])
            if colorinterp:
                dst.colorinterp = colorinterp
    return {"filled": int(gaps.sum()) - left, "left": left}

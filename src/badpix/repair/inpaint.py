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
>>> from badpix.repair.fill import fill_array
>>> img = np.add.outer(np.arange(6.0), np.arange(6.0))     # a plane: harmonic
>>> bad = np.zeros((6, 6), bool); bad[2:4, 1:5] = True
>>> out = fill_array(np.where(bad, np.nan, img), bad)
>>> bool(np.allclose(out, img))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import ndimage
from scipy.sparse.linalg import splu


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

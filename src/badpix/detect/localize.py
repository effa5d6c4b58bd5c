"""Localise smeared detections (JPEG) to the defective pixel itself.

JPEG spreads a hot pixel over its 8×8 block (and chroma subsampling over 2×2
more), so rules on a JPEG series flag a small blob around the culprit.
:func:`localize` keeps, in each connected blob of the flag mask (8-connected),
only the pixel with the highest score, and reports how sure that choice is.
With ``gap > 1`` flagged pixels up to ``gap`` pixels apart (Chebyshev) form one
blob (an even ``gap`` reaches one pixel further): JPEG ringing leaves detached spots within the 8×8 block, so use
``gap=8`` for JPEG series (two real defects closer than that are then reported
as the stronger one, with a low confidence).



``confidence = peak score / second-best score``

where the second best is the highest score among the blob's other pixels and
the peak's 8 neighbours (flagged or not).  ``confidence >= 2``: the peak is
clearly the defect; near 1: two pixels are equally strong and the position is
uncertain by the distance between them.  Scores <= 0 count as 0, so a lone
flagged pixel with quiet neighbours gets ``inf``.  Blobs larger than
``max_size`` pixels (default 64, one JPEG block) are real clusters or
column defects: they are kept whole, with confidence NaN.

>>> import numpy as np
>>> score = np.zeros((6, 6)); score[1:4, 1:4] = 2.0; score[2, 2] = 9.0
>>> mask = score > 1
>>> peak, conf = localize(mask, score)
>>> np.argwhere(peak).tolist(), float(conf[2, 2])
([[2, 2]], 4.5)
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import ParameterError

__all__ = ["localize"]

_EIGHT = np.ones((3, 3), bool)


def localize(mask: np.ndarray, score: np.ndarray, gap: int = 1,
             max_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Peak pixel of every blob of ``mask`` and its localisation confidence.

    Parameters
    ----------
    mask
        ``(h, w)`` bool (or flag image: nonzero = flagged).
    score
        ``(h, w)`` float, larger = more defective (e.g. ``classify``'s ``score``).
    gap
        Flagged pixels at most this far apart (chessboard distance) are one
        blob; 1 = 8-connected, 8 = within a JPEG block.
    max_size
        Blobs with more pixels are kept whole (confidence NaN).

    Returns
    -------
    peaks
        bool ``(h, w)``: one pixel per blob (whole blobs above ``max_size``).
    confidence
        float32 ``(h, w)``: peak / second-best score at the peaks (see module), NaN elsewhere.
    """
    m = np.asarray(mask) != 0
    score = np.asarray(score)
    if gap < 1:
        raise ParameterError(f"localize: gap must be >= 1, got {gap}")
    peaks = np.zeros(m.shape, bool)
    conf = np.full(m.shape, np.nan, np.float32)
    rr, cc = np.nonzero(m)
    if rr.size == 0:
        return peaks, conf
    lab = _blob_labels(m, rr, cc, gap)
    val = _clean(score[rr, cc])
    order = np.lexsort((-val, lab))  # by blob, best score first
    lab_sorted = lab[order]
    first = np.flatnonzero(np.r_[True, lab_sorted[1:] != lab_sorted[:-1]])
    sizes = np.diff(np.r_[first, lab_sorted.size])
    best = order[first]
    second_in_blob = np.where(sizes > 1, val[order[np.minimum(first + 1, order.size - 1)]], 0.0)
    pr, pc = rr[best], cc[best]
    second = np.maximum(second_in_blob, _neighbour_max(score, pr, pc))
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(second > 0, val[best] / second, np.inf)
    small = sizes <= max_size
    peaks[pr[small], pc[small]] = True
    conf[pr[small], pc[small]] = c[small]
    big_labels = lab_sorted[first[~small]]
    if big_labels.size:
        whole = np.isin(lab, big_labels)
        peaks[rr[whole], cc[whole]] = True
    return peaks, conf


def _clean(values: np.ndarray) -> np.ndarray:
    """Scores as used here: NaN -> 0, +inf -> largest float, negatives -> 0."""
    v = np.nan_to_num(np.asarray(values, np.float64), nan=0.0, posinf=np.finfo(float).max)
    return np.maximum(v, 0.0)


#: above this many flagged pixels the image-wide dilation is cheaper than point pairs
_DENSE = 200_000


def _blob_labels(m: np.ndarray, rr: np.ndarray, cc: np.ndarray, gap: int) -> np.ndarray:
    """Blob id of every flagged pixel ``(rr, cc)`` (row-major order).

    Squares of half-size ``gap // 2`` around two pixels touch (8-connected) exactly when
    the pixels are at most ``2 * (gap // 2) + 1`` apart (chessboard), so blobs are the
    connected components of that distance graph: found from point pairs when flags are
    sparse (the usual case: no image-wide pass), by dilation and labelling otherwise.
    """
    k = gap // 2
    if rr.size > _DENSE:
        grown = ndimage.binary_dilation(m, np.ones((2 * k + 1, 2 * k + 1), bool)) if k else m
        labels, _ = ndimage.label(grown, structure=_EIGHT)
        return labels[rr, cc]
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    pairs = cKDTree(np.column_stack([rr, cc])).query_pairs(r=2 * k + 1, p=np.inf,
                                                          output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs), np.int8), (pairs[:, 0], pairs[:, 1])),
                       shape=(rr.size, rr.size))
    return connected_components(graph, directed=False)[1]


def _neighbour_max(score: np.ndarray, pr: np.ndarray, pc: np.ndarray) -> np.ndarray:
    """Highest score among the 8 neighbours of each ``(pr, pc)``, flagged or not (outside: 0)."""
    h, w = score.shape
    best = np.zeros(pr.size)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr == dc == 0:
                continue
            r, c = pr + dr, pc + dc
            inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
            v = np.zeros(pr.size)
            v[inside] = _clean(score[r[inside], c[inside]])
            np.maximum(best, v, out=best)
    return best

"""numba kernels of the rules: one pass per rule instead of a numpy pass per operation.

Rule outputs are band-size arrays, and on small VMs every band-size temporary is
fresh memory (page faults cost more than the arithmetic): :func:`pack_rule`
folds a rule's mask into the flags and its severity into the running maximum in
one pass, with no temporaries.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def pack_rule(flags, bit, mask, score, threshold, severity):  # pragma: no cover - numba
    """``flags |= bit`` where ``mask``; ``severity = fmax(severity, score / threshold)``.

    ``threshold <= 0``: the severity is ``inf`` where flagged, else 0 (no scale to
    divide by).  NaN severities leave ``severity`` as it is (``np.fmax``).
    """
    h, w = flags.shape
    for r in prange(h):
        for c in range(w):
            m = mask[r, c]
            if m:
                flags[r, c] |= bit
            if threshold > 0:
                s = np.float64(score[r, c]) / threshold
            else:
                s = np.inf if m else 0.0
            if s > severity[r, c]:  # False for NaN s: fmax keeps the other value
                severity[r, c] = s


@njit(parallel=True, cache=True)
def neginf_to_nan(a):  # pragma: no cover - numba
    """``a[a == -inf] = nan`` in place (pixels no rule could score)."""
    h, w = a.shape
    for r in prange(h):
        for c in range(w):
            if a[r, c] == -np.inf:
                a[r, c] = np.nan

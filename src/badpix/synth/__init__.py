"""Synthetic stacks with planted defects and their ground truth.

The scene is smooth and moving (Gaussian blobs drifting over a gradient), each
frame gets an optional global gain/offset drift, then shot + read noise; then
defects of every class are planted at known pixels:

========== ====================================================== ===========================
kind       what the pixel does                                    expected flag bits
========== ====================================================== ===========================
stuck      constant at its clean temporal mean (no noise)         STUCK
stuck_high constant at the top of the range (saturated)           STUCK | HOT | OUTLIER
outlier    clean value + constant offset (the "drifting" pixel)   OUTLIER
hot        clean value + large positive offset                    HOT | OUTLIER
dead       black level + 5 % of the signal, with read noise       DEAD | OUTLIER
dead_floor constant 0                                             DEAD | OUTLIER | STUCK
noisy      clean value + large extra Gaussian temporal noise      NOISY
telegraph  clean value +/- a two-level jump (only if asked for)   NOISY
========== ====================================================== ===========================

A hot or dead pixel is by definition also a neighbourhood outlier, so its
truth carries both bits.  Offsets are measured in the clean stack's own
robust units, the same ones the rules use: ``s_mean`` (1.4826 x MAD of
``mean - local_median(mean)``), ``s_median`` (mean absolute deviation of the
median from its local median) and ``s_std`` (1.4826 x MAD of ``std -
local_median(std)``).  With ``strength=1`` an outlier offset is
0.55-0.8 x ``hot_z`` s_mean (and at least 1.5 x ``outlier_k`` s_median), a hot
offset 2-4 x ``hot_z`` s_mean, a noisy pixel's std rises by 1.5-2.5 x
``noisy_z`` s_std (default :class:`~badpix.detect.params.RuleParams`).  So the
classes are separable by construction at the default thresholds, and
``strength < 1`` makes them harder.

Data units: uint8 and uint16 use their full range; float32 frames carry values
on a 12-bit scale (0-4095) so that ``stuck_std = 1`` means the same thing.

The generator is :mod:`badpix.synth.make`, the ground truth (``truth.json``)
:mod:`badpix.synth.truth` and the writer of stacks on disk :mod:`badpix.synth.write`;
every public name is re-exported here.

>>> s = make_synthetic((32, 32), n_frames=12, dtype="uint8", seed=1, counts={"hot": 2})
>>> s.frames.shape, s.frames.dtype, [p.kind for p in s.truth.pixels]
((12, 32, 32, 1), dtype('uint8'), ['hot', 'hot'])
"""

from __future__ import annotations

from .make import SyntheticStack, make_synthetic
from .truth import KIND_FLAGS, PlantedPixel, Truth
from .write import WRITE_KINDS, write_synthetic

__all__ = ["KIND_FLAGS", "PlantedPixel", "SyntheticStack", "Truth", "make_synthetic",
           "write_synthetic", "WRITE_KINDS"]

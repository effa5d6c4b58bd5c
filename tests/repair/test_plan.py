"""Repair plans on hand-made masks: edges, corners, clusters, columns, NaN, Bayer."""

from __future__ import annotations

import numpy as np
import pytest

from badpix.errors import ParameterError
from badpix.repair import RepairPlan, repair

D = 1 / np.sqrt(2)


def plane(h: int = 7, w: int = 9) -> np.ndarray:
    """A linear ramp: every symmetric weighted mean reproduces it exactly."""
    return np.add.outer(3.0 * np.arange(h), 2.0 * np.arange(w)) + 100


@pytest.mark.parametrize("y,x", [(0, 0), (0, 8), (6, 0), (6, 8), (0, 4), (6, 4), (3, 0), (3, 8)])
def test_edge_and_corner_pixels_use_only_inside_neighbours(y, x):
    img = plane()
    mask = np.zeros(img.shape, bool)
    mask[y, x] = True
    bad = img.copy()
    bad[y, x] = 1e6
    out = repair(bad, mask)
    h, w = img.shape
    num = den = 0.0
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            yy, xx = y + dy, x + dx
            if (dy or dx) and 0 <= yy < h and 0 <= xx < w:
                wt = D if dy and dx else 1.0
                num += wt * img[yy, xx]
                den += wt
    assert out[y, x] == pytest.approx(num / den)
    assert np.array_equal(np.delete(out.ravel(), y * w + x), np.delete(img.ravel(), y * w + x))


def test_cluster_centre_grows_to_radius_two():
    img = plane()
    mask = np.zeros(img.shape, bool)
    mask[2:5, 3:6] = True
    out = repair(np.where(mask, -5.0, img), mask)
    # the centre sees only the ring at distance 2, which is symmetric: exact on a ramp
    assert out[3, 4] == pytest.approx(img[3, 4])
    # a corner of the cluster never averages in the planted -5 values
    assert out[2, 3] > 100
    assert np.isfinite(out).all()


def test_dead_column_is_bridged_from_both_sides():
    img = plane()
    mask = np.zeros(img.shape, bool)
    mask[:, 4] = True
    for method in ("neighbors", "median", "inpaint"):
        out = repair(np.where(mask, 0.0, img), mask, method=method)
        err = np.abs(out[:, 4] - img[:, 4])
        # end rows see one side only in y (the ramp rises 3 per row)
        assert err.max() < 1.6, method
        if method != "inpaint":
            assert np.allclose(err[1:-1], 0), method


def test_all_neighbours_bad_uses_the_next_ring_and_lone_channel_is_left():
    mask = np.ones((5, 5), bool)
    mask[4, 4] = False  # one valid pixel, in the corner, far from (0, 0)
    out = repair(np.zeros((5, 5)) + np.where(mask, 7.0, 42.0), mask)
    assert np.all(out == 42.0)
    plan = RepairPlan.build(np.ones((4, 4), bool))
    assert plan.n_repaired == 0 and plan.n_unrepairable == 16
    frame = np.arange(16.0).reshape(4, 4)
    assert np.array_equal(plan.apply(frame.copy()), frame)


def test_integer_output_is_rounded_and_clipped():
    frame = np.array([[250, 255, 250], [255, 0, 255], [250, 255, 251]], np.uint8)
    mask = frame == 0
    out = repair(frame, mask)
    expect = (4 * 255 + D * (250 * 3 + 251)) / (4 + 4 * D)
    assert out.dtype == np.uint8 and out[1, 1] == round(expect)
    assert repair(frame, mask, method="median")[1, 1] == 253  # median of 250x3, 251, 255x4


def test_nan_neighbours_are_skipped_per_frame():
    img = plane()
    stack = np.stack([img, img, img]).astype(np.float32)
    mask = np.zeros(img.shape, bool)
    mask[3, 4] = True
    stack[:, 3, 4] = np.nan  # the bad pixel itself may be NaN
    stack[1, 2, 3:6] = np.nan  # some neighbours NaN in frame 1
    stack[2, 2:5, 3:6] = np.nan  # every radius-1 neighbour NaN in frame 2
    out = repair(stack, mask)
    assert out[0, 3, 4] == pytest.approx(img[3, 4])
    assert out[1, 3, 4] == pytest.approx((img[3, 3] + img[3, 5] + img[4, 4]
                                          + D * (img[4, 3] + img[4, 5])) / (3 + 2 * D))
    assert out[2, 3, 4] == pytest.approx(img[3, 4])  # from the radius-2 ring
    # NaN pixels outside the mask are not invented
    assert np.isnan(out[2, 2, 3]) and np.isnan(out[1, 2, 4])
    assert np.isnan(stack[0, 3, 4])  # the caller's array is untouched
    out_i = repair(stack, mask, method="inpaint")
    assert np.isfinite(out_i[:, 3, 4]).all()


def test_bayer_uses_same_colour_only():
    rng = np.random.default_rng(3)
    h, w = 8, 8
    raw = np.empty((h, w))
    raw[0::2, 0::2] = 1000  # R
    raw[0::2, 1::2] = 500  # G
    raw[1::2, 0::2] = 500  # G
    raw[1::2, 1::2] = 100  # B
    raw += rng.uniform(-1, 1, raw.shape)
    mask = np.zeros((h, w), bool)
    mask[[0, 2, 3, 4, 7], [0, 2, 4, 5, 7]] = True  # R corner, R, G, B, B corner
    out = repair(np.where(mask, 65535.0, raw), mask, cfa="RGGB")
    assert np.allclose(out[mask], np.round(raw[mask], -2), atol=2)
    without = repair(np.where(mask, 65535.0, raw), mask)
    assert abs(without[2, 2] - 1000) > 100  # colour mixing without --cfa
    with pytest.raises(ParameterError, match="cfa"):
        repair(raw, mask, cfa="RGBW")


def test_per_channel_mask_and_shapes():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 4000, (4, 6, 5, 3)).astype(np.uint16)
    mask = np.zeros((6, 5, 3), bool)
    mask[2, 2, 1] = True
    out = repair(frames, mask)
    changed = np.argwhere(out != frames)
    assert set(map(tuple, changed[:, 1:])) <= {(2, 2, 1)}
    assert np.array_equal(out[..., 0], frames[..., 0])
    with pytest.raises(ParameterError, match="does not match"):
        repair(frames, np.zeros((6, 4), bool))
    plan = RepairPlan.build(mask[..., 1])
    with pytest.raises(ParameterError, match="do not match"):
        plan.apply(np.zeros((2, 5, 5)))


def test_inpaint_is_exact_on_harmonic_fields_with_blobs():
    img = plane(20, 30) + 0.5 * np.add.outer(np.arange(20.0), -np.arange(30.0))
    mask = np.zeros(img.shape, bool)
    mask[5:12, 8:15] = True
    mask[:, 25] = True
    mask[0:3, 0:3] = True  # touches the corner: Neumann edges
    out = repair(np.where(mask, 0.0, img), mask, method="inpaint")
    # free (Neumann) image edges: a ramp is not reproduced where a region meets the edge
    assert np.abs(out - img)[mask].max() < 10
    assert np.allclose(out[5:12, 8:15], img[5:12, 8:15])  # interior blob: exact
    assert np.allclose(out[6:14, 25], img[6:14, 25], atol=0.05)

"""Defects visible on every quicklook (rings), finite STUCK scores, photo reports of a few MB."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from badpix.cli import main
from badpix.report import plots
from badpix.report.marks import defect_marks


def _decode(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("RGB")).astype(int)


def test_a_single_defect_becomes_a_ring_of_many_screen_pixels():
    grey = np.full((200, 300, 3), 128, np.uint8)
    flags = np.zeros((200, 300), np.uint8)
    flags[120, 75] = 4  # one hot pixel
    marks = defect_marks(flags, 1, (0, 0))
    assert marks[0].tolist() == [120.0] and marks[1].tolist() == [75.0]
    plain = _decode(plots.image_png(grey, (0, 0), (200, 300), 1, "t"))
    ringed = _decode(plots.image_png(grey, (0, 0), (200, 300), 1, "t", marks=marks))
    changed = np.argwhere(np.abs(ringed - plain).sum(axis=2) > 60)
    assert len(changed) > 60  # a ring, not one pixel
    height, width = changed.max(axis=0) - changed.min(axis=0) + 1
    assert 10 <= height <= 30 and 10 <= width <= 30  # ~15 px across: visible at page scale
    # centred on the defect: the 200 x 300 image is drawn 1:1 inside fixed margins
    top, left = plots.MARGINS[3] * plots.DPI, plots.MARGINS[0] * plots.DPI
    centre = changed.min(axis=0) + (np.array([height, width]) - 1) / 2
    assert abs(centre[0] - (top + 120.5)) < 3 and abs(centre[1] - (left + 75.5)) < 3


def test_marks_follow_pooling_and_prefer_rare_classes():
    flags = np.zeros((40, 40), np.uint8)
    flags[::2, ::2] = 16  # 400 noisy pixels
    flags[33, 9] = 4  # one hot pixel
    rows, cols, colours = defect_marks(flags, 4, (10, 20), limit=5)
    assert len(rows) == 5
    assert (rows[0], cols[0]) == (10 + 32 + 1.5, 20 + 8 + 1.5) and colours[0] == "#d55e00"


@pytest.fixture(scope="module")
def photo_report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:480, 0:640]
    d = tmp / "jpg"
    d.mkdir()
    for i in range(6):
        scene = 120 + 60 * np.sin((xx + 37 * i) / 23.0) * np.cos((yy - 11 * i) / 19.0)
        rgb = scene[..., None] * np.array([1.0, 0.9, 0.8]) + rng.normal(0, 3, (480, 640, 3))
        rgb[100, 200] = 255  # hot
        rgb[300, 500] = 255
        rgb[50:60, 600:610] = 77  # a stuck patch: constant in every frame (std 0)
        Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8)).save(
            d / f"p{i}.jpg", quality=92)
    assert main(["scan", str(d), "-o", str(tmp / "scan"), "--report", "-q"]) == 0
    return tmp / "scan" / "report.html"


def test_photo_report_is_small_with_jpeg_quicklooks_and_rings(photo_report):
    page = photo_report.read_text()
    size = photo_report.stat().st_size
    assert size < 2_500_000, size  # 3.2 MB before (PNG quicklooks of photo content)
    jpegs = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', page)
    assert len(jpegs) >= 6  # mean and std quicklook of each of the 3 bands
    for b64 in jpegs[:2]:
        with Image.open(io.BytesIO(base64.b64decode(b64))) as im:
            assert im.format == "JPEG" and max(im.size) <= 1000
    assert page.count("Rings mark the") >= 6


def test_stuck_score_is_finite_and_readable(photo_report):
    page = photo_report.read_text()
    assert "1e+06" not in page and "1000000" not in page
    assert "constant in every frame" in page and "≥ " in page

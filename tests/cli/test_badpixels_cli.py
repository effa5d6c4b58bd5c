"""``badpix export-badpixels`` on real scans: refused for photos, time 0 from the first frame, --tz."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from badpix.cli import main
from badpix.io.badpixels import read_badpixels_coords
from tests.photo._photo_synth import write_dng

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def test_export_from_jpeg_scan_is_refused_unless_forced(tmp_path, capsys):
    rng = np.random.default_rng(0)
    d = tmp_path / "jpegs"
    d.mkdir()
    for i in range(5):
        img = np.clip(rng.normal(120, 4, (32, 48, 3)), 0, 255).astype(np.uint8)
        img[10, 20] = 255
        Image.fromarray(img).save(d / f"p{i}.jpg", quality=95)
    assert main(["scan", str(d), "-o", str(tmp_path / "scan"), "-q"]) == 0
    capsys.readouterr()
    target = tmp_path / "cam.badpixels"
    assert main(["export-badpixels", str(tmp_path / "scan"), "-o", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a raw mosaic" in err and "--force" in err
    assert not target.exists()
    assert main(["export-badpixels", str(tmp_path / "scan"), "-o", str(target), "--force"]) == 0
    assert "warning" in capsys.readouterr().err
    assert target.is_file()


@pytest.fixture(scope="module")
def dng_scan(tmp_path_factory):
    """12 DNGs a minute apart: photosite A hot from the first photo, B hot from photo 6 on."""
    tmp = tmp_path_factory.mktemp("dng")
    rng = np.random.default_rng(1)
    frames = rng.normal(800, 8, (12, 48, 64))
    frames[:, 10, 20] += 1500  # A
    frames[6:, 30, 40] += 1500  # B
    mosaics = np.clip(np.rint(frames), 0, 4095).astype(np.uint16)
    d = tmp / "raw"
    d.mkdir()
    for i in range(12):
        write_dng(d / f"IMG_{i:04d}.dng", mosaics[i], "RGGB", when=T0 + 60 * i)
    assert main(["scan", str(d), "-o", str(tmp / "scan"), "-q"]) == 0
    return tmp / "scan"


def _times(path) -> dict[tuple[int, int], int]:
    return {(int(r), int(c)): int(t) for c, r, t in read_badpixels_coords(path)}


def test_first_frame_defects_get_time_zero_and_tz_shifts_the_rest(dng_scan, tmp_path):
    utc, berlin = tmp_path / "utc.badpixels", tmp_path / "berlin.badpixels"
    assert main(["export-badpixels", str(dng_scan), "-o", str(utc), "-q"]) == 0
    times = _times(utc)
    assert times[(10, 20)] == 0  # there before the series began: every photo
    late = times[(30, 40)]
    assert T0 + 60 * 5 <= late <= T0 + 60 * 7  # the onset photo's clock time (read as UTC)
    # the camera clock in Berlin (CET in November, +01:00): dcraw's mktime gives one hour less
    assert main(["export-badpixels", str(dng_scan), "-o", str(berlin), "--tz",
                 "Europe/Berlin", "-q"]) == 0
    shifted = _times(berlin)
    assert shifted[(10, 20)] == 0 and shifted[(30, 40)] == late - 3600
    assert "Europe/Berlin" in berlin.read_text().splitlines()[1]
    assert main(["export-badpixels", str(dng_scan), "-o", str(berlin), "--tz", "Mars/Olympus"]) == 2

"""A scan folder is one run: a rescan removes every file of the earlier run, and only those."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from badpix.cli import main
from tests.test_scan import sensor_frames


def _photos(d, n=6):
    rng = np.random.default_rng(4)
    d.mkdir()
    for i in range(n):
        img = np.clip(rng.normal(120, 4, (40, 56, 3)), 0, 255).astype(np.uint8)
        img[12, 30] = 255  # a hot pixel: one persistent defect with an onset
        exif = Image.Exif()
        exif[0x0132] = f"2024:03:{i + 1:02d} 12:00:00"
        ifd = exif.get_ifd(0x8769)
        ifd[0x9003] = f"2024:03:{i + 1:02d} 12:00:00"
        Image.fromarray(img).save(d / f"p{i}.jpg", quality=95, exif=exif)


def test_rescan_removes_report_and_timeline_of_the_previous_run(tmp_path):
    _photos(tmp_path / "photos")
    out = tmp_path / "scan"
    assert main(["scan", str(tmp_path / "photos"), "-o", str(out), "--report", "-q"]) == 0
    assert main(["timeline", str(out)]) == 0
    assert (out / "timeline.png").is_file() and (out / "report.html").is_file()
    outputs = json.loads((out / "summary.json").read_text())["outputs"]
    assert {"timeline.png", "report.html", "summary.json", "defects.csv"} <= set(outputs)
    (out / "my_notes.txt").write_text("mine")  # a user's own file
    (out / "timeline_old.png").write_bytes(b"not ours either")
    src = sensor_frames(tmp_path / "frames", n=5)
    assert main(["scan", str(src), "-o", str(out), "-q"]) == 0
    names = {p.name for p in out.iterdir()}
    assert "timeline.png" not in names and "report.html" not in names
    assert not any(n.startswith("mask_R") or n.startswith("mask_G") for n in names)
    assert {"my_notes.txt", "timeline_old.png"} <= names
    summary = json.loads((out / "summary.json").read_text())
    # exactly the new run's files and the user's two
    assert names == set(summary["outputs"]) | {"my_notes.txt", "timeline_old.png"}

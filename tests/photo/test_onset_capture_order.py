"""``onset_frame`` counts captures, not files; ``onset_file`` names the file (issue 16).

A JPEG series whose file names are shuffled against their EXIF dates: a pixel that
goes hot at the 18th capture must be reported with ``onset_frame`` 17 (not its file's
position in name order) and the file of that capture.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from badpix.cli import main
from badpix.timefmt import format_time

from ._photo_synth import smooth_scene, write_jpeg

T0 = 1_700_000_000.0
HOT = (21, 34)
N, ONSET = 24, 17  # hot from the 18th capture on


@pytest.fixture(scope="module")
def shuffled_series(tmp_path_factory):
    d = tmp_path_factory.mktemp("shuffled")
    rng = np.random.default_rng(16)
    times = np.floor(T0 + 3600.0 * np.cumsum(rng.uniform(1.0, 30.0, N)))  # EXIF: whole seconds
    scene = smooth_scene(rng, (64, 80), 50, 170, N)
    file_of_rank = rng.permutation(N)
    assert file_of_rank[ONSET] != ONSET  # so the old file-order answer differs
    names = [f"IMG_{file_of_rank[rank]:04d}.jpg" for rank in range(N)]
    for rank in range(N):
        rgb = np.repeat(scene[rank][..., None], 3, axis=2) + rng.normal(0, 1.5, (64, 80, 3))
        if rank >= ONSET:
            rgb[HOT] = 255.0  # a saturated hot photosite
        write_jpeg(d / names[rank], np.clip(np.rint(rgb), 0, 255).astype(np.uint8),
                   times[rank], quality=95)
    return d, times, names


def test_onset_frame_is_the_capture_index_and_onset_file_the_file(shuffled_series, tmp_path):
    d, times, names = shuffled_series
    out = tmp_path / "scan"
    assert main(["scan", str(d), "-o", str(out), "-q"]) == 0
    with open(out / "defects.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames[9:12] == ["onset_frame", "onset_file", "onset_time"]
        rows = [r for r in reader if (int(r["row"]), int(r["col"])) == HOT]
    assert rows and all("persistent" in r["classes"] for r in rows)
    for r in rows:  # one row per band (R, G, B)
        assert int(r["onset_frame"]) == ONSET, r
        assert r["onset_file"] == names[ONSET], r
        assert r["onset_time"] == format_time(times[ONSET])
    summary = json.loads((out / "summary.json").read_text())
    cap = summary["onset"]["capture_order"]
    assert [c["file"] for c in cap] == names  # capture order, with the file names
    assert [c["time"] for c in cap] == [format_time(t) for t in times]
    assert cap[ONSET]["file"] == rows[0]["onset_file"]
    # frame_times stays in stack (file name) order
    by_name = sorted(range(N), key=lambda k: names[k])
    assert summary["onset"]["frame_times"] == [format_time(times[k]) for k in by_name]

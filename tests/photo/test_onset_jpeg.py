"""A JPEG series with EXIF dates in which a hot pixel appears half-way: onset and localisation."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from badpix import open_stack
from badpix.cli import main
from badpix.cli.timeline import format_time, timeline
from badpix.detect.localize import localize
from badpix.detect.persistent import persistent
from badpix.engine import scan_stack
from badpix.stats.onset import capture_order, make_onset_factory
from badpix.timefmt import parse_time

from ._photo_synth import smooth_scene, write_jpeg

DAY = 86400.0
T0 = 1_650_000_000.0
HOT = (40, 57)


@pytest.fixture(scope="module")
def jpeg_series(tmp_path_factory):
    d = tmp_path_factory.mktemp("jpegs")
    rng = np.random.default_rng(7)
    n, onset = 20, 10
    times = T0 + DAY * np.cumsum(rng.uniform(0.5, 3.0, n))  # a photo every few days
    scene = smooth_scene(rng, (96, 128), 60, 190, n)
    tint = np.array([1.0, 0.9, 0.8])
    file_of_rank = rng.permutation(n)  # file names are NOT in capture order
    for rank in range(n):
        rgb = scene[rank][..., None] * tint + rng.normal(0, 2.0, (96, 128, 3))
        if rank >= onset:
            rgb[HOT] += 120.0  # the hot photosite, demosaiced and JPEG-compressed by the camera
        img = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
        write_jpeg(d / f"DSC_{file_of_rank[rank]:04d}.jpg", img, times[rank])
    return d, times, onset


def test_onset_within_one_frame_and_localised(jpeg_series, tmp_path):
    d, times, onset = jpeg_series
    stack = open_stack(d)
    ftimes = stack.reader.frame_times()
    assert ftimes is not None
    order = capture_order(ftimes, stack.n_frames)
    np.testing.assert_allclose(ftimes[order], times)  # sorted back into capture order
    result = scan_stack(stack, extra_accumulators=[make_onset_factory(ftimes)])
    for name, br in result.bands.items():
        extra = br.stats.extra
        mask, pscore = persistent(br.stats)
        assert mask[HOT], name
        rank = int(extra["onset_frame"][HOT])  # capture order
        assert abs(rank - onset) <= 1, (name, rank)
        frame = int(extra["onset_index"][HOT])  # file order
        assert frame == order[rank] and ftimes[frame] == extra["onset_time"][HOT]
        assert abs(np.searchsorted(times, extra["onset_time"][HOT]) - onset) <= 1
        # JPEG smears the pixel; localisation keeps the peak of the hot score in each blob
        score = br.scores.get("hot", pscore)
        peaks, conf = localize(mask | (br.flags != 0), score, gap=8)
        blob_peaks = [tuple(int(v) for v in p) for p in np.argwhere(peaks)
                      if max(abs(p[0] - HOT[0]), abs(p[1] - HOT[1])) <= 8]
        assert blob_peaks == [HOT], (name, blob_peaks)
        assert conf[HOT] > 1.0
        # nothing persistent far from the hot pixel (the scene pans; no static highlights)
        far = np.argwhere(mask)
        assert all(max(abs(r - HOT[0]), abs(c - HOT[1])) <= 8 for r, c in far), (name, far)

    # a scan folder as `badpix scan` writes it with onset columns -> `badpix timeline`
    out = tmp_path / "scan"
    out.mkdir()
    with open(out / "defects.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["band", "row", "col", "flags", "classes", "mean", "std", "median", "score",
                    "onset_frame", "onset_time"])
        for name, br in result.bands.items():
            fr = int(br.stats.extra["onset_frame"][HOT])
            w.writerow([name, *HOT, 32, "persistent", 0, 0, 0, 1.0, fr,
                        format_time(br.stats.extra["onset_time"][HOT])])
        w.writerow(["R", 3, 3, 4, "hot", 0, 0, 0, 30.0, -1, ""])
    (out / "summary.json").write_text(json.dumps(
        {"onset": {"frame_times": [format_time(t) for t in ftimes], "order": "capture"}}))
    rows, undated = timeline(out, by="frame")
    assert undated == 1
    first = min(result.bands[b].stats.extra["onset_time"][HOT] for b in result.bands)
    assert rows[-1].total == 1
    assert all(r.total == 0 for r in rows if r.when.timestamp() < first)
    assert all(r.total == 1 for r in rows if r.when.timestamp() >= first)
    assert main(["timeline", str(out)]) == 0
    assert (out / "timeline.png").stat().st_size > 1000


def test_cli_scan_export_and_timeline_on_real_scan_folder(jpeg_series, tmp_path, capsys):
    """`badpix scan` on photos turns on persistence+onset by itself; the export carries onsets."""
    d, times, onset = jpeg_series
    out = tmp_path / "scan"
    assert main(["scan", str(d), "-o", str(out), "-q"]) == 0
    with open(out / "defects.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    hot_rows = [r for r in rows if (int(r["row"]), int(r["col"])) == HOT]
    assert hot_rows and all("persistent" in r["classes"] for r in hot_rows)
    assert all(float(r["loc_confidence"]) > 1 for r in hot_rows)
    # JPEG smear is localised: nothing flagged persistent next to the hot pixel
    near = [r for r in rows if "persistent" in r["classes"]
            and 0 < max(abs(int(r["row"]) - HOT[0]), abs(int(r["col"]) - HOT[1])) <= 8]
    assert near == []
    onset_time = min(parse_time(r["onset_time"]).timestamp() for r in hot_rows)
    assert abs(np.searchsorted(times, onset_time) - onset) <= 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["onset"]["order"] == "capture" and len(summary["onset"]["frame_times"]) == 20
    # JPEG pixels are not raw mosaic pixels: refused, and exported only with --force
    assert main(["export-badpixels", str(out), "-o", str(tmp_path / "cam.badpixels"),
                 "--classes", "persistent"]) == 2
    assert main(["export-badpixels", str(out), "-o", str(tmp_path / "cam.badpixels"),
                 "--classes", "persistent", "--force"]) == 0
    lines = [ln.split() for ln in (tmp_path / "cam.badpixels").read_text().splitlines()
             if not ln.startswith("#")]
    assert [HOT[1], HOT[0], int(onset_time)] in [[int(v) for v in ln] for ln in lines]
    assert main(["timeline", str(out)]) == 0
    assert "2022" in capsys.readouterr().out


@pytest.mark.parametrize("gap", [1, 2, 8])
def test_sparse_and_dense_blob_grouping_agree(gap, monkeypatch):
    """Point-pair clustering (sparse flags) equals dilation + labelling (dense flags)."""
    from badpix.detect import localize as loc

    rng = np.random.default_rng(gap)
    mask = rng.random((120, 150)) < 0.01
    mask[40:43, 60:63] = True  # a cluster
    score = rng.random(mask.shape) * 5
    sparse = loc.localize(mask, score, gap=gap)
    monkeypatch.setattr(loc, "_DENSE", 0)
    dense = loc.localize(mask, score, gap=gap)
    np.testing.assert_array_equal(sparse[0], dense[0])
    np.testing.assert_array_equal(sparse[1], dense[1])

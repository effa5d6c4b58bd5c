"""Evaluation: definitions on hand-made cases, band dicts, scan folders, and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import rasterio
from affine import Affine

from badpix.cli import main
from badpix.errors import InputError
from badpix.evaluate import evaluate
from badpix.layout import Band
from badpix.synth import PlantedPixel, Truth


def _truth() -> Truth:
    return Truth((10, 8, 2), 5, "uint8", 0, [
        PlantedPixel(1, 1, 0, "hot", 6), PlantedPixel(4, 4, 0, "stuck", 1),
        PlantedPixel(8, 2, 1, "noisy", 16), PlantedPixel(2, 6, 1, "outlier", 2)])


def test_definitions():
    flags = np.zeros((10, 8, 2), np.uint8)
    flags[1, 1, 0] = 4  # hot found, its OUTLIER bit missed
    flags[4, 4, 0] = 1
    flags[2, 6, 1] = 2
    flags[0, 0, 1] = 2  # a false outlier
    r = evaluate(flags, _truth())
    assert (r["hot"].precision, r["hot"].recall) == (1.0, 1.0)
    assert (r["outlier"].planted, r["outlier"].flagged, r["outlier"].true_positive) == (2, 2, 1)
    assert r["noisy"].recall == 0.0 and math.isnan(r["noisy"].precision)
    assert math.isnan(r["dead"].recall)
    assert (r["any"].planted, r["any"].flagged, r["any"].true_positive) == (4, 4, 3)


def test_bands_limit_what_is_counted():
    band = Band("top", 0, (0, 5), (0, 8))
    m = np.zeros((5, 8), np.uint8)
    m[1, 1] = 6
    r = evaluate({"top": (band, m)}, _truth())
    assert r["any"].planted == 2  # the two channel-1 pixels are outside every band
    assert r["hot"].recall == 1.0 and r["stuck"].recall == 0.0
    with pytest.raises(InputError):
        evaluate({"top": (band, np.zeros((4, 8), np.uint8))}, _truth())


def _scan_dir(path, flags_by_band: dict[str, tuple[Band, np.ndarray]], frame_shape):
    """A minimal scan folder as docs/contracts.md describes it."""
    path.mkdir()
    for name, (_, m) in flags_by_band.items():
        with rasterio.open(path / f"mask_{name}.tif", "w", driver="GTiff", width=m.shape[1],
                           height=m.shape[0], count=1, dtype="uint8", crs="EPSG:4326",
                           transform=Affine(0.001, 0.0, 10.0, 0.0, -0.001, 50.0)) as dst:
            dst.write(m, 1)
    summary = {"input": {"frame_shape": list(frame_shape)}, "mask_format": "tif",
               "layout": {"source": "test", "bands": [
                   {"name": n, "channel": b.channel, "rows": list(b.rows), "cols": list(b.cols)}
                   for n, (b, _) in flags_by_band.items()]}}
    (path / "summary.json").write_text(json.dumps(summary))


def test_scan_dir_and_cli(tmp_path, capsys):
    t = _truth()
    (tmp_path / "truth.json").write_text(json.dumps(t.to_dict()))
    b0, b1 = Band("a", 0, (0, 10), (0, 8)), Band("b", 1, (0, 10), (0, 8))
    m0, m1 = np.zeros((10, 8), np.uint8), np.zeros((10, 8), np.uint8)
    m0[1, 1], m0[4, 4], m1[8, 2] = 6, 1, 16
    _scan_dir(tmp_path / "scan", {"a": (b0, m0), "b": (b1, m1)}, (10, 8, 2))
    r = evaluate(tmp_path / "scan", tmp_path / "truth.json")
    assert r["any"].recall == 0.75 and r["any"].precision == 1.0
    assert main(["evaluate", str(tmp_path / "scan"), "--truth", str(tmp_path / "truth.json"),
                 "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["outlier"]["recall"] == 0.5 and printed["dead"]["precision"] is None
    assert main(["evaluate", str(tmp_path / "scan"), "--truth", str(tmp_path / "truth.json")]) == 0
    assert "precision" in capsys.readouterr().out
    assert main(["evaluate", str(tmp_path / "scan"), "--truth", str(tmp_path / "nope.json")]) == 2


def test_synth_cli_then_evaluate_flags_from_rules(tmp_path, capsys):
    out = tmp_path / "syn"
    assert main(["synth", str(out), "--frames", "20", "--shape", "64,64", "--dtype", "uint8",
                 "--fraction", "0.002", "--seed", "3", "-q"]) == 0
    assert "planted" in capsys.readouterr().out
    t = Truth.load(out / "truth.json")
    assert t.shape == (64, 64, 1) and t.n_frames == 20
    assert len(list(out.glob("frame_*.npy"))) == 20
    assert main(["synth", str(out), "--shape", "64"]) == 2

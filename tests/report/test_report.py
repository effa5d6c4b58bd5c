"""badpix report / show on hand-built scan folders (real files, real rules)."""

from __future__ import annotations

import json
import re

import h5py
import numpy as np
import pytest

from badpix.cli import main
from badpix.io.scandir import load_scan
from badpix.report import write_report
from badpix.report.data import load_band, read_pixel_series, thresholds
from badpix.report.quicklook import maxpool, orpool, overlay, pool_factor, sparkline_svg
from badpix.stack import open_stack

from .conftest import N_FRAMES, make_frames, write_scan

PLOTS_PER_BAND = 4  # mean quicklook, std image, std histogram, deviation histogram


def _defect_positions(page: str) -> set[tuple[int, int]]:
    return {(int(r), int(c)) for r, c in
            re.findall(r'<tr class="defect" data-row="(\d+)" data-col="(\d+)"', page)}


def _no_external(page: str) -> None:
    assert not re.search(r'(src|href)\s*=\s*["\']?\s*(https?:|//)', page, re.I)
    assert "@import" not in page
    assert not re.search(r"url\(\s*['\"]?(https?:|//)", page, re.I)
    assert "<script" not in page.lower()


@pytest.fixture(scope="module")
def report(scan_case, tmp_path_factory) -> tuple[str, dict]:
    scan_dir, _, summary = scan_case
    out = tmp_path_factory.mktemp("rep") / "r.html"
    assert write_report(scan_dir, out) == out
    return out.read_text(), summary


def test_report_is_self_contained(report):
    page, _ = report
    assert page.startswith("<!DOCTYPE html>")
    _no_external(page)
    assert "@media print" in page


def test_one_img_per_plot(report):
    page, summary = report
    n_bands = len(summary["layout"]["bands"])
    assert len(re.findall(r'<img class="plot"', page)) == PLOTS_PER_BAND * n_bands
    assert all(src.startswith("data:image/png;base64,")
               for src in re.findall(r'<img [^>]*src="([^"]+)"', page))
    # one zoomed crop per listed defect
    assert len(re.findall(r'<img class="crop"', page)) == sum(
        summary["counts"][b]["any"] for b in summary["counts"])


def test_defect_table_positions_are_full_frame(report):
    page, _ = report
    # A: stuck (5, 7), hot (20, 30); B (rows 10.., cols 8..): dead band (3, 4), noisy band (10, 20)
    assert _defect_positions(page) == {(5, 7), (20, 30), (13, 12), (20, 28)}


def test_counts_match_summary(report):
    page, summary = report
    for band, counts in summary["counts"].items():
        row = re.search(rf'<tr data-band="{band}">(.*?)</tr>', page).group(1)
        cells = dict(re.findall(r'data-class="(\w+)">([^<]*)<', row))
        assert {k: int(v.replace(",", "")) for k, v in cells.items()} == counts


def test_thresholds_recomputed_like_the_rules(scan_case):
    scan_dir, _, summary = scan_case
    scan = load_scan(scan_dir)
    params = thresholds(scan.summary["parameters"])
    for b in scan.bands:
        bd = load_band(scan, b.name, params)
        # the histogram's "beyond" counts are the rules' own decisions
        assert bd.std_hist.beyond == summary["counts"][b.name]["stuck"]
        assert bd.dev_hist.beyond == summary["counts"][b.name]["outlier"]
        assert bd.mask_counts == summary["counts"][b.name]


def test_missing_parameters_use_defaults(tmp_path):
    frames = make_frames(np.random.default_rng(3))
    write_scan(tmp_path / "s", frames, drop_params=True)
    page = write_report(tmp_path / "s").read_text()
    assert "stuck_std = 1" in page or "No parameters recorded" in page
    assert thresholds({"outlier_k": "junk", "outlier_size": None}) == {
        "stuck_std": 1.0, "outlier_k": 8.0, "outlier_size": 5, "counting": False}


def test_time_series_from_stack(scan_case, tmp_path):
    scan_dir, frames_dir, _ = scan_case
    scan = load_scan(scan_dir)
    from badpix.layout import Layout

    stack = open_stack(frames_dir, layout=Layout(tuple(scan.bands), "test"))
    series = read_pixel_series(stack, {"B": [(10, 20), (3, 4)]})
    expect = np.stack([np.load(p)[[20, 13], [28, 12], 1]
                       for p in sorted(frames_dir.glob("*.npy"))]).astype(float)
    np.testing.assert_array_equal(series["B"], expect)
    page = write_report(scan_dir, tmp_path / "r.html", stack).read_text()
    # every defect gets a polyline of its N_FRAMES values
    lines = re.findall(r'<polyline points="([^"]+)"', page)
    assert len(lines) == 4 and all(len(p.split()) == N_FRAMES for p in lines)
    _no_external(page)


def test_background_section(scan_case, tmp_path):
    import shutil

    scan_dir, _, summary = scan_case
    d = tmp_path / "scan"
    shutil.copytree(scan_dir, d)
    with h5py.File(d / "background.h5", "w") as f:
        f["image_bg"] = np.full((3, 8, 8), 100, np.uint8) + np.arange(3, dtype=np.uint8)[:, None, None]
        f["index"] = np.repeat(np.arange(3), 10)
        f["bg_off"] = np.linspace(-1, 1, 30)
        f["time"] = np.arange(30) * 0.1
        f["step_times"] = np.arange(4) * 0.8
        f["kept"] = np.array([True, True, False, True])
        f.attrs["method"] = "sparse"
        f.attrs["kernel_size"] = 5
    page = write_report(d).read_text()
    assert 'id="background"' in page and "3 of 4 background images kept" in page
    n_bands = len(summary["layout"]["bands"])
    assert len(re.findall(r'<img class="plot"', page)) == PLOTS_PER_BAND * n_bands + 3


def test_maxpool_keeps_single_hot_pixel():
    a = np.random.default_rng(0).normal(100, 1, (4096 // 8, 4096 // 8))
    a[123, 457] = 5000
    f = pool_factor(a.shape, side=64)
    small = maxpool(a, f)
    assert small.max() == 5000
    flags = np.zeros(a.shape, np.uint8)
    flags[123, 457] = 4
    assert np.count_nonzero(orpool(flags, f)) == 1
    rgb = overlay(np.zeros(small.shape, np.float32), orpool(flags, f), grow=1)
    assert np.count_nonzero(rgb.any(axis=2)) == 9  # a 3x3 dot in the hot colour
    # ragged sizes pad without inventing values; all-NaN blocks stay NaN without warnings
    b = np.full((5, 3), np.nan)
    b[4, 2] = 1.0
    np.testing.assert_array_equal(maxpool(b, 2), [[np.nan, np.nan], [np.nan, np.nan],
                                                  [np.nan, 1.0]])


def test_sparkline_has_no_external_reference():
    svg = sparkline_svg(np.arange(5.0), lo=np.zeros(5), hi=np.ones(5) * 9, reference=2.0)
    assert "http" not in svg and svg.count("<polyline") == 1 and "<polygon" in svg


def test_cli_report_and_show(scan_case, tmp_path, capsys):
    import shutil

    scan_dir, frames_dir, summary = scan_case
    d = tmp_path / "scan"
    shutil.copytree(scan_dir, d)
    assert main(["report", str(d), "--frames", str(frames_dir), "--top", "1", "-q",
                 "--histeq"]) == 0
    page = (d / "report.html").read_text()  # the default location
    assert len(_defect_positions(page)) == 2  # one per band
    assert page.count('<img class="plot"') == 8
    assert not [p for p in d.iterdir() if p.name.startswith(".")]  # no temporaries left
    capsys.readouterr()
    assert main(["show", str(scan_dir)]) == 0
    text = capsys.readouterr().out
    for band, counts in summary["counts"].items():
        line = next(ln for ln in text.splitlines() if ln.strip().startswith(band + " "))
        assert [int(v) for v in line.split()[1:]] == [counts[k] for k in
                                                     ("stuck", "outlier", "hot", "dead", "noisy",
                                                      "persistent", "any")]
    assert "20" in text and "28" in text  # the noisy pixel among the top defects


@pytest.mark.parametrize("command", ["report", "show"])
def test_cli_error_for_non_scan_folder(command, tmp_path, capsys):
    (tmp_path / "x.txt").write_text("hi")
    assert main([command, str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a badpix scan folder" in err
    assert not (tmp_path / "report.html").exists()


def test_cli_error_for_malformed_summary(tmp_path, capsys):
    (tmp_path / "summary.json").write_text(json.dumps({"input": {}}))
    assert main(["report", str(tmp_path)]) == 2
    assert "malformed summary" in capsys.readouterr().err

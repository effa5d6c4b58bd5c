"""``badpix scan`` from the command line: outputs, exit codes, one-line errors, nothing half-written."""

import subprocess
import sys

import h5py
import numpy as np
import pytest
import rasterio

from badpix.cli import main

from ..test_scan import sensor_frames


def run(argv, capsys):
    code = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def assert_clean_error(code, err, *needles):
    assert code == 2
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if "error" in line]
    assert len(lines) == 1 and lines[0].startswith("badpix: error: "), err
    for n in needles:
        assert n in lines[0], (n, lines[0])


def test_scan_cli_end_to_end(tmp_path, capsys):
    src = sensor_frames(tmp_path / "frames", n=6)
    code, out, err = run(["scan", src, "-o", tmp_path / "out", "--layout", "l2-l1-m0",
                          "--crs", "EPSG:4326", "--transform", "10,0.001,0,50,0,-0.001",
                          "--top", "3", "--legacy-float-mask", "--report"], capsys)
    assert code == 0, err
    assert "lowest variance" in out and "most extreme" in out and "L2" in out
    with rasterio.open(tmp_path / "out" / "mask_M0.tif") as ds:
        assert ds.crs.to_epsg() == 4326
        assert ds.transform.c == pytest.approx(10.0)
        assert ds.transform.f == pytest.approx(50 - 668 * 0.001)
    assert (tmp_path / "out" / "drifting_pixel_mask_L2.tif").exists()
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Band L1" in html and "http://" not in html and "https://" not in html


def test_help_has_examples(capsys):
    code, out, _ = run(["scan", "--help"], capsys)
    assert code == 0 and "Examples" in out and "--layout" in out


def test_mismatched_frame(tmp_path, capsys):
    src = sensor_frames(tmp_path / "frames", n=3)
    np.save(src / "frame_9.npy", np.zeros((768, 40, 3), np.uint16))
    code, _, err = run(["scan", src, "-o", tmp_path / "out"], capsys)
    assert_clean_error(code, err, "frame_9.npy", "(768, 40, 3)", "(768, 48, 3)")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_skip_bad_lists_skipped_frames_in_summary(tmp_path, capsys):
    import json

    src = sensor_frames(tmp_path / "frames", n=4)
    np.save(src / "frame_9.npy", np.zeros((768, 40, 3), np.uint16))
    code, _, err = run(["scan", src, "-o", tmp_path / "out", "--skip-bad", "-q"], capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["input"]["n_frames"] == 4
    assert [s["label"] for s in summary["input"]["skipped"]] == ["frame_9.npy"]


def test_undecodable_frame_leaves_no_output(tmp_path, capsys):
    src = sensor_frames(tmp_path / "frames", n=3)
    p = src / "frame_1.npy"
    p.write_bytes(p.read_bytes()[:200])
    out = tmp_path / "out"
    code, _, err = run(["scan", src, "-o", out], capsys)
    assert_clean_error(code, err, "frame_1.npy")
    assert not out.exists() or list(out.iterdir()) == []


def test_failed_rescan_keeps_previous_outputs(tmp_path, capsys):
    src = sensor_frames(tmp_path / "frames", n=3)
    out = tmp_path / "out"
    assert run(["scan", src, "-o", out, "-q"], capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    p = src / "frame_2.npy"
    p.write_bytes(p.read_bytes()[:300])
    code, _, err = run(["scan", src, "-o", out, "-q"], capsys)
    assert code == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_empty_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = run(["scan", tmp_path / "empty", "-o", tmp_path / "out"], capsys)
    assert_clean_error(code, err, "empty", "no frame files")


def test_band_rows_outside_frame(tmp_path, capsys):
    src = tmp_path / "frames"
    src.mkdir()
    for i in range(3):
        np.save(src / f"f{i}.npy", np.zeros((500, 8, 3), np.uint16))
    code, _, err = run(["scan", src, "-o", tmp_path / "out", "--layout", "l2-l1-m0"], capsys)
    assert_clean_error(code, err, "band 'M0' is outside the frame", "500 rows")
    assert not (tmp_path / "out").exists()


def test_unknown_dataset_path(tmp_path, capsys):
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["events/image"] = np.zeros((4, 8, 8), np.uint8)
    code, _, err = run(["scan", f"{tmp_path / 'a.h5'}:events/nope", "-o", tmp_path / "out"], capsys)
    assert_clean_error(code, err, "a.h5", "events/nope")


def test_bad_option_values(tmp_path, capsys):
    src = sensor_frames(tmp_path / "frames", n=3)
    code, _, err = run(["scan", src, "-o", tmp_path / "o", "--outlier-size", "4"], capsys)
    assert_clean_error(code, err, "outlier_size")
    code, _, err = run(["scan", src, "-o", tmp_path / "o", "--memory-limit", "lots"], capsys)
    assert_clean_error(code, err, "--memory-limit")
    code, _, err = run(["scan", src, "-o", tmp_path / "o", "--transform", "1,2,3"], capsys)
    assert_clean_error(code, err, "--transform")


def test_real_process_exit_code_and_no_traceback(tmp_path):
    res = subprocess.run([sys.executable, "-m", "badpix", "scan", str(tmp_path / "missing"),
                          "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "missing: no such file or folder" in res.stderr

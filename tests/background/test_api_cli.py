"""Python API on arrays and xarray, errors, output files and the ``badpix background`` command."""

from __future__ import annotations

import json
import warnings

import h5py
import numpy as np
import pytest
import tifffile
import xarray as xr

from badpix.background import BackgroundWarning, background, background_to_file
from badpix.cli import main
from badpix.errors import InputError, ParameterError

from .conftest import FILES, data_file, load, ref_rolling, ref_sparse, ref_times


def test_xarray_time_coordinate():
    frames, meta = load(FILES[0])
    t = ref_times(len(frames), meta)
    da = xr.DataArray(frames, dims=("time", "y", "x"), coords={"time": t})
    r = background(da, kernel_size=7, split_time=0.2)
    ref = ref_sparse(frames, t, kernel_size=7, split_time=0.2)
    np.testing.assert_array_equal(r.per_frame(), ref["per_frame"])
    ds = r.to_xarray()
    assert ds["image_bg"].shape == r.images.shape and ds.attrs["kernel_size"] == 7
    np.testing.assert_array_equal(ds["bg_off"].values, r.bg_off)
    # datetime coordinates become seconds
    da2 = da.assign_coords(time=np.datetime64("2024-01-01") + (t * 1e9).astype("timedelta64[ns]"))
    r2 = background(da2, kernel_size=7, split_time=0.2)
    np.testing.assert_array_equal(r2.index, r.index)


def test_subtract_and_plain_array_guess():
    frames, _ = load(FILES[2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BackgroundWarning)
        r = background(frames)  # no times: dcnum's 1.5 N / 3600 guess
    assert r.time_source.startswith("guessed") and len(r.images) == 1
    corr = r.subtract(frames)
    expect = frames.astype(np.float32) - r.images[0] - r.bg_off[:, None, None].astype(np.float32)
    np.testing.assert_array_equal(corr, expect)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"method": "rolling", "kernel_size": 50}, "larger than the 40 frames"),
    ({"method": "rolling", "kernel_size": 7}, "even kernel"),
    ({"method": "median"}, "--method"),
    ({"kernel_size": 0}, "--kernel-size"),
    ({"split_time": 0}, "--split-time"),
    ({"frac_cleansing": 0}, "--frac-cleansing"),
    ({"thresh_cleansing": -1}, "--thresh-cleansing"),
    ({"frame_numbers": np.arange(40)}, "frame rate"),
])
def test_parameter_errors(kwargs, match):
    frames, _ = load(FILES[0])
    with pytest.raises(ParameterError, match=match):
        background(frames, **kwargs)


def test_input_errors():
    frames, _ = load(FILES[0])
    with pytest.raises(InputError, match="39 entries for 40 frames"):
        background(frames, times=np.arange(39.0))
    with pytest.raises(InputError, match="NaN"):
        background(frames, times=np.full(40, np.nan))
    with pytest.raises(InputError, match="dtype"):
        background(frames.astype(complex))


def test_rtdc_output_layout(tmp_path):
    src = data_file(FILES[1])
    out = tmp_path / "bg.rtdc"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BackgroundWarning)
        r, written = background_to_file(src, out, kernel_size=5, split_time=0.001,
                                        compression="gzip", subtract=tmp_path / "corr.npy")
    assert written == [out, tmp_path / "corr.npy"]
    with h5py.File(out, "r") as h5:  # gzip: no plugin needed
        assert h5.attrs["experiment:event count"] == 13
        assert h5.attrs["pipeline:dcnum background"] == "sparsemed:k=5^s=0.001^t=0^f=0.8^o=1"
        ds = h5["basin_events/image_bg"]
        assert ds.compression == "gzip" and ds.attrs["badpix kernel_size_used"] == 5
        np.testing.assert_array_equal(ds[:][h5["events/basinmap0"][:]], r.per_frame())
        np.testing.assert_array_equal(h5["events/bg_off"][:], r.bg_off)
        log = json.loads("\n".join(s.decode() for s in h5["logs/badpix-background"][:]))
        assert log["method"] == "sparse"
    frames, _ = load(FILES[1])
    np.testing.assert_array_equal(np.load(tmp_path / "corr.npy"), r.subtract(frames))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bg.rtdc", "corr.npy"]


def test_folder_output_rolling_streams(tmp_path):
    frames, _ = load(FILES[2])
    np.save(tmp_path / "stack.npy", frames)
    out = tmp_path / "bg"
    r, written = background_to_file(tmp_path / "stack.npy", out, method="rolling",
                                    kernel_size=4, subtract=tmp_path / "corr.tif")
    assert sorted(p.name for p in out.iterdir()) == ["background.json", "frames.csv",
                                                      "image_bg.tif"]
    images = tifffile.imread(out / "image_bg.tif")
    table = np.loadtxt(out / "frames.csv", delimiter=",", skiprows=1)
    ref = ref_rolling(frames, 4)
    np.testing.assert_array_equal(images[table[:, 1].astype(int)], ref)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "corr.tif"),
                                  frames.astype(np.float32) - ref)
    assert json.loads((out / "background.json").read_text())["dcnum_ppid"] == "rollmed:k=4^b=10000"


def test_cli(tmp_path, capsys):
    src = str(data_file(FILES[0]))
    out = tmp_path / "o.rtdc"
    assert main(["background", src, "-o", str(out), "-k", "10", "--split-time", "0.3", "-q"]) == 0
    assert str(out) in capsys.readouterr().out
    frames, meta = load(FILES[0])
    ref = ref_sparse(frames, ref_times(40, meta), kernel_size=10, split_time=0.3)
    with h5py.File(out, "r") as h5:
        np.testing.assert_array_equal(h5["basin_events/image_bg"][:], ref["images"])
    assert main(["background", src, "-o", str(tmp_path / "bad.rtdc"), "--method", "rolling",
                 "-k", "41"]) == 2
    assert "even kernel" in capsys.readouterr().err
    assert main(["background", str(tmp_path / "missing.rtdc"), "-o", str(out)]) == 2
    assert not (tmp_path / "bad.rtdc").exists()
    assert main(["background", src, "-o", str(tmp_path / "n.rtdc"), "--no-offset-correction",
                 "-k", "3", "--frac-cleansing", "1"]) == 0
    with h5py.File(tmp_path / "n.rtdc", "r") as h5:
        assert "bg_off" not in h5["events"]


def test_external_links_in_rtdc_are_refused(tmp_path, capsys):
    """The background command reads HDF5 through the safe reader: no link out of the file."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    with h5py.File(outside / "secret.h5", "w") as f:
        f["time"] = np.arange(10, dtype=float)
        f["image"] = np.zeros((10, 8, 8), np.uint8)
    inside = tmp_path / "run"
    inside.mkdir()
    with h5py.File(inside / "a.rtdc", "w") as f:
        f["events/image"] = h5py.ExternalLink(str(outside / "secret.h5"), "/image")
    code = main(["background", str(inside / "a.rtdc"), "-o", str(tmp_path / "bg.rtdc"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "external link" in err and "Traceback" not in err
    assert not (tmp_path / "bg.rtdc").exists()
    with h5py.File(inside / "b.rtdc", "w") as f:
        f["events/image"] = np.zeros((10, 8, 8), np.uint8)
        f["events/time"] = h5py.ExternalLink(str(outside / "secret.h5"), "/time")
    code = main(["background", str(inside / "b.rtdc"), "-o", str(tmp_path / "bg2.rtdc"), "-q",
                 "--kernel-size", "4"])
    err = capsys.readouterr().err
    assert code == 2 and "external link" in err

"""In-memory inputs (numpy, dask, xarray) and netCDF give the scan of the same frames as files."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import badpix
from badpix.detect.params import RuleParams
from badpix.engine import run_scan, scan_stack
from badpix.errors import InputError, ParameterError
from badpix.io.memory import ArrayReader, DaskArrayReader
from badpix.io.netcdf import NetcdfReader

from ..engine._util import assert_same_results, write_stack

dask_array = pytest.importorskip("dask.array")


@pytest.fixture(scope="module")
def frames_and_reference(tmp_path_factory):
    """Frames (n, y, x, c) uint16 with stuck/hot/noisy pixels, and the scan of their .npy files."""
    folder = tmp_path_factory.mktemp("npy")
    frames = write_stack(folder, 14, shape=(30, 26, 2))
    return frames, run_scan(folder)


@pytest.fixture(scope="module")
def float_frames_and_reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("npyf")
    frames = write_stack(folder, 10, shape=(24, 18, 1), dtype=np.float32, nan_fraction=0.01)
    return frames, run_scan(folder)


def test_reference_finds_the_planted_defects(frames_and_reference):
    _, ref = frames_and_reference
    assert ref.counts()["ch0"]["stuck"] >= 1 and ref.counts()["ch1"]["hot"] >= 1


def test_numpy_array_equals_npy_files(frames_and_reference):
    frames, ref = frames_and_reference
    res = run_scan(frames)
    assert res.input.format == "array"
    assert_same_results(ref, res)


def test_dask_array_equals_npy_files(frames_and_reference):
    frames, ref = frames_and_reference
    res = run_scan(dask_array.from_array(frames, chunks=(4, 15, 26, 2)))
    assert res.input.format == "dask-array"
    assert_same_results(ref, res)


def test_float_arrays_equal_npy_files(float_frames_and_reference):
    frames, ref = float_frames_and_reference
    assert_same_results(ref, run_scan(frames[..., 0]))  # (n, y, x): one channel
    assert_same_results(ref, run_scan(dask_array.from_array(frames, chunks=(3, 24, 18, 1))))


def test_dataarray_in_any_dim_order_equals_npy_files(frames_and_reference):
    frames, ref = frames_and_reference
    da = xr.DataArray(frames, dims=("frame", "y", "x", "channel"))
    assert_same_results(ref, run_scan(da))
    # named dims are found whatever their order; dask-backed too
    assert_same_results(ref, run_scan(da.transpose("y", "channel", "x", "frame")))
    assert_same_results(ref, run_scan(da.chunk({"frame": 5})))
    # unusual names: given with dims= (mapping) or by position for a plain array
    odd = da.rename({"frame": "shot", "channel": "plane"})
    assert_same_results(ref, run_scan(odd, dims={"frame": "shot", "channel": "plane"}))
    assert_same_results(ref, run_scan(np.moveaxis(frames, 0, -1),
                                      dims=("y", "x", "channel", "frame")))


def test_dataset_variable_and_netcdf_file_equal_npy_files(frames_and_reference, tmp_path):
    frames, ref = frames_and_reference
    ds = xr.Dataset({"img": (("frame", "y", "x", "channel"), frames),
                     "time": ("frame", np.arange(len(frames)) * 0.1)})
    assert_same_results(ref, run_scan(ds))  # the only variable with 3+ dims
    path = tmp_path / "frames.nc"
    ds.to_netcdf(path)
    stack = badpix.open_stack(path)
    assert isinstance(stack.reader, NetcdfReader) and stack.reader.reads_rows
    assert_same_results(ref, run_scan(path))
    assert_same_results(ref, run_scan(f"{path}:img"))
    assert_same_results(ref, run_scan(path, dataset="img"))
    with xr.open_dataset(path, chunks={"frame": 4}) as opened:  # dask-backed, from the file
        assert_same_results(ref, run_scan(opened["img"]))
    zpath = tmp_path / "frames.zarr"
    ds.chunk({"frame": 5}).to_zarr(zpath, consolidated=False)
    with xr.open_zarr(zpath, consolidated=False) as z:
        assert_same_results(ref, run_scan(z, dataset="img"))


def test_netcdf_keeps_stored_integers(tmp_path):
    # _FillValue / scale_factor would turn raw counts into floats: badpix reads what is stored
    frames = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5)
    da = xr.DataArray(frames, dims=("frame", "y", "x"), name="img",
                      attrs={"scale_factor": 0.5, "_FillValue": np.int16(7)})
    path = tmp_path / "packed.nc"
    da.to_dataset().to_netcdf(path)
    r = badpix.open_stack(path).reader
    assert r.dtype == np.int16
    np.testing.assert_array_equal(r.read_all()[..., 0], frames)


class _CountingArray:
    """An array-like that records the frames read from it, per dask compute."""

    def __init__(self, data: np.ndarray):
        self.data, self.shape, self.dtype, self.ndim = data, data.shape, data.dtype, data.ndim
        self.reads: list[int] = []
        self.per_compute: list[int] = [0]

    def __getitem__(self, index):
        part = self.data[index]
        n = part.shape[0] if part.ndim == self.ndim else 1
        self.reads.append(n)
        self.per_compute[-1] += n
        return part


def test_dask_array_is_computed_block_by_block_never_whole(frames_and_reference):
    from dask.callbacks import Callback

    frames, ref = frames_and_reference
    source = _CountingArray(frames)

    class NewCompute(Callback):
        def _start(self, dsk):
            source.per_compute.append(0)

    lazy = dask_array.from_array(source, chunks=(2, 30, 26, 2), asarray=False)
    with NewCompute():
        # counting forced off: the auto decision would read 5 sample frames on top
        res = scan_stack(badpix.open_stack(lazy), RuleParams(counting=False), block_frames=4)
    assert_same_results(ref, res)
    assert max(source.reads) <= 2  # chunk by chunk
    assert sum(source.reads) == len(frames)  # every frame once (blocks align with chunks)
    computes = [n for n in source.per_compute if n]
    assert len(computes) == 4 and max(computes) <= 4  # one block per compute, never all


def test_dask_reader_computes_only_the_blocks_asked_for(frames_and_reference):
    frames, _ = frames_and_reference
    source = _CountingArray(frames)
    r = badpix.open_stack(dask_array.from_array(source, chunks=(2, 30, 26, 2), asarray=False)
                          ).reader
    assert isinstance(r, DaskArrayReader) and not r.reads_rows
    np.testing.assert_array_equal(r.read_frames(4, 6), frames[4:6])
    assert sum(source.reads) == 2  # frames 4-5: one chunk, nothing else


def test_plain_array_reader_reads_rows(frames_and_reference):
    frames, _ = frames_and_reference
    r = badpix.open_stack(frames).reader
    assert type(r) is ArrayReader and r.reads_rows
    out = np.empty((3, 5, 26, 2), frames.dtype)
    np.testing.assert_array_equal(r.read_rows(2, 5, (10, 15), out), frames[2:5, 10:15])
    assert r.frame_label(3) == "array[3]"


def test_two_d_array_is_one_frame_and_channel_names_come_from_coords():
    r = badpix.open_stack(np.zeros((4, 5), np.uint8)).reader
    assert (r.n_frames, r.frame_shape) == (1, (4, 5, 1))
    da = xr.DataArray(np.zeros((3, 4, 5, 3), np.uint8), dims=("time", "y", "x", "channel"),
                      coords={"channel": ["R", "G", "B"]})
    assert [b.name for b in badpix.open_stack(da).bands] == ["R", "G", "B"]


def test_datetime_frame_coordinate_gives_frame_times():
    t = np.array(["2024-01-01T00:00:00", "2024-01-01T00:00:02"], "datetime64[ns]")
    da = xr.DataArray(np.zeros((2, 3, 4)), dims=("time", "y", "x"), coords={"time": t})
    times = badpix.open_stack(da).reader.frame_times()
    assert times[1] - times[0] == 2.0 and times[0] == pytest.approx(1704067200.0)


@pytest.mark.parametrize("bad, kwargs, error, text", [
    (np.zeros((2, 3, 4), object), {}, InputError, "dtype object"),
    (np.zeros((2, 3, 4, 5, 6)), {}, ParameterError, "2-D to 4-D"),
    (np.zeros((2, 3, 4)), {"dims": ("y", "x")}, ParameterError, "each of the 3 axes"),
    (xr.DataArray(np.zeros((2, 3, 4, 5)), dims=("a", "b", "c", "d")), {}, ParameterError,
     "dims="),
    (xr.Dataset({"a": (("f", "y", "x"), np.zeros((2, 3, 4))),
                 "b": (("f", "y", "x"), np.zeros((2, 3, 4)))}), {}, InputError, "a, b"),
    (xr.Dataset({"a": (("f", "y", "x"), np.zeros((2, 3, 4)))}), {"dataset": "zz"}, InputError,
     "no variable 'zz'"),
    (np.zeros((0, 3, 4)), {}, InputError, "no frames"),
])
def test_bad_arrays_are_user_errors(bad, kwargs, error, text):
    with pytest.raises(error, match=text):
        badpix.open_stack(bad, **kwargs)


def test_dask_engine_takes_in_memory_inputs(frames_and_reference):
    # a real LocalCluster on loopback: the readers travel to the worker with their arrays
    from badpix.cluster import dask_client

    frames, ref = frames_and_reference
    with dask_client(workers=1) as client:
        assert_same_results(ref, run_scan(frames, client=client))
        assert_same_results(ref, run_scan(dask_array.from_array(frames, chunks=(5, 30, 26, 2)),
                                          client=client))
        da = xr.DataArray(frames, dims=("frame", "y", "x", "channel"))
        assert_same_results(ref, run_scan(da, client=client))


def test_cli_scans_a_netcdf_file_and_refuses_a_broken_one(frames_and_reference, tmp_path, capsys):
    import json

    from badpix.cli import main

    frames, ref = frames_and_reference
    path = tmp_path / "frames.nc"
    xr.Dataset({"img": (("frame", "y", "x", "channel"), frames)}).to_netcdf(path)
    assert main(["scan", str(path), "-o", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["input"]["format"] == "netcdf"
    assert summary["counts"] == ref.counts() and summary["input"]["n_frames"] == len(frames)
    bad = tmp_path / "bad.nc"
    bad.write_bytes(b"CDF\x01 not really")
    capsys.readouterr()
    assert main(["scan", str(bad), "-o", str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.nc: not a readable netCDF file" in err[0]


def test_a_netcdf_file_beside_npy_frames_does_not_join_the_folder(frames_and_reference,
                                                                    tmp_path):
    frames, ref = frames_and_reference
    folder = tmp_path / "frames"
    write_stack(folder, 14, shape=(30, 26, 2))
    xr.Dataset({"meta": ("t", [1, 2])}).to_netcdf(folder / "metadata.nc")
    assert_same_results(ref, run_scan(folder))

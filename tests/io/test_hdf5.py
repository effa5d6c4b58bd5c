"""HDF5/NeXus/RT-DC frames: real data, part series, features, link safety."""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401 - the .rtdc test files are Zstd-compressed
import numpy as np
import pytest

from badpix import open_stack
from badpix.errors import FrameMismatchError, InputError
from badpix.io import open_reader
from badpix.io.hdf5 import Hdf5Reader

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"  # ../shared beside the checkout
DCNUM = SHARED / "dcnum"
LAMBDA = SHARED / "real" / "lambda_gaas_xray_petra3"
TOOTH = SHARED / "real" / "tomopy_tooth" / "tooth.h5"
LAMBDA_DS = "entry/instrument/detector/data"

needs = pytest.mark.skipif(not DCNUM.is_dir() or not LAMBDA.is_dir(),
                           reason="shared real data not mounted")


@needs
def test_rtdc_default_dataset_attrs_and_times():
    path = DCNUM / "cytoshot-test-data.rtdc"
    r = open_reader(path)
    assert isinstance(r, Hdf5Reader) and r.dataset == "events/image"
    assert (r.n_frames, r.frame_shape, r.dtype) == (40, (80, 400, 1), np.uint8)
    assert r.attrs["experiment:event count"] == 40 and isinstance(r.attrs["experiment:date"], str)
    with h5py.File(path) as f:
        expect = f["events/image"][()]
        t = f["events/time"][()]
    assert np.array_equal(r.read_all()[..., 0], expect)
    assert np.array_equal(r.frame_times(), t)
    assert r.frame_feature("frame").shape == (40,)
    assert r.frame_feature("image_bg") is None  # not 1-D
    assert r.frame_feature("nope") is None


@needs
def test_rtdc_time_from_frame_and_rate():
    r = open_reader(DCNUM / "file_with_variable_length_logs.rtdc")
    assert r.n_frames == 20 and r.frame_feature("time") is None
    t = r.frame_times()
    assert np.allclose(t, r.frame_feature("frame") / 2000.0)


@needs
def test_lambda_parts_concatenate_in_order():
    r = open_reader(str(LAMBDA / "testasapo1_1009_00002_m1_part0000*.nxs") + ":" + LAMBDA_DS)
    assert (r.n_frames, r.frame_shape, r.dtype) == (50, (516, 1554, 1), np.int16)
    assert [p.name[-9:-4] for p in r.paths] == ["00000", "00001", "00002", "00003", "00004"]
    seq = r.frame_feature("sequence_number")
    assert seq.tolist() == list(range(1, 51))
    block = r.read_frames(8, 23)  # spans parts 0, 1 and 2
    with h5py.File(r.paths[1]) as f:
        assert np.array_equal(block[2:12, ..., 0], f[LAMBDA_DS][()])
    assert r.frame_label(23) == "testasapo1_1009_00002_m1_part00002.nxs[3]"


@needs
def test_folder_of_several_series_is_refused():
    with pytest.raises(InputError, match="different series share part number 0"):
        open_reader(LAMBDA, dataset=LAMBDA_DS)


@needs
def test_tooth_float32_and_dataset_listing():
    r = open_reader(f"{TOOTH}:exchange/data")
    assert (r.n_frames, r.frame_shape, r.dtype) == (181, (2, 640, 1), np.float32)
    with h5py.File(TOOTH) as f:
        assert np.array_equal(r.read_all()[..., 0], f["exchange/data"][()])
    with pytest.raises(InputError) as info:
        open_reader(TOOTH)
    msg = str(info.value)
    assert "tooth.h5" in msg and "exchange/data (181, 2, 640) float32" in msg
    with pytest.raises(InputError, match="no dataset 'exchange/nope'"):
        open_reader(TOOTH, dataset="exchange/nope")


@needs
def test_open_stack_rtdc_blocks_and_pickle():
    stack = open_stack(DCNUM / "dcnum_thresh_example.rtdc")
    with h5py.File(DCNUM / "dcnum_thresh_example.rtdc") as f:
        expect = f["events/image"][()]
    got = np.concatenate([b[..., 0].copy() for _, b in stack.iter_blocks(5)])
    assert np.array_equal(got, expect)
    clone = pickle.loads(pickle.dumps(stack.reader))
    assert np.array_equal(clone.read_frames(10, 13)[..., 0], expect[10:13])
    clone.close()
    stack.reader.close()


def _part(path, data, name="entry/data"):
    with h5py.File(path, "w") as f:
        f.create_dataset(name, data=data, compression="gzip")
        f.create_dataset(name.rsplit("/", 1)[0] + "/time", data=np.arange(len(data), dtype=float))
    return path


def test_parts_natural_order_channels_and_mismatch(tmp_path):
    rng = np.random.default_rng(5)
    data = rng.integers(0, 1000, (3, 4, 5, 6, 2), dtype=np.uint16)
    for k, n in enumerate((2, 10, 1)):
        _part(tmp_path / f"run_{n}.h5", data[k])
    r = open_reader(tmp_path, dataset="entry/data")
    assert [p.name for p in r.paths] == ["run_1.h5", "run_2.h5", "run_10.h5"]
    assert r.frame_shape == (5, 6, 2) and r.channel_names == ("ch0", "ch1")
    assert np.array_equal(r.read_all(), np.concatenate(data[[2, 0, 1]]))
    assert r.frame_times().tolist() == [0, 1, 2, 3] * 3

    _part(tmp_path / "run_11.h5", np.zeros((2, 5, 7, 2), np.uint16))
    with pytest.raises(FrameMismatchError) as info:
        open_reader(tmp_path, dataset="entry/data")
    msg = str(info.value)
    assert "run_11.h5" in msg and "(5, 7, 2)" in msg and "(5, 6, 2)" in msg
    r = open_reader(tmp_path, dataset="entry/data", skip_bad=True)
    assert r.n_frames == 12 and r.skipped[0].label == "run_11.h5"


def test_external_link_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    _part(outside / "secret.h5", np.ones((2, 3, 3), np.uint8))
    inside = tmp_path / "inside"
    inside.mkdir()
    with h5py.File(inside / "a.h5", "w") as f:
        f["events/image"] = h5py.ExternalLink(str(outside / "secret.h5"), "/entry/data")
        f["entry"] = h5py.ExternalLink(str(outside / "secret.h5"), "/entry")
        f["alias"] = h5py.SoftLink("/entry/data")
    with pytest.raises(InputError, match="external link to .*secret.h5.*does not follow"):
        open_reader(inside / "a.h5")
    with pytest.raises(InputError, match="external link"):
        open_reader(inside / "a.h5", dataset="entry/data")  # via an external group
    with pytest.raises(InputError, match="external link"):
        open_reader(inside / "a.h5", dataset="alias", skip_bad=True)  # soft -> external


def test_virtual_dataset_inside_ok_outside_refused(tmp_path):
    src = _part(tmp_path / "src.h5", np.arange(2 * 3 * 3, dtype=np.int32).reshape(2, 3, 3))
    layout = h5py.VirtualLayout(shape=(2, 3, 3), dtype=np.int32)
    layout[:] = h5py.VirtualSource(src, "entry/data", shape=(2, 3, 3))
    with h5py.File(tmp_path / "vds.h5", "w") as f:
        f.create_virtual_dataset("events/image", layout)
    r = open_reader(tmp_path / "vds.h5")
    assert r.read_all()[1, 2, 2, 0] == 17

    sub = tmp_path / "sub"
    sub.mkdir()
    layout2 = h5py.VirtualLayout(shape=(2, 3, 3), dtype=np.int32)
    layout2[:] = h5py.VirtualSource(str(src), "entry/data", shape=(2, 3, 3))
    with h5py.File(sub / "vds.h5", "w") as f:
        f.create_virtual_dataset("events/image", layout2)
    with pytest.raises(InputError, match="outside the named folders"):
        open_reader(sub / "vds.h5")


def test_not_hdf5_and_unknown_dataset(tmp_path):
    (tmp_path / "x.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(InputError, match="x.h5: not a readable HDF5 file"):
        open_reader(tmp_path / "x.h5")
    _part(tmp_path / "y.h5", np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(InputError, match="y.h5: no dataset 'entry/missing'; 3-D datasets "
                                         r"in the file: entry/data \(2, 3, 3\) uint8"):
        open_reader(tmp_path / "y.h5", dataset="entry/missing")
    with pytest.raises(InputError, match="is a group"):
        open_reader(f"{tmp_path / 'y.h5'}:entry")

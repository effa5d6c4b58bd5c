"""Zarr stores (v2, v3, groups) read by the zarr package; scans equal the same frames as .npy."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import zarr

from badpix import open_stack
from badpix.cli import main
from badpix.engine import scan_stack
from badpix.errors import DecodeError, InputError
from badpix.io import open_reader
from badpix.io.zarrstore import ZarrReader


@pytest.fixture
def frames():
    rng = np.random.default_rng(5)
    x = rng.integers(900, 1100, (13, 24, 20), dtype=np.uint16)
    x[:, 3, 4] = 4000  # hot
    x[:, 10, 11] = 1234  # stuck
    return x


@pytest.mark.parametrize("fmt", [2, 3])
def test_store_reads_like_the_array(tmp_path, frames, fmt):
    store = tmp_path / "stack.zarr"
    z = zarr.create_array(store, shape=frames.shape, chunks=(5, 24, 20), dtype=frames.dtype,
                          zarr_format=fmt)
    z[:] = frames
    r = open_reader(store)
    assert isinstance(r, ZarrReader)
    assert (r.n_frames, r.frame_shape, r.dtype) == (13, (24, 20, 1), np.uint16)
    assert r.attrs["format"] == f"zarr v{fmt}" and r.attrs["chunks"] == (5, 24, 20)
    assert np.array_equal(r.read_all()[..., 0], frames)
    out = np.empty((1, 24, 20, 1), np.uint16)
    r.read_frame(7, out[0])
    assert np.array_equal(out[0, ..., 0], frames[7])
    # readers travel to Dask workers pickled, without the open array
    again = pickle.loads(pickle.dumps(r))
    assert np.array_equal(again.read_frames(4, 9)[..., 0], frames[4:9])


def test_scan_of_a_store_equals_scan_of_npy_files(tmp_path, frames):
    store = tmp_path / "stack.zarr"
    zarr.create_array(store, shape=frames.shape, chunks=(4, 12, 20), dtype=frames.dtype)[:] = frames
    folder = tmp_path / "npy"
    folder.mkdir()
    for i, f in enumerate(frames):
        np.save(folder / f"f_{i:02d}.npy", f)
    # blocks of 3 frames straddle the 4-frame chunks
    a = scan_stack(open_stack(store), block_frames=3)
    b = scan_stack(open_stack(folder))
    for name in ("ch0",):
        sa, sb = a.bands[name], b.bands[name]
        assert np.array_equal(sa.flags, sb.flags)
        for key in ("mean", "var", "min", "max", "median"):
            assert np.array_equal(getattr(sa.stats, key), getattr(sb.stats, key)), key
    assert a.bands["ch0"].flags[3, 4] and a.bands["ch0"].flags[10, 11]


def test_group_needs_the_array_named_when_ambiguous(tmp_path):
    store = tmp_path / "g.zarr"
    g = zarr.open_group(store, mode="w")
    g.create_array("raw/frames", shape=(3, 4, 5, 3), dtype="f4")[:] = 1.5
    g.create_array("dark/frames", shape=(2, 4, 5), dtype="u2")[:] = 7
    g.create_array("meta", shape=(3,), dtype="f8")
    with pytest.raises(InputError, match=r"dark/frames, raw/frames|raw/frames, dark/frames"):
        open_reader(store)
    r = open_reader(f"{store}:raw/frames")
    assert r.frame_shape == (4, 5, 3) and r.channel_names == ("ch0", "ch1", "ch2")
    assert r.frame_label(2) == "g.zarr:raw/frames[2]"
    assert float(r.read_all().mean()) == 1.5
    with pytest.raises(InputError, match="has no array 'nope'"):
        open_reader(f"{store}:nope")


def test_refuses_non_numeric_and_pickle_codecs(tmp_path):
    import numcodecs

    pk = tmp_path / "pickled.zarr"
    zarr.create_array(pk, shape=(4, 3, 3), chunks=(2, 3, 3), dtype="u1", zarr_format=2,
                      filters=[numcodecs.Pickle()])
    with pytest.raises(DecodeError, match="pickle"):
        open_reader(pk)
    flat = tmp_path / "flat.zarr"
    zarr.create_array(flat, shape=(10,), dtype="u2")
    with pytest.raises(DecodeError, match=r"frames need \(N, H, W\)"):
        open_reader(flat)


def test_cli_scan_of_a_store_and_bad_store_message(tmp_path, frames, capsys):
    store = tmp_path / "stack.zarr"
    zarr.create_array(store, shape=frames.shape, chunks=(5, 24, 20), dtype=frames.dtype)[:] = frames
    out = tmp_path / "scan"
    assert main(["scan", str(store), "-o", str(out), "-q"]) == 0
    assert (out / "summary.json").is_file()
    (store / "zarr.json").write_text("{not json")
    assert main(["scan", str(store), "-o", str(tmp_path / "scan2"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stack.zarr" in err[0] and "zarr" in err[0]
    assert not (tmp_path / "scan2").exists()


def test_dask_workers_read_the_store_themselves(tmp_path, frames):
    """A 1-worker process cluster reads the store from its path; same answer as locally."""
    distributed = pytest.importorskip("distributed")
    from tests.engine._util import assert_same_results

    store = tmp_path / "stack.zarr"
    zarr.create_array(store, shape=frames.shape, chunks=(4, 24, 20), dtype=frames.dtype)[:] = frames
    local = scan_stack(open_stack(store))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                  silence_logs=50) as cluster, distributed.Client(cluster) as c:
        got = scan_stack(open_stack(store), client=c, frames_per_task=4)
    assert_same_results(local, got, exact=True)

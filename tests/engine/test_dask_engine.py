"""The Dask engine on a real LocalCluster gives the local engine's answer.

One cluster (2 worker processes, 1 thread each, loopback) serves the module.
"""

from __future__ import annotations

import contextlib
import os
import signal

import numpy as np
import pytest

from badpix import open_stack
from badpix.cluster import LOCAL_CLUSTER_CONFIG, dask_client
from badpix.engine import run_scan, scan_stack
from badpix.errors import OutputError

from ._util import assert_same_results, write_stack

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def client():
    with dask_client(workers=2) as c:  # the CLI's --workers 2 cluster
        yield c


def test_local_cluster_runs_without_profiler_and_with_slow_ticks(client):
    import dask

    keys = list(LOCAL_CLUSTER_CONFIG)
    workers = client.run(lambda: [dask.config.get(k) for k in keys])
    assert len(workers) == 2
    for got in workers.values():  # worker processes: the nannies passed the settings on
        assert got == [False, "1s", "2s"]
    ticks = client.run(lambda dask_worker: dask_worker._tick_interval)
    assert set(ticks.values()) == {1.0}
    assert client.run_on_scheduler(lambda dask_scheduler: dask_scheduler._tick_interval) == 1.0


@pytest.fixture(scope="module")
def int_stack(tmp_path_factory):
    d = tmp_path_factory.mktemp("int") / "frames"
    write_stack(d, 37, dtype=np.uint16, seed=1)
    return d


@pytest.fixture(scope="module")
def local_int(int_stack):
    return scan_stack(open_stack(int_stack))


@pytest.mark.parametrize("frames_per_task", [1, 5, 16, 37])
def test_integer_stack_bit_identical_for_any_chunking(client, int_stack, local_int,
                                                      frames_per_task):
    got = scan_stack(open_stack(int_stack), client=client, frames_per_task=frames_per_task)
    assert_same_results(local_int, got, exact=True)
    assert got.input.n_frames == 37


def test_float_stack_with_nans_equal_to_1e12(client, tmp_path):
    d = tmp_path / "f"
    write_stack(d, 29, dtype=np.float32, seed=2, nan_fraction=0.05)
    local = scan_stack(open_stack(d))
    got = scan_stack(open_stack(d), client=client, frames_per_task=3)
    assert_same_results(local, got, exact=False, rtol=1e-12)
    frames = np.stack([np.load(p) for p in sorted(d.glob("*.npy"))])
    np.testing.assert_array_equal(got.bands["ch1"].stats.median,
                                  np.nanmedian(frames[..., 1].astype(np.float64), axis=0))


def test_tiny_median_budget_splits_rows_and_stays_exact(client, int_stack, local_int):
    # the smallest limit a scan takes (two 40x36x2 uint16 frames): 2 threads, 5760 bytes
    # per median tile, 77 pixels of 37 frames: one-row tiles
    got = scan_stack(open_stack(int_stack), client=client, frames_per_task=8,
                     memory_limit=2 * 40 * 36 * 2 * 2)
    assert_same_results(local_int, got, exact=True)


def test_run_scan_accepts_client_and_layout_bands(client, tmp_path):
    d = tmp_path / "L"
    write_stack(d, 12, shape=(30, 20, 3), seed=3)
    from badpix.layout import Band, Layout

    layout = Layout((Band("top", 0, (0, 12), (0, 20)), Band("odd", 2, (1, 30), (0, 20), 2, 2)),
                    "test")
    local = run_scan(d, layout=layout)
    got = run_scan(d, layout=layout, client=client)
    assert_same_results(local, got, exact=True)


@contextlib.contextmanager
def _one_worker_killed(client):
    """A progress callback that SIGKILLs one worker after the first finished task, while
    the others run; afterwards, checks it died and waits for the nanny's restart."""
    victim = sorted(client.run(os.getpid).values())[0]
    killed = []

    def progress(_n: int) -> None:
        if not killed:
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    yield progress
    assert killed
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it for the other tests
    assert victim not in client.run(os.getpid).values()


def test_lost_worker_mid_scan_still_identical(client, int_stack, local_int):
    with _one_worker_killed(client) as progress:
        got = scan_stack(open_stack(int_stack), client=client, frames_per_task=1,
                         progress=progress)
    assert_same_results(local_int, got, exact=True)


def test_workdir_must_exist(client, int_stack, tmp_path):
    with pytest.raises(OutputError):
        scan_stack(open_stack(int_stack), client=client, workdir=tmp_path / "missing")


def test_cli_scheduler_option(client, int_stack, local_int, tmp_path):
    from badpix.cli import main
    from badpix.io.scandir import load_scan

    out = tmp_path / "scan"
    assert main(["scan", str(int_stack), "-o", str(out), "-q", "--format", "npy",
                 "--scheduler", client.scheduler.address]) == 0
    scan = load_scan(out)
    assert scan.summary["engine"]["name"] == "dask"
    np.testing.assert_array_equal(scan.mask("ch0"), local_int.bands["ch0"].flags)
    np.testing.assert_array_equal(scan.stats("ch1")["median"],
                                  local_int.bands["ch1"].stats.median)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.int32, np.float32])
def test_compact_and_wide_merges_agree(dtype):
    """The client merges chunk states as they arrive: the compact-sum path of
    ``MomentAccumulator.merge`` (both sides unflushed) equals the wide-total path and,
    for integers, one pass over all frames."""
    from badpix.stats.moments import MomentAccumulator

    rng = np.random.default_rng(5)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    lo, hi = (info.min, info.max) if info else (-1e3, 1e3)
    x = rng.uniform(lo, hi, (9, 6, 5)).astype(dtype)

    def acc(part):
        return MomentAccumulator((6, 5), dtype).update(part)

    compact, wide, one = acc(x[:4]), acc(x[:4]), acc(x)
    compact.merge(acc(x[4:]))
    wide.state()  # state() flushes into the wide totals: merge then takes the other path
    wide.merge(acc(x[4:]))
    got, want, whole = compact.finalize(), wide.finalize(), one.finalize()
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])
        if info is not None:  # exact integer moments: as if accumulated in one go
            np.testing.assert_array_equal(got[k], whole[k])


def test_scratch_buffers_are_reused():
    from badpix.engine.tasks import _scratch

    with _scratch((4, 8), np.uint16) as a:
        a[...] = 1
        base = a.base
    with _scratch((2, 8), np.float32) as b:
        assert b.shape == (2, 8) and b.dtype == np.float32
        assert np.shares_memory(b, base)


def test_chunk_ranges_cover_every_frame_once_and_balance_threads():
    from badpix.engine.partition import chunk_ranges

    for n in (1, 2, 7, 37, 119, 1000):
        for fpt in (1, 5, 64, 2000):
            for threads in (1, 2, 3, 8):
                r = chunk_ranges(n, fpt, threads)
                assert r[0][0] == 0 and r[-1][1] == n
                assert all(a[1] == b[0] for a, b in zip(r, r[1:], strict=False))
                sizes = [e - s for s, e in r]
                assert min(sizes) >= 1
                if threads > 1:
                    assert max(sizes) - min(sizes) <= 1  # no straggler
                    assert len(r) % threads == 0 or len(r) == n
    assert chunk_ranges(119, 64, 2) == [(0, 59), (59, 119)]


@pytest.mark.timeout(120)
def test_scan_with_a_later_client_as_default(client, int_stack, local_int):
    # as_completed defaults to the *default* (newest) client's loop: the engine must use
    # its own client's, or this hangs
    with distributed.Client(client.scheduler.address) as later:
        assert distributed.default_client() is later
        got = scan_stack(open_stack(int_stack), client=client, frames_per_task=10)
    assert_same_results(local_int, got, exact=True)


def test_skipped_frames_match_local_engine(client, tmp_path):
    d = tmp_path / "bad"
    write_stack(d, 23, seed=4)
    for i in (0, 7, 8, 22):  # undecodable files, one at each end and a pair inside
        (d / f"frame_{i:05d}.npy").write_bytes(b"not an npy file")
    local_stack = open_stack(d, skip_bad=True)
    local = scan_stack(local_stack)
    want = sorted(s.label for s in local_stack.skipped)
    assert len(want) == 4
    for fpt in (1, 4, None):  # 1: whole chunks without a stored frame
        stack = open_stack(d, skip_bad=True)
        got = scan_stack(stack, client=client, frames_per_task=fpt)
        assert_same_results(local, got, exact=True)
        assert sorted(s.label for s in stack.skipped) == want


def test_store_goes_to_ram_for_a_cluster_on_this_machine(client):
    from badpix.engine.dask import SHM_DIR, default_store_dir

    if not os.path.isdir(SHM_DIR):
        pytest.skip("no /dev/shm")
    assert default_store_dir(client, 2**20) == SHM_DIR
    assert default_store_dir(client, 2**60) is None  # larger than memory: the temp folder


def test_photo_scan_without_median_creates_no_store(client, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(3)
    (tmp_path / "p").mkdir()
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(
            tmp_path / "p" / f"IMG_{i}.png")
    store = tmp_path / "store"
    store.mkdir()
    local = scan_stack(open_stack(tmp_path / "p"), extra_accumulators=[])
    got = scan_stack(open_stack(tmp_path / "p"), client=client, workdir=store)
    assert not any(store.iterdir())
    assert all(br.stats.median is None for br in got.bands.values())
    for name in local.bands:
        np.testing.assert_array_equal(local.bands[name].flags, got.bands[name].flags)
        np.testing.assert_array_equal(local.bands[name].stats.var, got.bands[name].stats.var)
    with_median = scan_stack(open_stack(tmp_path / "p"), client=client, workdir=store,
                             median=True)
    assert all(br.stats.median is not None for br in with_median.bands.values())


def test_states_and_medians_through_ram_files_equal_the_transfer_path(client, int_stack,
                                                                       local_int, tmp_path):
    from badpix.engine import shm as engine

    calls = []
    original = engine.SharedMoments.attach

    def attach(self):
        calls.append(sorted(self.files.values()))
        return original(self)

    engine.SharedMoments.attach = attach
    try:
        shared = scan_stack(open_stack(int_stack), client=client, frames_per_task=9)
    finally:
        engine.SharedMoments.attach = original
    assert len(calls) == 5 * 2  # 5 chunks x 2 bands, each a handful of mapped files
    from badpix.engine.dask import SHM_DIR

    assert all(p.startswith(SHM_DIR) for files in calls for p in files)
    disk = tmp_path / "store"
    disk.mkdir()
    transferred = scan_stack(open_stack(int_stack), client=client, frames_per_task=9,
                             workdir=disk)
    assert_same_results(local_int, shared, exact=True)
    assert_same_results(local_int, transferred, exact=True)
    assert not any(disk.iterdir())



# ----------------------------------------------------------------------------- strip tasks

@pytest.fixture(scope="module")
def tall_stack(tmp_path_factory):
    d = tmp_path_factory.mktemp("tall") / "frames"
    write_stack(d, 23, shape=(150, 20, 1), dtype=np.uint16, seed=5)
    return d


def _task_kinds(task_stream) -> dict[str, int]:
    """How many tasks of each badpix kind (``strip``, ``chunk``, ``median``) ran."""
    kinds: dict[str, int] = {}
    for d in task_stream.data:
        key = str(d["key"])
        if key.startswith("badpix-"):
            kinds[key.split("-")[1]] = kinds.get(key.split("-")[1], 0) + 1
    return kinds


def test_strip_plan_needs_row_reads_no_skipping_and_room(int_stack, tall_stack, tmp_path):
    from PIL import Image

    from badpix.engine.partition import STRIP_MIN_ROWS, plan_strips

    plan = plan_strips(open_stack(tall_stack), 2**30, 2)
    assert plan == {"ch0": [(0, 37), (37, 75), (75, 112), (112, 150)]}  # 4 per thread pair
    assert plan_strips(open_stack(int_stack), 2**30, 2) == {"ch0": [(0, 40)], "ch1": [(0, 40)]}
    assert plan_strips(open_stack(tall_stack, skip_bad=True), 2**30, 2) is None
    # a budget below STRIP_MIN_ROWS rows of every frame: frame chunks instead
    row = 23 * 20 * 2 + 6 * 8 * 20
    assert plan_strips(open_stack(tall_stack), STRIP_MIN_ROWS * row, 1) is not None
    assert plan_strips(open_stack(tall_stack), STRIP_MIN_ROWS * row - 1, 1) is None
    (tmp_path / "png").mkdir()
    for i in range(3):  # PNG decodes whole frames: no row reads
        Image.fromarray(np.full((40, 8), i, np.uint8)).save(tmp_path / "png" / f"f_{i}.png")
    assert plan_strips(open_stack(tmp_path / "png"), 2**30, 2) is None


def test_strip_tasks_bit_identical_to_local(client, tall_stack):
    local = scan_stack(open_stack(tall_stack))
    with distributed.get_task_stream(client=client) as ts:
        got = scan_stack(open_stack(tall_stack), client=client)
    assert _task_kinds(ts) == {"reader": 1, "strip": 4}  # no chunk, no store, no median task
    assert_same_results(local, got, exact=True)
    frames = np.stack([np.load(p) for p in sorted(tall_stack.glob("*.npy"))])
    np.testing.assert_array_equal(got.bands["ch0"].stats.median, np.median(frames[..., 0], axis=0))


def test_strip_tasks_transfer_path_and_progress(client, tall_stack, tmp_path):
    local = scan_stack(open_stack(tall_stack))
    done = []
    disk = tmp_path / "work"
    disk.mkdir()  # not in RAM: the strips travel back to the client as arrays
    got = scan_stack(open_stack(tall_stack), client=client, workdir=disk,
                     progress=done.append)
    assert_same_results(local, got, exact=True)
    assert sum(done) == 23 and len(done) >= 2
    assert not any(disk.iterdir())


def test_strip_tasks_float_with_nans_and_hdf5(client, tmp_path):
    import h5py

    d = tmp_path / "f"
    frames = write_stack(d, 19, shape=(100, 12, 1), dtype=np.float32, seed=6,
                         nan_fraction=0.05)
    local = scan_stack(open_stack(d))
    with distributed.get_task_stream(client=client) as ts:
        got = scan_stack(open_stack(d), client=client)
    assert _task_kinds(ts)["strip"] == 3
    assert_same_results(local, got, exact=False, rtol=1e-12)
    np.testing.assert_array_equal(got.bands["ch0"].stats.median,
                                  np.nanmedian(frames[..., 0].astype(np.float64), axis=0))
    ints = np.nan_to_num(frames[..., 0]).round().astype(np.int16)
    for name, kw, kind in (("plain.h5", {}, "strip"),
                           ("gzip.h5", {"chunks": (1, 100, 12), "compression": "gzip"},
                            "chunk")):  # compressed chunks decode whole: frame chunks
        with h5py.File(tmp_path / name, "w") as f:
            f.create_dataset("events/image", data=ints, **kw)
        local = scan_stack(open_stack(tmp_path / name))
        with distributed.get_task_stream(client=client) as ts:
            got = scan_stack(open_stack(tmp_path / name), client=client)
        assert kind in _task_kinds(ts)
        assert_same_results(local, got, exact=True)


def test_strip_tasks_on_layout_bands_with_steps(client, tall_stack):
    from badpix.layout import Band, Layout

    layout = Layout((Band("top", 0, (0, 70), (3, 17)), Band("odd", 0, (1, 150), (0, 20), 2, 2)),
                    "test")
    local = run_scan(tall_stack, layout=layout)
    with distributed.get_task_stream(client=client) as ts:
        got = run_scan(tall_stack, layout=layout, client=client)
    assert _task_kinds(ts)["strip"] == 4  # two strips per band
    assert_same_results(local, got, exact=True)


def test_strip_tasks_survive_a_lost_worker(client, tmp_path):
    d = tmp_path / "long"
    write_stack(d, 23, shape=(640, 16, 1), seed=7)
    local = scan_stack(open_stack(d))
    row = 23 * 16 * 2 + 6 * 8 * 16
    with _one_worker_killed(client) as progress, \
            distributed.get_task_stream(client=client) as ts:
        got = scan_stack(open_stack(d), client=client, memory_limit=2 * 32 * row,
                         progress=progress)
    assert _task_kinds(ts)["strip"] >= 20  # 20 strips of 32 rows, and the lost ones again
    assert_same_results(local, got, exact=True)


def test_strips_forced_on_an_input_that_cannot(client, tall_stack):
    from badpix.errors import ParameterError

    with pytest.raises(ParameterError, match="strip tasks"):
        scan_stack(open_stack(tall_stack, skip_bad=True), client=client, strips=True)
    local = scan_stack(open_stack(tall_stack))
    with distributed.get_task_stream(client=client) as ts:
        got = scan_stack(open_stack(tall_stack), client=client, strips=False)
    assert "strip" not in _task_kinds(ts) and "chunk" in _task_kinds(ts)
    assert_same_results(local, got, exact=True)

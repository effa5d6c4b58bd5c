"""Every engine on DEFAULT arguments gives the local engine's answer, for every input kind.

The cross-engine tests elsewhere pass explicit arguments (``extra_accumulators=[]``,
``frames_per_task=``...), which hid a divergence: photo series ran the PERSISTENT rule
and the onset only in the local engine (issue 21).  Here each engine is called the way
a user calls it, with nothing but the input (and the state folder a checkpointed scan
needs), and must run the same rules with the same results.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from badpix.engine import run_scan

from ._util import assert_same_results, write_stack

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def client():
    from badpix.cluster import dask_client

    with dask_client(workers=2) as c:
        yield c


def _npy(folder):  # sensor frames, a reader that reads rows: strips where the median is wanted
    write_stack(folder, 11, shape=(40, 36, 2), seed=4)


def _tiff(folder):  # sensor frames, whole-frame reads: frame streaming
    frames = write_stack(folder / "src", 9, shape=(24, 20, 1), seed=5)
    folder.mkdir(exist_ok=True)
    for i, f in enumerate(frames):
        tifffile.imwrite(folder / f"f_{i:03d}.tif", f[..., 0])


def _photos(folder):  # a photo series: persistence + onset on, no median
    rng = np.random.default_rng(6)
    folder.mkdir(parents=True, exist_ok=True)
    frames = rng.integers(90, 110, (9, 30, 41, 3), dtype=np.uint8)  # a quiet scene
    frames[:, 7, 9, 1] = 250  # a hot photosite: PERSISTENT
    frames[3:, 15, 20, 0] = 240  # one that went hot at the fourth photo: onset
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"IMG_{i:03d}.png")


INPUTS = {"npy": _npy, "tiff": _tiff, "photos": _photos}


@pytest.fixture(scope="module", params=sorted(INPUTS))
def case(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param) / "in"
    INPUTS[request.param](folder)
    return request.param, folder, run_scan(folder)


def _checkpointed(folder, out):
    return run_scan(folder, out=out, checkpoint_every=4)


def _same(local, got):
    assert got.rules() == local.rules()
    for name, br in local.bands.items():
        assert sorted(got.bands[name].stats.extra) == sorted(br.stats.extra)
        for key, arr in br.stats.extra.items():
            np.testing.assert_array_equal(got.bands[name].stats.extra[key], arr, err_msg=key)
    assert_same_results(local, got, exact=True)


def test_local_defaults_by_input_kind(case):
    kind, _, local = case
    if kind == "photos":
        assert "persistent" in local.rules() and "outlier" not in local.rules()
        assert all("onset_frame" in br.stats.extra for br in local.bands.values())
        assert local.bands["G"].flags[7, 9] & 32 and local.bands["R"].flags[15, 20] & 32
        assert local.bands["R"].stats.extra["onset_frame"][15, 20] == 3
    else:
        assert "outlier" in local.rules() and "persistent" not in local.rules()


def test_dask_defaults_equal_local(case, client):
    kind, folder, local = case
    _same(local, run_scan(folder, client=client))


def test_checkpointed_defaults_equal_local(case, tmp_path):
    kind, folder, local = case
    _same(local, _checkpointed(folder, tmp_path / "scan"))


def test_badpix_scan_with_a_client_runs_persistence_on_photos(case, client):
    import badpix

    kind, folder, local = case
    if kind != "photos":
        pytest.skip("photo series only")
    assert any(np.any(br.flags & 32) for br in local.bands.values())  # PERSISTENT flags
    ds = badpix.scan(folder, client=client)
    for name, br in local.bands.items():
        np.testing.assert_array_equal(ds[f"flags_{name}"].values, br.flags, err_msg=name)


def test_cli_plan_asks_the_scheduler_for_its_threads(case, client, tmp_path, capsys):
    from badpix.cli import main

    kind, folder, _ = case
    assert main(["scan", str(folder), "-o", str(tmp_path / "o"), "--plan",
                 "--scheduler", client.scheduler.address]) == 0
    printed = capsys.readouterr().out
    assert "executor      dask (2 thread(s))" in printed
    assert ("onset" in printed) is (kind == "photos")
    assert not (tmp_path / "o").exists()


def test_checkpointing_on_a_cluster_is_refused_before_it_starts(case, tmp_path, capsys):
    from badpix.cli import main

    _, folder, _ = case
    assert main(["scan", str(folder), "-o", str(tmp_path / "o"), "--workers", "2",
                 "--checkpoint-every", "3"]) == 2
    assert "drop --workers/--scheduler" in capsys.readouterr().err

"""badpix against dcnum 0.31 itself (the optional ``peer`` extra), on the real files.

Each comparison reads dcnum's output with ``dcnum.read.HDF5Data`` - and badpix's
``.rtdc`` output with the same reader - so the file layout is checked too.
"""

from __future__ import annotations

import pathlib
import warnings

import numpy as np
import pytest

from badpix.background import BackgroundWarning, background, background_to_file

from .conftest import FILES, data_file, load

dcnum = pytest.importorskip("dcnum")
pytest.importorskip("dcnum.feat.feat_background.bg_sparse_median")


def run_dcnum(method: str, input_data, out: pathlib.Path, **kw):
    from dcnum.feat.feat_background.bg_roll_median import BackgroundRollMed
    from dcnum.feat.feat_background.bg_sparse_median import BackgroundSparseMed
    from dcnum.read import HDF5Data

    cls = BackgroundSparseMed if method == "sparse" else BackgroundRollMed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dcnum's own warnings are not under test
        with cls(input_data=input_data, output_path=out, num_cpus=1, **kw) as bg:
            bg.process()
        with HDF5Data(out) as h:
            return (h["image_bg"][:], h["bg_off"][:] if "bg_off" in h else None,
                    h.h5["events/basinmap0"][:] if "basinmap0" in h.h5["events"] else None)


def read_badpix(path: pathlib.Path):
    from dcnum.read import HDF5Data

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with HDF5Data(path) as h:
            return (len(h), h["image_bg"][:], h["bg_off"][:] if "bg_off" in h else None,
                    h["image"][0])


CASES = [
    ("sparse", {}),
    ("sparse", {"kernel_size": 7, "split_time": 0.2}),
    ("sparse", {"kernel_size": 5, "split_time": 0.05, "frac_cleansing": 1}),
    ("sparse", {"kernel_size": 6, "split_time": 0.1, "thresh_cleansing": 1.0}),
    ("rolling", {"kernel_size": 6}),
]


@pytest.mark.parametrize(("method", "params"), CASES,
                         ids=lambda p: p if isinstance(p, str) else ",".join(map(str, p.values())))
@pytest.mark.parametrize("name", FILES)
def test_identical_to_dcnum(tmp_path, name, method, params):
    path = data_file(name)
    dc_bg, dc_off, dc_map = run_dcnum(method, path, tmp_path / "dcnum.rtdc", **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BackgroundWarning)
        r, _ = background_to_file(path, tmp_path / "badpix.rtdc", method=method, **params)
    n, bp_bg, bp_off, image0 = read_badpix(tmp_path / "badpix.rtdc")
    frames, _ = load(name)
    assert n == len(frames)
    np.testing.assert_array_equal(image0, frames[0])  # input reachable through the file basin
    np.testing.assert_array_equal(bp_bg, dc_bg)
    if method == "sparse":
        np.testing.assert_array_equal(r.per_frame(), dc_bg)
        np.testing.assert_array_equal(r.index, dc_map)  # same frame -> image mapping
        assert len(r.images) == r.kept.sum() == dc_map.max() + 1  # same images kept
        np.testing.assert_allclose(bp_off, dc_off, rtol=0, atol=1e-12)
    else:
        assert r.images is None  # streamed to the file
        # dcnum passes the input's stale bg_off through its file basin; badpix
        # hides it, since it belongs to a different background
        assert bp_off is None


def test_long_series_identical_to_dcnum(tmp_path):
    """A 300-frame series from real frames: several images, cleansing removes some."""
    import h5py

    from .conftest import long_series

    series, times = long_series(FILES[0], 300, seed=11)
    src = tmp_path / "series.rtdc"
    with h5py.File(src, "w") as h5:
        h5.attrs["experiment:event count"] = len(series)
        h5.create_dataset("events/image", data=series, chunks=(50, 80, 400))
        h5.create_dataset("events/time", data=times)
    params = {"kernel_size": 40, "split_time": 0.2}
    dc_bg, dc_off, dc_map = run_dcnum("sparse", src, tmp_path / "dc.rtdc", **params)
    r = background(src, **params)
    assert not r.kept.all() and len(r.kept) == 15
    np.testing.assert_array_equal(r.per_frame(), dc_bg)
    np.testing.assert_array_equal(r.index, dc_map)
    np.testing.assert_allclose(r.bg_off, dc_off, rtol=0, atol=1e-12)


def test_where_dcnum_crashes(tmp_path):
    """One frame: dcnum 0.31 raises; badpix gives the frame itself as background."""
    frames, _ = load(FILES[0])
    with pytest.raises(Exception):  # noqa: B017 - whatever dcnum raises
        run_dcnum("sparse", frames[:1], tmp_path / "one.rtdc", kernel_size=1)
    with pytest.warns(BackgroundWarning, match="zero duration"):
        r = background(frames[:1], kernel_size=1)
    np.testing.assert_array_equal(r.images[0], frames[0])

"""The local engine: moments over whole frames when bands tile them, and the photo median default."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from badpix import open_stack
from badpix.cli import main
from badpix.detect.flags import Flag
from badpix.engine import scan_stack
from badpix.engine.partition import tiles_frame
from badpix.engine.plan import make_plan
from badpix.layout import Band, Layout
from badpix.stats.moments import MomentAccumulator

from ._util import write_stack


def collect_median(stack, median=None) -> bool:
    """Whether the scan plan collects the median (the decision ``collect_median`` made)."""
    return make_plan(stack, median=median).collects_median


def rgb_photos(folder, n=9, shape=(30, 41), seed=0) -> np.ndarray:
    """PNG photos of a changing scene with a hot green subpixel and a stuck blue one."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    frames = rng.integers(40, 200, (n, *shape, 3), dtype=np.uint8)
    frames[:, 7, 9, 1] = 255
    frames[:, 20, 33, 2] = 17
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"IMG_{i:03d}.png")
    return frames


def per_band_reference(frames: np.ndarray, stack,
                       block: int = 4) -> dict[str, dict[str, np.ndarray]]:
    """Each band's moments from its own accumulator over its (strided) view."""
    out = {}
    for b in stack.bands:
        acc = MomentAccumulator(b.shape, frames.dtype)
        for s in range(0, len(frames), block):
            acc.update(b.view(frames[s:s + block]))
        out[b.name] = acc.finalize()
    return out


def test_rgb_moments_from_whole_frames_equal_per_band_accumulators(tmp_path):
    frames = rgb_photos(tmp_path / "p")
    stack = open_stack(tmp_path / "p")
    assert tiles_frame(stack)
    result = scan_stack(stack, block_frames=2)
    ref = per_band_reference(frames, stack)  # other blocks: integer sums are exact anyway
    for name, br in result.bands.items():
        for q in ("mean", "var", "std", "min", "max"):
            np.testing.assert_array_equal(getattr(br.stats, q), ref[name][q],
                                          err_msg=f"{name} {q}")
        assert br.stats.n_frames == len(frames)


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_bayer_planes_and_partial_layouts(tmp_path, dtype):
    frames = write_stack(tmp_path / "f", 11, shape=(24, 20, 1), dtype=dtype, seed=4,
                         nan_fraction=0.1 if dtype == np.float32 else 0.0)
    planes = Layout((Band("R", 0, (0, 24), (0, 20), 2, 2), Band("G1", 0, (0, 24), (1, 20), 2, 2),
                     Band("G2", 0, (1, 24), (0, 20), 2, 2), Band("B", 0, (1, 24), (1, 20), 2, 2)))
    partial = Layout((Band("top", 0, (0, 6), (0, 20)), Band("bottom", 0, (9, 24), (0, 20))))
    for layout, tiled in ((planes, True), (partial, False)):
        stack = open_stack(tmp_path / "f", layout=layout)
        assert tiles_frame(stack) is tiled
        result = scan_stack(stack, block_frames=3)
        # the same blocks: float moments depend on them at the 1e-13 level (integers never)
        ref = per_band_reference(frames, stack, block=3)
        for name, br in result.bands.items():
            for q in ("mean", "var", "min", "max"):
                np.testing.assert_array_equal(getattr(br.stats, q), ref[name][q],
                                              err_msg=f"{name} {q}")
            np.testing.assert_array_equal(br.stats.count, ref[name]["count"])


def test_photo_scan_leaves_the_median_out_unless_asked(tmp_path):
    frames = rgb_photos(tmp_path / "p")
    stack = open_stack(tmp_path / "p")
    assert collect_median(stack) is False and collect_median(stack, True) is True
    plain = scan_stack(open_stack(tmp_path / "p"))
    full = scan_stack(open_stack(tmp_path / "p"), median=True)
    for name, br in plain.bands.items():
        assert br.stats.median is None and "outlier" not in br.scores
        c = "RGB".index(name)
        np.testing.assert_array_equal(full.bands[name].stats.median,
                                      np.median(frames[..., c], axis=0))
        assert "outlier" in full.bands[name].scores
        # every other rule sees the same statistics: the flags differ by OUTLIER only
        np.testing.assert_array_equal(br.flags,
                                      full.bands[name].flags & ~np.uint8(Flag.OUTLIER))
    assert plain.bands["G"].flags[7, 9] & Flag.HOT
    # non-photo input keeps the median by default, and can drop it
    write_stack(tmp_path / "npy", 6)
    assert collect_median(open_stack(tmp_path / "npy"))
    assert collect_median(open_stack(tmp_path / "npy"), False) is False


def test_cli_median_option_on_photos(tmp_path, capsys):
    rgb_photos(tmp_path / "p")
    for args, has_median in (([], False), (["--median"], True)):
        out = tmp_path / f"scan{len(args)}"
        assert main(["scan", str(tmp_path / "p"), "-o", str(out), "--format", "npy"]
                    + args) == 0
        table = capsys.readouterr().out
        assert ("outlier" in table) is has_median
        summary = json.loads((out / "summary.json").read_text())
        assert ("outlier" in summary["rules"]) is has_median
        assert {"stuck", "hot", "dead", "noisy", "persistent"} <= set(summary["rules"])
        defects = (out / "defects.csv").read_text().splitlines()
        header = defects[0].split(",")
        rows = [dict(zip(header, line.split(","), strict=True)) for line in defects[1:]]
        medians = [float(r["median"]) for r in rows]
        assert rows and all(np.isfinite(medians)) is has_median


def test_bands_classified_in_threads_equal_one_after_the_other(tmp_path):
    from badpix.detect.bands import classify_bands
    from badpix.detect.params import RuleParams

    rgb_photos(tmp_path / "p", n=7)
    stack = open_stack(tmp_path / "p")
    result = scan_stack(stack, median=True)  # any scan, to get finished accumulators
    accs = {}
    frames = np.stack([np.asarray(Image.open(p)) for p in sorted((tmp_path / "p").iterdir())])
    for b in stack.bands:
        m = MomentAccumulator(b.shape, np.uint8).update(b.view(frames))
        accs[b.name] = (m, result.bands[b.name].stats.median, [])
    one = classify_bands(stack, accs, RuleParams(), threads=1)
    two = classify_bands(stack, accs, RuleParams(), threads=2)
    assert list(one) == list(two) == ["R", "G", "B"]
    for name in one:
        np.testing.assert_array_equal(one[name].flags, two[name].flags)
        for key, score in one[name].scores.items():
            np.testing.assert_array_equal(score, two[name].scores[key], err_msg=key)


def test_streaming_state_is_released_before_the_rules_allocate(tmp_path, monkeypatch):
    import gc
    import weakref

    from badpix.detect import bands as local

    rgb_photos(tmp_path / "p", n=7)
    alive = []
    original_subset = MomentAccumulator.subset
    original_rules = local.classify_band

    def subset(self, index):  # the frame state the bands' moments are views of
        alive.append(weakref.ref(self._c1.base if self._c1.base is not None else self._c1))
        return original_subset(self, index)

    def classify_band(stack, band, stats, params):
        gc.collect()
        assert all(ref() is None for ref in alive), "sums still held while the rules run"
        return original_rules(stack, band, stats, params)

    monkeypatch.setattr(MomentAccumulator, "subset", subset)
    monkeypatch.setattr(local, "classify_band", classify_band)
    result = scan_stack(open_stack(tmp_path / "p"))  # photo default: onset, whole-frame moments
    assert alive and set(result.bands) == {"R", "G", "B"}
    assert "persistent" in result.bands["R"].scores


def test_whole_frame_moments_with_a_block_of_only_bad_frames(tmp_path):
    frames = rgb_photos(tmp_path / "p", n=6)
    for name in ("IMG_002.png", "IMG_003.png"):  # the whole second block of two
        path = tmp_path / "p" / name
        path.write_bytes(path.read_bytes()[:200])  # header intact, pixels cut: fails to decode
    stack = open_stack(tmp_path / "p", skip_bad=True)
    assert stack.n_frames == 6  # the headers pass: the frames fail while the scan reads
    result = scan_stack(stack, block_frames=2)
    assert len(stack.skipped) == 2 and result.input.n_frames == 4
    good = frames[[0, 1, 4, 5]]
    for name, br in result.bands.items():
        c = "RGB".index(name)
        np.testing.assert_array_equal(br.stats.max, good[..., c].max(axis=0))
        np.testing.assert_array_equal(br.stats.mean, per_band_reference(good, stack)[name]["mean"])


# ----------------------------------------------------------------------------- strips

@pytest.fixture()
def strip_calls(monkeypatch):
    """The plans the local engine's strip path ran (empty: it streamed frames)."""
    from badpix.engine import local

    calls = []
    original = local._strips

    def spy(stack, plan, *args):
        calls.append({name: list(s) for name, s in plan.strips})
        return original(stack, plan, *args)

    monkeypatch.setattr(local, "_strips", spy)
    return calls


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.int32])  # int32: no fused kernel
def test_strips_equal_the_streaming_path_bit_for_bit(tmp_path, strip_calls, dtype):
    from ._util import assert_same_results

    d = tmp_path / "f"
    write_stack(d, 21, shape=(150, 24, 2), dtype=dtype, seed=11)
    done = []
    got = scan_stack(open_stack(d), progress=done.append)
    assert strip_calls and strip_calls[0]["ch0"] == [(0, 37), (37, 75), (75, 112), (112, 150)]
    assert sum(done) == 21
    streamed = scan_stack(open_stack(d), block_frames=4)  # block_frames: frame streaming
    assert len(strip_calls) == 1
    assert_same_results(streamed, got, exact=True)
    assert "median" in streamed.timings and "median" not in got.timings


def test_strips_on_a_stack_file_hdf5_and_strided_bands(tmp_path, strip_calls):
    import h5py

    from ._util import assert_same_results

    frames = write_stack(tmp_path / "f", 13, shape=(96, 20, 1), seed=12)
    np.save(tmp_path / "stack.npy", frames)
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f["events/image"] = frames[..., 0]
    layout = Layout((Band("top", 0, (0, 40), (2, 18)), Band("odd", 0, (1, 96), (0, 20), 2, 2)),
                    "test")
    for src, kw in ((tmp_path / "stack.npy", {}), (tmp_path / "s.h5", {}),
                    (tmp_path / "f", {"layout": layout})):
        got = scan_stack(open_stack(src, **kw))
        streamed = scan_stack(open_stack(src, **kw), block_frames=3)
        assert_same_results(streamed, got, exact=True)
    assert len(strip_calls) == 3


def test_strips_are_skipped_where_they_do_not_fit(tmp_path, strip_calls):
    from ._util import assert_same_results

    d = tmp_path / "f"
    write_stack(d, 21, shape=(150, 24, 1), seed=13)
    # two strips of 32 rows of every frame need 2 x 32 x (21 x 24 x 2 + 6 x 8 x 24) bytes
    need = 2 * 32 * (21 * 24 * 2 + 6 * 8 * 24)
    small = scan_stack(open_stack(d), memory_limit=need - 2)  # the median spills instead
    assert not strip_calls
    fits = scan_stack(open_stack(d), memory_limit=need)
    assert strip_calls
    assert_same_results(small, fits, exact=True)
    scan_stack(open_stack(d, skip_bad=True))  # skip_bad: a frame could fail in one strip
    f = tmp_path / "float"
    write_stack(f, 9, shape=(150, 24, 1), dtype=np.float32, seed=14)
    scan_stack(open_stack(f))  # float data stream: strips would change the last bits
    assert len(strip_calls) == 1


def test_a_truncated_frame_in_a_later_strip_is_a_one_line_error(tmp_path, capsys):
    d = tmp_path / "f"
    write_stack(d, 9, shape=(150, 24, 1), seed=15)
    bad = d / "frame_00004.npy"
    bad.write_bytes(bad.read_bytes()[:-24 * 2 * 60])  # its last 60 rows are missing
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    assert main(["scan", str(d), "-o", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "frame_00004.npy" in err and "truncated" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before

import numpy as np
import pytest

from badpix import open_stack
from badpix.errors import DecodeError, FrameMismatchError, InputError
from badpix.io.base import natural_key, split_dataset_path


def _write_frames(folder, n, shape=(6, 5, 3), dtype=np.uint16, names=None):
    folder.mkdir(exist_ok=True)
    frames = []
    for i in range(n):
        f = (np.arange(np.prod(shape)).reshape(shape) + 100 * i).astype(dtype)
        np.save(folder / (names[i] if names else f"frame_{i}.npy"), f)
        frames.append(f)
    return np.stack(frames)


def test_natural_order_numbers_then_unnumbered():
    names = ["frame_10.npy", "frame_2.npy", "dark.npy", "frame_1.npy", "bias.npy"]
    assert sorted(names, key=natural_key) == [
        "frame_1.npy", "frame_2.npy", "frame_10.npy", "bias.npy", "dark.npy"]


def test_split_dataset_path():
    assert split_dataset_path("a.h5:events/image") == ("a.h5", "events/image")
    assert split_dataset_path("C:/data/a.h5") == ("C:/data/a.h5", None)


@pytest.mark.parametrize("block", [1, 3, 7, 20])
def test_blocks_cover_all_frames_in_natural_order(tmp_path, block):
    names = [f"frame_{i}.npy" for i in (0, 1, 2, 10, 11)] + ["zz.npy", "aa.npy"]
    frames = _write_frames(tmp_path / "f", 7, names=names)
    expected = frames[[0, 1, 2, 3, 4, 6, 5]]  # aa before zz among the unnumbered
    stack = open_stack(tmp_path / "f")
    got = np.concatenate([b.copy() for _, b in stack.iter_blocks(block)])
    np.testing.assert_array_equal(got, expected)
    assert stack.frame_shape == (6, 5, 3)


def test_glob_and_list_inputs(tmp_path):
    frames = _write_frames(tmp_path / "f", 4)
    s1 = open_stack(str(tmp_path / "f" / "frame_*.npy"))
    s2 = open_stack([tmp_path / "f" / f"frame_{i}.npy" for i in (3, 1)])
    assert s1.n_frames == 4
    np.testing.assert_array_equal(s2.reader.read_all()[0], frames[3])


def test_single_npy_stack_file(tmp_path):
    data = np.random.default_rng(0).integers(0, 1000, (9, 4, 5), dtype=np.uint16)
    np.save(tmp_path / "stack.npy", data)
    s = open_stack(tmp_path / "stack.npy")
    assert (s.n_frames, s.frame_shape) == (9, (4, 5, 1))
    got = np.concatenate([b[..., 0].copy() for _, b in s.iter_blocks(4)])
    np.testing.assert_array_equal(got, data)


def test_mismatched_frame_names_file_and_both_shapes(tmp_path):
    _write_frames(tmp_path / "f", 3)
    np.save(tmp_path / "f" / "frame_7.npy", np.zeros((6, 4, 3), np.uint16))
    with pytest.raises(FrameMismatchError) as exc:
        open_stack(tmp_path / "f")
    msg = str(exc.value)
    assert "frame_7.npy" in msg and "(6, 4, 3)" in msg and "(6, 5, 3)" in msg


def test_skip_bad_records_mismatched_and_undecodable(tmp_path):
    _write_frames(tmp_path / "f", 3)
    np.save(tmp_path / "f" / "frame_7.npy", np.zeros((6, 4, 3), np.uint16))
    (tmp_path / "f" / "frame_8.npy").write_bytes(b"not a numpy file")
    s = open_stack(tmp_path / "f", skip_bad=True)
    assert s.n_frames == 3
    assert sorted(x.label for x in s.skipped) == ["frame_7.npy", "frame_8.npy"]


def test_truncated_frame_is_a_decode_error_or_skipped(tmp_path):
    _write_frames(tmp_path / "f", 3)
    p = tmp_path / "f" / "frame_1.npy"
    p.write_bytes(p.read_bytes()[:-10])
    s = open_stack(tmp_path / "f")
    with pytest.raises(DecodeError, match="frame_1.npy: file is truncated"):
        list(s.iter_blocks(2))
    s = open_stack(tmp_path / "f", skip_bad=True)
    got = [b.copy() for _, b in s.iter_blocks(2)]
    assert sum(len(b) for b in got) == 2
    assert [x.label for x in s.skipped] == ["frame_1.npy"]


def test_pickled_npy_is_refused(tmp_path):
    d = tmp_path / "f"
    d.mkdir()
    np.save(d / "a_1.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    np.save(d / "a_2.npy", np.zeros((2, 2)))
    with pytest.raises(DecodeError, match="never unpickles"):
        open_stack(d)


def test_empty_folder_and_missing_path(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="folder holds no frame files"):
        open_stack(tmp_path / "empty")
    with pytest.raises(InputError, match="no such file or folder"):
        open_stack(tmp_path / "missing")
    with pytest.raises(InputError, match="pattern matches no files"):
        open_stack(str(tmp_path / "*.npy"))


def test_huge_declared_shape_is_refused_before_allocating(tmp_path):
    # a header that declares 10^12 pixels but holds none: must not allocate
    from badpix.errors import MemoryBudgetError

    arr = np.zeros((1,), np.uint8)
    p = tmp_path / "big.npy"
    with open(p, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<u2", "fortran_order": False, "shape": (1000, 1000, 1000)})
        f.write(arr.tobytes())
    with pytest.raises((MemoryBudgetError, DecodeError)):
        open_stack(p).reader.read_all()

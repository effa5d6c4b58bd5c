import pytest

from badpix.errors import OutputError
from badpix.io.atomic import StagedDir, atomic_path


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.tif"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_previous_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("new")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_no_overwrite(tmp_path):
    (tmp_path / "a").write_text("x")
    with pytest.raises(OutputError, match="exists"), atomic_path(tmp_path / "a", overwrite=False):
        pass


def test_staged_dir_publishes_all_or_nothing(tmp_path):
    out = tmp_path / "scan"
    with pytest.raises(ValueError), StagedDir(out) as stage:
        (stage.path / "a.txt").write_text("1")
        raise ValueError
    assert not out.exists()  # the folder it created is gone again: nothing left at all
    out.mkdir()
    with pytest.raises(ValueError), StagedDir(out) as stage:
        raise ValueError
    assert list(out.iterdir()) == []  # a folder that was there stays
    with StagedDir(out) as stage:
        (stage.path / "a.txt").write_text("1")
        (stage.path / "b.txt").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "b.txt"]

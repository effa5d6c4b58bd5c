"""Atomic outputs: write to a temporary name beside the target, then rename.

A failed or killed run leaves the previous file (or nothing) in place, never a
half-written one.  The temporary name keeps the target's suffix so that
format drivers that look at the suffix (GDAL, h5py) behave the same.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import OutputError


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path; on success it is renamed to ``target``.

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_path(out) as tmp:
    ...     _ = tmp.write_text("hello")
    >>> out.read_text()
    'hello'
    """
    target = Path(target)
    if target.exists() and not overwrite:
        raise OutputError(f"{target}: exists (use --overwrite to replace it)")
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{parent}: cannot create folder ({exc.strerror})") from None
    fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}",
                                dir=parent)
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()  # writers such as GDAL want to create the file themselves
    try:
        yield tmp
        if not tmp.exists():
            raise OutputError(f"{target}: writer produced no file")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            if tmp.is_dir():
                shutil.rmtree(tmp)
            else:
                tmp.unlink()
        raise


class StagedDir:
    """Collect a run's output files in a hidden staging folder, publish them together.

    Files are written under ``staging`` and moved into ``target`` by
    :meth:`publish` (one rename per file); :meth:`discard` removes everything.
    Used as a context manager, it publishes on success and discards on error.

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "scan"
    >>> with StagedDir(out) as stage:
    ...     _ = (stage.path / "summary.json").write_text("{}")
    >>> sorted(p.name for p in out.iterdir())
    ['summary.json']
    """

    def __init__(self, target: str | os.PathLike):
        self.target = Path(target)
        try:
            self.target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{self.target}: cannot create folder ({exc.strerror})") from None
        if not self.target.is_dir():
            raise OutputError(f"{self.target}: is not a folder")
        self.path = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.target))

    def publish(self) -> list[Path]:
        published = []
        for item in sorted(self.path.iterdir()):
            dest = self.target / item.name
            if dest.is_dir() and item.is_dir():
                shutil.rmtree(dest)
            os.replace(item, dest)
            published.append(dest)
        self.path.rmdir()
        return published

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> StagedDir:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.publish()
        else:
            self.discard()

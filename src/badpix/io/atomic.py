"""Atomic outputs: write to a temporary name beside the target, then rename.

A failed or killed run leaves the previous file (or nothing) in place, never a
half-written one.  The temporary name keeps the target's suffix so that
format drivers that look at the suffix (GDAL, h5py) behave the same.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import resource
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from ..errors import OutputError

#: signals that arrived inside :func:`hold_signals` blocks (depth, then signal numbers)
_HELD: list[int] = [0]
_ARRIVED: list[int] = []


@contextlib.contextmanager
def hold_signals() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM for a few statements that must not be cut in two.

    E.g. between creating a temporary file and recording that it must be removed:
    a Ctrl-C there left the file behind.  The CLI's handler asks
    :func:`signal_held` first; a held signal is sent again when the block ends.
    (``pthread_sigmask`` would not do: the kernel hands the signal to another
    thread, numba's or Dask's, and Python still runs the handler in this one.)

    >>> with hold_signals():
    ...     held = signal_held(2)
    ...     _ARRIVED.clear()  # here only: a handler's signal would be sent again at the end
    >>> held, signal_held(2)
    (True, False)
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers run in the main thread only
        return
    _HELD[0] += 1
    try:
        yield
    finally:
        _HELD[0] -= 1
        if _HELD[0] == 0 and _ARRIVED:
            signum = _ARRIVED[-1]
            _ARRIVED.clear()
            os.kill(os.getpid(), signum)  # the handler runs again, now outside the block


def signal_held(signum: int) -> bool:
    """For a signal handler: inside :func:`hold_signals`, remember ``signum`` and say True."""
    if _HELD[0] > 0 and threading.current_thread() is threading.main_thread():
        _ARRIVED.append(int(signum))
        return True
    return False


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, overwrite: bool = True,
                expect_bytes: int = 0) -> Iterator[Path]:
    """Yield a temporary path; on success it is renamed to ``target``.

    ``expect_bytes`` (about what the file takes) lets a failed write whose library
    hid the cause be told apart as a full disk (see :func:`write_failure`).

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
    with hold_signals():  # a Ctrl-C between mkstemp and unlink left the empty file behind
        fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}",
                                    dir=parent)
        os.close(fd)
        tmp = Path(name)
        tmp.unlink()  # writers such as GDAL want to create the file themselves
    try:
        with quiet_library_logs():
            yield tmp
        if not tmp.exists():
            raise OutputError(f"{target}: writer produced no file")
        os.replace(tmp, target)
    except BaseException as exc:
        cause = write_failure(tmp, exc, expect_bytes) if isinstance(exc, Exception) else None
        with contextlib.suppress(OSError):
            if tmp.is_dir():
                shutil.rmtree(tmp)
            else:
                tmp.unlink()
        if cause is not None:
            raise OutputError(f"{output_folder(target)}: {cause} while writing "
                              f"{target.name}") from None
        if isinstance(exc, OSError):
            raise OutputError(f"{target}: cannot write ({exc.strerror or exc})") from None
        raise


#: what each errno of a failed write means, in the words of the message
WRITE_ERRNOS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EFBIG: "file size limit exceeded",
}


_TEMP_NAME = re.compile(r"^\..+\.tmp(\.[^.]*)?$")  # atomic_path's ``.<stem>.<random>.tmp<suffix>``


def remove_stale_temporaries(folder: str | os.PathLike) -> list[str]:
    """Remove what a killed run left in ``folder``: staging folders and temporary files.

    Only names this module makes (``.staging-*``, ``.<stem>.<random>.tmp<suffix>``,
    ``.gen-*.tmp``); for folders one run owns at a time (a checkpointed scan's
    output and its ``state/``).  Returns the names removed.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / ".staging-x1").mkdir(); _ = (d / ".mask.ab12.tmp.tif").write_text("")
    >>> _ = (d / "mask.tif").write_text(""); remove_stale_temporaries(d)
    ['.mask.ab12.tmp.tif', '.staging-x1']
    >>> sorted(p.name for p in d.iterdir())
    ['mask.tif']
    """
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for p in sorted(folder.iterdir()):
        if not (p.name.startswith(".staging-") or _TEMP_NAME.match(p.name)):
            continue
        with contextlib.suppress(OSError):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p.name)
    return removed


def output_folder(target: Path) -> Path:
    """The user's output folder of ``target``: the staging folder's parent when staged.

    >>> str(output_folder(Path("out/.staging-x1/stats_L2.tif")))
    'out'
    """
    parent = target.parent
    while parent.name.startswith(".staging-"):
        parent = parent.parent
    return parent


def write_failure(tmp: Path, exc: BaseException, expect_bytes: int = 0) -> str | None:
    """Why writing ``tmp`` failed, when the environment says so (``None``: not known).

    Libraries hide the cause: GDAL says "Write failed", tifffile raised
    ``IndexError: 0`` reading back a truncated file.  So the errno is used when
    there is one, else the file system and the file-size limit are asked.  GDAL may
    also remove the file it could not finish: then less free space than the file's
    ``expect_bytes`` says the disk was too small.
    """
    # only an OSError's errno is one: rasterio's CPLE_* errors carry GDAL's error class
    # there (CPLE_AppDefined is 1, which read as EPERM said "permission denied" on a full disk)
    err = exc.errno if isinstance(exc, OSError) else None
    if err in WRITE_ERRNOS:
        return WRITE_ERRNOS[err]
    folder = tmp.parent
    soft, _hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    try:
        size = tmp.stat().st_size if tmp.is_file() else 0
    except OSError:
        size = 0
    if soft != resource.RLIM_INFINITY and size >= soft - 4096:
        return WRITE_ERRNOS[errno.EFBIG]
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    if st.f_flag & os.ST_RDONLY:
        return WRITE_ERRNOS[errno.EROFS]
    if st.f_bavail * st.f_frsize < max(64 * 1024, expect_bytes):
        return WRITE_ERRNOS[errno.ENOSPC]
    if not os.access(folder, os.W_OK):
        return WRITE_ERRNOS[errno.EACCES]
    return None


@contextlib.contextmanager
def quiet_library_logs() -> Iterator[None]:
    """Keep GDAL's (rasterio's) and tifffile's logged write errors off stderr.

    They print ``_tiffWriteProc: File too large.`` and go on; the failure itself
    reaches us as an exception, which :func:`write_failure` explains in one line.
    """
    loggers = [logging.getLogger(n) for n in ("rasterio", "tifffile")]
    handler = logging.NullHandler()
    saved = [lg.propagate for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.propagate = False
    try:
        yield
    finally:
        for lg, prop in zip(loggers, saved, strict=True):
            lg.removeHandler(handler)
            lg.propagate = prop


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
        self._created = not self.target.exists()  # removed again, if still empty, on discard
        try:
            self.target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{self.target}: cannot create folder ({exc.strerror})") from None
        if not self.target.is_dir():
            raise OutputError(f"{self.target}: is not a folder")
        try:
            self.path = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.target))
        except OSError as exc:
            cause = WRITE_ERRNOS.get(exc.errno, exc.strerror or str(exc))
            raise OutputError(f"{self.target}: {cause} while creating the staging "
                              "folder") from None

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
        if self._created:  # an interrupted or failed first run leaves no empty folder
            with contextlib.suppress(OSError):
                self.target.rmdir()

    def __enter__(self) -> StagedDir:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.publish()
        else:
            self.discard()

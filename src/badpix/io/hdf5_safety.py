"""Untrusted HDF5 files: dataset paths resolved without leaving the files the user named.

:func:`_safe_get` walks a dataset path one link at a time: soft links are followed
inside the file (at most ``_MAX_LINK_HOPS``), external links are refused, virtual
datasets are accepted only when every source lies in the named folders (checked
recursively), and datasets stored in external raw files are refused.  A refusal
is a :class:`_SecurityError`, which ``skip_bad`` never skips.  HDF5's own errors
on a corrupt file become a :class:`~badpix.errors.DecodeError` naming the file.
Used by :class:`badpix.io.hdf5.Hdf5Reader`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..errors import DecodeError, InputError

_MAX_LINK_HOPS = 32


def _h5py():
    try:
        import hdf5plugin  # noqa: F401 - registers Zstd etc. filters before h5py reads
    except ImportError:  # pragma: no cover - hard dependency; plain gzip files still read
        pass
    import h5py

    return h5py


class _Missing(Exception):
    """A dataset path does not exist (internal: turned into a clear InputError)."""


def _safe_get(f, path: str, file_path: Path, allowed: Sequence[Path], depth: int = 0):
    """Resolve ``path`` in open file ``f`` without following links out of the named files.

    Returns the h5py Dataset.  Raises :class:`_Missing` when a component does not
    exist and :class:`InputError` for external links, out-of-folder virtual
    sources, external raw storage, or a path that is not a dataset.
    """
    h5py = _h5py()
    parts = [p for p in path.strip("/").split("/") if p]
    if not parts:
        raise InputError(file_path, f"dataset path {path!r} is empty")
    group = f["/"]
    hops = 0
    while parts:
        name = parts.pop(0)
        if name == ".":
            continue
        link = group.get(name, getlink=True)
        if link is None:
            raise _Missing(path)
        if isinstance(link, h5py.ExternalLink):
            raise InputError(
                file_path, f"dataset {path} is an external link to {link.filename}:{link.path}; "
                "badpix does not follow links out of the named files")
        if isinstance(link, h5py.SoftLink):
            hops += 1
            if hops > _MAX_LINK_HOPS:
                raise InputError(file_path, f"dataset {path}: too many soft links (a loop?)")
            target = [p for p in link.path.split("/") if p]
            if link.path.startswith("/"):
                group = f["/"]
            parts = target + parts
            continue
        obj = group[name]  # a hard link: stays inside this file
        if parts:
            if not isinstance(obj, h5py.Group):
                raise _Missing(path)
            group = obj
            continue
        if not isinstance(obj, h5py.Dataset):
            raise InputError(file_path, f"{path} is a group, not a dataset")
        _check_storage(obj, path, file_path, allowed, depth)
        return obj
    raise _Missing(path)


def _check_storage(ds, path: str, file_path: Path, allowed: Sequence[Path], depth: int) -> None:
    """Refuse datasets whose bytes live outside the named folders."""
    if ds.external:
        raise InputError(file_path, f"dataset {path} is stored in external raw files "
                         f"({ds.external[0][0]}...); badpix does not read files it was not given")
    if not ds.is_virtual:
        return
    if depth > 2:
        raise InputError(file_path, f"dataset {path}: virtual datasets nested too deeply")
    h5py = _h5py()
    for vs in ds.virtual_sources():
        name = vs.file_name
        if name == ".":
            src_file = file_path
        else:
            if "%" in name or (os.environ.get("HDF5_VDS_PREFIX") and not os.path.isabs(name)):
                raise InputError(file_path, f"dataset {path} is virtual with a source pattern "
                                 f"{name!r} that badpix cannot check; refusing it")
            src_file = Path(name) if os.path.isabs(name) else file_path.parent / name
            src = src_file.resolve()
            if not any(src.is_relative_to(d) for d in allowed):
                raise InputError(
                    file_path, f"dataset {path} is virtual with a source in {src}, outside the "
                    "named folders; badpix does not follow links out of the named files")
            if not src.is_file():
                raise InputError(file_path, f"dataset {path}: virtual source {src} is missing")
        # the source dataset path itself must not leave its file either
        with h5py.File(src_file, "r") as sf:
            try:
                _safe_get(sf, vs.dset_name, src_file, allowed, depth + 1)
            except _Missing:
                raise InputError(file_path, f"dataset {path}: virtual source "
                                 f"{src_file.name}:{vs.dset_name} does not exist") from None


@contextlib.contextmanager
def _corrupt_is_decode_error(path: Path) -> Iterator[None]:
    """HDF5's errors on a corrupt file (h5py raises RuntimeError, KeyError...) name the file.

    Found by fuzzing: one zeroed byte gave ``RuntimeError: Object visitation failed
    (addr overflow)``.
    """
    try:
        yield
    except InputError:
        raise
    except (RuntimeError, KeyError, ValueError, TypeError, OSError) as exc:
        raise DecodeError(path, f"corrupt HDF5 file ({str(exc).splitlines()[0][:80]})") from None


def _list_stacks(f) -> list[str]:
    """``name shape dtype`` of every 3-D/4-D numeric dataset reachable by hard links."""
    h5py = _h5py()
    found: list[str] = []

    def visit(name: str, obj) -> None:
        if (isinstance(obj, h5py.Dataset) and obj.ndim in (3, 4)
                and obj.dtype.kind in "uif"):
            found.append(f"{name} {obj.shape} {obj.dtype}")

    f.visititems(visit)  # H5Ovisit walks hard links only: no external files are opened
    return found


class _SecurityError(InputError):
    """A refused link or virtual source: never skipped by ``skip_bad``."""


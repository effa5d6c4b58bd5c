"""Files in RAM for a cluster on this machine: results travel as file names, not copies.

With every worker on the client's host, the median store, the units' moment states,
the median tiles and the strips' statistics go to ``.npy``/raw files in
:data:`SHM_DIR`; workers write them, and the client maps the same pages instead of
receiving pickled copies into fresh memory (slow on small VMs, see
:class:`SharedMoments`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..stats.moments import MomentAccumulator

__all__ = ["SHM_DIR", "SharedMoments", "default_store_dir", "file_allocator", "in_shm",
           "mapped", "npy_files"]

#: a RAM-backed folder for the median store of a cluster on this machine
SHM_DIR = "/dev/shm"


def in_shm(path: str | os.PathLike | None) -> bool:
    if path is None:
        return False
    real, shm = os.path.realpath(path), os.path.realpath(SHM_DIR)
    return real == shm or real.startswith(shm + os.sep)


def default_store_dir(client: Any, nbytes: int) -> str | None:
    """``/dev/shm`` when every worker runs on this machine and ``nbytes`` fit easily, else None.

    The store is written once and read once within seconds: on a disk-backed folder a
    store beyond the kernel's dirty limit is also written to disk and the writers wait
    (that cost a 4 GB scan's 2 workers most of their speed-up here).  RAM is used when
    the store takes at most a quarter of the available memory and half of the free
    space of the folder; workers on other hosts need shared storage (``workdir``).
    """
    import socket
    from urllib.parse import urlparse

    from ..memory import available_memory

    if not os.path.isdir(SHM_DIR):
        return None
    local = {"127.0.0.1", "localhost", "::1"}
    with contextlib.suppress(OSError):
        local |= {socket.gethostname(), socket.gethostbyname(socket.gethostname())}
    hosts = {urlparse(addr).hostname for addr in client.nthreads()}
    if not hosts or not hosts <= local:
        return None
    try:
        free = shutil.disk_usage(SHM_DIR).free
    except OSError:
        return None
    return SHM_DIR if nbytes <= free // 2 and nbytes <= available_memory() // 4 else None


def mapped(path: str, mode: str = "r+") -> np.ndarray:
    """A ``.npy`` file as a plain array on its pages (``"c"``: copy-on-write)."""
    return np.load(path, mmap_mode=mode).view(np.ndarray)


def npy_files(folder: Path, shapes: dict[str, tuple[int, int]], kinds: dict[str, np.dtype]
               ) -> dict[str, dict[str, str]]:
    files: dict[str, dict[str, str]] = {}
    for band, shape in shapes.items():
        for k, dt in kinds.items():
            path = files.setdefault(band, {})[k] = os.fspath(folder / f"{band}-{k}.npy")
            np.lib.format.open_memmap(path, mode="w+", dtype=dt, shape=shape)
    return files


class SharedMoments:
    """A unit's :class:`MomentAccumulator` whose arrays are ``.npy`` files in RAM.

    The client maps the same pages instead of receiving a copy: receiving two 64 MB
    states cost the client 0.62-0.94 s of system time per 1 GB scan here, CPU taken
    from the workers (with the files: 0.02 s).  Each task run writes files of its own,
    so a re-run never truncates files the client may have mapped.
    """

    def __init__(self, acc: MomentAccumulator, paths: dict[int, str]):
        self.template = acc.with_arrays({})
        self.files = {name: paths[id(arr)] for name, arr in acc.arrays().items()}

    def attach(self) -> MomentAccumulator:
        return self.template.with_arrays(
            {k: mapped(p) for k, p in self.files.items()})


def file_allocator(folder: str, prefix: str, paths: dict[int, str]) -> Callable[..., Any]:
    def alloc(shape: tuple[int, int], dtype: np.dtype, fill: float) -> np.ndarray:
        path = os.path.join(folder, f"{prefix}-{len(paths)}.npy")
        arr = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        if fill != 0:  # a new file reads as zeros
            arr[...] = fill
        view = arr.view(np.ndarray)
        paths[id(view)] = path
        return view
    return alloc

"""Fuzzing the readers' open-and-read path with mutated valid headers (hypothesis).

Each example takes a valid file (``.npy`` frame, multi-page TIFF, PNG, HDF5 stack,
zarr v2 store), overwrites a few header bytes (or metadata values) and opens it with
:func:`badpix.open_stack`, then reads every frame.  Success or a
:class:`~badpix.errors.BadpixError` subclass pass; anything else (a raw library
exception, a ``MemoryError``, a warning: pytest turns warnings into errors) fails.

``make test`` runs a short pass (profile ``hostile-short``: 100 examples per format);
``make fuzz`` runs ``HOSTILE_FUZZ_SECONDS`` per format (profile ``hostile-long``) and
prints how many inputs it tried and the distinct errors it saw.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from badpix import open_stack
from badpix.errors import BadpixError

settings.register_profile("hostile-short", max_examples=100, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("hostile-long", max_examples=300, deadline=None, derandomize=False,
                          suppress_health_check=list(HealthCheck))
LONG = bool(os.environ.get("HOSTILE_FUZZ_SECONDS"))
PROFILE = settings.get_profile("hostile-long" if LONG else "hostile-short")

SEEN: Counter = Counter()
TRIED: Counter = Counter()


def _templates(d: Path) -> dict[str, tuple[Path, int]]:
    """Valid inputs, each with how many leading bytes are header worth mutating."""
    import h5py
    import tifffile
    from PIL import Image

    rng = np.random.default_rng(7)
    frames = rng.integers(0, 4000, (3, 8, 10), dtype=np.uint16)
    (d / "npy").mkdir()
    for i, a in enumerate(frames):
        np.save(d / "npy" / f"f{i}.npy", a)
    tifffile.imwrite(d / "s.tif", frames, photometric="minisblack")
    Image.fromarray(frames[0].astype(np.uint8)).save(d / "p.png")
    with h5py.File(d / "s.h5", "w") as h:
        h["data"] = frames
    return {"npy": (d / "npy" / "f0.npy", 128), "tiff": (d / "s.tif", 400),
            "png": (d / "p.png", 60), "hdf5": (d / "s.h5", 2048)}


def _open_and_read(spec: str) -> None:
    try:
        stack = open_stack(spec)
        try:
            for _ in stack.iter_blocks(2):
                pass
        finally:
            stack.reader.close()
    except BadpixError as exc:
        SEEN[type(exc).__name__ + ": " + re.sub(r"\d+", "N", str(exc).split(": ", 1)[-1])[:50]] += 1


def _mutate(data: bytes, edits: list[tuple[int, int]], limit: int) -> bytes:
    b = bytearray(data)
    for at, value in edits:
        b[at % min(limit, len(b))] = value
    return bytes(b)


EDITS = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=6)


@pytest.fixture(scope="module")
def templates():
    d = Path(tempfile.mkdtemp(prefix="hostile-fuzz-"))
    try:
        yield d, _templates(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)
        if LONG:
            print(f"\nfuzz: tried {dict(TRIED)}; {len(SEEN)} distinct errors:")
            for msg, n in SEEN.most_common():
                print(f"  {n:6d}  {msg}")


@pytest.mark.parametrize("fmt", ["npy", "tiff", "png", "hdf5"])
def test_mutated_header(templates, fmt):
    root, tpl = templates
    path, limit = tpl[fmt]
    original = path.read_bytes()
    seconds = float(os.environ.get("HOSTILE_FUZZ_SECONDS", "0"))
    extra = {"max_examples": 200} if seconds else {}

    @settings(PROFILE, **extra)
    @given(EDITS)
    def one(edits):
        TRIED[fmt] += 1
        path.write_bytes(_mutate(original, edits, limit))
        try:
            _open_and_read(os.fspath(path.parent if fmt == "npy" else path))
        finally:
            path.write_bytes(original)

    if seconds:
        import time

        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            one()
    else:
        one()


ZARR_FIELDS = st.fixed_dictionaries({}, optional={
    "shape": st.lists(st.integers(-2, 10**12), max_size=5),
    "chunks": st.lists(st.integers(-2, 10**9), max_size=5),
    "dtype": st.sampled_from(["<u2", "|O", "<f8", "|V8", "<M8[s]", "x", ">i4", "<c16"]),
    "fill_value": st.one_of(st.none(), st.integers(-5, 5), st.text(max_size=4)),
    "order": st.sampled_from(["C", "F", "Z"]),
    "filters": st.one_of(st.none(), st.just([{"id": "pickle"}]), st.just([{"id": "nope"}])),
})


@settings(PROFILE)
@given(ZARR_FIELDS)
def test_mutated_zarr_metadata(tmp_path_factory, fields):
    TRIED["zarr"] += 1
    d = tmp_path_factory.mktemp("z") / "s.zarr"
    d.mkdir()
    meta = {"zarr_format": 2, "shape": [3, 8, 10], "chunks": [1, 8, 10], "dtype": "<u2",
            "compressor": None, "fill_value": 0, "order": "C", "filters": None}
    meta.update(fields)
    (d / ".zarray").write_text(json.dumps(meta))
    _open_and_read(os.fspath(d))

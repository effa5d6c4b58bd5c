"""Generators of hostile input files: each writes into a folder and returns the input path."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


def npy_header(shape: tuple[int, ...], dtype: str = "<u2") -> bytes:
    """A version-1.0 ``.npy`` header declaring ``shape`` and ``dtype`` (no data)."""
    text = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape!r}, }}"
    pad = 64 - (10 + len(text) + 1) % 64
    text = text + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


def huge_npy_frames(d: Path, n: int = 3) -> Path:
    """A folder of ``.npy`` frames each declaring (10**6, 10**6) uint16 over a 4 KiB body."""
    f = d / "frames"
    f.mkdir()
    for i in range(n):
        (f / f"frame_{i}.npy").write_bytes(npy_header((10**6, 10**6)) + bytes(4096))
    return f


def huge_npy_stack(d: Path) -> Path:
    p = d / "stack.npy"
    p.write_bytes(npy_header((10**4, 10**5, 10**5)) + bytes(4096))
    return p


def object_npy(d: Path) -> Path:
    p = d / "objects.npy"
    p.write_bytes(npy_header((4, 4), "|O") + bytes(128))
    return p


def pickled_npy_stack(d: Path) -> Path:
    """A real pickled object array as numpy writes it (allow_pickle=True)."""
    p = d / "pickled.npy"
    arr = np.empty((3, 4, 4), object)
    arr[...] = 1
    np.save(p, arr, allow_pickle=True)
    return p


def _ifd_entries(data: bytearray) -> tuple[int, list[tuple[int, int, int, int, int]]]:
    """(offset of the first IFD, [(entry offset, tag, type, count, value)]) of a little-endian TIFF."""
    assert data[:4] == b"II*\x00"
    ifd = struct.unpack_from("<I", data, 4)[0]
    n = struct.unpack_from("<H", data, ifd)[0]
    entries = []
    for i in range(n):
        at = ifd + 2 + 12 * i
        tag, typ, count, value = struct.unpack_from("<HHII", data, at)
        entries.append((at, tag, typ, count, value))
    return ifd, entries


def tiff_stack(path: Path, n: int = 5, shape: tuple[int, int] = (32, 32)) -> Path:
    import tifffile

    rng = np.random.default_rng(0)
    frames = rng.integers(100, 200, (n, *shape), dtype=np.uint16)
    tifffile.imwrite(path, frames, photometric="minisblack")
    return path


def patch_tiff_dims(path: Path, width: int, height: int) -> Path:
    """Patch the first page's ImageWidth/ImageLength (tags 256/257) to LONG values."""
    data = bytearray(path.read_bytes())
    _, entries = _ifd_entries(data)
    for at, tag, _typ, _count, _value in entries:
        if tag in (256, 257):
            struct.pack_into("<HHII", data, at, tag, 4, 1, width if tag == 256 else height)
    path.write_bytes(bytes(data))
    return path


def huge_tiff(d: Path) -> Path:
    return patch_tiff_dims(tiff_stack(d / "huge.tif", n=1), 4 * 10**9, 4 * 10**9)


def truncated_tiff(d: Path) -> Path:
    """A 5-page 32x32 uint16 TIFF cut to 3000 bytes."""
    p = tiff_stack(d / "cut.tif")
    p.write_bytes(p.read_bytes()[:3000])
    return p


def looped_tiff(d: Path) -> Path:
    """A 3-page TIFF whose last IFD points back at the first (an IFD loop)."""
    p = tiff_stack(d / "loop.tif", n=3)
    data = bytearray(p.read_bytes())
    first = struct.unpack_from("<I", data, 4)[0]
    ifd = first
    while True:
        n = struct.unpack_from("<H", data, ifd)[0]
        nxt_at = ifd + 2 + 12 * n
        nxt = struct.unpack_from("<I", data, nxt_at)[0]
        if nxt == 0:
            struct.pack_into("<I", data, nxt_at, first)
            break
        ifd = nxt
    p.write_bytes(bytes(data))
    return p


def png_bomb(d: Path) -> Path:
    """A PNG declaring 200000 x 200000 pixels: over Pillow's decompression-bomb limit."""
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", 200000, 200000, 8, 0, 0, 0, 0)
    body = zlib.compress(b"\x00" * 1024)
    p = d / "bomb.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body)
                  + chunk(b"IEND", b""))
    return p


def nan_inf_frames(d: Path) -> Path:
    """Float frames with NaN/inf pixels and whole NaN frames (no defects otherwise)."""
    f = d / "nan"
    f.mkdir()
    rng = np.random.default_rng(1)
    for i in range(8):
        a = rng.normal(100, 1, (32, 32)).astype(np.float32)
        a[3, 4] = np.nan
        a[5, 6] = np.inf
        a[7, 8] = -np.inf
        a[9, :] = np.nan  # a whole row of NaN
        np.save(f / f"frame_{i}.npy", a)
    return f


def uint64_frames(d: Path) -> tuple[Path, np.ndarray]:
    """uint64 frames near 2**64 (a true statistic needs more than float64 or int64 math)."""
    f = d / "u64"
    f.mkdir()
    rng = np.random.default_rng(2)
    top = np.uint64(2**64 - 1)
    frames = top - rng.integers(0, 1000, (6, 16, 16)).astype(np.uint64)
    for i, a in enumerate(frames):
        np.save(f / f"frame_{i}.npy", a)
    return f, frames


def uint64_tiff(d: Path) -> tuple[Path, np.ndarray]:
    """The same frames as one multi-page TIFF: read frame by frame, not in strips."""
    import tifffile

    _, frames = uint64_frames(d)
    f = d / "u64.tif"
    tifffile.imwrite(f, frames, photometric="minisblack")
    return f, frames


def small_frames(d: Path, n: int = 6, shape: tuple[int, int] = (32, 32)) -> Path:
    f = d / "frames"
    f.mkdir()
    rng = np.random.default_rng(3)
    for i in range(n):
        np.save(f / f"frame_{i}.npy", rng.integers(100, 200, shape, dtype=np.uint16))
    return f


def h5_external_link(d: Path) -> Path:
    import h5py

    other = d / "elsewhere"
    other.mkdir()
    with h5py.File(other / "target.h5", "w") as h:
        h["data"] = np.zeros((3, 8, 8), np.uint16)
    p = d / "in" / "link.h5"
    p.parent.mkdir()
    with h5py.File(p, "w") as h:
        h["data"] = h5py.ExternalLink("../elsewhere/target.h5", "data")
    return p


def h5_vds_outside(d: Path) -> Path:
    import h5py

    other = d / "elsewhere"
    other.mkdir()
    src = other / "src.h5"
    with h5py.File(src, "w") as h:
        h["data"] = np.zeros((3, 8, 8), np.uint16)
    layout = h5py.VirtualLayout(shape=(3, 8, 8), dtype=np.uint16)
    layout[:] = h5py.VirtualSource(str(src), "data", shape=(3, 8, 8))
    p = d / "in" / "vds.h5"
    p.parent.mkdir()
    with h5py.File(p, "w") as h:
        h.create_virtual_dataset("data", layout)
    return p


def h5_external_raw(d: Path) -> Path:
    import h5py

    raw = d / "raw.bin"
    raw.write_bytes(bytes(3 * 8 * 8 * 2))
    p = d / "ext.h5"
    with h5py.File(p, "w") as h:
        h.create_dataset("data", (3, 8, 8), np.uint16, external=[(str(raw), 0, 3 * 8 * 8 * 2)])
    return p


def h5_huge_shape(d: Path) -> Path:
    import h5py

    p = d / "huge.h5"
    with h5py.File(p, "w") as h:  # chunked and never written: a few KiB on disk
        h.create_dataset("data", (10**4, 10**5, 10**5), np.uint16, chunks=(1, 64, 64))
    return p


def vrt(d: Path) -> Path:
    p = d / "pointer.vrt"
    p.write_text('<VRTDataset rasterXSize="8" rasterYSize="8"><VRTRasterBand dataType="UInt16" '
                 'band="1"><SimpleSource><SourceFilename relativeToVRT="0">/etc/passwd'
                 '</SourceFilename><SourceBand>1</SourceBand></SimpleSource></VRTRasterBand>'
                 '</VRTDataset>')
    return p


def vrt_as_tif(d: Path) -> Path:
    """The same VRT XML under a .tif name (GDAL sniffs content, not suffixes)."""
    p = vrt(d)
    q = d / "pointer.tif"
    p.rename(q)
    return q


def zarr_pickle(d: Path) -> Path:
    """A zarr v2 store whose array declares the numcodecs Pickle filter."""
    import json

    p = d / "store.zarr"
    p.mkdir()
    meta = {"zarr_format": 2, "shape": [3, 8, 8], "chunks": [1, 8, 8], "dtype": "<u2",
            "compressor": None, "fill_value": 0, "order": "C",
            "filters": [{"id": "pickle", "protocol": 4}]}
    (p / ".zarray").write_text(json.dumps(meta))
    return p


def zarr_huge(d: Path) -> Path:
    import json

    p = d / "huge.zarr"
    p.mkdir()
    meta = {"zarr_format": 2, "shape": [10**4, 10**5, 10**5], "chunks": [1, 10**5, 10**5],
            "dtype": "<u2", "compressor": None, "fill_value": 0, "order": "C", "filters": None}
    (p / ".zarray").write_text(json.dumps(meta))
    return p


# -- failures the fuzzer found (tests/hostile/test_fuzz.py), kept as catalogue cases -------

def _fuzz_frames() -> np.ndarray:
    return np.random.default_rng(7).integers(0, 4000, (3, 8, 10), dtype=np.uint16)


def _zero_byte(p: Path, at: int) -> Path:
    data = bytearray(p.read_bytes())
    data[at] = 0
    p.write_bytes(bytes(data))
    return p


def fuzz_npy_tokenize(d: Path) -> Path:
    """A .npy frame whose header has a NUL inside: numpy raised tokenize.TokenError."""
    f = d / "npy"
    f.mkdir()
    for i, a in enumerate(_fuzz_frames()):
        np.save(f / f"f{i}.npy", a)
    _zero_byte(f / "f0.npy", 60)
    return f


def fuzz_hdf5_visit(d: Path) -> Path:
    """An HDF5 file with byte 152 zeroed: h5py raised RuntimeError (addr overflow)."""
    import h5py

    p = d / "s.h5"
    with h5py.File(p, "w") as h:
        h["data"] = _fuzz_frames()
    return _zero_byte(p, 152)


def fuzz_tiff_tag_type(d: Path) -> Path:
    """A TIFF with byte 26 zeroed (a tag's type): tifffile raised TypeError."""
    import tifffile

    p = d / "s.tif"
    tifffile.imwrite(p, _fuzz_frames(), photometric="minisblack")
    return _zero_byte(p, 26)

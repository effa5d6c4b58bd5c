"""Camera RAW files through rawpy (LibRaw): DNG, NEF, CR2/CR3, ARW, RAF, ORF, RW2, PEF, SRW.

Frames are the *visible raw mosaic* (not the demosaiced image) as
``(rows, cols, 1)`` uint16: one value per photosite, exactly as LibRaw unpacks
it (no black subtraction, no scaling), so a hot photosite is one pixel and
positions are full-mosaic coordinates, 0-based, row/col counted from the
top-left photosite of the visible area (``raw_image_visible``; this is the
convention of dcraw/LibRaw ``.badpixels`` files, whose lines read ``col row
unixtime``).

The colour filter array comes from the file: ``reader.cfa`` is the repeat tile
read row by row (``"RGGB"`` for a Bayer tile whose top-left photosite is red;
36 letters for Fujifilm X-Trans), and ``reader.layout`` splits the mosaic into
one band per colour plane (``R, G1, G2, B`` for Bayer, see
:func:`bayer_layout`), so every spatial rule compares a photosite only with
same-colour neighbours.  Black and white levels are in ``reader.attrs``.

Capture times (:meth:`RawReader.frame_times`) come from EXIF
``DateTimeOriginal`` (+ ``SubSecTimeOriginal``) parsed straight from the file
(TIFF-based raws, CR3, RAF), falling back to LibRaw's own timestamp.  EXIF has
no time zone: the wall-clock time is read as if it were UTC, so
``onset_time`` values show the camera's clock.

>>> import numpy as np
>>> lay = bayer_layout("GRBG", (4, 6, 1))
>>> [(b.name, b.rows[0], b.cols[0], b.shape) for b in lay]
[('R', 0, 1, (2, 3)), ('G1', 0, 0, (2, 3)), ('G2', 1, 1, (2, 3)), ('B', 1, 0, (2, 3))]
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ..errors import DecodeError, FrameMismatchError, LayoutError
from ..layout import Band, Layout
from .base import Reader, consistent_headers

__all__ = ["RawReader", "RAW_SUFFIXES", "bayer_layout", "cfa_layout", "exif_capture_time",
           "parse_exif_datetime"]

RAW_SUFFIXES = (".dng", ".nef", ".cr2", ".cr3", ".arw", ".raf", ".orf", ".rw2", ".pef", ".srw")


# -- CFA layouts -------------------------------------------------------------------------------
def bayer_layout(cfa: str, frame_shape: tuple[int, ...]) -> Layout:
    """Bands ``R, G1, G2, B``: the four colour planes of a Bayer mosaic as strided bands.

    ``cfa`` is the 2×2 tile read row by row (``RGGB``, ``BGGR``, ``GRBG``,
    ``GBRG``); ``G1`` is the green of the top row of the tile, ``G2`` the green
    of the bottom row.  Each band takes every second row and column, so its
    3×3 neighbourhood is the same-colour neighbourhood at distance 2 in the
    mosaic, and band pixel ``(i, j)`` is mosaic pixel
    ``(r0 + 2 i, c0 + 2 j)``.

    >>> [(b.name, b.rows[0], b.cols[0]) for b in bayer_layout("RGGB", (6, 8, 1))]
    [('R', 0, 0), ('G1', 0, 1), ('G2', 1, 0), ('B', 1, 1)]
    """
    pattern = str(cfa).upper()
    if len(pattern) != 4 or sorted(pattern) != ["B", "G", "G", "R"]:
        raise LayoutError(f"CFA pattern {cfa!r} is not a Bayer tile (RGGB, BGGR, GRBG, GBRG)")
    rows, cols = int(frame_shape[0]), int(frame_shape[1])
    if rows < 2 or cols < 2:
        raise LayoutError(f"a Bayer mosaic needs at least 2×2 photosites, got {rows}×{cols}")
    offsets: dict[str, tuple[int, int]] = {}
    for k, letter in enumerate(pattern):
        name = letter if letter != "G" else ("G1" if "G1" not in offsets else "G2")
        offsets[name] = divmod(k, 2)
    bands = tuple(Band(name, 0, (offsets[name][0], rows), (offsets[name][1], cols), 2, 2)
                  for name in ("R", "G1", "G2", "B"))
    return Layout(bands, f"bayer {pattern}")


def cfa_layout(cfa: str, tile: tuple[int, int], frame_shape: tuple[int, ...]) -> Layout:
    """One strided band per position of any CFA repeat tile (Bayer: :func:`bayer_layout`).

    For a non-Bayer tile (Fujifilm X-Trans is 6×6) every tile position is its
    own plane, named ``<colour><row><col>`` (``G00``, ``R01``...), with steps
    equal to the tile size: neighbours are the same colour *and* the same
    position in the tile, 6 photosites apart on X-Trans.  That is coarser than
    the nearest same-colour photosite but never mixes colours.

    >>> [b.name for b in cfa_layout("RGGB", (2, 2), (4, 4, 1))]
    ['R', 'G1', 'G2', 'B']
    >>> len(cfa_layout("GGRGGB" * 6, (6, 6), (12, 12, 1)))
    36
    """
    ty, tx = tile
    if ty * tx != len(cfa):
        raise LayoutError(f"CFA pattern {cfa!r} does not fill a {ty}×{tx} tile")
    if (ty, tx) == (2, 2):
        return bayer_layout(cfa, frame_shape)
    rows, cols = int(frame_shape[0]), int(frame_shape[1])
    bands = tuple(Band(f"{cfa[i * tx + j]}{i}{j}", 0, (i, rows), (j, cols), ty, tx)
                  for i in range(ty) for j in range(tx) if i < rows and j < cols)
    return Layout(bands, f"cfa {ty}x{tx}")


# -- EXIF capture time -------------------------------------------------------------------------
_TAG_EXIF_IFD = 34665
_TAG_DATETIME_ORIGINAL = 36867
_TAG_SUBSEC_ORIGINAL = 37521
_TAG_OFFSET_ORIGINAL = 36881
_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_EXIF_DT = re.compile(r"(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")


def parse_exif_datetime(text: str, subsec: str | None = None,
                        offset: str | None = None) -> float | None:
    """``"2023:05:06 07:08:09"`` (+ ``SubSecTime``, ``OffsetTime``) -> seconds since 1970.

    Without an ``offset`` (``"+02:00"``) the wall clock is read as UTC, as
    :func:`badpix.io.image_headers.exif_datetime_to_epoch` does for JPEG.  Returns
    ``None`` for blank or impossible values (cameras write ``0000:00:00 ...``).

    >>> parse_exif_datetime("2023:05:06 07:08:09", "25")
    1683356889.25
    >>> parse_exif_datetime("2023:05:06 09:08:09", offset="+02:00")
    1683356889.0
    >>> parse_exif_datetime("0000:00:00 00:00:00") is None
    True
    """
    m = _EXIF_DT.match(text.strip()) if text else None
    if m is None:
        return None
    try:
        t = datetime(*(int(g) for g in m.groups()), tzinfo=UTC).timestamp()
    except ValueError:
        return None
    m_off = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", (offset or "").strip())
    if m_off:
        sign = 1 if m_off.group(1) == "+" else -1
        t -= sign * (int(m_off.group(2)) * 3600 + int(m_off.group(3)) * 60)
    digits = "".join(ch for ch in (subsec or "") if ch.isdigit())
    if digits:
        t += int(digits) / 10 ** len(digits)
    return t


def _tiff_capture_time(f, base: int) -> float | None:
    """DateTimeOriginal from a TIFF structure starting at byte ``base`` of file ``f``.

    Accepts the TIFF variants of raw formats (magic 42, Panasonic ``0x55``,
    Olympus ``RO``/``SR``): only the byte order and the IFD offset matter here.
    Looks in IFD0 (where DNG writers such as PiDNG put it) and the Exif IFD.
    """
    f.seek(base)
    head = f.read(8)
    if len(head) < 8 or head[:2] not in (b"II", b"MM"):
        return None
    e = "<" if head[:2] == b"II" else ">"

    def read_ifd(offset: int) -> dict[int, tuple[int, int, bytes]]:
        f.seek(base + offset)
        raw = f.read(2)
        if len(raw) < 2:
            return {}
        n = struct.unpack(e + "H", raw)[0]
        if n > 1000:  # not an IFD: refuse rather than read garbage
            return {}
        data = f.read(12 * n)
        tags = {}
        for k in range(len(data) // 12):
            tag, typ, count = struct.unpack(e + "HHI", data[12 * k: 12 * k + 8])
            tags[tag] = (typ, count, data[12 * k + 8: 12 * k + 12])
        return tags

    def value_bytes(entry: tuple[int, int, bytes]) -> bytes:
        typ, count, inline = entry
        size = _TYPE_SIZE.get(typ, 1) * count
        if size <= 4:
            return inline[:size]
        if size > 4096:
            return b""
        f.seek(base + struct.unpack(e + "I", inline)[0])
        return f.read(size)

    def text(entry) -> str:
        return value_bytes(entry).split(b"\0")[0].decode("ascii", "replace")

    ifd0 = read_ifd(struct.unpack(e + "I", head[4:8])[0])
    for ifd in (ifd0, read_ifd(struct.unpack(e + "I", ifd0[_TAG_EXIF_IFD][2])[0])
                if _TAG_EXIF_IFD in ifd0 else {}):
        if _TAG_DATETIME_ORIGINAL in ifd:
            sub = text(ifd[_TAG_SUBSEC_ORIGINAL]) if _TAG_SUBSEC_ORIGINAL in ifd else None
            off = text(ifd[_TAG_OFFSET_ORIGINAL]) if _TAG_OFFSET_ORIGINAL in ifd else None
            t = parse_exif_datetime(text(ifd[_TAG_DATETIME_ORIGINAL]), sub, off)
            if t is not None:
                return t
    return None


def _jpeg_exif_base(f, start: int) -> int | None:
    """Offset of the TIFF header inside the APP1 ``Exif`` segment of a JPEG at ``start``."""
    f.seek(start)
    if f.read(2) != b"\xff\xd8":
        return None
    pos = start + 2
    for _ in range(64):
        f.seek(pos)
        marker = f.read(4)
        if len(marker) < 4 or marker[0] != 0xFF or marker[1] in (0xD9, 0xDA):
            return None
        length = struct.unpack(">H", marker[2:])[0]
        if marker[1] == 0xE1 and f.read(6) == b"Exif\0\0":
            return pos + 10
        pos += 2 + length
    return None


def exif_capture_time(path: str | Path) -> float | None:
    """EXIF ``DateTimeOriginal`` of a raw, TIFF or JPEG file in seconds (wall clock as UTC).

    Reads only the headers: TIFF-based raws (DNG, NEF, CR2, ARW, ORF, RW2, PEF,
    SRW), JPEG, the ``CMT2`` box of CR3 and the JPEG preview of RAF.
    Returns ``None`` when the file has no usable date.

    >>> exif_capture_time(__file__) is None
    True
    """
    try:
        with open(path, "rb") as f:
            head = f.read(16)
            if head[:2] in (b"II", b"MM"):
                return _tiff_capture_time(f, 0)
            if head[:2] == b"\xff\xd8":
                base = _jpeg_exif_base(f, 0)
                return None if base is None else _tiff_capture_time(f, base)
            if head.startswith(b"FUJIFILMCCD-RAW"):
                f.seek(84)
                jpeg_offset = struct.unpack(">I", f.read(4))[0]
                base = _jpeg_exif_base(f, jpeg_offset)
                return None if base is None else _tiff_capture_time(f, base)
            if head[4:8] == b"ftyp":  # ISO BMFF (CR3): EXIF IFD as TIFF in a CMT2 box
                f.seek(0)
                blob = f.read(1 << 20)
                k = blob.find(b"CMT2")
                return None if k < 0 else _tiff_capture_time(f, k + 4)
    except (OSError, struct.error):
        return None
    return None


# -- the reader --------------------------------------------------------------------------------
def _rawpy():
    # a regular dependency; if it is missing anyway, open_reader names the files and rawpy
    import rawpy

    return rawpy


def _describe_cfa(raw) -> tuple[str, tuple[int, int]]:
    """The CFA tile as letters (``"RGGB"``) and its size, from LibRaw's pattern and colours."""
    pattern = raw.raw_pattern
    desc = raw.color_desc.decode("ascii", "replace")
    if pattern is None:
        return "", (1, 1)
    letters = "".join(desc[int(v)] if 0 <= int(v) < len(desc) else "?" for v in pattern.ravel())
    return letters, (int(pattern.shape[0]), int(pattern.shape[1]))


class RawReader(Reader):
    """Camera raw files, one frame per file: the visible mosaic as ``(rows, cols, 1)`` uint16.

    Attributes beyond :class:`Reader`'s: ``cfa`` (tile letters, ``""`` for
    monochrome sensors), ``cfa_tile`` (its shape), ``layout`` (one band per
    colour plane; ``None`` for monochrome), and ``attrs`` with
    ``black_level`` (per CFA colour), ``white_level`` and ``cfa``.

    >>> r = RawReader(["shot_0001.dng", "shot_0002.dng"])     # doctest: +SKIP
    >>> r.cfa, [b.name for b in r.layout]                      # doctest: +SKIP
    ('RGGB', ['R', 'G1', 'G2', 'B'])
    """

    format_name = "raw"
    is_photo_series = True
    suffixes = RAW_SUFFIXES

    @classmethod
    def can_open(cls, paths: Sequence[Path], dataset: str | None) -> bool:
        return (dataset is None and bool(paths)
                and all(p.suffix.lower() in RAW_SUFFIXES for p in paths))

    def __init__(self, paths: Sequence[Path], skip_bad: bool = False, **_: object):
        super().__init__()
        rawpy = _rawpy()
        good = consistent_headers(paths, lambda p: self._header(rawpy, p), skip_bad=skip_bad,
                                  skipped=self.skipped, what="raw files", same=("shape", "cfa"))
        self.paths = [p for p, _ in good]
        first = good[0][1]
        self.n_frames = len(good)
        self.frame_shape = (*first["shape"], 1)
        self.dtype = np.dtype(np.uint16)
        self.channel_names = ("raw",)
        self.cfa: str = first["cfa"]
        self.cfa_tile: tuple[int, int] = first["tile"]
        colours = set(self.cfa)
        self.layout: Layout | None = (
            cfa_layout(self.cfa, self.cfa_tile, self.frame_shape)
            if len(colours) > 1 and "?" not in colours else None)
        self.attrs.update(cfa=self.cfa, black_level=first["black"], white_level=first["white"])
        self._times: np.ndarray | None = None

    @staticmethod
    def _header(rawpy, path: Path) -> dict:
        """Shape, CFA and levels of one file (headers only: no pixel is decoded)."""
        try:
            with rawpy.imread(str(path)) as raw:
                sizes = raw.sizes
                cfa, tile = _describe_cfa(raw)
                # the visible area, i.e. the shape of raw_image_visible
                return {"shape": (int(sizes.height), int(sizes.width)),
                        "cfa": cfa, "tile": tile,
                        "black": [int(v) for v in raw.black_level_per_channel],
                        "white": int(raw.white_level)}
        except (rawpy.LibRawError, OSError, ValueError) as exc:
            raise DecodeError(path, f"not a raw file LibRaw can read ({exc})") from None

    def read_frame(self, index: int, out: np.ndarray) -> None:
        rawpy = _rawpy()
        path = self.paths[index]
        try:
            # LibRaw unpacks without the GIL: Stack.iter_blocks decodes files in threads
            with rawpy.imread(str(path)) as raw:
                mosaic = raw.raw_image_visible
                if mosaic.shape != self.frame_shape[:2]:
                    raise FrameMismatchError(path, f"mosaic {mosaic.shape} differs from the "
                                             f"first frame's {self.frame_shape[:2]}")
                out[..., 0] = mosaic
        except (rawpy.LibRawError, OSError, ValueError) as exc:
            raise DecodeError(path, f"cannot decode raw data ({exc})") from None

    def frame_times(self) -> np.ndarray | None:
        """EXIF capture time of each frame (s, wall clock as UTC); NaN where a file has none.

        ``None`` when no file has a date (frames then stay in file order).
        """
        if self._times is None:
            times = np.array([self._capture_time(p) for p in self.paths], dtype=np.float64)
            self._times = times
        return None if np.isnan(self._times).all() else self._times.copy()

    @staticmethod
    def _capture_time(path: Path) -> float:
        t = exif_capture_time(path)
        if t is not None:
            return t
        # formats our header parser does not know: LibRaw's own timestamp (mktime of
        # the EXIF date, local zone); turned back into wall clock read as UTC
        try:
            rawpy = _rawpy()
            with rawpy.imread(str(path)) as raw:
                stamp = raw.other.timestamp
            if stamp.year <= 1970:
                return float("nan")
            return stamp.replace(tzinfo=UTC).timestamp()
        except Exception:  # noqa: BLE001 - any failure means "no date"
            return float("nan")

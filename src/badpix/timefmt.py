"""Capture times as text: ISO 8601 UTC (``2023-05-06T07:08:09Z``), the format of
``onset_time`` in ``defects.csv`` and ``onset.frame_times`` in ``summary.json``."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(text: str | None) -> datetime | None:
    """ISO 8601 (``2023-05-06T07:08:09Z``) or seconds since 1970 -> aware datetime; blank -> None.

    >>> parse_time("2023-05-06T07:08:09Z").isoformat()
    '2023-05-06T07:08:09+00:00'
    >>> parse_time("") is None
    True
    """
    if text is None:
        return None
    t = str(text).strip()
    if not t or t.lower() in ("nan", "none", "null"):
        return None
    try:
        return datetime.fromtimestamp(float(t), UTC)
    except ValueError:
        pass
    try:
        d = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def format_time(seconds: float | None) -> str:
    """Seconds since 1970 -> ``2023-05-06T07:08:09Z`` (the ``onset_time`` format); NaN -> ``""``.

    >>> format_time(1683356889.0), format_time(float("nan"))
    ('2023-05-06T07:08:09Z', '')
    """
    if seconds is None or seconds != seconds:
        return ""
    d = datetime.fromtimestamp(float(seconds), UTC)
    text = d.strftime("%Y-%m-%dT%H:%M:%S")
    if d.microsecond:
        text += f".{d.microsecond:06d}".rstrip("0")
    return text + "Z"

"""available_memory reads MemAvailable as psutil does (without importing psutil on Linux)."""

from __future__ import annotations

import sys

import psutil
import pytest

from badpix.memory import _meminfo_available_kib, available_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/meminfo is Linux's")
def test_available_memory_is_psutils_figure():
    ours, theirs = available_memory(), psutil.virtual_memory().available
    # two readings a moment apart: the machine is shared, allow 2 % or 64 MiB of drift
    assert abs(ours - theirs) <= max(0.02 * theirs, 64 * 2**20), (ours, theirs)


def test_meminfo_parsing(tmp_path):
    p = tmp_path / "meminfo"
    p.write_text("MemTotal:       24683624 kB\nMemFree:        20090000 kB\n"
                 "MemAvailable:   23472712 kB\nBuffers:           12345 kB\n")
    assert _meminfo_available_kib(str(p)) == 23472712
    p.write_text("MemTotal:       24683624 kB\n")  # a kernel before 3.14
    assert _meminfo_available_kib(str(p)) is None
    assert _meminfo_available_kib(str(tmp_path / "absent")) is None


def test_without_meminfo_psutil_answers(monkeypatch):
    import badpix.memory as m

    monkeypatch.setattr(m, "_meminfo_available_kib", lambda path="/proc/meminfo": None)
    assert m.available_memory() > 0

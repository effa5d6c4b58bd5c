"""Shared helpers of the benchmarks: median-of-N timing, peak RSS, a plain table.

>>> t = median_time(lambda: sum(range(1000)), repeat=3)
>>> t > 0
True
"""

from __future__ import annotations

import statistics
import threading
import time
import tracemalloc
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any

import psutil


def median_time(fn: Callable[[], Any], repeat: int = 3, warmup: int = 0) -> float:
    """Median wall time in seconds of ``repeat`` calls of ``fn`` (after ``warmup`` calls)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


class PeakRSS:
    """Peak resident memory above the level at entry, sampled every ``interval`` s.

    ``peak`` samples RSS so that memory allocated by numba or C libraries counts
    too (but memory the allocator kept from earlier frees hides growth);
    ``traced`` is tracemalloc's peak of the allocations numpy reports.

    >>> with PeakRSS() as p:
    ...     _ = bytearray(10_000_000)
    >>> p.peak >= 0
    True
    """

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.peak = 0
        self._proc = psutil.Process()
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss - self.base)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        tracemalloc.start()
        self.base = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss - self.base)
        self.traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


@contextmanager
def section(title: str):
    """Print a progress line to stderr-like stdout before a slow section."""
    print(f"# {title} ...", flush=True)
    t0 = time.perf_counter()
    yield
    print(f"#   done in {time.perf_counter() - t0:.1f} s", flush=True)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Print (and return) a Markdown table; floats get 3 significant digits."""
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.0f}"
        return str(v)

    cells = [[fmt(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
              for r in cells]
    text = "\n".join(lines)
    print(text, flush=True)
    return text

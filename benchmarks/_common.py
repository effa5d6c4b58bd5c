"""Shared helpers of the benchmarks: median-of-N timing, peak RSS, tables, result files.

>>> t = median_time(lambda: sum(range(1000)), repeat=3)
>>> t > 0
True
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
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


#: where every benchmark writes its result tables; the docs' Performance page renders them
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def run_in_tree(tree: Path, script: Path, *args: str) -> dict[str, Any]:
    """Run ``script args`` with source tree ``tree``'s ``.venv/bin/python``; its last
    stdout line, parsed as JSON (with the ``badpix`` key: where it imported badpix from).

    The A/B benchmarks compare two trees this way: no ``PYTHONPATH``, so badpix comes from
    the tree's own venv (its editable install), checked against ``tree``.
    """
    import subprocess

    cmd = [str(tree / ".venv" / "bin" / "python"), str(script), *args]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"BADPIX_NO_PROGRESS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:  # the child's traceback, not just "returned non-zero exit status"
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    d = json.loads(proc.stdout.strip().splitlines()[-1])
    if not Path(d["badpix"]).resolve().is_relative_to(tree):
        raise SystemExit(f"{tree}'s venv imported badpix from {d['badpix']}")
    return d


def make_frames(folder: Path, n: int, shape: tuple[int, ...]) -> Path:
    """``n`` uint16 ``.npy`` frames of ``shape`` in ``folder`` (a fixed base + noise, seed 0).

    Frames already there are kept, so repeated runs reuse the files (and the page cache).
    """
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base = rng.integers(900, 1100, shape, dtype=np.uint16)
    for i in range(n):
        p = folder / f"frame_{i}.npy"
        if not p.exists():
            np.save(p, base + rng.integers(0, 50, shape, dtype=np.uint16))
    return folder


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on: CPU, cores, memory, load at the end of the run."""
    import platform

    info: dict[str, Any] = {"platform": platform.platform(), "processor": platform.machine(),
                            "cores": os.cpu_count(),
                            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1)}
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info


class Results:
    """Collect a benchmark's tables and write them to ``benchmarks/results/<name>.json``.

    The JSON holds ``name``, ``command``, ``date`` (UTC), ``machine``, ``versions``,
    ``note`` and ``tables`` (each ``title``, ``headers``, ``rows``); the docs build
    renders every file in that folder as the Performance page.

    >>> import tempfile
    >>> r = Results("demo", directory=Path(tempfile.mkdtemp()))
    >>> _ = r.table("t", ["a", "b"], [[1, 2.5]], echo=False)
    >>> data = json.loads(r.save().read_text())     # doctest: +ELLIPSIS
    # results written to .../demo.json
    >>> data["tables"][0]["rows"], data["name"]
    ([[1, 2.5]], 'demo')
    """

    def __init__(self, name: str, *, note: str = "", directory: Path | None = None):
        self.name = name
        # run_all.py --quick says so in every file it makes
        extra = os.environ.get("BADPIX_BENCH_NOTE", "")
        self.note = "; ".join(x for x in (extra, note) if x)
        self.directory = RESULTS_DIR if directory is None else directory
        self.tables: list[dict[str, Any]] = []
        self.command = " ".join(["python", f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])

    def table(self, title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]],
              echo: bool = True) -> list[list[Any]]:
        """Record one table (and print it as Markdown unless ``echo`` is false)."""
        clean = [[_json_value(v) for v in r] for r in rows]
        self.tables.append({"title": title, "headers": list(headers), "rows": clean})
        if echo:
            print(f"\n{title}")
            print_table(headers, rows)
        return clean

    def save(self) -> Path:
        """Write the JSON file (atomically: a temporary name, then renamed)."""
        try:
            from badpix.io.scandir import software_versions

            versions = software_versions()
        except ImportError:
            versions = {}
        data = {"name": self.name, "command": self.command,
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "machine": machine_info(), "versions": versions, "note": self.note,
                "tables": self.tables}
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{self.name}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        tmp.replace(path)
        print(f"# results written to {path}", flush=True)
        return path


def _json_value(v: Any) -> Any:
    """Plain JSON types; floats rounded to 4 significant digits (the noise is larger)."""
    if hasattr(v, "item") and not isinstance(v, str):
        v = v.item()
    if isinstance(v, float):
        return float(f"{v:.4g}") if v == v else None
    if isinstance(v, bool | int | str) or v is None:
        return v
    return str(v)

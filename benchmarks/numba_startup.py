"""Where numba's fixed cost goes in one CLI process: timers around numba's start-up steps.

Run:  .venv/bin/python benchmarks/numba_startup.py scan FRAMES/ -o OUT/ -q

Wraps numba's target initialisation (``BaseContext.refresh``), the per-kernel cache
load (``Cache.load_overload``), the cache index lookup and the threading-layer
launch, runs ``badpix`` with the given arguments in this process and prints
``[calls, total s, largest s]`` for each (kernels must already be in numba's cache).
"""

from __future__ import annotations

import json
import sys
import time

TIMES: dict[str, list[float]] = {}


def wrap(owner: object, name: str, key: str) -> None:
    inner = getattr(owner, name)

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            TIMES.setdefault(key, []).append(time.perf_counter() - t0)

    setattr(owner, name, timed)


def main(argv: list[str]) -> None:
    t0 = time.perf_counter()
    import numba  # noqa: F401
    TIMES["import numba (with numpy)"] = [time.perf_counter() - t0]
    from numba.core import base, caching
    from numba.np.ufunc import parallel

    wrap(base.BaseContext, "refresh", "target initialisation (refresh, first call)")
    wrap(caching.Cache, "load_overload", "kernel cache loads (incl. the first refresh)")
    wrap(caching.IndexDataCacheFile, "_load_index", "cache index lookups")
    wrap(parallel, "_launch_threads", "threading layer launch")
    from badpix.cli import main as cli

    t0 = time.perf_counter()
    cli(argv)
    report = {"badpix main": [1, time.perf_counter() - t0, time.perf_counter() - t0]}
    report |= {k: [len(v), sum(v), max(v)] for k, v in TIMES.items()}
    print(json.dumps({k: [v[0], round(v[1], 4), round(v[2], 4)] for k, v in report.items()},
                     indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])

"""Dask scaling A/B: two source trees' local and cluster scans of the same frames, interleaved.

Run:  .venv/bin/python benchmarks/bench_scale_ab.py OLD_TREE [NEW_TREE] [--gb 1.0] [--rounds 3]
      [--tasks auto|chunks|both]

Part [2] of ``bench_scale.py`` for two trees: one folder of 2048x2048 uint16 ``.npy`` frames
is written once; each round runs one child per tree (old then new in odd rounds, new then
old in even ones, so load drift hits both alike), each with its tree's ``.venv/bin/python``
running this file with ``--child``.  A child starts a 1- and a 2-worker cluster as
``badpix scan --workers N`` does (``badpix.cluster.dask_client``), warms up, then times
the local engine once and each cluster once per Dask task kind.  Printed and saved
(``benchmarks/results/scale-ab.json``): median seconds per tree and new/old, for the whole
scan and without the client-side rules.  NEW_TREE defaults to this checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

KINDS = {"auto": None, "chunks": False}  # --tasks -> strips= of the cluster scan


def child(folder: str, kinds: str, npz: str) -> None:
    """Time one tree's scans; badpix comes from the running venv, sys.path is left alone."""
    import contextlib

    import badpix
    from badpix import open_stack
    from badpix.engine import scan_stack

    try:  # since issue 21: badpix.cluster, and scan_stack(client=, strips=) for a cluster
        from badpix.cluster import dask_client
        on_cluster = scan_stack
    except ImportError:  # older trees (ef9dcfa): both in badpix.engine.dask
        from badpix.engine.dask import dask_client
        from badpix.engine.dask import scan_stack_dask as on_cluster

    def run(workers: int, kind: str) -> Any:
        if not workers:
            return scan_stack(open_stack(folder))
        return on_cluster(open_stack(folder), client=clients[workers], strips=KINDS[kind])

    runs, order = [], [(0, "-")] + [(w, k) for k in kinds.split(",") for w in (1, 2)]
    with contextlib.ExitStack() as stack:
        clients = {w: stack.enter_context(dask_client(workers=w)) for w in (1, 2)}
        # untimed: numba compilation, page cache, each worker's buffers for each task kind
        ref = run(0, "-")
        for w, k in order[1:]:
            run(w, k)
        for w, k in order:
            t = time.perf_counter()
            got = run(w, k)
            dt = time.perf_counter() - t
            runs.append({"engine": "local" if w == 0 else f"dask {w} worker(s)", "tasks": k,
                         "seconds": dt, "timings": dict(got.timings)})
            for name, band in ref.bands.items():  # every engine: the local engine's result
                other = got.bands[name]
                assert all(np.array_equal(getattr(band.stats, a), getattr(other.stats, a))
                           for a in ("mean", "var", "median")), (w, k, name)
                assert np.array_equal(band.flags, other.flags), (w, k, name)
            if (w, k) == (2, kinds.split(',')[0]):  # for the driver's old = new check
                first = next(iter(got.bands.values()))
                np.savez(npz, mean=first.stats.mean, var=first.stats.var,
                         median=first.stats.median, flags=first.flags)
    print(json.dumps({"badpix": badpix.__file__, "runs": runs}))


def run_child(tree: Path, folder: Path, kinds: list[str], npz: Path) -> list[dict]:
    from _common import run_in_tree  # the driver put benchmarks/ on sys.path

    return run_in_tree(tree, Path(__file__).resolve(), "--child", str(folder), ",".join(kinds),
                       str(npz))["runs"]


def main() -> None:
    if sys.argv[1:2] == ["--child"]:  # run_child's command line: FOLDER KINDS NPZ
        child(*sys.argv[2:5])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path, nargs="?", default=Path(__file__).resolve().parents[1])
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tasks", choices=("auto", "chunks", "both"), default="auto")
    args = ap.parse_args()
    # only the driver needs _common (and the child's sys.path stays the venv's own)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import Results, make_frames

    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    kinds = list(KINDS) if args.tasks == "both" else [args.tasks]
    n = int(args.gb * 1e9 // (2048 * 2048 * 2))
    times: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="badpix-scale-ab-") as tmp:
        folder = make_frames(Path(tmp) / "frames", n, (2048, 2048))
        load0 = os.getloadavg()
        for r in range(args.rounds):
            for name in (("old", "new") if r % 2 == 0 else ("new", "old")):
                for run in run_child(trees[name], folder, kinds, Path(tmp) / f"{name}.npz"):
                    s = run["seconds"]
                    times.setdefault((run["engine"], run["tasks"], name), []).append(
                        (s, s - run["timings"].get("rules", 0.0)))
        load1 = os.getloadavg()
        # np.load of both trees' last round: the same first band, bit for bit
        with np.load(Path(tmp) / "old.npz") as a, np.load(Path(tmp) / "new.npz") as b:
            assert a.files == b.files and all(np.array_equal(a[f], b[f]) for f in a.files), \
                "old and new trees' results differ"
    print("results bit-identical (every engine = the local engine within a tree; "
          f"first band of the 2-worker {kinds[0]} run, old = new)")
    rows = []
    for engine, kind in dict.fromkeys((e, k) for e, k, _ in times):
        med = {(t, i): statistics.median(x[i] for x in times[(engine, kind, t)])
               for t in trees for i in (0, 1)}
        rows.append([engine, kind, med["old", 0], med["new", 0], med["new", 0] / med["old", 0],
                     med["old", 1], med["new", 1], med["new", 1] / med["old", 1]])
    res = Results("scale-ab", note=f"old {trees['old']}, new {trees['new']}; the machine was "
                  "shared with other jobs: ratios within this run, not absolute times")
    res.table(f"Scan A/B, {n} x 2048x2048 uint16 .npy ({n * 2048 * 2048 * 2 / 1e9:.2f} GB), "
              f"median of {args.rounds} interleaved rounds; results bit-identical; load average "
              f"{load0[0]:.2f} at start, {load1[0]:.2f} at end",
              ["engine", "tasks", "old s", "new s", "new/old", "old s w/o rules",
               "new s w/o rules", "new/old w/o rules"], rows)
    res.save()


if __name__ == "__main__":
    main()

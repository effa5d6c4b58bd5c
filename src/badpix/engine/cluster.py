"""Dask plumbing: the client of ``--workers N`` / ``--scheduler ADDRESS``, waiting and collecting."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from ..errors import ParameterError
from .units import _attach, merge_states

__all__ = ["LOCAL_CLUSTER_CONFIG", "collect_states", "dask_client", "wait_finished"]


#: Dask settings of the local cluster :func:`dask_client` starts.  Measured here (2-core
#: VM, 2 workers sitting idle for 10 s): Dask's own polling took 1.37 CPU-seconds with
#: the defaults and 0.37 with these -- a 10 ms statistical profiler in every process
#: and a 20 ms event-loop health tick; on a 2-core machine that CPU comes out of the
#: workers' tasks.  A cluster of your own (``--scheduler``) keeps its configuration.
LOCAL_CLUSTER_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,  # the dashboard's profile page
    "distributed.admin.tick.interval": "1s",  # blocked-event-loop warnings, default 20 ms
    "distributed.admin.system-monitor.interval": "2s",  # dashboard CPU/net plots, 500 ms
}


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None,
                threads_per_worker: int = 1, memory_limit: str | int = "auto") -> Iterator[Any]:
    """A ``Client`` to ``scheduler`` (``tcp://host:port``) or to a new local cluster of processes.

    The local cluster listens on loopback only (dashboard on a free loopback port) and
    runs with :data:`LOCAL_CLUSTER_CONFIG` (no profiler, slower health ticks).

    >>> with dask_client(workers=2) as client:              # doctest: +SKIP
    ...     print(len(client.nthreads()))
    2
    """
    from distributed import Client, LocalCluster

    if (workers is None) == (scheduler is None):
        raise ParameterError("give either --workers N or --scheduler ADDRESS")
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as exc:
            raise ParameterError(f"--scheduler: cannot connect to {scheduler} ({exc})") from None
        try:
            yield client
        finally:
            client.close()
        return
    if workers < 1:
        raise ParameterError("--workers must be at least 1")
    import dask

    # the nannies hand the configuration of their creation to the worker processes
    with dask.config.set(LOCAL_CLUSTER_CONFIG), LocalCluster(
            n_workers=workers, threads_per_worker=threads_per_worker, processes=True,
            host="127.0.0.1", dashboard_address="127.0.0.1:0", memory_limit=memory_limit,
            silence_logs=40) as cluster, Client(cluster) as client:
        yield client


def wait_finished(client: Any, futures: list[Any]) -> bool:
    """Wait until every future has finished or failed, without fetching; True if one failed.

    A future that finished on a worker that was lost afterwards goes back to pending
    and is computed again, so one pass of ``as_completed`` is not enough: the
    median tasks must not start before every chunk's store file is there (a test
    kills a worker mid-scan).  ``as_completed`` runs on the futures' own loop:
    ``distributed.wait`` uses the default client's, another one when a Client was
    created later.
    """
    from distributed import as_completed

    while True:
        for _ in as_completed(futures, loop=client.loop):
            pass
        states = {f.status for f in futures}
        if states <= {"finished", "error", "cancelled"}:
            return states != {"finished"}
        time.sleep(0.05)  # some were lost after finishing: wait for their re-run


def collect_states(client: Any, chunk_futs: list[Any]) -> dict[str, Any]:
    """Fetch and merge every chunk state; raises the error of a failed chunk.

    Runs while the median tasks run on the workers, so the merge is off the critical
    path.  Results arrive concurrently (``as_completed`` fetches them in the
    background); each is merged once and released at once.  The moments are
    finalized later, in :func:`~badpix.engine.local.classify_band` (measured:
    finalizing here, during the median, took CPU from the workers of a 2-worker scan
    and gained nothing).
    """
    from distributed import as_completed

    total: dict[str, Any] | None = None
    # the futures' own client loop: as_completed defaults to the *default* client's loop,
    # which hangs forever when another Client was created after this one
    for fut, res in as_completed(chunk_futs, loop=client.loop, with_results=True,
                                 raise_errors=True):
        fut.release()
        res = _attach(res)
        if total is None:
            total = res
        else:
            merge_states(total, res)
        del res
    assert total is not None
    return total

"""A Dask client for ``badpix scan --workers N`` / ``--scheduler ADDRESS``.

The Dask executor (:mod:`badpix.engine.dask`) runs on any ``dask.distributed.Client``;
this module makes the one the command line uses: a local cluster of processes on
loopback with :data:`LOCAL_CLUSTER_CONFIG`, or a connection to a running scheduler.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from .errors import ParameterError

__all__ = ["LOCAL_CLUSTER_CONFIG", "dask_client"]

#: Dask settings of the local cluster :func:`dask_client` starts.  Measured here (2-core
#: VM, 2 workers idle for 10 s): Dask's own polling took 1.37 CPU-seconds with the
#: defaults and 0.37 with these -- CPU that comes out of the workers' tasks.
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
    runs with :data:`LOCAL_CLUSTER_CONFIG`.

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
        with client:
            yield client
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

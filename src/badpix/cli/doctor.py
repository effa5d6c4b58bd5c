"""``badpix doctor``: a one-minute sanity pass over the installation."""

from __future__ import annotations

import typer

from ._common import out

ORDER = 95


def doctor_command(
    warm: bool = typer.Option(False, "--warm",
                              help="Also compile (or load from the cache) the numba kernels "
                                   "by scanning tiny synthetic stacks, and time it."),
) -> None:
    """Versions of badpix and its libraries, numba's threads and cache, the readers available.

    Example: badpix doctor --warm
    """
    from ..environment import library_versions, numba_setup, reader_status, warm_kernels

    rows = library_versions()
    width = 20  # fits the longest label ("8-bit JPEG photos") and a gap
    out.print("[bold]versions[/]")
    for name, text in rows:
        out.print(f"  {name:<{width}}{text}", markup=False, soft_wrap=True)

    timings = warm_kernels() if warm else None
    nb = numba_setup()
    out.print("[bold]numba[/]")
    out.print(f"  {'threads':<{width}}{nb.threads}", markup=False)
    out.print(f"  {'threading layer':<{width}}{nb.threading_layer}", markup=False)
    state = "writable" if nb.cache_writable else "NOT writable: kernels recompile every run"
    out.print(f"  {'kernel cache':<{width}}{nb.cache_dir} ({state})", markup=False,
              soft_wrap=True)

    out.print("[bold]readers[/]")
    for r in reader_status():
        state = "available" if r.available else f"missing: pip install {r.missing}"
        out.print(f"  {r.format_name:<{width}}{r.reads}: {state}", markup=False, soft_wrap=True)

    if timings is not None:
        out.print("[bold]kernels warmed[/]")
        for label, seconds in timings:
            out.print(f"  {label:<{width}}{seconds:.2f} s", markup=False)
        out.print(f"  {'total':<{width}}{sum(s for _, s in timings):.2f} s", markup=False)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor_command)

"""``badpix scan``: find defective pixels in a stack and write masks, tables and statistics."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import typer

from ..detect.params import RuleParams
from ..errors import ParameterError
from ._common import QuietOption, compile_notice, console, info, out, phase_progress

ORDER = 10

_D = RuleParams()  # one source of truth for the defaults shown in --help

EPILOG = """
Examples:

  badpix scan frames/ -o scan/ --layout l2-l1-m0 --legacy-float-mask

  badpix scan 'photos/*.jpg' -o scan/ --top 10

  badpix scan 'photos/*.jpg' -o scan/ --median    (+ temporal median, OUTLIER)

  badpix scan run.rtdc:events/image -o scan/

  badpix scan 'scan_m1_part0000*.nxs' --dataset entry/instrument/detector/data -o scan/
      (photon-counting rules by themselves: the frames are mostly zeros)

  badpix scan /shared/frames/ -o scan/ --scheduler tcp://head:8786 --workdir /shared/tmp

  badpix scan /shared/run.zarr:raw/frames -o scan/ --workers 2

  badpix scan frames/ -o scan/ --checkpoint-every 500      (after a kill: same command + --resume)

  badpix scan new_frames/ -o scan/ --add
"""


def parse_size(text: str | None) -> int | None:
    """``"2GB"`` / ``"512MiB"`` / ``"1e9"`` -> bytes.

    >>> parse_size("2GB"), parse_size("512MiB"), parse_size("1e3")
    (2000000000, 536870912, 1000)
    """
    if text is None:
        return None
    units = {"": 1, "B": 1, "K": 2**10, "KB": 10**3, "KIB": 2**10, "M": 2**20, "MB": 10**6,
             "MIB": 2**20, "G": 2**30, "GB": 10**9, "GIB": 2**30, "T": 2**40, "TB": 10**12,
             "TIB": 2**40}
    match = re.fullmatch(r"([0-9.eE+-]+)\s*([A-Za-z]*)", text.strip())
    try:
        value = float(match.group(1)) * units[match.group(2).upper()]
    except (AttributeError, KeyError, ValueError):
        raise ParameterError(f"--memory-limit: cannot read {text!r} as a size (e.g. 2GB)") from None
    if value <= 0:
        raise ParameterError(f"--memory-limit: must be positive, got {text!r}")
    return int(value)


def parse_georef(crs: str | None, transform: str | None):
    """``--crs EPSG:32633 --transform x0,dx,rx,y0,ry,dy`` -> GeoRef (or None)."""
    if crs is None and transform is None:
        return None
    from ..io.base import GeoRef

    wkt = None
    if crs is not None:
        from rasterio.crs import CRS
        from rasterio.errors import CRSError

        try:
            wkt = CRS.from_user_input(crs).to_wkt()
        except CRSError as exc:
            raise ParameterError(f"--crs: {exc}") from None
    gt = None
    if transform is not None:
        try:
            gt = tuple(float(v) for v in transform.split(","))
        except ValueError:
            gt = ()
        if len(gt) != 6:
            raise ParameterError("--transform: give six numbers x0,dx,rx,y0,ry,dy (GDAL order)")
    return GeoRef(wkt, gt)


def scan_command(
    input: str = typer.Argument(
        ..., help="Folder, glob, file, file.h5:dataset or store.zarr[:array]."),
    output: Path = typer.Option(..., "--output", "-o", help="Output folder."),
    layout: str = typer.Option(None, "--layout", "-l",
                               help="Band layout: preset name (l2-l1-m0) or TOML file."),
    dataset: str = typer.Option(None, "--dataset", "-d",
                                help="HDF5/NeXus dataset or zarr array path."),
    skip_bad: bool = typer.Option(False, "--skip-bad",
                                  help="Skip undecodable or mismatched frames (listed in summary)."),
    stuck_std: float = typer.Option(_D.stuck_std, help="STUCK: temporal std below this (data units)."),
    outlier_k: float = typer.Option(_D.outlier_k, help="OUTLIER: k x mean |deviation| from the local median."),
    outlier_size: int = typer.Option(_D.outlier_size, help="OUTLIER: local median window (pixels)."),
    hot_z: float = typer.Option(_D.hot_z, help="HOT: robust z of mean above the local median."),
    dead_z: float = typer.Option(_D.dead_z, help="DEAD: robust z of mean below the local median."),
    noisy_z: float = typer.Option(_D.noisy_z, help="NOISY: robust z of std above the local median."),
    persistence: float = typer.Option(
        None, "--persistence",
        help="PERSISTENT: fraction of frames a pixel must stand out from its 3x3 neighbourhood "
             f"(on by default for photos at {_D.persistence}; 0 turns it off)."),
    median: bool = typer.Option(
        None, "--median/--no-median",
        help="Collect the exact temporal median and run OUTLIER (default: on, except for "
             "photo series, where it costs more than decoding and is scene content)."),
    counting: bool = typer.Option(
        None, "--counting/--no-counting",
        help="Photon-counting rules (Poisson tests) on or off.  Default: auto, on for integer "
             "data whose median sampled frame is more than half zeros."),
    mask_format: str = typer.Option("tif", "--format", help="Mask format: tif, png, npy or h5."),
    legacy_float_mask: bool = typer.Option(
        False, help="Also write drifting_pixel_mask_<band>.tif (float32, 10000 = drifting; "
             "EPSG:4326 when neither the input nor --crs gives a CRS)."),
    stats_dtype: str = typer.Option("float32", "--stats-dtype",
                                    help="Type of stats_<band>.tif: float32 or float64."),
    crs: str = typer.Option(None, help="CRS for the masks when the input has none (EPSG:32633)."),
    transform: str = typer.Option(None, help="GDAL geotransform x0,dx,rx,y0,ry,dy for the masks."),
    memory_limit: str = typer.Option(None, help="Memory for the exact median, e.g. 2GB."),
    workers: int = typer.Option(None, "--workers",
                                help="Run on a local Dask cluster of N worker processes."),
    scheduler: str = typer.Option(None, "--scheduler",
                                  help="Run on an existing Dask cluster, e.g. tcp://host:8786."),
    workdir: Path = typer.Option(None, "--workdir",
                                 help="Dask engine: folder for the temporary median store, on "
                                      "storage all workers see (default: system temp)."),
    checkpoint_every: int = typer.Option(
        None, "--checkpoint-every",
        help="Save resumable state in OUT/state/ every N frames (needs disk: the bands' pixels)."),
    resume: bool = typer.Option(False, "--resume",
                                help="Continue the interrupted scan (or --add) in OUT."),
    add: bool = typer.Option(False, "--add",
                             help="INPUT holds new frames: merge them into the scan in OUT "
                                  "(scanned with --checkpoint-every) without re-reading old ones."),
    show_plan: bool = typer.Option(False, "--plan",
                                   help="Print how the scan would run (units, median, "
                                        "accumulators, memory) and exit."),
    top: int = typer.Option(0, help="Print the N lowest-variance and N most extreme pixels."),
    report: bool = typer.Option(False, "--report",
                                help="Also write OUT/report.html (quicklooks, thresholds, top "
                                     "defects with their time series)."),
    quiet: bool = QuietOption,
) -> None:
    """Scan a stack of frames for defective pixels.

    Writes OUT/mask_<band>.tif (uint8 flags: 1 stuck, 2 outlier, 4 hot, 8 dead,
    16 noisy, 32 persistent), OUT/stats_<band>.tif, OUT/defects.csv and OUT/summary.json.
    Photo series (JPEG/PNG photos, camera RAW) skip the temporal median and
    OUTLIER unless --median is given.
    """
    from .. import open_stack
    from ..engine import plan_scan, scan_stack
    from ..io.scandir import MASK_FORMATS, STATS_DTYPES, write_scan_dir

    if mask_format not in MASK_FORMATS:
        raise ParameterError(f"--format: choose one of {', '.join(MASK_FORMATS)}")
    if stats_dtype not in STATS_DTYPES:
        raise ParameterError(f"--stats-dtype: choose one of {', '.join(STATS_DTYPES)}")
    georef = parse_georef(crs, transform)
    limit = parse_size(memory_limit)
    params = RuleParams(stuck_std=stuck_std, outlier_k=outlier_k, outlier_size=outlier_size,
                        hot_z=hot_z, dead_z=dead_z, noisy_z=noisy_z, counting=counting,
                        **({"persistence": persistence} if persistence else {}))
    stateful = resume or add or checkpoint_every is not None
    if stateful and (workers is not None or scheduler is not None):  # before any cluster starts
        raise ParameterError("--resume/--add/--checkpoint-every run on the local engine; "
                             "drop --workers/--scheduler")
    if workers is not None and scheduler is not None:
        raise ParameterError("give either --workers or --scheduler, not both")
    if checkpoint_every is not None and checkpoint_every < 1:
        raise ParameterError("--checkpoint-every must be at least 1")
    if add and layout is None:
        from ..io.scanstate import read_state_layout

        layout = read_state_layout(output)  # new frames are cut into the scan's bands
    stack = open_stack(input, layout=layout, dataset=dataset, skip_bad=skip_bad)
    from ..memory import check_scan_memory

    check_scan_memory(stack, params, limit)  # every engine, before a cluster starts
    # --persistence 0 turns the photo series' persistence/onset pass off
    policy = None if persistence is None else persistence > 0
    on_cluster = workers is not None or scheduler is not None
    plan_args = dict(out=output, checkpoint_every=checkpoint_every, resume=resume, add=add,
                     memory_limit=limit, median=median, extra_accumulators=policy)
    if show_plan:
        if scheduler is not None:
            from ..cluster import dask_client

            with dask_client(scheduler=scheduler) as client:
                plan = plan_scan(stack, client=client, **plan_args)
        else:
            plan = plan_scan(stack, threads=workers, **plan_args)
        out.print(str(plan), markup=False, highlight=False)
        return
    info(f"{stack.describe()}; bands: {', '.join(b.name for b in stack.bands)}", quiet)
    from ..detect.photon import resolve_counting

    params = resolve_counting(stack, params)  # once; the engines keep the resolved value
    from ._numba_target import load_cpu_target

    load_cpu_target()  # what the first kernel would do, minus numba's scipy.linalg probe
    info(params.counting_decision.describe(), quiet)
    extra_summary = None
    compile_notice(quiet)
    # one bar for reading, then a spinner per phase: median, rules per band, writing
    with phase_progress("scan", stack.n_frames, quiet) as phases, \
            _client(workers, scheduler) as client:
        plan = plan_scan(stack, client=client, **plan_args)
        if on_cluster:  # the Dask executor reports no phases of its own
            phases.after_reading = "median and rules"
        result = scan_stack(stack, params, client=client, progress=phases.advance,
                         workdir=workdir, plan=plan, phase=phases.phase, **plan_args)
        with phases.step("writing"):
            if stateful:
                from ..io.scanstate import state_summary

                extra_summary = state_summary(output)
            elif on_cluster:
                extra_summary = {"engine": {"name": "dask",
                                            "scheduler": scheduler or f"local:{workers}"}}
            write_scan_dir(result, output, mask_format=mask_format,
                           legacy_float_mask=legacy_float_mask, georef=georef,
                           extra_summary=extra_summary, stats_dtype=stats_dtype)
    print_counts(result, quiet)
    print_power(output, quiet)
    if result.input.skipped:
        console.print(f"[yellow]skipped {len(result.input.skipped)} frame(s):[/]")
        for s in result.input.skipped:
            console.print(f"  {s.label}: {s.reason}")
    if top:
        print_top(result, top)
    if report:
        from ..report import write_report

        # the stack gives the top defects' time series (one more pass over few pixels)
        info(f"report in {write_report(output, stack=stack)}", quiet)
    info(f"outputs in {output}/", quiet)


@contextlib.contextmanager
def _client(workers: int | None, scheduler: str | None):
    """A Dask client for ``--workers``/``--scheduler``, else None (the local executor)."""
    if workers is None and scheduler is None:
        yield None
        return
    from ..cluster import dask_client

    with dask_client(workers=workers, scheduler=scheduler) as client:
        yield client


def print_counts(result, quiet: bool = False) -> None:
    if quiet:
        return
    from rich.table import Table

    counts = result.counts()
    # no column for a rule that did not run (PERSISTENT needs the per-frame pass of
    # photo scans, OUTLIER the median)
    ran = set(result.rules()) | {"any"}
    classes = [c for c in next(iter(counts.values())) if c in ran]
    table = Table(title=f"defects in {result.input.n_frames} frames")
    table.add_column("band")
    for c in classes:
        table.add_column(c, justify="right")
    for band, c in counts.items():
        table.add_row(band, *[str(c[k]) for k in classes])
    out.print(table)


def print_power(output: Path, quiet: bool = False) -> None:
    """A line per band and rule whose frame count is too small for its threshold
    (``power_warnings`` of the summary just written: computed once)."""
    import json

    if quiet:
        return
    try:
        lines = json.loads((output / "summary.json").read_text()).get("power_warnings") or []
    except (OSError, ValueError, AttributeError):
        lines = []
    for line in lines:
        console.print(f"[yellow]statistical power:[/] {line}", soft_wrap=True)


def print_top(result, n: int) -> None:
    from rich.table import Table

    from ..detect.ranking import lowest_variance, most_extreme

    for band, br in result.bands.items():
        pos = br.band.position
        t1 = Table(title=f"{band}: lowest variance")
        for col in ("row", "col", "variance"):
            t1.add_column(col, justify="right")
        for r, c, v in lowest_variance(br.stats, n):
            t1.add_row(*map(str, pos(r, c)), f"{v:.4g}")
        t2 = Table(title=f"{band}: most extreme")
        for col in ("row", "col", "score", "classes"):
            t2.add_column(col, justify="right")
        from ..detect.flags import flag_names

        for r, c, v in most_extreme(br.scores, n):
            t2.add_row(*map(str, pos(r, c)), f"{v:.4g}",
                       ",".join(flag_names(int(br.flags[r, c]))) or "-")
        out.print(t1)
        out.print(t2)


def register(app: typer.Typer) -> None:
    app.command("scan", epilog=EPILOG)(scan_command)

"""Any plan gives the same ScanResult: strips or frame ranges, any unit size, any thread
count, local or Dask, and a checkpointed scan interrupted after any unit and resumed.

Integer data: every statistic is an exact sum or an exact median, so the results must be
bit-identical to the default local scan whatever the plan (hypothesis draws the plans;
Dask examples are few, they cost a round trip to a real 2-worker cluster each).
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from badpix import open_stack
from badpix.engine import run_scan, scan_stack
from badpix.engine.plan import make_plan

from ._util import assert_same_results, write_stack

N_FRAMES = 11
SHAPE = (40, 36, 2)

pytestmark = pytest.mark.timeout(300)
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                      HealthCheck.too_slow])


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    d = tmp_path_factory.mktemp("rand") / "frames"
    write_stack(d, N_FRAMES, shape=SHAPE, seed=21)
    return d


@pytest.fixture(scope="module")
def reference(frames):
    return scan_stack(open_stack(frames))


def _cuts(draw, total: int) -> tuple[tuple[int, int], ...]:
    """A random partition of ``range(total)`` into consecutive ranges."""
    inner = draw(st.sets(st.integers(1, total - 1), max_size=min(8, total - 1)))
    edges = [0, *sorted(inner), total]
    return tuple(zip(edges[:-1], edges[1:], strict=False))


@st.composite
def local_plans(draw, stack):
    if draw(st.booleans()):  # strips of any height
        plan = make_plan(stack)
        assert plan.unit == "strips"
        return dataclasses.replace(plan, strips=tuple(
            (b.name, _cuts(draw, b.shape[0])) for b in stack.bands))
    return make_plan(stack, block_frames=draw(st.integers(1, N_FRAMES + 2)))


@st.composite
def dask_plans(draw, stack):
    threads = draw(st.integers(1, 4))
    if draw(st.booleans()):
        plan = make_plan(stack, executor="dask", threads=threads, strips=True)
        return dataclasses.replace(plan, strips=tuple(
            (b.name, _cuts(draw, b.shape[0])) for b in stack.bands))
    plan = make_plan(stack, executor="dask", threads=threads, strips=False)
    return dataclasses.replace(plan, frame_ranges=_cuts(draw, N_FRAMES),
                               block_frames=draw(st.integers(1, 5)))


@settings(max_examples=25, **SETTINGS)
@given(data=st.data())
def test_any_local_plan_gives_the_same_result(frames, reference, data):
    stack = open_stack(frames)
    plan = data.draw(local_plans(stack))
    got = scan_stack(stack, plan=plan)
    assert got.plan == plan
    assert_same_results(reference, got, exact=True)


class _Stop(Exception):
    pass


@settings(max_examples=12, **SETTINGS)
@given(block=st.integers(1, 6), every=st.integers(1, 8), stop_after=st.integers(1, 12))
def test_a_resume_after_any_unit_gives_the_same_result(frames, reference, block, every,
                                                       stop_after):
    out = tempfile.mkdtemp(prefix="badpix-resume-")
    seen: list[int] = []

    def on_checkpoint(done: int) -> None:
        seen.append(done)
        if len(seen) == stop_after:
            raise _Stop

    plan = make_plan(open_stack(frames), block_frames=block, checkpoint_every=every)
    try:
        try:
            got = scan_stack(open_stack(frames), out=out, checkpoint_every=every, plan=plan,
                             on_checkpoint=on_checkpoint)
        except _Stop:  # interrupted right after a checkpoint: resume from it
            progress: list[int] = []
            got = run_scan(frames, out=out, resume=True, progress=progress.append)
            assert progress[0] == seen[-1]  # the units done were skipped
            assert sum(progress) == N_FRAMES
        else:
            assert len(seen) < stop_after
        assert got.plan.block_frames == plan.block_frames
        assert_same_results(reference, got, exact=True)
    finally:
        shutil.rmtree(out, ignore_errors=True)


distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    from badpix.cluster import dask_client

    with dask_client(workers=2) as c:
        yield c


@settings(max_examples=4, **SETTINGS)
@given(data=st.data())
def test_any_dask_plan_gives_the_same_result(frames, reference, client, data):

    stack = open_stack(frames)
    plan = data.draw(dask_plans(stack))
    got = scan_stack(stack, client=client, plan=plan)
    assert got.plan == plan
    assert_same_results(reference, got, exact=True)

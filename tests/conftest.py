"""Shared fixtures: checker runs are cached, so several tests can read one exploration."""

from __future__ import annotations

import functools
import os
from collections import deque
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from model.actions import Model
from model.protocol import variant
from model.scenario import builtin
from model.state import World
from proofs.check import Check, run_check

# Hypothesis profiles: "ci" (the default: derandomized, no example database, a few minutes
# across the suite), "dev" (quick) and "deep" (long; select with HYPOTHESIS_PROFILE=deep).
settings.register_profile(
    "ci",
    max_examples=60,
    stateful_step_count=40,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=15, stateful_step_count=30, deadline=None)
settings.register_profile(
    "deep", max_examples=1000, stateful_step_count=200, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@functools.cache
def checked(
    scenario: str,
    variant_name: str = "correct",
    symmetry: bool | None = None,
    keep_going: bool = False,
    liveness: bool = True,
) -> Check:
    """One exploration per argument tuple for the whole test session."""
    return run_check(
        Model(builtin(scenario), variant(variant_name)),
        symmetry=symmetry,
        keep_going=keep_going,
        liveness=liveness,
    )


def reachable_worlds(m: Model) -> list[World]:
    """Every reachable world of a small model, in breadth-first order (no reduction)."""
    first = m.initial()
    seen, queue, order = {first}, deque([first]), []
    while queue:
        w = queue.popleft()
        order.append(w)
        for _, after in m.successors(w):
            if after not in seen:
                seen.add(after)
                queue.append(after)
    return order


def summary(check: Check) -> dict[str, int]:
    """Each broken property (safety or liveness) and its shortest counterexample's length."""
    return {name: len(v.trace) - 1 for name, v in check.shortest().items()}


# Markers (pyproject.toml): the default run keeps one case of each long family, so it stays
# near three minutes on two cores; `-m agreement` (every engine against the others, every variant and
# scenario) and `-m slow` (long explorations and whole-command runs) are CI steps of their own.
AGREEMENT = pytest.mark.agreement
SLOW = pytest.mark.slow


def one_by_default(
    values: Iterable[Any], keep: Any = None, mark: pytest.MarkDecorator = AGREEMENT
) -> list[Any]:
    """Every value as a test parameter; all but one (``keep``, else the first) carry ``mark``.
    A tuple value is a row of several arguments."""
    values = list(values)
    kept = values[0] if keep is None else keep
    assert kept in values, kept
    return [
        v if v == kept else pytest.param(*(v if isinstance(v, tuple) else (v,)), marks=mark) for v in values
    ]

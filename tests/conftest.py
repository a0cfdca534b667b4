"""Shared fixtures: checker runs are cached, so several tests can read one exploration."""

from __future__ import annotations

import functools

from lutakeover.check import Check, run_check
from model.protocol import variant
from model.scenario import builtin


@functools.cache
def checked(
    scenario: str,
    variant_name: str = "correct",
    symmetry: bool = True,
    keep_going: bool = False,
    liveness: bool = True,
) -> Check:
    """One exploration per argument tuple for the whole test session."""
    return run_check(
        builtin(scenario), variant(variant_name), symmetry=symmetry, keep_going=keep_going, liveness=liveness
    )


def summary(check: Check) -> dict[str, int]:
    """Each broken property (safety or liveness) and its shortest counterexample's length."""
    return {check.property_name(v): len(v.trace) - 1 for v in check.search.violations}

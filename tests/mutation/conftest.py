"""The pinned cases run in the pins' order, cheapest first, whatever order they were asked in:
mutmut names a mutant's tests as an unordered set, and ``-x`` stops at the first failure, so
the order decides how long a killed mutant takes."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def _rank(item: pytest.Item) -> int | None:
    """The case's place in the pins, or None for any other test."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or item.path.parent != HERE:
        return None
    rank = callspec.indices.get("case")
    return rank if isinstance(rank, int) else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    slots = [i for i, item in enumerate(items) if _rank(item) is not None]
    ordered = sorted((items[i] for i in slots), key=lambda item: _rank(item) or 0)
    for i, item in zip(slots, ordered, strict=True):
        items[i] = item

"""The model's records build their updated copies directly (``_quick_replace``): the same
result as a ``NamedTuple``'s own ``_replace``, the same error for a name that is no field."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import pytest

from model.scenario import builtin, initial_world
from model.state import RECORDS, Ghost, Job, World, _quick_replace


def _stock(record: type[tuple[object, ...]]) -> Any:
    """A plain ``namedtuple`` with the record's fields: its ``_replace`` is the stock one."""
    return namedtuple(record.__name__, record._fields)  # type: ignore[attr-defined]


def _agrees_with_stock(record: type[tuple[object, ...]]) -> None:
    fields = record._fields  # type: ignore[attr-defined]
    values = tuple(f"old {name}" for name in fields)
    mine, stock = record(*values), _stock(record)(*values)
    for name in fields:
        after = mine._replace(**{name: "new"})  # type: ignore[attr-defined]
        assert type(after) is record
        assert tuple(after) == tuple(stock._replace(**{name: "new"}))
        assert tuple(mine) == values  # the original is untouched
    everything = {name: i for i, name in enumerate(fields)}
    assert tuple(mine._replace(**everything)) == tuple(range(len(fields)))  # type: ignore[attr-defined]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.__name__)
def test_replacing_each_field_gives_what_the_stock_replace_gives(record: type[tuple[object, ...]]) -> None:
    _agrees_with_stock(record)


def test_a_name_that_is_no_field_is_refused_by_name() -> None:
    world = initial_world(builtin("fig5"))
    with pytest.raises(ValueError, match=r"unexpected field names: \['budgett'\]"):
        world._replace(budgett=0)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match=r"\['oops'\]"):
        Job(0, 0, 1, 0, 0, 0)._replace(done=1, oops=2)  # type: ignore[call-arg]


def test_a_world_updated_is_equal_and_hashes_alike_to_one_built_whole() -> None:
    """The search keeps states by hash: a copy must be indistinguishable from a state
    built field by field (the fingerprint index would otherwise take them for two)."""
    world = initial_world(builtin("three-way"))
    after = world._replace(budget=world.budget - 1, jobs=())
    whole = World(*(*world[:4], (), world.budget - 1, *world[6:]))
    assert after == whole and hash(after) == hash(whole)
    ghost = world.ghost._replace(bad_read=None)
    assert ghost == Ghost(*world.ghost) and hash(ghost) == hash(Ghost(*world.ghost))


def test_a_replace_that_puts_the_value_one_field_along_is_caught() -> None:
    """The comparison above can fail: a mutant whose index is shifted by one."""

    class Triple(tuple[object, ...]):
        _fields = ("a", "b", "c")

        def __new__(cls, *values: object) -> Triple:
            return super().__new__(cls, values)

    _quick_replace(Triple)
    _agrees_with_stock(Triple)

    def shifted(self: tuple[object, ...], **changes: object) -> tuple[object, ...]:
        values = list(self)
        for name, value in changes.items():
            values[(Triple._fields.index(name) + 1) % 3] = value
        return tuple.__new__(Triple, values)

    setattr(Triple, "_replace", shifted)  # noqa: B010
    with pytest.raises(AssertionError):
        _agrees_with_stock(Triple)

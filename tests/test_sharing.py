"""The frontier's states share their equal records (``model.sharing``): the same states,
fewer objects."""

from __future__ import annotations

import pytest

from conftest import reachable_worlds
from model.actions import Model
from model.protocol import CORRECT
from model.scenario import builtin
from model.sharing import Sharing
from model.state import World


def _records(worlds: list[World]) -> list[object]:
    """Every record a world's tuple fields hold, and those fields' other records."""
    found: list[object] = []
    for w in worlds:
        found += [*w.controllers, *w.paths, *w.hosts, *w.jobs, *w.pairs, w.disk, w.ghost]
    return [x for x in found if x is not None]


@pytest.mark.parametrize("name", ["fig9", "crash-takeover", "multi-block"])
def test_a_shared_state_is_the_same_state_to_the_letter(name: str) -> None:
    """Equal, and printed alike: every record keeps its type, every flag its bool."""
    share = Sharing()
    for w in reachable_worlds(Model(builtin(name), CORRECT)):
        shared = share(w, 0)
        assert shared == w
        assert repr(shared) == repr(w)


def test_equal_records_become_one_object() -> None:
    worlds = reachable_worlds(Model(builtin("multi-block"), CORRECT))
    share = Sharing()
    shared = [share(w, 0) for w in worlds]
    before, after = _records(worlds), _records(shared)
    distinct = len(set(before))
    assert len({id(x) for x in after}) == distinct < len({id(x) for x in before})


def test_a_record_is_kept_two_depths_and_no_longer() -> None:
    """The pool of a depth is emptied when the search reaches the depth after the next:
    by then every state of it left the frontier, and keeping its records would keep, over
    a whole search, every record ever met."""
    first = Model(builtin("one-lu"), CORRECT).initial()
    twin = World._make(tuple(first))  # equal, and another object
    twin = twin._replace(controllers=tuple(c._replace() for c in first.controllers))
    share = Sharing()
    kept = share(first, 3)
    assert share(twin, 4).controllers[0] is not kept.controllers[0]  # another depth, its own pool
    assert share(twin, 4).controllers[0] is share(twin, 4).controllers[0]
    assert share(twin, 5).controllers[0] is not kept.controllers[0]  # depth 3's pool was emptied

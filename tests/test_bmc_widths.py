"""BMC's numbers are bit-vectors sized from the scenario, so none wraps into another value.

A number wider than its bit-vector wraps silently: a take-over budget of 128 in 8 bits is
-128, no take-over is ever designated, and BMC says OK where the explicit checker finds a
violation. These tests compare BMC with breadth-first search on scenarios whose numbers pass
127, 255 and 32767, check the widths chosen, and check that numbers no width can hold are
refused with the field named.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import summary
from invariants.safety import first_broken
from model.actions import Model
from model.protocol import variant
from model.scenario import Scenario, builtin, parse
from model.state import World
from proofs import encoding
from proofs.bmc import Bmc, bmc
from proofs.check import run_check
from proofs.encoding import MIN_BITS, Encoding, EncodingLimit, Layout, number_bits, signed_bits


def ping_pong(**changes: Any) -> Scenario:
    return dataclasses.replace(builtin("ping-pong"), **changes)


# --- the reproduction ---------------------------------------------------------------------


@pytest.mark.parametrize("bug", ["keep-clean-lines", "no-suspend"])
def test_a_budget_of_128_does_not_wrap_into_no_take_over_at_all(bug: str) -> None:
    scenario, protocol = ping_pong(budget=128), variant(bug)
    check = run_check(Model(scenario, protocol), liveness=False)
    assert check.verdict == "violated"
    result = bmc(Model(scenario, protocol), 15)
    assert result.violation is not None, "bmc says OK where check finds a violation"
    assert {result.violation.property: len(result.violation.trace) - 1} == summary(check)


# --- BMC against bounded breadth-first search ---------------------------------------------


def shortest_violation(m: Model, depth: int) -> tuple[int, set[str]] | None:
    """Breadth-first search of runs of at most ``depth`` steps (the explicit checker's
    search, cut at BMC's bound): the first depth where a state breaks a safety property,
    with every property broken by some state at that depth, or None."""
    layer, seen = [m.initial()], {m.initial()}
    for k in range(depth + 1):
        broken = {b[0] for w in layer if (b := first_broken(m, w)) is not None}
        if broken:
            return k, broken
        following: list[World] = []
        for w in layer:
            for _, after in m.successors(w):
                if after not in seen:
                    seen.add(after)
                    following.append(after)
        layer = following
    return None


def assert_bmc_agrees(scenario: Scenario, bug: str, depth: int) -> Bmc:
    """BMC's verdict is the search's: no violation, or one at the same shortest depth
    under a property some shortest counterexample breaks (several can tie)."""
    m = Model(scenario, variant(bug))
    result = bmc(m, depth)
    expected = shortest_violation(m, depth)
    if expected is None:
        assert (result.verdict, result.reached) == ("ok", depth)
    else:
        assert result.violation is not None, f"bmc says OK; the search breaks {expected} (depth, properties)"
        found = (len(result.violation.trace) - 1, result.violation.property)
        assert found[0] == expected[0] and found[1] in expected[1], (found, expected)
    return result


BUGS = ["correct", "skip-destage", "no-suspend", "start-before-stop", "stale-config-row"]
# Values around the edges of 8, 9, 16 and 17-bit two's complement, and beyond.
LARGE = [127, 128, 255, 256, 257, 32767, 32768, 65536, 100_000]


def any_mode(budget: int, writes: int, reads: int, lus: int = 1) -> str:
    """``lus`` LUs, LU i on controller i, written and read by one host; take-overs up to
    ``budget``, any LU to any controller."""
    rows = "".join(f"[[lu]]\nid = {i}\ncontroller = {i}\next_lun = 0\n" for i in range(lus))
    return f"""
name = "wide-any"
[array]
controllers = 2
{rows}
[[host]]
writes = {list(range(lus))}
reads = {list(range(lus))}
[workload]
writes_per_block = {writes}
reads_per_block = {reads}
[takeovers]
mode = "any"
budget = {budget}
"""


def scripted(writes: int) -> str:
    """one-lu: one LU moved once by a scripted batch while a host writes it."""
    return f"""
name = "wide-batch"
[array]
controllers = 2
[[lu]]
id = 0
controller = 0
ext_lun = 0
[[host]]
writes = [0]
[workload]
writes_per_block = {writes}
[takeovers]
mode = "scripted"
[[takeovers.batch]]
lus = [0]
destination = 1
"""


def depth_for(scenario: Scenario) -> int:
    """12 steps reach every shortest violation of ``BUGS`` on one LU (8 to 12 steps);
    two LUs stop at 8 (no-suspend's), where a BMC run still takes about two seconds."""
    return 12 if len(scenario.lus) == 1 else 8


@st.composite
def wide_scenarios(draw: st.DrawFn) -> Scenario:
    number = st.sampled_from([1, 2, *LARGE])
    if draw(st.integers(0, 3)) == 0:
        return parse(scripted(draw(number)), "generated")
    reads = draw(st.sampled_from([0, 1, *LARGE]))
    text = any_mode(draw(number), draw(number), reads, lus=draw(st.sampled_from([1, 1, 2])))
    return parse(text, "generated")


@pytest.mark.slow  # 25 to 40 s; the hand-picked cases below run by default
@settings(max_examples=20, deadline=None)
@given(scenario=wide_scenarios(), bug=st.sampled_from(BUGS))
def test_bmc_agrees_with_the_search_whatever_the_numbers(scenario: Scenario, bug: str) -> None:
    assert_bmc_agrees(scenario, bug, depth_for(scenario))


# Hand-picked: each broke the 8-bit encoding in a different way.
WIDE = [
    # 128 take-overs wrap to -128: none is ever designated.
    (any_mode(budget=128, writes=2, reads=2), "no-suspend"),
    # 255 wraps to -1, and 32768 writes and reads per block to 0.
    (any_mode(budget=255, writes=32768, reads=32768), "start-before-stop"),
    # 256 writes per block wrap to 0: no write is sent, so no dirty line is left behind.
    (any_mode(budget=3, writes=256, reads=0), "skip-destage"),
    (scripted(writes=128), "skip-destage"),
]


@pytest.mark.parametrize(("text", "bug"), WIDE)
def test_bmc_agrees_with_the_search_on_hand_picked_numbers(text: str, bug: str) -> None:
    scenario = parse(text, "hand-picked")
    result = assert_bmc_agrees(scenario, bug, depth_for(scenario))
    assert result.violation is not None


# --- widths ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["fig5", "fig9", "ping-pong", "three-way", "one-lu", "backup-and-takeover", "background-destage"]
)
def test_built_in_scenarios_keep_eight_bits(name: str) -> None:
    enc = Encoding(Model(builtin(name)))
    assert (enc.layout.bits, enc.choice_bits) == (MIN_BITS, 16)


@pytest.mark.parametrize(
    ("changes", "bits"),
    [
        ({"budget": 127}, 8),
        ({"budget": 128}, 9),
        ({"budget": 255}, 9),
        ({"budget": 256}, 10),
        ({"writes_per_block": 32767}, 16),
        ({"reads_per_block": 32768}, 17),
        ({"budget": 2**31 - 1}, 32),
    ],
)
def test_the_width_is_the_fewest_bits_holding_every_number(changes: dict[str, Any], bits: int) -> None:
    assert number_bits(Model(ping_pong(**changes))) == bits


@pytest.mark.parametrize(
    ("value", "bits"), [(0, 1), (-1, 1), (-3, 3), (127, 8), (128, 9), (-128, 8), (-129, 9), (2**31 - 1, 32)]
)
def test_signed_bits_counts_two_s_complement(value: int, bits: int) -> None:
    assert signed_bits(value) == bits


# Scenario validation bounds every number by 2**31 - 1, which 32 bits hold; a lower limit
# shows the refusal the encoding makes if a scenario ever asks for more.
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (any_mode(budget=100_000, writes=1, reads=0), "takeovers.budget: 100000 needs 18 bits"),
        (any_mode(budget=1, writes=40_000, reads=0), "workload.writes_per_block: 40000 needs 17 bits"),
        (any_mode(budget=1, writes=1, reads=32768), "workload.reads_per_block: 32768 needs 17 bits"),
    ],
)
def test_numbers_too_wide_are_refused_naming_the_field(
    text: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(encoding, "MAX_BITS", 16)
    with pytest.raises(EncodingLimit, match=rf"^{message}; bmc encodes numbers in at most 16 bits$"):
        bmc(Model(parse(text)), 3)


def test_a_world_number_too_wide_is_refused_not_wrapped() -> None:
    m = Model(builtin("ping-pong"))
    layout = Layout(m)
    world = m.initial()._replace(budget=200)
    with pytest.raises(OverflowError, match="budget = 200 does not fit the 8-bit numbers"):
        layout.flatten(world)


def test_instances_past_sixteen_bits_widen_the_choice() -> None:
    enc = Encoding(Model(builtin("one-lu")))
    real = enc.instances
    enc.instances = lambda s: real(s) * 2000  # type: ignore[method-assign]  # 72000, as a huge array has
    assert enc.choice_bits == 17 and enc.choice("c").size() == 17
    s, t = enc.layout.variables("s."), enc.layout.variables("t.")
    with pytest.raises(OverflowError, match="72000 instances cannot be numbered in 16 bits"):
        enc.transition(s, t, z3.BitVec("narrow", 16))

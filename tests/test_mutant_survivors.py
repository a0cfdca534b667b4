"""Kills for the survivors of docs/mutation.md's uniform sample (commit d4e701a) that are gaps.

The kill test (tests/mutation/test_builtin_outcomes.py) pins each built-in's verdict and the
depth of each broken property. It does not see a counterexample's sentence, the witnesses'
depths, which properties a run calls untested, what ``Model.why_not`` answers, repeats in
a state's sets of LUs, nor scenarios outside the built-ins (a host cabled to a controller
not in charge of its LU; "any"-mode take-overs from two ports, or two to one controller at
once). Each test names the mutant it kills (mutmut's name) and why the kill test missed it.
"""

from __future__ import annotations

import pytest

from conftest import checked
from invariants.witnesses import untested_properties
from model.actions import Model
from model.labels import Label
from model.protocol import variant
from model.scenario import builtin, parse
from model.state import Where, World
from proofs.check import run_check
from proofs.explicit import explore
from proofs.replay import replay

# --- the sentences of counterexamples ----------------------------------------------------------


def _shortest(scenario: str, variant_name: str) -> dict[str, tuple[int, str]]:
    """Each broken property of the run kept going: its shortest counterexample's length and
    sentence."""
    check = checked(scenario, variant_name, keep_going=True)
    return {name: (len(v.trace) - 1, v.message) for name, v in check.shortest().items()}


def test_a_write_lost_while_no_controller_is_in_charge_is_read_on_disk() -> None:
    """Kills invariants.safety.x_no_acknowledged_write_lost__mutmut_36 (``c is not None`` ->
    ``(c is not None) or True``): the sentence would say "through controller None". The kill
    test pins only which property breaks and at what depth, not its sentence. skip-destage
    loses the write between Step 808's two halves, when no controller is in charge of LU0."""
    assert _shortest("one-lu", "skip-destage")["no_acknowledged_write_lost"] == (
        13,
        "LU0 block 0 reads 0 through the disk (no controller in charge), but the last acknowledged "
        "write there was 1",
    )


def test_a_stale_clean_line_is_called_clean() -> None:
    """Kills invariants.safety.x_no_stale_cache__mutmut_9 (``"clean"`` -> ``"CLEAN"``): the
    kill test does not read the sentence. keep-clean-lines leaves a clean line of LU0 behind
    on the source, and the sentence must say so in the words of every other report."""
    assert _shortest("one-lu", "keep-clean-lines")["no_stale_cache"] == (
        15,
        "controller 0 holds a clean line of LU0 block 0 (value 1) but is not in charge of LU0",
    )


def test_an_unanswered_request_names_its_operation() -> None:
    """Kills invariants.witnesses.x_describe_obligation__mutmut_22 (``op = "write" if ...`` ->
    ``op = None``): the sentence of a requests_answered counterexample would read "host0's None
    of LU0"; the kill test pins its property and depth only."""
    assert _shortest("one-lu", "no-resume")["requests_answered"] == (
        12,
        "host0's write of LU0 block 0 is never answered: the run stops",
    )


class _NoSplit(Model):
    """The model with every Step 901 cut: no backup of the script ever starts."""

    def successors(self, w: World) -> list[tuple[Label, World]]:
        return [(label, after) for label, after in super().successors(w) if label.action != "split_pair"]


def test_a_backup_that_never_starts_is_described() -> None:
    """Kills invariants.witnesses.x_describe_obligation__mutmut_16 (``key[0] == "backup"`` ->
    ``== "XXbackupXX"``): a pending backup's key ("backup", 0) would fall through to the
    request's sentence and its ``key[2]``, an IndexError that crashes the checker. No pinned
    run leaves a backup unstarted (no seeded bug makes Step 901 refuse for ever), so the kill
    test never describes one; here Step 901 is cut from fig9."""
    check = run_check(_NoSplit(builtin("fig9")), keep_going=True)
    assert check.verdict == "violated"
    never = "of the script never starts (Step 901 refuses it): the run stops"
    found = [(v.property, len(v.trace) - 1, v.message) for v in check.counterexamples]
    assert found == [("script_completes", 10, f"backup {i} {never}") for i in (0, 1)]


# --- what a passing run reports besides its verdict --------------------------------------------

# The properties each run calls untested, and why (Check.untested, printed with the verdict).
UNTESTED = {
    "one-lu": {"reads_return_written_data": "no host reads any LU"},
    "ping-pong": {},
    "background-destage": {},
    "primary-moves": {"reads_return_written_data": "no host reads any LU"},
}


@pytest.mark.parametrize("scenario", UNTESTED)
def test_untested_properties_are_pinned(scenario: str) -> None:
    """Kills invariants.witnesses.x_untested_properties__mutmut_13 (``s.mode == "any"`` ->
    ``== "XXanyXX"``: in "any" mode no LU would count as moving, so ping-pong, whose host
    writes its one LU, would call no_acknowledged_write_lost untested) and
    x_untested_properties__mutmut_29 (the key ``"reads_return_written_data"`` upper-cased:
    one-lu's report would name a property that does not exist). Check.untested changes no
    verdict, and the kill test pins verdicts and broken properties only."""
    assert checked(scenario).untested == UNTESTED[scenario]
    assert untested_properties(Model(builtin(scenario))) == UNTESTED[scenario]


# The depth at which the correct protocol first reaches each applicable witness.
WITNESS_DEPTHS = {
    "one-lu": {"takeover_completes": 12, "write_acked_during_destage": 9},
    "primary-moves": {
        "takeover_completes": 12,
        "write_acked_during_destage": 10,
        "backup_completes": 12,
        "primary_moved_during_backup": 3,
        "write_tracked_during_split": 4,
    },
    "fig5": {"takeover_completes": 12, "write_acked_during_destage": 9, "concurrent_takeovers": 1},
}


@pytest.mark.parametrize("scenario", WITNESS_DEPTHS)
def test_witness_depths_are_pinned(scenario: str) -> None:
    """The kill test fails a run whose witness is never reached (vacuous), but not one whose
    witness is reached at another depth, or no longer applies. Kills, in invariants.witnesses:
    x__write_acked_during_destage__mutmut_19 (the last ``return False`` -> ``True``: any
    acknowledged write counts, so one-lu reaches it at depth 4, not 9);
    x__primary_moved_during_backup__mutmut_2 (a step that is no take-over step counts, so
    primary-moves reaches it at depth 1, not 3);
    x__backs_up_written_pair__mutmut_2 (``is not None`` -> ``is None``: the witness
    write_tracked_during_split would apply only to a backup of an unwritten primary, and so
    not to primary-moves); x__may_move_two__mutmut_2 (``s.mode == "any"`` -> ``!=``: a
    script's budget, 0, would decide, so concurrent_takeovers would not apply to fig5)."""
    check = checked(scenario)
    assert check.verdict == "ok"
    assert check.witnesses == WITNESS_DEPTHS[scenario]


# --- guards that only Model.why_not asks -------------------------------------------------------


def test_deliver_refuses_a_host_with_no_frame_at_the_path_controller() -> None:
    """Kills model.actions.x_deliver__mutmut_2 (``request is None or request.at != PATH`` ->
    ``and``). The checker offers deliver only to hosts whose frame is at the path controller,
    so its guard never refuses there; Model.why_not asks it of any host: with no request the
    mutant crashes (None.at), with a request already accepted it delivers it again."""
    m = Model(builtin("one-lu"))
    label = Label.parse("deliver host0")
    assert m.why_not(m.initial(), label) == "host0 has no frame at the path controller"
    accepted = replay(m, ["send_write host0 LU0 block 0", "deliver host0"])[-1].state
    assert accepted.hosts[0] is not None and accepted.hosts[0].at == 0
    assert m.why_not(accepted, label) == "host0 has no frame at the path controller"


def test_process_refuses_a_host_whose_request_no_controller_accepted() -> None:
    """Kills model.actions.x_process__mutmut_2 (``request is None or request.at < 0`` ->
    ``and``). The checker offers process only for requests in an inbox; Model.why_not asks
    it of any host: with no request the mutant crashes (None.at), with a frame still at the
    path controller (at == -1) it would process it in the last controller."""
    m = Model(builtin("one-lu"))
    label = Label.parse("process host0")
    assert m.why_not(m.initial(), label) == "no controller has accepted a request of host0"
    sent = replay(m, ["send_write host0 LU0 block 0"])[-1].state
    assert sent.hosts[0] is not None and sent.hosts[0].at == Where.PATH
    assert m.why_not(sent, label) == "no controller has accepted a request of host0"


def test_designate_batch_refuses_a_batch_past_the_script() -> None:
    """Kills model.actions.x_designate_batch__mutmut_3 (``index >= len(batches)`` -> ``>``).
    The checker offers only the script's next batch, which exists; once the script is done
    Model.why_not, asked for the batch after the last, gets the guard's answer, where the
    mutant reads past the script (IndexError: "names nothing in this array")."""
    m = Model(builtin("one-lu"))
    done = replay(m, ["designate_batch 0"])[-1].state
    assert m.why_not(done, Label.parse("designate_batch 1")) == "the script's next batch is batch 1, of 1"


# --- scenarios the built-ins do not cover -------------------------------------------------------

# Fig. 6's direct topology with the host cabled to controller 1, which is not in charge of
# the LU it writes: its frames reach controller 1, which answers NOT READY for ever.
MISCABLED = """
name = "miscabled"
[array]
controllers = 2
topology = "direct"
[[lu]]
controller = 0
ext_lun = 0
[[lu]]
controller = 0
default = 1
ext_lun = 1
[[pair]]
primary = 0
secondary = 1
[[backup]]
pair = 0
[[host]]
controller = 1
writes = [0]
[workload]
writes_per_block = 1
"""


def test_a_directly_cabled_host_reaches_only_its_controller() -> None:
    """Kills model.actions.x_routed_controller__mutmut_6 (the cabled controller ``and False``:
    frames would follow the path controller's route even in the direct topology). In fig9,
    the only direct built-in, each host is cabled to the controller of the primary it
    writes, which never moves, so cable and route always agree there."""
    m = Model(parse(MISCABLED))
    delivered = replay(m, ["send_write host0 LU0 block 0", "deliver host0"])[-1].state
    assert delivered.hosts[0] is not None and delivered.hosts[0].at == Where.NOT_READY
    check = run_check(m, keep_going=True)
    unanswered = "host0's write of LU0 block 0 is never answered: the run can loop forever, fairly"
    assert [(v.property, v.message) for v in check.counterexamples] == [("requests_answered", unanswered)]


# Two LUs on one port of controller 0; the operator may move both to controller 1.
TWO_LEAVE = """
name = "two-leave"
[array]
controllers = 2
[[lu]]
controller = 0
ext_lun = 0
[[lu]]
controller = 0
ext_lun = 1
[takeovers]
mode = "any"
budget = 2
"""


def test_a_designation_avoids_the_address_a_move_under_way_will_take() -> None:
    """Kills model.actions.x_designate__mutmut_11 (``taken |= {...disk rows}`` -> ``taken =``:
    the addresses take-overs under way will take, not yet on disk before their Step 803,
    are forgotten). LU1 goes to controller 1 as external LUN 0; LU0, designated next, must
    get LUN 1 there at once (the mutant offers LUN 0, which Step 801 refuses as LU1's, so
    the two take-overs overlap only once LU1's row is written). Only "any"-mode scenarios
    designate this way, and the kill test's only one, ping-pong, has one LU."""
    m = Model(parse(TWO_LEAVE))
    both = replay(m, ["designate LU1 to c1", "designate LU0 to c1"])[-1].state
    assert [(j.lu, j.destination, j.port, j.ext_lun) for j in both.jobs] == [(0, 1, 0, 1), (1, 1, 0, 0)]
    check = run_check(m)
    assert check.search.states == 169  # 145 with the mutant
    assert check.witnesses == {"takeover_completes": 12, "concurrent_takeovers": 2}  # 4 with it


# Port 0 of controller 0 holds LU0 and LU2 (the last), port 0 of controller 1 holds LU1.
THREE_LUS = """
name = "three-lus"
[array]
controllers = 2
[[lu]]
controller = 0
ext_lun = 0
[[lu]]
controller = 1
ext_lun = 0
[[lu]]
controller = 0
ext_lun = 1
[takeovers]
mode = "any"
budget = 1
"""


def test_the_operator_s_choices_are_offered_lu_by_lu() -> None:
    """Kills model.actions.x__designations__mutmut_21 (sorted by ``lambda e: None``): with
    two or more ports holding LUs, sorting compares None with None, a TypeError that crashes
    the checker at the first state where the operator could move an LU from either port. In
    the kill test only ping-pong designates this way, and it has one LU on one port (three-way,
    where LU1's move opens a second port, is left out for time). The choices are pinned in
    the order Model.transitions lists them too: LU by LU."""
    m = Model(parse(THREE_LUS))
    w = m.initial()
    assert [str(t.label(w)) for t in m.transitions(w, ("designate",))] == [
        "designate LU1 to c0",
        "designate LU2 to c1",
    ]


# --- the state's sets ---------------------------------------------------------------------------


def _lu_sets_repeat(w: World) -> str | None:
    for c, ctl in enumerate(w.controllers):
        for name, lus in (("active", ctl.active), ("write_through", ctl.write_through)):
            if list(lus) != sorted(set(lus)):
                return f"controller {c}'s {name} LUs are {lus}"
    return None


def test_a_controller_s_lus_are_a_set_even_under_two_takeovers_of_one_lu() -> None:
    """Kills model.actions.x__add__mutmut_1 (``items if x in items`` ``and False``: an LU
    already there is added again). Only two take-overs of one LU (concurrent-same-lu) make a
    controller start, or make write-through, an LU it already has; the pinned ping-pong run
    of that bug stops at its first violation, whose property and depth the repeat leaves
    alone, but every state with a repeat is an array state already counted, stored again
    under another name (a state count of its own, and fingerprints that differ)."""
    m = Model(builtin("ping-pong"), variant("concurrent-same-lu"))
    search = explore([m.initial()], m.successors, invariants=[("lu_sets", _lu_sets_repeat)], max_states=5000)
    assert search.states == 5000 and not search.violations  # the mutant repeats an LU by 1,200

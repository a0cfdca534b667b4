"""One list of actions: the model, the BMC encoding and the inductive proof name the same
actions, so a step added to the model and forgotten by an engine fails here, by name."""

from __future__ import annotations

import pytest

from conftest import reachable_worlds
from model.actions import ACTIONS, Model
from model.labels import Label
from model.protocol import variant
from model.scenario import builtin
from proofs.encoding import Encoding
from proofs.induction import ACTION_NAMES


def taken(m: Model) -> set[str]:
    """The actions some reachable state of ``m`` takes."""
    return {label.action for w in reachable_worlds(m) for label, _ in m.successors(w)}


@pytest.mark.parametrize(
    ("scenario", "name"),
    [
        ("fig5", "correct"),
        ("ping-pong", "no-suspend"),
        ("fig9", "correct"),
        ("background-destage", "correct"),
    ],
)
def test_bmc_encodes_every_action_the_model_takes(scenario: str, name: str) -> None:
    """Whether an encoded instance is ever enabled is the exactness tests' business
    (tests/test_bmc.py); here, that none is missing and none is invented."""
    m = Model(builtin(scenario), variant(name))
    enc = Encoding(m)
    encoded = {i.action for i in enc.instances(enc.layout.variables("s."))}
    assert taken(m) <= encoded <= {a.name for a in ACTIONS}


def test_every_model_action_is_taken_by_some_built_in_and_encoded() -> None:
    names = set()
    # background-destage: the one built-in whose controllers de-stage on their own
    # crash-takeover: the one whose array may crash and recover
    for scenario in (
        "fig5",
        "ping-pong",
        "fig9",
        "backup-and-takeover",
        "background-destage",
        "crash-takeover",
    ):
        enc = Encoding(Model(builtin(scenario)))
        names |= {i.action for i in enc.instances(enc.layout.variables("s."))}
    assert names == {a.name for a in ACTIONS}


def test_the_proof_covers_every_model_action_but_the_batch() -> None:
    # The proof has no script: a batch of Step 801 is a sequence of its designate steps.
    assert set(ACTION_NAMES) == {a.name for a in ACTIONS} - {"designate_batch"}


@pytest.mark.parametrize(
    "scenario", ["fig5", "fig9", "backup-and-takeover", "background-destage", "backup-twice"]
)
def test_every_label_names_its_action_and_reads_back_from_its_text(scenario: str) -> None:
    """Model.transition_labelled builds only the instances of the action a label names, and
    a label written as text (ITF, a replay test) is the same label read back."""
    m = Model(builtin(scenario))
    for w in reachable_worlds(m)[::5]:
        for t in m.transitions(w):
            label = t.label(w)
            assert label.action == t.action.name, label
            assert Label.parse(str(label)) == label
            assert m.transition_labelled(w, label) == t

"""The inductive proof: the take-over protocol is safe for any number of controllers, LUs,
blocks, hosts and take-overs.

Theory of operation. The protocol's state is written over uninterpreted sorts (Controller,
LU, Block, Value, Job, Read), so a model z3 finds may have any size and a proof covers
every size. Each action of ``model/actions.py`` is written again here, with the same name,
as a guard and an effect on these relations and functions. The invariant is the safety
properties of ``invariants/safety.py`` plus the *lemmas* that make them inductive; the proof
is one query per (action, part): Inv and the action and not part-after, which must be
unsatisfiable. ``unknown`` (a timeout included) is a failure, never a pass.

Decidability. The queries stay in the fragment z3 decides quickly (effectively
propositional, EPR): functions only go from "higher" sorts to "lower" ones, Job and Read
to LU, LU to Controller, Block and Value, never back, so instantiating quantifiers builds
finitely many terms. A controller's table row names a controller, so it is the relation
``table_current(C, L, X)`` rather than a function from Controller to Controller. Two
quantifier alternations remain: "no controller is in charge of L" (LU to Controller, down
the order) and ``busy_lu_has_job`` (LU to Job, whose Skolem function f closes at once,
``job_lu(f(L)) = L``).

Abstraction (each choice over-approximates the model, so a proof here covers it):
- hosts: one write slot per LU (each LU has exactly one writing host, with at most one
  request outstanding) and any number of reads in flight, of any LU (the Read sort); a
  host's read and write may be outstanding together here, which the model never allows;
- values: ``send_write`` writes any value, not the next number of a counter; the workload
  bounds (writes and reads per block, the take-over budget) are dropped;
- configuration rows: a row is named by its current controller number, the field every
  take-over changes; port, external LUN and default controller are written with it, by the
  same two steps of 803;
- the management utility's record of LUs being moved is the relation ``busy``; Step 801's
  LUN-map rules (free, gap-free addresses) are dropped, so any LU may go to any controller;
- ``designate_batch`` is a sequence of ``designate`` steps, one per LU of the batch;
- de-stages: any controller may start one of a dirty line of an LU it does not write
  through at any time (``background_destage``): the scenario's switch for it is dropped.

Embodiment 2 (Steps 901-909). A sort Pair (above LU) holds the mirrored pairs: static
``primary``/``secondary``, the pair state, difference information, the tape, the mirror
write under way (handed to the secondary's controller, performed by ``mirror_write``) and
the ghosts (the primary's image at the split, the secondary's row before the cycle). A
backup cycle is a job with ``backup`` set, walking ``Protocol.backup_order()``; its pair is
not a function of the job (see ``_of_pair``). The scripted order of backups and of tape
blocks is dropped. The four pair properties of ``invariants/safety.py`` are parts of the
invariant, with the lemmas they need; ``no_acknowledged_write_lost`` skips mirrors, as the
model's property does, and the pair properties count a mirror write under way as done.

Modules, each importing only those listed before it: ``signature`` (the sorts and the state),
``formulas`` (quantifiers, derived terms, a variant's step order), ``invariant`` (properties
and lemmas), ``actions`` (the initial condition and the abstract actions), ``cti``
(counterexamples to induction: tables, classification, printing), ``prover`` (obligations,
queries, results, the report) and ``image`` (the model's worlds in this vocabulary, for
agreement with the model). This package re-exports what other code uses.
"""

from __future__ import annotations

from proofs.induction.actions import ACTION_NAMES, INITIAL
from proofs.induction.cti import format_cti
from proofs.induction.image import Image, broken_in, simulates
from proofs.induction.invariant import LEMMA_NAMES, PART_NAMES
from proofs.induction.prover import (
    OBLIGATIONS,
    ProofResult,
    failing,
    format_proof,
    obligations,
    prove,
)

__all__ = [
    "ACTION_NAMES",
    "INITIAL",
    "LEMMA_NAMES",
    "OBLIGATIONS",
    "PART_NAMES",
    "Image",
    "ProofResult",
    "broken_in",
    "failing",
    "format_cti",
    "format_proof",
    "obligations",
    "prove",
    "simulates",
]

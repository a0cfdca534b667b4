"""The LU take-over protocol as a pure state machine (patent Figs. 1-5, Steps 801-809).

Rules of the package
--------------------
- No clocks, threads, randomness or I/O: a state is an immutable ``World`` and an action is
  a function ``(model, world, *args) -> world | None`` (None: not enabled). Engines,
  diagrams and reports read the same tuple of actions, ``model.actions.ACTIONS``.
- One action per patent step, named after it; host I/O is split into send, deliver,
  process, complete and retry so that a take-over can overtake a frame anywhere.
- Variants (``model.protocol.Protocol``) are data: one switch per seeded bug.

Theory of operation
-------------------
Each controller (11x) has its own write-back cache (111x) and a configuration table (1121x)
holding every LU's row; a copy of the rows lives at a predetermined position on the disk.
Hosts (2x) reach LUs through the path controller (3, 31), which routes each LU's frames to
one controller. A controller accepts a frame only for an LU it is *active* for (in charge
of); otherwise it answers NOT READY and the host retries, as SCSI hosts do during an ALUA
transition. Once accepted, a request is finished by that controller whatever happens next.

A take-over of an LU from a source to a destination controller runs the steps of Fig. 3:
801 the operator designates it (the management utility refuses an LU already moving and
any address that would collide or leave a gap in the LUN map); 802 the utility instructs
the array; 803 the source writes the LU's changed row to the disk and the other
controllers read it; 804 the source makes the LU's writes write-through, writes its dirty
lines to disk one at a time, then purges the LU's lines; 805 it reports de-stage
completion and the utility orders the path switch; 806 the path controller suspends the
LU (holds its frames); 807 it routes them to the destination; 808 the source stops, once
it has finished every request it accepted, and the destination starts; 809 the path
controller resumes the LU.

Ghost variables record what the hosts were told (the last acknowledged write of every
block) so that ``invariants`` can state *no acknowledged write is ever lost*.
"""

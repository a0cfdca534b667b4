"""The one bridge between the reference array and the model.

The array speaks its own vocabulary (frames, cache lines of bytes, disk files, take-over
records); the model speaks states and labels. This package maps one to the other: a
scenario to an array and its workload (``setup``), the array's events to the model's
labels (``labels``), the array's state to a model state (``abstraction``), and runs the two
side by side (``lockstep``, ``difftest``). Nothing else imports both.
"""

DEFAULT_EXAMPLES = 200  # lockstep runs a differential test makes (here: the command line lists it)
DEFAULT_MAX_STEPS = 2_000  # steps per lockstep run at most

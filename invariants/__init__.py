"""Named properties over model states (safety), transitions (witnesses) and runs (liveness)."""

from invariants.safety import SAFETY, Property
from invariants.witnesses import LIVENESS, WITNESSES, Liveness, Witness, obligations

__all__ = ["LIVENESS", "SAFETY", "WITNESSES", "Liveness", "Property", "Witness", "obligations"]

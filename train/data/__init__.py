"""Physics data engine: clean anatomy, physical degradations, labels, splits and a sample stream.

Entry points: :func:`iter_samples` (the trainer's stream), :func:`write_set` (a labelled set on disk),
:func:`simulate` (one input at another dose / field strength) and the click commands in :mod:`.cli`.
"""

from .generator import Sample, iter_samples
from .labels import PHYSICS, PhysicsLabel
from .simulate import simulate
from .writeset import write_set

__all__ = ["PHYSICS", "PhysicsLabel", "Sample", "iter_samples", "simulate", "write_set"]

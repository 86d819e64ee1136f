"""Physical degradations: pure seeded functions, each driven by one parameter in physical units."""

from .registry import FAMILIES, Degradation, apply_degradation

__all__ = ["FAMILIES", "Degradation", "apply_degradation"]

"""Functional forms and cutoff treatments."""
from .cutoff import DEFAULT_WIDTH, STYLES, Cutoff

__all__ = ["Cutoff", "STYLES", "DEFAULT_WIDTH"]

"""Readers and writers: one module per file format.

``open_reader`` picks the reader for a path from the registry; readers whose
optional dependency is missing are still listed, and fail with a clear message
only when their format is used.
"""

from .base import GeoRef, Reader, check_allocation, natural_key, resolve_inputs
from .open import open_reader

__all__ = ["GeoRef", "Reader", "check_allocation", "natural_key", "open_reader", "resolve_inputs"]

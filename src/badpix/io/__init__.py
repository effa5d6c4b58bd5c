"""Readers and writers: one module per file format.

``open_reader`` picks the reader for a path from the table of entry points in
:mod:`badpix.io.registry`; a reader module and its libraries are imported only
when that reader is asked about a file, and readers whose optional dependency is
missing fail with a clear message only when their format is used.
"""

from ..memory import check_allocation
from .base import GeoRef, Reader, natural_key
from .open import open_reader, resolve_inputs

__all__ = ["GeoRef", "Reader", "check_allocation", "natural_key", "open_reader", "resolve_inputs"]

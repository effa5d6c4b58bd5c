"""Import the built-in reader modules so they register themselves."""

from . import npy  # noqa: F401

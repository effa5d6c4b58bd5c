"""badpix: find and fix defective pixels in stacks of image frames."""

from ._version import __version__
from .errors import BadpixError
from .layout import Band, Layout, load_layout
from .stack import Stack, open_stack

__all__ = ["BadpixError", "Band", "Layout", "Stack", "__version__", "load_layout", "open_stack"]

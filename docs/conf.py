"""Sphinx configuration of the badpix documentation (``make docs``).

Sphinx was chosen over MkDocs because numpydoc reads the package's numpy-style
docstrings natively and sphinx-gallery (actively maintained) runs every example
script during the build and keeps its figures.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(ROOT / "src"))

import badpix  # noqa: E402

project = "badpix"
author = "the badpix developers"
copyright = "the badpix developers, MIT licence"
version = release = badpix.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",       # MathJax served from the build, so pages work offline
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "badpix_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# contracts.md is included into design.md
exclude_patterns = ["_build", "contracts.md", "examples", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "auto_examples/*.json",
                    "auto_examples/*.md5", "**/*.codeobj.json"]
templates_path: list[str] = []
html_static_path = ["_static"]
html_css_files = ["badpix.css"]

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_typehints = "none"          # numpydoc shows the types from the docstrings
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_xref_param_type = False

html_theme = "pydata_sphinx_theme"
html_title = f"badpix {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 8,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"changelog": [], "performance": [], "api": [], "cli": [], "design": []}
html_last_updated_fmt = None

# The examples run in the build; BADPIX_EXAMPLES_QUICK=1 shrinks their data (the test
# suite sets it), BADPIX_SHARED points at the shared data folder (default ../shared).
sphinx_gallery_conf = {
    "examples_dirs": str(HERE / "examples"),
    "gallery_dirs": str(HERE / "auto_examples"),
    "filename_pattern": r"/plot_",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "badpix_docs.ExampleOrder",
    "matplotlib_animations": False,
    "show_memory": False,
    "min_reported_time": 1e9,       # no per-example timings in the pages: they vary by machine
    "write_computation_times": False,
}
os.environ.setdefault("MPLBACKEND", "agg")
smartquotes = False  # keep "--option" as typed

# The manual, built by `make docs` (Sphinx, MyST Markdown pages, the Furo theme) into site/.
# -W: any warning (a broken link, a missing page, a reference that does not resolve) fails it.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # zoo.hookspecs and zoo.registry, for autodoc

project = "zoo"
author = "the zoo developers"
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3  # [text](page.md#a-heading) links resolve, and are checked
myst_enable_extensions = ["colon_fence"]
html_theme = "furo"
html_title = "zoo"
html_static_path = []
# The plugin API: the docstrings are the reference; napoleon reads their Google style.
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
nitpicky = False
suppress_warnings = []

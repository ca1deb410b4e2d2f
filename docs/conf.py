"""Sphinx configuration of the gixs API reference (built by .ci/run with -W)."""

import gixs

project = "gixs"
version = release = gixs.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
autodoc_default_options = {"members": True, "undoc-members": False}
autodoc_member_order = "bysource"
autodoc_typehints = "none"
source_suffix = {".rst": "restructuredtext"}
exclude_patterns = ["_build", "*.md"]
html_theme = "alabaster"
# public names re-exported by subpackage __init__; napoleon turns "ndarray, shape (n,)"
# into cross-references, and "shape" names several attributes
suppress_warnings = ["duplicate.python", "ref.python"]
napoleon_use_ivar = True  # Attributes sections as fields, not duplicate attribute entries


def _escape_bars(app, what, name, obj, options, lines):
    """Docstrings write |q|, |G| for magnitudes; RST would read them as substitutions."""
    import re

    for i, line in enumerate(lines):
        lines[i] = re.sub(r"(?<![\\`])\|([^|\s`][^|`]*?)\|", r"\\|\1\\|", line)


def setup(app):
    app.connect("autodoc-process-docstring", _escape_bars)

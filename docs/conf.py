"""Sphinx configuration of gnnrec's reference (built in CI with warnings as errors)."""
import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "gnnrec"
author = "the gnnrec developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax"]
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "description"
html_theme = "furo"
html_title = "gnnrec"
exclude_patterns = ["_build"]
suppress_warnings = ["ref.python"]  # several registries re-export a class under two paths

"""Sphinx configuration: API reference from the docstrings."""

project = "ppl_reparam"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax"]
html_theme = "furo"

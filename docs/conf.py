"""Sphinx configuration: the guide pages and the API reference from the docstrings.

Build with ``bash scripts/docs.sh`` (``sphinx-build -W -n --keep-going``: warnings are
errors and every cross-reference must resolve).

Cross-references into other projects (Python, NumPy, PyTorch, Pyro, JAX, NumPyro) resolve
through intersphinx only when ``DOCS_INTERSPHINX=1`` is set, since fetching an inventory
needs the network and an unreachable one is a warning, hence an error under ``-W``. Without
it (the default: offline builds and CI) those targets render as plain text and
``nitpick_ignore_regex`` below lists them, so a reference to this project's own objects
must still resolve.
"""

import importlib
import os
import re
import sys
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # document this checkout, not an installed copy

project = "ppl_reparam"
author = "the ppl_reparam authors"
copyright = "the ppl_reparam authors"  # noqa: A001 (Sphinx's name)
release = version = __import__("ppl_reparam").__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "myst_parser",  # the guide pages are Markdown, like the README they grew from
]
myst_heading_anchors = 3  # [text](page.md#a-heading) links
myst_enable_extensions = ["colon_fence", "dollarmath"]
html_theme = "furo"
# _static holds the examples' figures (gallery/) once scripts/gallery.sh has made them
html_static_path = ["_static"] if (ROOT / "docs" / "_static").is_dir() else []
html_title = f"ppl_reparam {release}"
exclude_patterns = ["_build", "snippets", "Thumbs.db", ".DS_Store"]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
# list what this project defines: a method without its own docstring (an override of
# torch's or NumPyro's ``expand``, ``log_prob``) is the host's, documented there
autodoc_inherit_docstrings = False

# Targets in other projects: resolved by intersphinx when it is on, plain text otherwise.
EXTERNAL = [
    "builtins",
    "collections",
    "typing",
    "pathlib",
    "numpy",
    "torch",
    "pyro",
    "jax",
    "jaxlib",
    "numpyro",
    "optax",
    "diffrax",
    "torchdiffeq",
    "arviz",
    "xarray",
    "tqdm",
]
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", rf"{name}(\..*)?") for name in EXTERNAL]
# private modules (``ppl_reparam._fit``, ``._guides``) that docstrings name as where a rule
# lives: they are not part of the reference, so their names render as text
nitpick_ignore_regex.append((r"py:.*", r"ppl_reparam(\.\w+)*\._\w+(\..*)?"))

if os.environ.get("DOCS_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_timeout = 10
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "torch": ("https://pytorch.org/docs/stable", None),
        "pyro": ("https://docs.pyro.ai/en/stable", None),
        "jax": ("https://docs.jax.dev/en/latest", None),
        "numpyro": ("https://num.pyro.ai/en/stable", None),
        "arviz": ("https://python.arviz.org/en/stable", None),
    }


_SHARED_PARAM = re.compile(r"^(\s*):param (\w+(?:,\s+\w+)+):(.*)$")


def split_shared_params(app, what, name, obj, options, lines: list[str]) -> None:
    """``:param rtol, atol: text`` (one description for several parameters, as the
    docstrings write it; the list of names may continue on the next line) becomes one
    ``:param name:`` field per name, since Sphinx would read the first name as a type."""
    joined: list[str] = []
    for line in lines:
        if joined and re.match(r"^\s*:param [\w, ]+,$", joined[-1]):
            joined[-1] += " " + line.strip()  # the list of names goes on
        else:
            joined.append(line)
    out = []
    for line in joined:
        match = _SHARED_PARAM.match(line)
        if match is None:
            out.append(line)
            continue
        indent, names, text = match.groups()
        first, *others = re.split(r",\s+", names)
        out.append(f"{indent}:param {first}:{text}")
        out.extend(f"{indent}:param {other}: as ``{first}``." for other in others)
    lines[:] = out


def _resolve(path: str):
    """The Python object a dotted ``path`` names, or None."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr, None)
        return obj
    return None


def link_shared_objects(app, env, node, contnode):
    """A reference to a NumPyro-backend name that is the very object of the Pyro backend
    (``FitResult``, ``NonFiniteLossError``, ``ode.Status``: one class, imported by both)
    links to its one entry, on the Pyro page; any other missing reference stays an error."""
    if node.get("refdomain") != "py":
        return None
    target, module = node["reftarget"], node.get("py:module") or ""
    full = target if target.startswith("ppl_reparam.") else f"{module}.{target}"
    if not full.startswith("ppl_reparam.numpyro."):
        return None
    pyro_full = "ppl_reparam.pyro." + full.removeprefix("ppl_reparam.numpyro.")
    obj = _resolve(full)
    if obj is None or obj is not _resolve(pyro_full):
        return None
    return env.domains["py"].resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], pyro_full, node, contnode
    )


class GalleryFigure(SphinxDirective):
    """``gallery-figure NAME`` with a caption as content: the example's figure
    ``_static/gallery/NAME`` (made by ``bash scripts/gallery.sh``, which runs every example
    and copies its PNGs there) if this checkout has it, else a note saying how to make it.
    The figures are build outputs of minutes of fitting, so a docs build never waits for
    them nor fails without them."""

    required_arguments = 1
    has_content = True

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        caption = " ".join(self.content).strip()
        if (Path(self.env.srcdir) / "_static" / "gallery" / name).is_file():
            figure = nodes.figure()
            alt = re.sub(r"[`$\\]", "", caption) or name  # the caption as plain text
            figure += nodes.image(uri=f"/_static/gallery/{name}", alt=alt)
            if caption:
                inline, _ = self.parse_inline(caption, lineno=self.lineno)
                figure += nodes.caption("", "", *inline)
            return [figure]
        note = nodes.note()
        note += nodes.paragraph(
            text=f"Figure {name} is not in this checkout: run bash scripts/gallery.sh "
            f"and rebuild. ({caption})"
        )
        return [note]


def setup(app) -> None:
    app.add_directive("gallery-figure", GalleryFigure)
    app.connect("autodoc-process-docstring", split_shared_params)
    app.connect("missing-reference", link_shared_objects)

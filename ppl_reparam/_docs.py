"""One docstring, two public names: docstrings written once beside the shared code and
given to each backend's public class or function (no torch or jax import)."""

import re
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_FIELD = re.compile(r"\{(\w+)\}")


def fill(template: str, **fields: str) -> str:
    """``template`` with each ``{name}`` of ``fields`` replaced by its value.

    Only the names given are replaced, so LaTeX braces (``\\text{...}``) and the
    ``{name}`` of an f-string shown in the text survive. A backend passes the same
    ``fields`` to every docstring it copies; a template uses those it needs.
    """

    def replace(match: re.Match) -> str:
        name = match.group(1)
        return fields[name] if name in fields else match.group(0)

    return _FIELD.sub(replace, template)


def copy_docs_from(source: Any, **fields: str) -> Callable[[T], T]:
    """Decorator giving a class or function the docstring of ``source`` (an object, or a
    string) with the ``fields`` filled in (see :func:`fill`), as Pyro's
    ``copy_docs_from`` gives one docstring to two names.

    Example::

        @copy_docs_from(_relax.RelaxedModel, framework="Pyro")
        class RelaxedModel(_relax.RelaxedModel): ...
    """
    template = source if isinstance(source, str) else source.__doc__
    if not template:
        raise ValueError(f"copy_docs_from: {source!r} has no docstring")
    doc = fill(template, **fields)

    def decorate(target: T) -> T:
        target.__doc__ = doc
        return target

    return decorate

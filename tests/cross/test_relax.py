"""relax in both backends: the temperature has one source, the relaxed model, and the
public names of relax and guides carry the shared docstrings filled in per backend."""

import importlib
import re

import pytest

from ppl_reparam._docs import fill
from ppl_reparam.schedules import ExponentialDecay
from tests.backends import BACKEND_NAMES

PUBLIC = {
    "relax": ["RelaxReparam", "RelaxStrategy", "RelaxedModel", "relax", "choose", "is_relaxable"],
    "guides": ["AutoPathwiseGuide"],
}


def _module(backend_name: str, name: str):
    return importlib.import_module(f"ppl_reparam.{backend_name}.{name}")


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
def test_the_temperature_is_what_was_given_and_read_only(backend_name):
    relax = _module(backend_name, "relax").relax
    schedule = ExponentialDecay(1.0, 0.05, floor=0.1)
    relaxed = relax(lambda: None, schedule)
    assert relaxed.temperature is schedule
    assert relaxed.temperature_at(10) == schedule(10)
    with pytest.raises(AttributeError):
        relaxed.temperature = 0.5
    fixed = relax(lambda: None, 0.3)
    assert fixed.temperature == 0.3 and fixed.temperature_at(7) == 0.3


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
def test_public_names_carry_the_shared_docstrings_filled_in(backend_name):
    docs = importlib.import_module(f"ppl_reparam.{backend_name}._backend").BACKEND.docs
    for module_name, names in PUBLIC.items():
        module = _module(backend_name, module_name)
        for name in names:
            obj = getattr(module, name)
            assert obj.__module__ == module.__name__, name
            doc = obj.__doc__
            assert doc and doc.strip(), name
            left = {f for f in re.findall(r"\{(\w+)\}", doc) if f in docs}
            assert not left, (name, left)
            # the backend's own names, not the other backend's
            other = "numpyro" if backend_name == "pyro" else "pyro"
            assert f"ppl_reparam.{other}." not in doc, name
    guide = _module(backend_name, "guides").AutoPathwiseGuide
    assert guide.median.__doc__ and guide.quantiles.__doc__


def test_fill_replaces_only_the_named_fields():
    template = r"a {backend} model, :math:`\text{x}`, ``f\"{name}\"``, {missing}"
    assert fill(template, backend="pyro") == (
        r"a pyro model, :math:`\text{x}`, ``f\"{name}\"``, {missing}"
    )

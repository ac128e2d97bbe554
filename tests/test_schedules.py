"""Temperature schedules: values against their closed forms, update intervals, floors,
argument errors, and no backend import."""

import math
import subprocess
import sys

import numpy as np
import pytest

from ppl_reparam.schedules import Constant, ExponentialDecay, LinearDecay


def test_constant():
    assert [Constant(0.3)(t) for t in (0, 1, 10**9)] == [0.3, 0.3, 0.3]


def test_linear_decay_interpolates_then_holds_the_end():
    s = LinearDecay(2.0, 0.5, num_steps=10)
    assert s(0) == 2.0 and s(10) == 0.5 and s(1000) == 0.5
    assert math.isclose(s(4), 2.0 - 1.5 * 0.4)


def test_linear_decay_updates_every_n_steps():
    s = LinearDecay(1.0, 0.1, num_steps=100, update_every=10)
    assert s(0) == s(9) == 1.0
    assert s(10) == s(19) == pytest.approx(1.0 - 0.9 * 0.1)


def test_exponential_decay_is_the_gumbel_softmax_paper_schedule():
    # Jang et al. (2017): tau = max(0.5, exp(-r t)), updated every N = 500 steps.
    s = ExponentialDecay(start=1.0, rate=1e-4, floor=0.5, update_every=500)
    for t in [0, 1, 499, 500, 501, 1999, 2000, 6931, 6999, 7000, 10**6]:
        t_update = 500 * (t // 500)
        assert s(t) == pytest.approx(max(0.5, math.exp(-1e-4 * t_update)), rel=1e-15)
    assert s(10**6) == 0.5


def test_exponential_decay_reaches_low_temperatures_and_never_underflows():
    s = ExponentialDecay(start=2.0, rate=0.01, floor=0.01)
    values = np.array([s(t) for t in range(0, 2000, 7)])
    assert np.all(np.diff(values) <= 0) and values[-1] == 0.01
    assert s(10**12) == 0.01


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Constant(0.0), "`value` must be > 0"),
        (lambda: Constant(float("nan")), "`value` must be a finite real number"),
        (lambda: LinearDecay(1.0, -0.1, 10), "`end` must be > 0"),
        (lambda: LinearDecay(1.0, 0.1, 0), "`num_steps` must be an integer >= 1"),
        (lambda: LinearDecay(1.0, 0.1, 2.5), "`num_steps` must be an integer >= 1"),
        (lambda: ExponentialDecay(1.0, -1.0, 0.1), "`rate` must be >= 0"),
        (lambda: ExponentialDecay(1.0, 0.1, 0.0), "`floor` must be > 0"),
        (lambda: ExponentialDecay(1.0, 0.1, 2.0), "must not exceed `start`"),
        (lambda: ExponentialDecay(1.0, 0.1, 0.5, update_every=0), "`update_every` must be"),
        (lambda: ExponentialDecay(1.0, True, 0.5), "`rate` must be a finite real number"),
    ],
)
def test_invalid_arguments_name_the_parameter(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("step", [-1, 1.5, True])
def test_invalid_step(step):
    with pytest.raises(ValueError, match="`step` must be an integer >= 0"):
        Constant(1.0)(step)


def test_numpy_integers_are_steps():
    assert LinearDecay(1.0, 0.5, 10)(np.int64(5)) == 0.75


def test_importing_schedules_imports_no_backend():
    code = (
        "import sys, ppl_reparam.schedules; "
        "assert not {'torch', 'jax', 'numpy'} & set(sys.modules), sys.modules.keys()"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

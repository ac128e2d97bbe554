"""fit's multi-start phase, the backend-neutral part: scores, the choice of the best
start, the default number of starts; and the neutral ODE failure messages."""

import math
import subprocess
import sys

import numpy as np
import pytest

from ppl_reparam import _multistart, _ode


def test_score_is_the_mean_loss_over_the_last_half():
    assert _multistart.score([10.0, 8.0, 3.0, 5.0]) == 4.0
    assert _multistart.score([7.0, 1.0, 2.0]) == 1.5


@pytest.mark.parametrize("losses", [[], [1.0, math.nan], [1.0, 2.0, math.inf]])
def test_a_run_with_a_non_finite_loss_or_no_loss_scores_inf(losses):
    assert _multistart.score(losses) == math.inf


def test_best_start_keeps_the_lowest_score_and_its_losses():
    finals = [5.0, 2.0, math.nan, 3.0]
    calls = []

    def run(start, steps):
        calls.append((start, steps))
        return f"state{start}", [100.0] * steps + [finals[start]] * steps

    state, losses, scores = _multistart.best_start(run, 4, 3)
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert state == "state1" and losses == [100.0] * 3 + [2.0] * 3
    assert scores == [5.0, 2.0, math.inf, 3.0]


def test_default_starts_only_for_models_that_solve_an_ode_or_fits_of_discrete_latents():
    assert _multistart.resolve_num_starts(None, solves_ode=False) == 1
    assert _multistart.resolve_num_starts(None, solves_ode=True) == _multistart.ODE_NUM_STARTS
    assert _multistart.resolve_num_starts(3, solves_ode=False) == 3
    discrete = _multistart.resolve_num_starts(None, False, discrete=True)
    assert discrete == _multistart.DISCRETE_NUM_STARTS
    assert _multistart.resolve_num_starts(1, False, discrete=True) == 1


def test_start_steps_are_a_tenth_of_the_budget_within_bounds():
    assert _multistart.start_steps(3000) == 300
    assert _multistart.start_steps(200) == 100
    assert _multistart.start_steps(50) == 50
    assert _multistart.start_steps(100_000) == 500


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "8"])
def test_num_starts_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="num_starts must be None or an integer >= 1"):
        _multistart.check_num_starts(bad)


def test_failure_lines_name_the_solve_the_first_failed_trajectory_and_the_values():
    records = [
        _ode.status_message("fine", np.zeros(3, dtype=int), 100),
        _ode.status_message("lv", np.array([0, _ode.Status.NON_FINITE, 1]), 100),
    ]
    (line,) = _ode.failure_lines(records, {"theta": np.array([0.5, 2.0])})
    assert line.startswith("ODE solve 'lv' at batch index [1]: produced a non-finite state")
    assert "theta=[0.5, 2. ]" in line


def test_batching_rule():
    assert _ode.split_batch((4, 5, 2), state_ndim=1) == ((4, 5), (2,))
    assert _ode.split_batch((2,), state_ndim=1) == ((), (2,))
    assert _ode.is_batched_leaf((4, 5, 3), (4, 5))
    assert not _ode.is_batched_leaf((5, 3), (4, 5))
    assert not _ode.is_batched_leaf((4,), ())  # nothing is batched without a batch


def test_shared_modules_import_no_backend():
    code = (
        "import sys, ppl_reparam._multistart, ppl_reparam._ode; "
        "assert not {'torch', 'jax'} & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

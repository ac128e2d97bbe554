"""The conditional draws of the REBAR estimator against rejection sampling (NumPy)."""

import numpy as np
import pytest
from scipy.stats import ks_2samp

from ppl_reparam import _rebar
from tests.backends import numpy_xp as xp

N = 20_000


@pytest.mark.parametrize("category", [0, 1, 2])
def test_conditional_gumbel_has_the_law_of_the_perturbed_logits_given_their_argmax(category):
    rng = np.random.default_rng(category)
    logits = np.array([0.5, -1.0, 0.3])
    log_pi = logits - np.log(np.exp(logits).sum())
    z = log_pi + rng.gumbel(size=(6 * N, 3))
    kept = z[z.argmax(-1) == category][:N]  # rejection: z given argmax z = category
    onehot = np.eye(3)[np.full(N, category)]
    draws = _rebar.conditional_gumbel(xp, rng.uniform(size=(N, 3)), logits, onehot)
    assert np.all(draws.argmax(-1) == category)
    for k in range(3):
        assert ks_2samp(draws[:, k], kept[:, k]).pvalue > 1e-3


@pytest.mark.parametrize("bit", [0.0, 1.0])
def test_conditional_logistic_has_the_law_of_the_perturbed_logit_given_its_sign(bit):
    rng = np.random.default_rng(int(bit))
    logit = 1.2
    z = logit + rng.logistic(size=8 * N)
    kept = z[(z > 0) == bool(bit)][:N]
    draws = _rebar.conditional_logistic(xp, rng.uniform(size=N), np.full(N, logit), bit)
    assert np.all((draws > 0) == bool(bit))
    assert ks_2samp(draws, kept).pvalue > 1e-3


def test_conditional_draws_stay_finite_and_on_their_side_for_extreme_logits():
    u = np.array([np.finfo(np.float64).tiny, 1e-12, 0.5, 1.0 - 1e-16])
    for logit in (-40.0, 40.0):
        for bit in (0.0, 1.0):
            z = _rebar.conditional_logistic(xp, u, np.full(4, logit), bit)
            # on the closed side: a draw at the boundary rounds to 0 for |logit| = 40
            assert np.all(np.isfinite(z)) and np.all(z >= 0 if bit else z <= 0)
    logits = np.array([0.0, -200.0, 200.0])
    for category in range(3):
        onehot = np.eye(3)[np.full(4, category)]
        z = _rebar.conditional_gumbel(xp, np.stack([u] * 3, -1), logits, onehot)
        assert np.all(np.isfinite(z)) and np.all(z.argmax(-1) == category)

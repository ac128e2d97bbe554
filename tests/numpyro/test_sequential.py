"""Discrete latent sites in sequential models (NumPyro): ``relax`` and
RelaxedControlVariateELBO reach the sites inside ``scan`` and ``markov``."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro import handlers
from numpyro.contrib.control_flow import scan
from numpyro.contrib.funsor import markov
from numpyro.infer import init_to_median
from numpyro.infer.util import log_density

from ppl_reparam.numpyro.estimators import RelaxedControlVariateELBO
from ppl_reparam.numpyro.guides import AutoPathwiseGuide
from ppl_reparam.numpyro.infer import fit
from ppl_reparam.numpyro.relax import choose, relax
from tests import hmm_reference as ref

TRANS, LOCS = jnp.asarray(ref.TRANS), jnp.asarray(ref.LOCS)


def scan_hmm(a, y):
    def body(carry, xs):
        probs, a_mean = carry
        a_t, y_t = xs
        numpyro.sample("a", dist.Normal(a_mean, 1.0), obs=a_t)
        z = numpyro.sample("z", dist.Categorical(probs))
        numpyro.sample("y", dist.Normal(choose(z, LOCS), 1.0), obs=y_t)
        # carry what z selects, not z: it keeps one type when z is relaxed
        return (choose(z, TRANS), choose(z, jnp.asarray(ref.A_LOCS))), None

    scan(body, (jnp.asarray(ref.INIT), jnp.asarray(ref.A_INIT)), (a, y))


def loop_hmm(a, y, steps=range):
    probs, a_mean = jnp.asarray(ref.INIT), jnp.asarray(ref.A_INIT)
    for t in steps(len(y)):
        numpyro.sample(f"a_{t}", dist.Normal(a_mean, 1.0), obs=a[t])
        z = numpyro.sample(f"z_{t}", dist.Categorical(probs))
        numpyro.sample(f"y_{t}", dist.Normal(choose(z, LOCS), 1.0), obs=y[t])
        probs, a_mean = choose(z, TRANS), choose(z, jnp.asarray(ref.A_LOCS))


def test_relax_in_a_scan_gives_the_log_joint_of_the_python_loop_and_of_markov():
    a, y = jnp.asarray(ref.A), jnp.asarray(ref.Y)
    # fixed relaxed values (log space), far from the vertices
    values = jnp.log(jax.nn.softmax(jnp.asarray(ref.LOGITS) * 0.7, -1))
    scanned = relax(scan_hmm, 0.6)
    trace = handlers.trace(handlers.seed(scanned, 0)).get_trace(a, y)
    assert trace["z_relaxed"]["value"].shape == (3, 2)
    assert trace["z"]["type"] == "deterministic"
    expected, _ = log_density(scanned, (a, y), {}, {"z_relaxed": values})
    for steps in (range, lambda n: markov(range(n))):
        looped = relax(loop_hmm, 0.6)
        data = {f"z_{t}_relaxed": values[t] for t in range(3)}
        got, _ = log_density(looped, (a, y, steps), {}, data)
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_a_scan_carrying_the_relaxed_site_itself_is_an_error_naming_it():
    def model(y):
        def body(z_prev, y_t):
            z = numpyro.sample("z", dist.Categorical(TRANS[z_prev]))
            numpyro.sample("y", dist.Normal(choose(z, LOCS), 1.0), obs=y_t)
            return z, None

        scan(body, 0, y)

    with pytest.raises(TypeError, match=r"relax: a scan body over sites \['z_relaxed', 'z'"):
        handlers.seed(relax(model, 0.5), 0)(jnp.asarray(ref.Y))
    estimator = RelaxedControlVariateELBO()
    guide = AutoPathwiseGuide(model)
    with pytest.raises(TypeError, match=r"RelaxedControlVariateELBO: a scan body .*'z'"):
        fit(model, guide, jnp.asarray(ref.Y), num_steps=2, loss=estimator, progress_bar=False)


def test_the_estimate_inside_a_scan_is_the_exact_gradient():
    # replicates in a plate inside the body: one compiled run gives all the draws; the
    # site `a` precedes z in the body and depends on z at the step before, so a cost
    # that followed program order without time would be biased
    reps = 3000
    theta = jnp.broadcast_to(jnp.asarray(ref.LOGITS)[:, None], (3, reps, 2))

    def model(a, y):
        def body(carry, xs):
            probs, a_mean = carry
            a_t, y_t = xs
            with numpyro.plate("rep", reps):
                numpyro.sample("a", dist.Normal(a_mean, 1.0), obs=a_t)
                z = numpyro.sample("z", dist.Categorical(probs))
                numpyro.sample("y", dist.Normal(choose(z, LOCS), 1.0), obs=y_t)
            return (choose(z, TRANS), choose(z, jnp.asarray(ref.A_LOCS))), None

        init = (jnp.tile(jnp.asarray(ref.INIT), (reps, 1)), jnp.full(reps, ref.A_INIT))
        scan(body, init, (a, y))

    def guide(a, y):
        with numpyro.plate("rep", reps):
            numpyro.sample("z", dist.Categorical(logits=numpyro.param("theta", theta)))

    elbo = RelaxedControlVariateELBO(cv_scale=1.5, temperature=0.3)
    params = {"theta": theta, "z_cv_scale": 1.5, "z_cv_log_temperature": jnp.log(0.3)}
    args = (jnp.asarray(ref.A), jnp.asarray(ref.Y))
    grads = jax.jit(jax.grad(lambda p: elbo.loss(jax.random.key(1), p, model, guide, *args)))
    draws = -np.moveaxis(np.asarray(grads(params)["theta"]), 1, 0)  # (reps, T, K)
    se = draws.std(0) / np.sqrt(reps)
    z = (draws.mean(0) - ref.exact_gradient(ref.LOGITS)) / se
    assert np.all(np.abs(z) < 3.5), z


@pytest.mark.slow  # ~12 s, nearly all compilation
def test_fit_trains_a_relaxed_scan_hmm_with_autopathwiseguide():
    # two well-separated states, persistent: the fitted emission means find them
    states = np.repeat([0, 1, 0, 1], 8)
    y = jnp.asarray(ref.LOCS[states] * 3 + 0.3 * np.random.default_rng(0).normal(size=32))

    def model(y):
        locs = numpyro.sample("locs", dist.Normal(jnp.array([-2.0, 2.0]), 3.0).to_event(1))

        def body(probs, y_t):
            z = numpyro.sample("z", dist.Categorical(probs))
            numpyro.sample("y", dist.Normal(choose(z, locs), 0.3), obs=y_t)
            return choose(z, TRANS), None

        scan(body, jnp.asarray(ref.INIT), y)

    relaxed = relax(model, 0.5)
    guide = AutoPathwiseGuide(relaxed)
    result = fit(relaxed, guide, y, num_steps=1000, progress_bar=False)
    # the posterior sd of each mean is 0.3 / sqrt(16) = 0.075
    np.testing.assert_allclose(guide.median(result.params)["locs"], ref.LOCS * 3, atol=0.3)


def test_the_guide_starts_a_scan_site_with_one_set_of_logits_per_time_step():
    # the conditional start of a site inside a scan keeps the scan's time axis: before,
    # it summed over time, the guide drew one state for all 6 steps, and fit's first
    # step failed with JAX's "carry types differ" (float32[2] against float32[1, 2])
    y = jnp.asarray([-3.0, -3.1, 2.9, 3.2, -2.8, 3.0])

    def model(y):
        locs = numpyro.sample("locs", dist.Normal(jnp.array([-3.0, 3.0]), 0.1).to_event(1))

        def body(probs, y_t):
            z = numpyro.sample("z", dist.Categorical(probs))
            numpyro.sample("y", dist.Normal(choose(z, locs), 1.0), obs=y_t)
            return choose(z, TRANS), None

        scan(body, jnp.asarray(ref.INIT), y)

    guide = AutoPathwiseGuide(model, init_loc_fn=init_to_median)  # locs start at -3, 3
    handlers.seed(guide._setup_prototype, 0)(y)
    logits = guide._init_params["z"]["logits"]
    assert logits.shape == (6, 2)
    # each step's start favours the state whose emission mean is near its datum
    np.testing.assert_array_equal(np.argmax(logits, -1), [0, 0, 1, 1, 0, 1])
    result = fit(model, AutoPathwiseGuide(model), y, num_steps=3, progress_bar=False)
    assert np.all(np.isfinite(result.losses))

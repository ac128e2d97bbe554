"""RelaxedControlVariateELBO in both backends: unbiased against the exact enumerated
gradient, its variance against the relaxed and score-function estimators, the same
numbers in both backends for the same draws, and the discrete family of
AutoPathwiseGuide."""

import functools
import importlib

import numpy as np
import pytest
from scipy.special import logsumexp

from tests.backends import BACKEND_NAMES
from tests.discrete_draws import numpyro_draws, pyro_draws, upstream_draws
from tests.discrete_reference import (
    BERNOULLI_LOGITS,
    BERNOULLI_X,
    MEANS,
    MIXTURE_LOGITS,
    MIXTURE_X,
    P1,
    WEIGHTS,
    exact_gradient,
)
from tests.discrete_reference import log_joint as log_joint_of

DRAWS = {"pyro": pyro_draws, "numpyro": numpyro_draws}
LOGITS = {"bernoulli": BERNOULLI_LOGITS, "mixture": MIXTURE_LOGITS}


def _half_and_half(model: str, reps: int) -> np.ndarray:
    """Per-replicate logits: 0 in the first half, the model's non-zero logits after."""
    nonzero = LOGITS[model]
    zero = np.zeros_like(nonzero)
    return np.stack([zero] * (reps // 2) + [nonzero] * (reps // 2))


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
@pytest.mark.parametrize("model", ["bernoulli", "mixture"])
def test_the_mean_estimate_is_the_exact_gradient_for_any_scale_and_temperature(backend_name, model):
    reps = 4000
    logits = _half_and_half(model, reps)
    half = reps // 2
    estimators = [("rebar", {"cv_scale": 1.5, "temperature": 0.3})]
    if backend_name == "pyro":  # the check can fail: the relaxed gradient is biased
        estimators.append(("relaxed", {}))
    for estimator, options in estimators:
        draws = DRAWS[backend_name](model, logits, estimator, reps, seed=1, **options)
        z = []
        for part in (slice(None, half), slice(half, None)):
            g = draws[part]
            se = g.std(0) / np.sqrt(len(g))
            z.append((g.mean(0) - exact_gradient(model, logits[part][0])) / se)
        z = np.abs(np.concatenate([np.ravel(a) for a in z]))
        if estimator == "rebar":
            assert np.all(z < 3), z
        else:
            assert np.max(z) > 5, z


@functools.cache
def _variances(model: str) -> dict:
    """Variances (mean over elements) at logits 0, 1000 draws each: the tuned estimate
    (60 steps), the relaxed and Rao-Blackwellised score-function estimates (Pyro; the
    same draws give the same numbers in NumPyro, tested below), and the plain
    score-function estimate users get without this library: Pyro's own Trace_ELBO on
    the model written without a data plate (the whole run's ELBO as every label's
    learning signal; the bit has no plate), with its max |mean - exact| / se."""
    variance = {
        estimator: pyro_draws(model, 0.0, estimator, 1000, seed=2, tune_steps=tune).var(0).mean()
        for estimator, tune in [("rebar", 60), ("relaxed", 0), ("score", 0)]
    }
    plain = upstream_draws("pyro", model, 0.0, "Trace_ELBO", 1000, seed=2, data_plate=False)
    exact = exact_gradient(model, np.zeros(plain.shape[1:]))
    z = np.abs(plain.mean(0) - exact) / (plain.std(0) / np.sqrt(len(plain)))
    return {**variance, "plain": plain.var(0).mean(), "plain_z": np.max(z)}


@pytest.mark.parametrize("model", ["bernoulli", "mixture"])
def test_the_tuned_estimate_has_about_the_relaxed_variance_over_10x_below_plain_score(model):
    variance = _variances(model)
    assert variance["plain_z"] < 3.5, variance  # the comparison is with an unbiased estimate
    assert variance["rebar"] < 3 * variance["relaxed"], variance
    # measured: ~700x on the bit, ~28x on the mixture (benchmarks/discrete.py)
    assert variance["plain"] > 10 * variance["rebar"], variance


@pytest.mark.parametrize(
    "model",
    [
        "bernoulli",
        pytest.param(
            "mixture",
            marks=pytest.mark.xfail(
                strict=True,
                reason="the Rao-Blackwellised score-function variance is 4-5x (not >= 10x) "
                "the tuned estimate's on the K=3 mixture (benchmarks/discrete.py); a known gap",
            ),
        ),
    ],
)
def test_the_tuned_estimate_is_over_10x_below_the_rao_blackwellised_score_functions(model):
    variance = _variances(model)
    # the bar is 10x; measured: ~700x on the bit, 4-5x on the mixture (benchmarks/discrete.py)
    assert variance["score"] > 10 * variance["rebar"], variance


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
def test_autopathwiseguide_starts_discrete_sites_at_their_conditional_law(backend_name):
    # the models have no other latent site: the conditional is the exact posterior.
    # NumPyro: the mixture only (its guide's setup compiles for seconds; the code that
    # tells a bit from a category is shared, and Pyro checks both)
    models = [("mixture", "z"), ("bernoulli", "b")][: 2 if backend_name == "pyro" else 1]
    for model, site in models:
        logits = _initial_logits(backend_name, model)[site]
        log_joint = log_joint_of(model)
        if model == "mixture":
            expected = log_joint - logsumexp(log_joint, -1, keepdims=True)
        else:
            expected = log_joint[1] - log_joint[0]
        np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)


def _initial_logits(backend_name: str, model_name: str) -> dict:
    """The initial logits of AutoPathwiseGuide's discrete sites on a model of
    :mod:`tests.discrete_reference` (one copy)."""
    relax = importlib.import_module(f"ppl_reparam.{backend_name}.relax")
    guides = importlib.import_module(f"ppl_reparam.{backend_name}.guides")
    if backend_name == "pyro":
        import pyro as ppl
        import pyro.distributions as dist
        import torch as xp

        def array(a):
            return xp.as_tensor(np.asarray(a, np.float64))
    else:
        import jax.numpy as xp
        import numpyro as ppl
        import numpyro.distributions as dist

        def array(a):
            return xp.asarray(np.asarray(a, np.float32))

    if model_name == "mixture":

        def model():
            with ppl.plate("data", len(MIXTURE_X)):
                z = ppl.sample("z", dist.Categorical(array(WEIGHTS)))
                ppl.sample(
                    "x", dist.Normal(relax.choose(z, array(MEANS)), 1.0), obs=array(MIXTURE_X)
                )

    else:

        def model():
            b = ppl.sample("b", dist.Bernoulli(array(P1)))
            with ppl.plate("obs", len(BERNOULLI_X)):
                ppl.sample("x", dist.Normal(2 * b - 1, 1.0), obs=array(BERNOULLI_X))

    guide = guides.AutoPathwiseGuide(model)
    if backend_name == "pyro":
        guide()
        return {
            name: getattr(guide.logits, name).detach().numpy()
            for name in ("z", "b")
            if hasattr(guide.logits, name)
        }
    import jax
    from numpyro import handlers

    trace = handlers.trace(handlers.seed(guide, jax.random.key(0))).get_trace()
    return {
        name.removesuffix("_auto_logits"): np.asarray(msg["value"])
        for name, msg in trace.items()
        if name.endswith("_auto_logits")
    }


def _pyro_surrogate(values, uniform):
    """ELBO and gradients of the surrogate of the mixed model, with the guide's draws
    fixed to ``values`` and the noise from ``uniform`` (Pyro)."""
    import pyro
    import pyro.distributions as dist
    import torch
    from pyro import poutine

    from ppl_reparam.pyro.estimators import RelaxedControlVariateELBO
    from ppl_reparam.pyro.relax import choose

    f64 = torch.float64
    pyro.clear_param_store()

    def model(x):
        mu = pyro.sample("mu", dist.Normal(torch.tensor(0.0, dtype=f64), 3.0))
        with pyro.plate("data", len(x)):
            z = pyro.sample("z", dist.Categorical(torch.as_tensor(WEIGHTS)))
            b = pyro.sample("b", dist.Bernoulli(torch.tensor(0.4, dtype=f64)))
            pyro.sample("x", dist.Normal(choose(z, torch.as_tensor(MEANS)) + b * mu, 1.0), obs=x)

    def guide(x):
        loc = pyro.param("loc", torch.tensor(0.5, dtype=f64))
        pyro.sample("mu", dist.Normal(loc, 1.0))
        with pyro.plate("data", len(x)):
            pyro.sample("z", dist.Categorical(logits=pyro.param("tz", torch.as_tensor(TZ))))
            pyro.sample("b", dist.Bernoulli(logits=pyro.param("tb", torch.as_tensor(TB))))

    fixed = poutine.Trace()
    for name, value in values.items():
        fixed.add_node(
            name,
            type="sample",
            is_observed=False,
            value=torch.as_tensor(np.asarray(value)),
            infer={},
        )
    elbo = RelaxedControlVariateELBO(cv_scale=1.3, temperature=0.7)
    x = torch.as_tensor(X)
    value, surrogate = elbo._estimate(
        model, poutine.replay(guide, trace=fixed), (x,), {}, "rebar", uniform(torch.as_tensor)
    )
    surrogate.backward()
    store = pyro.get_param_store()
    return float(value.detach()), {n: store[n].unconstrained().grad.numpy() for n in store.keys()}


def _numpyro_surrogate(values, uniform):
    """As :func:`_pyro_surrogate`, in NumPyro."""
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro import handlers

    from ppl_reparam.numpyro.estimators import RelaxedControlVariateELBO
    from ppl_reparam.numpyro.relax import choose

    def model(x):
        mu = numpyro.sample("mu", dist.Normal(0.0, 3.0))
        with numpyro.plate("data", len(x)):
            z = numpyro.sample("z", dist.Categorical(jnp.asarray(WEIGHTS)))
            b = numpyro.sample("b", dist.Bernoulli(0.4))
            numpyro.sample("x", dist.Normal(choose(z, jnp.asarray(MEANS)) + b * mu, 1.0), obs=x)

    def guide(x):
        numpyro.sample("mu", dist.Normal(numpyro.param("loc", 0.5), 1.0))
        with numpyro.plate("data", len(x)):
            numpyro.sample("z", dist.Categorical(logits=numpyro.param("tz", jnp.asarray(TZ))))
            numpyro.sample("b", dist.Bernoulli(logits=numpyro.param("tb", jnp.asarray(TB))))

    elbo = RelaxedControlVariateELBO(cv_scale=1.3, temperature=0.7)
    params = {
        "loc": jnp.asarray(0.5),
        "tz": jnp.asarray(TZ),
        "tb": jnp.asarray(TB),
        "z_cv_scale": jnp.asarray(1.3),
        "z_cv_log_temperature": jnp.log(0.7),
        "b_cv_scale": jnp.asarray(1.3),
        "b_cv_log_temperature": jnp.log(0.7),
    }
    guide = handlers.substitute(guide, data={n: jnp.asarray(v) for n, v in values.items()})

    def surrogate(p):
        key = jax.random.key(0)
        value, s = elbo._estimate(key, p, model, guide, (jnp.asarray(X),), {}, uniform(jnp.asarray))
        return s, value

    # compiled (XLA's backend optimisations off: the fastest compile) rather than eager
    compiled = jax.jit(
        jax.grad(surrogate, has_aux=True), compiler_options={"xla_backend_optimization_level": 0}
    )
    grads, value = compiled(params)
    return float(value), {n: np.asarray(g) for n, g in grads.items()}


X = np.array([-1.5, 0.4, 2.8, 0.1])
TZ = np.array([[0.5, -1.0, 0.3], [2.0, 0.0, -1.5], [-0.7, 0.2, 1.1], [0.0, 0.0, 0.0]])
TB = np.array([0.3, -1.2, 2.0, 0.0])


def test_both_backends_give_the_same_elbo_and_gradients_for_the_same_draws():
    values = {"mu": 0.8, "z": np.array([0, 2, 1, 2]), "b": np.array([1.0, 0.0, 1.0, 0.0])}
    results = []
    for surrogate in (_pyro_surrogate, _numpyro_surrogate):
        rng = np.random.default_rng(3)

        def uniform(as_array, rng=rng):
            return lambda like: as_array(rng.uniform(size=like.shape))

        results.append(surrogate(values, uniform))
    (pyro_value, pyro_grads), (numpyro_value, numpyro_grads) = results
    np.testing.assert_allclose(pyro_value, numpyro_value, rtol=1e-12)
    assert set(pyro_grads) == set(numpyro_grads)
    for name, grad in pyro_grads.items():
        np.testing.assert_allclose(grad, numpyro_grads[name], rtol=1e-10, atol=1e-12)
        assert np.any(grad != 0.0), name


def test_the_estimate_stays_unbiased_when_the_data_plate_is_subsampled():
    # each step sees 2 of the 3 points, weighted 3/2; the replicates share the batch, so
    # given the batch the estimate is 3/2 of the exact gradient in it, 0 outside (Pyro)
    exact = exact_gradient("mixture", np.zeros((3, 3)))
    for seed in range(2):
        draws = pyro_draws("mixture", 0.0, "rebar", 4000, seed=seed, subsample_size=2)
        in_batch = ~np.all(draws == 0.0, axis=(0, 2))
        assert in_batch.sum() == 2
        g = draws[:, in_batch]
        z = (g.mean(0) - 1.5 * exact[in_batch]) / (g.std(0) / np.sqrt(len(g)))
        assert np.all(np.abs(z) < 3), z


LABEL_MEANS = np.array([-4.0, 0.0, 4.0])
LABELS = np.array([0, 1, 2, 2, 1, 0, 0, 2, 1, 1, 2, 0])
LABEL_X = LABEL_MEANS[LABELS] + 0.3 * np.random.default_rng(4).normal(size=len(LABELS))


def _fit_labels_pyro(steps: int):
    import pyro
    import pyro.distributions as dist
    import torch
    from pyro.infer import SVI
    from pyro.optim import Adam

    from ppl_reparam.pyro.estimators import RelaxedControlVariateELBO
    from ppl_reparam.pyro.guides import AutoPathwiseGuide
    from ppl_reparam.pyro.relax import choose

    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    means = torch.as_tensor(LABEL_MEANS, dtype=torch.float32)

    def model(x):
        with pyro.plate("data", len(x), subsample_size=6) as i:
            z = pyro.sample("z", dist.Categorical(torch.tensor([0.2, 0.3, 0.5])))
            pyro.sample("x", dist.Normal(choose(z, means), 1.0), obs=x[i])

    x = torch.as_tensor(LABEL_X, dtype=torch.float32)
    guide = AutoPathwiseGuide(model)
    guide(x)
    initial = guide.logits.z.detach().numpy().copy()
    svi = SVI(model, guide, Adam({"lr": 0.1}), RelaxedControlVariateELBO())
    for _ in range(steps):
        svi.step(x)
    eta = float(pyro.param("z_cv_scale").detach())
    return guide.site_families, initial, guide.median(x)["z"].numpy(), eta


def _fit_labels_numpyro(steps: int):
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    import optax
    from numpyro.infer import SVI

    from ppl_reparam.numpyro.estimators import RelaxedControlVariateELBO
    from ppl_reparam.numpyro.guides import AutoPathwiseGuide
    from ppl_reparam.numpyro.relax import choose

    means = jnp.asarray(LABEL_MEANS, jnp.float32)

    def model(x):
        with numpyro.plate("data", len(x), subsample_size=6) as i:
            z = numpyro.sample("z", dist.Categorical(jnp.array([0.2, 0.3, 0.5])))
            numpyro.sample("x", dist.Normal(choose(z, means), 1.0), obs=x[i])

    x = jnp.asarray(LABEL_X, jnp.float32)
    guide = AutoPathwiseGuide(model)
    svi = SVI(model, guide, optax.adam(0.1), RelaxedControlVariateELBO())
    state = svi.init(jax.random.key(0), x)
    params = svi.get_params(state)
    initial = np.asarray(params["z_auto_logits"])
    update = jax.jit(svi.update, compiler_options={"xla_backend_optimization_level": 0})
    for _ in range(steps):
        state, _ = update(state, x)
    params = svi.get_params(state)
    labels = np.asarray(guide.median(params)["z"])
    return guide.site_families, initial, labels, params.get("z_cv_scale")


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
def test_autopathwiseguide_gives_discrete_sites_their_family_and_learns_the_labels(backend_name):
    # NumPyro: the guide at its start (compiling the step would cost 5-10 s); the
    # estimator's numbers are those of Pyro for the same draws (test above)
    fit = {"pyro": _fit_labels_pyro, "numpyro": _fit_labels_numpyro}[backend_name]
    steps = 80 if backend_name == "pyro" else 0
    families, initial, labels, eta = fit(steps)
    assert families == {"z": "discrete"}
    # one set of logits per point, full size although the plate is subsampled: the prior's
    np.testing.assert_allclose(
        initial, np.broadcast_to(np.log([0.2, 0.3, 0.5]), (12, 3)), rtol=1e-6
    )
    assert eta is not None  # the guide declares the control-variate params
    if steps:
        np.testing.assert_array_equal(labels, LABELS)  # the median of a discrete site: its mode
        assert eta != 1.0  # the control-variate scale was tuned
    else:
        np.testing.assert_array_equal(labels, np.full(12, 2))  # the prior's mode


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
def test_fit_defaults_to_the_estimator_only_for_discrete_sites_left_to_the_guide(backend_name):
    relax = importlib.import_module(f"ppl_reparam.{backend_name}.relax").relax
    estimators = importlib.import_module(f"ppl_reparam.{backend_name}.estimators")
    if backend_name == "pyro":
        import pyro as ppl
        import pyro.distributions as dist
    else:
        import numpyro as ppl
        import numpyro.distributions as dist

    def model(enumerate=None):
        ppl.sample("mu", dist.Normal(0.0, 1.0))
        infer = {"enumerate": enumerate} if enumerate else {}
        with ppl.plate("data", 3):
            ppl.sample("b", dist.Bernoulli(0.3), infer=infer)
            ppl.sample("x", dist.Normal(0.0, 1.0), obs=np.zeros(3, np.float32) + 0.5)

    assert isinstance(estimators.default_loss(model, (), {}), estimators.RelaxedControlVariateELBO)
    for args, kwargs in [((), {"enumerate": "parallel"}), ((), {})]:
        target = relax(model, 0.5) if not kwargs else model
        loss = estimators.default_loss(target, args, kwargs)
        assert not isinstance(loss, estimators.RelaxedControlVariateELBO)


def test_fit_with_the_estimator_averages_the_last_quarter_of_the_iterates_by_default():
    # Pyro (NumPyro's loop applies the same default; compiling it would cost seconds)
    import pyro
    import pyro.distributions as dist
    import torch

    from ppl_reparam.pyro.guides import AutoPathwiseGuide
    from ppl_reparam.pyro.infer import fit
    from ppl_reparam.pyro.relax import choose

    x, means = torch.as_tensor(MIXTURE_X), torch.as_tensor(MEANS)

    def model():
        shift = pyro.sample("shift", dist.Normal(torch.tensor(0.0, dtype=x.dtype), 1.0))
        with pyro.plate("data", len(x)):
            z = pyro.sample("z", dist.Categorical(torch.as_tensor(WEIGHTS)))
            pyro.sample("x", dist.Normal(choose(z, means) + shift, 1.0), obs=x)

    def params(**options) -> np.ndarray:
        pyro.clear_param_store()
        guide = AutoPathwiseGuide(model)
        result = fit(model, guide, num_steps=8, num_starts=1, progress_bar=False, **options)
        return np.concatenate([np.ravel(v.detach().numpy()) for v in result.params.values()])

    default = params()
    np.testing.assert_allclose(default, params(average_last=2), rtol=1e-6)  # 8 // 4
    assert not np.allclose(default, params(average_last=1))  # the last iterate


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
def test_autopathwiseguide_rejects_a_discrete_site_with_event_dims_naming_it(backend_name):
    # before, the guide drew a wrongly shaped value and the model failed on its first use
    # of it with the backend's shape error
    match = r"AutoPathwiseGuide: discrete site 'z' reinterprets batch dims .*plates"
    if backend_name == "pyro":
        import pyro
        import pyro.distributions as dist
        import torch

        from ppl_reparam.pyro.guides import AutoPathwiseGuide

        def model():
            z = pyro.sample("z", dist.Bernoulli(0.3 * torch.ones(4)).to_event(1))
            pyro.sample("x", dist.Normal(z.sum(), 1.0), obs=torch.tensor(1.0))

        pyro.clear_param_store()
        with pytest.raises(NotImplementedError, match=match):
            AutoPathwiseGuide(model)()
    else:
        import jax.numpy as jnp
        import numpyro
        import numpyro.distributions as dist
        from numpyro import handlers

        from ppl_reparam.numpyro.guides import AutoPathwiseGuide

        def model():
            z = numpyro.sample("z", dist.Categorical(jnp.ones(3) / 3).expand([4]).to_event(1))
            numpyro.sample("x", dist.Normal(z.sum(), 1.0), obs=1.0)

        with pytest.raises(NotImplementedError, match=match):
            handlers.seed(AutoPathwiseGuide(model), 0)()

"""The distribution contract, checked generically over every public distribution.

One table (:mod:`tests.contract_registry`) lists each public distribution with
ordinary, batched and extreme parameters; every check below runs over it in both
backends, as the backends' own generic suites do (numpyro ``test/test_distributions.py``,
pyro ``tests/distributions/test_distributions.py``): shapes under ``expand`` and
``sample_shape``; a static ``support`` holding every draw, with finite ``log_prob``;
argument and sample validation as the host backend does it; goodness of fit of draws
against the density; ``cdf``/``icdf`` inverses; ``jit``/``vmap``/pytree (NumPyro);
pickling; and agreement of the two backends in float64.
"""

import functools
import pickle
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.special
import scipy.stats

from tests.backends import BACKEND_NAMES, get_backend
from tests.contract_registry import (
    BAD_CLIPS,
    BAD_PARAMS,
    CASES,
    CLIP_CASES,
    Case,
    N,
    build,
    case_by_id,
)

P_MIN = 1e-3  # goodness-of-fit threshold; the draws are seeded, so nothing flakes


def _marks(c: Case, keys) -> list:
    """The case's skip / strict xfail marks listed under any of ``keys``."""
    marks = [pytest.mark.skip(reason=c.skip[k]) for k in keys if k in c.skip]
    marks += [pytest.mark.xfail(reason=c.xfail[k], strict=True) for k in keys if k in c.xfail]
    return marks


def _params(check: str, select=lambda c: True, backends=BACKEND_NAMES):
    """``(case, backend name)`` pairs for ``check``, marked as the table says for
    ``check`` or ``check:backend``."""
    return [
        pytest.param(c, b, id=f"{b}-{c.id}", marks=_marks(c, (check, f"{check}:{b}")))
        for c in CASES
        if select(c)
        for b in backends
    ]


def _host(name: str) -> SimpleNamespace:
    """What the checks need from the host library beyond :class:`tests.backends.Backend`."""
    if name == "pyro":
        import torch
        from torch.distributions import biject_to

        return SimpleNamespace(
            check=lambda constraint, x: constraint.check(x),
            biject_to=biject_to,
            normal=lambda shape: get_backend(name).upstream.Normal(torch.zeros(shape), 1.0),
        )
    import jax.numpy as jnp
    from numpyro.distributions.transforms import biject_to

    return SimpleNamespace(
        check=lambda constraint, x: constraint(x),
        biject_to=biject_to,
        normal=lambda shape: get_backend(name).upstream.Normal(jnp.zeros(shape), 1.0),
    )


def _np(backend, x) -> np.ndarray:
    """``x`` as a float64 NumPy array of its own (writable, as torch wants)."""
    return np.array(backend.numpy(x), dtype=float)


def _fresh(backend, x):
    """A new array with the values and dtype of ``x`` (not the object a relaxed
    distribution remembers as its last draw)."""
    return backend.array(np.array(backend.numpy(x)), _dtype_name(x.dtype))


def _at_n(case: Case, values) -> tuple[np.ndarray, int]:
    """``values`` (m <= N along the leading axis) broadcast over the batch and repeated
    to N along the leading axis, and m: evaluated at the one shape every check uses."""
    values = np.asarray(values, dtype=float)
    m = values.shape[0]
    values = values.reshape((m,) + (1,) * (len(case.batch_shape) - values.ndim + 1))
    values = np.broadcast_to(values, (m,) + case.batch_shape)
    return np.resize(values, (N,) + case.batch_shape), m


def _draw_dtype(backend, d, case: Case) -> str:
    """The parameters' dtype; a transformed distribution draws in its base's dtype
    (NumPyro's Normal draws in the default float dtype whatever its parameters')."""
    if case.family == "SoftTruncated":
        return _dtype_name(backend.sample(d.base_dist, (), seed=0).dtype)
    return case.dtype


def _dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _assert_close(got, want, dtype: str) -> None:
    """Equal up to rounding: XLA may fuse and reassociate differently under jit. In
    float32 that moves a log density that cancels terms ~100 times larger (20 sd out,
    1000 categories at temperature 0.01) by ~1e-4 of its scale."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    scale = np.abs(want[np.isfinite(want)]).max(initial=0.0)
    rtol = 1e-4 if dtype == "float32" else 1e-11
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


# -- shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "name"), _params("shapes"))
def test_shapes_of_draws_and_log_prob_under_sample_shape_and_expand(case: Case, name: str):
    backend = get_backend(name)
    d = build(backend, case)
    batch, event = case.batch_shape, case.event_shape
    assert tuple(d.batch_shape) == batch
    assert tuple(d.event_shape) == event
    for sample_shape in [(), (N,)]:
        x = backend.sample(d, sample_shape, seed=case.seed)
        assert tuple(x.shape) == sample_shape + batch + event
        assert _dtype_name(x.dtype) == _draw_dtype(backend, d, case)
        assert tuple(d.log_prob(x).shape) == sample_shape + batch
    e = d.expand((N,) + batch)
    assert tuple(e.batch_shape) == (N,) + batch
    assert tuple(e.event_shape) == event
    x = backend.sample(e, (), seed=case.seed)
    assert tuple(x.shape) == (N,) + batch + event
    x = _fresh(backend, x)
    # The expanded distribution scores a value as the original does, broadcast.
    _assert_close(_np(backend, e.log_prob(x)), _np(backend, d.log_prob(x)), case.dtype)


@pytest.mark.parametrize(("case", "name"), _params("expand_error", lambda c: c.batch_shape))
def test_expand_to_an_impossible_shape_raises_as_the_backend_does(case: Case, name: str):
    backend, host = get_backend(name), _host(name)
    d = build(backend, case)
    bad = (case.batch_shape[0] + 1,) + case.batch_shape[1:]
    with pytest.raises(Exception) as upstream:
        host.normal(case.batch_shape).expand(bad)
    with pytest.raises(type(upstream.value)) as ours:
        d.expand(bad)
    # NumPyro words its own error for distributions; Pyro passes on torch's tensor error.
    if "distribution" in str(upstream.value):
        assert str(ours.value) == str(upstream.value)


@pytest.mark.parametrize(("case", "name"), _params("infer_shapes", lambda c: c.base is None))
def test_infer_shapes_from_argument_shapes(case: Case, name: str):
    backend = get_backend(name)
    cls = getattr(backend.dist, case.family)
    shapes = {k: np.shape(v) for k, v in case.arrays().items()}
    batch, event = cls.infer_shapes(**shapes)
    assert (tuple(batch), tuple(event)) == (case.batch_shape, case.event_shape)


# -- support -----------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "name"), _params("support"))
def test_support_is_static_and_holds_every_draw_with_finite_log_prob(case: Case, name: str):
    backend, host = get_backend(name), _host(name)
    d = build(backend, case, validate_args=True)
    support = d.support
    assert type(support.event_dim) is int
    assert support.event_dim == len(case.event_shape)
    assert support.is_discrete is False
    # A SoftTruncated's event_dim is its base's, known only per instance.
    if case.family != "SoftTruncated":
        assert type(type(d).support.event_dim) is int
    x = backend.sample(d, (N,), seed=case.seed)
    inside = _np(backend, host.check(support, x)).astype(bool)
    assert inside.all(), f"{(~inside).sum()} of {inside.size} draws outside {support}"
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Out-of-support")
        log_p = _np(backend, d.log_prob(x))
    assert np.isfinite(log_p).all(), f"{(~np.isfinite(log_p)).sum()} non-finite log_prob"


@pytest.mark.parametrize(("case", "name"), _params("biject_to"))
def test_biject_to_support_maps_finite_reals_to_finite_points_of_the_support(case, name):
    backend, host = get_backend(name), _host(name)
    d = build(backend, case)
    t = host.biject_to(d.support)
    shape = tuple(t.inverse_shape(case.event_shape))
    z = np.random.default_rng(1).normal(scale=3.0, size=(N,) + case.batch_shape + shape)
    y = t(backend.array(z, case.dtype))
    assert np.isfinite(_np(backend, y)).all()
    assert _np(backend, host.check(d.support, y)).all()


@pytest.mark.parametrize(("case", "name"), _params("one_sided", lambda c: c.one_sided))
def test_one_sided_truncation_has_a_half_line_support(case: Case, name: str):
    backend = get_backend(name)
    support = build(backend, case).support
    end, other = ("lower_bound", "upper_bound")[:: 1 if case.one_sided == "low" else -1]
    assert not hasattr(support, other), f"{support} is an interval with an infinite end"
    np.testing.assert_allclose(_np(backend, getattr(support, end)), case.params[case.one_sided])


# -- validation --------------------------------------------------------------------------


def _bad_params():
    return [
        pytest.param(bad, name, id=f"{name}-{bad.id}")
        for bad in BAD_PARAMS
        for name in BACKEND_NAMES
    ]


@pytest.mark.parametrize(("bad", "name"), _bad_params())
def test_invalid_parameters_raise_value_error_naming_them(bad, name):
    backend = get_backend(name)
    case = case_by_id(bad.case)
    values = {**case.arrays(), **bad.overrides}
    arrays = {k: backend.array(v, case.dtype) for k, v in values.items()}
    with pytest.raises(ValueError) as info:
        build(backend, case, validate_args=True, arrays=arrays)
    for param in bad.names:
        assert param in str(info.value)


@pytest.mark.parametrize(("case", "name"), _params("out_of_support"))
def test_out_of_support_values_are_flagged_as_the_backend_does(case: Case, name: str):
    backend = get_backend(name)
    outside = np.array(np.broadcast_to(case.outside, case.batch_shape + case.event_shape))
    d = build(backend, case, validate_args=True)
    if name == "pyro":
        with pytest.raises(ValueError, match="support"):
            d.log_prob(backend.array(outside, case.dtype))
        return
    import jax

    # NumPyro warns and scores -inf, eagerly and inside jit for a concrete value.
    with pytest.warns(UserWarning, match="Out-of-support"):
        log_p = d.log_prob(backend.array(outside, case.dtype))
    assert (_np(backend, log_p) == -np.inf).all()
    # Built inside jit from NumPy parameters, as upstream distributions are used there.
    value = outside.astype(case.dtype)
    arrays = {k: np.asarray(v, dtype=case.dtype) for k, v in case.arrays().items()}
    with pytest.warns(UserWarning, match="Out-of-support"):
        log_p = jax.jit(
            lambda: build(backend, case, validate_args=True, arrays=arrays).log_prob(value)
        )()
    assert (_np(backend, log_p) == -np.inf).all()


# -- goodness of fit ---------------------------------------------------------------------


def _chi2_pvalue(observed: np.ndarray, expected: np.ndarray) -> float:
    """Pearson's test of counts (last axis: categories; leading axes: independent
    groups, pooled) against expected counts."""
    observed = observed.reshape(-1, observed.shape[-1])
    expected = expected.reshape(-1, expected.shape[-1])
    stat = ((observed - expected) ** 2 / expected).sum()
    return float(scipy.stats.chi2.sf(stat, observed.size - observed.shape[0]))


def _group_categories(probs: np.ndarray, counts: np.ndarray, groups: int = 10):
    """Contiguous groups of categories, so that each expected count is large."""
    k = probs.shape[-1]
    if k <= groups:
        return probs, counts
    cuts = np.linspace(0, k, groups + 1).astype(int)[:-1]
    return np.add.reduceat(probs, cuts, axis=-1), np.add.reduceat(counts, cuts, axis=-1)


def _logistic_law(backend, case: Case):
    """``(loc, scale)`` of the logit of a binary draw: Logistic(logits/tau, 1/tau)."""
    d = build(backend, case, "float64")
    tau, logits = _np(backend, d.temperature), _np(backend, d.logits)
    if case.event_shape:  # K = 2: the logit of x_0 is that of a binary Concrete
        logits = logits[..., 0] - logits[..., 1]
    return logits / tau, 1.0 / tau


def _logit_of_draws(case: Case, x: np.ndarray) -> np.ndarray:
    if case.family == "LogitRelaxedBernoulli":
        return x
    if case.family == "ExpRelaxedOneHotCategorical":
        return x[..., 0] - x[..., 1]
    with np.errstate(divide="ignore"):  # draws that rounded to 0 or 1: logit +-inf
        if case.event_shape:
            return np.log(x[..., 0]) - np.log(x[..., 1])
        return np.log(x) - np.log1p(-x)


def _concrete_region_mass(backend, case: Case, c: float = 0.1, order: int = 40) -> float:
    """Probability of ``{x : every x_k > c}`` for K = 3 by Gauss-Legendre quadrature of
    ``exp(log_prob)`` over that triangle (mapped from the unit square, Jacobian ``s``)."""
    nodes, weights = scipy.special.roots_legendre(order)
    s, t = np.meshgrid((nodes + 1) / 2, (nodes + 1) / 2, indexing="ij")
    w = np.outer(weights, weights) / 4 * s * (1 - 3 * c) ** 2
    x0 = c + (1 - 3 * c) * s * (1 - t)
    x1 = c + (1 - 3 * c) * s * t
    x = np.stack([x0, x1, 1 - x0 - x1], axis=-1)
    d = build(backend, case, "float64")
    if case.family == "ExpRelaxedOneHotCategorical":
        # The ExpConcrete density is the Concrete one times prod_k x_k.
        log_p = _np(backend, d.log_prob(backend.array(np.log(x)))) - np.log(x).sum(-1)
    else:
        log_p = _np(backend, d.log_prob(backend.array(x)))
    return float((w * np.exp(log_p)).sum())


@pytest.mark.parametrize(("case", "name"), _params("gof", lambda c: c.gof))
def test_draws_follow_the_distribution(case: Case, name: str):
    backend = get_backend(name)
    d = build(backend, case)
    x = _np(backend, backend.sample(d, (N,), seed=case.seed))
    ref = build(backend, case, "float64")
    for kind in case.gof:
        if kind == "cdf" and case.bins is None:
            u = _np(backend, ref.cdf(backend.array(x)))
            p = scipy.stats.kstest(u.ravel(), "uniform").pvalue
        elif kind == "cdf":
            edges, m = _at_n(case, case.bins)
            cdf = _np(backend, ref.cdf(backend.array(edges)))[:m]
            probs = np.diff(cdf, prepend=0.0, append=1.0, axis=0)
            counts = np.stack([(x < e).sum(0) for e in case.bins] + [np.full(x.shape[1:], N)])
            counts = np.diff(counts, prepend=0, axis=0)
            p = _chi2_pvalue(np.moveaxis(counts, 0, -1), N * np.moveaxis(probs, 0, -1))
        elif kind in ("logistic", "k2"):
            loc, scale = _logistic_law(backend, case)
            u = scipy.stats.logistic.cdf(_logit_of_draws(case, x), loc, scale)
            p = scipy.stats.kstest(u.ravel(), "uniform").pvalue
        elif kind == "bernoulli":
            hits = {"RelaxedBernoulliStraightThrough": x == 1, "LogitRelaxedBernoulli": x > 0}
            n_hit = hits.get(case.family, x > 0.5).sum(0)
            prob = scipy.special.expit(_np(backend, ref.logits))
            counts = np.stack([n_hit, N - n_hit], axis=-1)
            p = _chi2_pvalue(counts, N * np.stack([prob, 1 - prob], axis=-1))
        elif kind == "argmax":
            probs = scipy.special.softmax(_np(backend, ref.logits), axis=-1)
            counts = np.eye(probs.shape[-1])[x.argmax(-1)].sum(0)
            probs, counts = _group_categories(np.broadcast_to(probs, counts.shape), counts)
            p = _chi2_pvalue(counts, N * probs)
        elif kind == "simplex_region":
            mass = _concrete_region_mass(backend, case)
            simplex = np.exp(x) if case.family == "ExpRelaxedOneHotCategorical" else x
            hits = int((simplex > 0.1).all(-1).sum())
            p = scipy.stats.binomtest(hits, N, mass).pvalue
        else:
            raise AssertionError(f"unknown goodness-of-fit check {kind!r}")
        assert p > P_MIN, f"{kind}: p = {p:.2e}"


@pytest.mark.parametrize(("case", "name"), _params("quadrature", lambda c: "cdf" in c.gof))
def test_density_integrates_to_the_cdf(case: Case, name: str):
    """Composite Gauss-Legendre quadrature of ``exp(log_prob)`` between quantiles
    against the difference of ``cdf``: together with the KS test of draws against
    ``cdf``, this ties the draws to ``log_prob``."""
    backend = get_backend(name)
    d = build(backend, case, "float64")
    # 50 stretches of equal mass between the 5% and 95% quantiles, so the nodes follow
    # the density; each halved at the density's kink if it has one inside (else at its
    # middle): 100 halves x 20 nodes = N points per batch element.
    q, m = _at_n(case, np.linspace(0.05, 0.95, 51))
    x = _np(backend, d.icdf(backend.array(q)))[:m]
    a, b = x[:-1], x[1:]
    cut = (a + b) / 2 if case.kink is None else np.clip(case.kink, a, b)
    a, b = np.concatenate([a, cut]), np.concatenate([cut, b])
    nodes, weights = scipy.special.roots_legendre(20)
    shape = (-1,) + (1,) * a.ndim
    points = a + (b - a) * ((nodes + 1) / 2).reshape(shape)
    log_p = _np(backend, d.log_prob(backend.array(points.reshape((N,) + case.batch_shape))))
    halves = (weights.reshape(shape) * np.exp(log_p.reshape(points.shape))).sum(0) * (b - a) / 2
    integral = halves[: m - 1] + halves[m - 1 :]
    cdf = _np(backend, d.cdf(backend.array(np.resize(x, (N,) + case.batch_shape))))[:m]
    np.testing.assert_allclose(integral, np.diff(cdf, axis=0), rtol=1e-8)


@pytest.mark.parametrize(("case", "name"), _params("icdf", lambda c: "cdf" in c.gof))
def test_cdf_inverts_icdf_in_float64(case: Case, name: str):
    backend = get_backend(name)
    d = build(backend, case, "float64")
    q, m = _at_n(case, case.quantiles)
    got = _np(backend, d.cdf(d.icdf(backend.array(q))))[:m]
    q = q[:m]
    # Relative near 0 (a lower tail is resolved to 1e-6 and below); near 1, to the few
    # ulps of 1 a cdf computed as a ratio of probabilities can resolve.
    bound = 1e-9 * q + 1e-13
    assert (np.abs(got - q) <= bound).all(), f"cdf(icdf(q)) - q = {(got - q).ravel()}"


def _reference_log_prob(case: Case, x: np.ndarray, loc, scale) -> np.ndarray:
    """Binary Concrete log densities from SciPy's logistic law of the logit ``z``:
    the logit's own (LogitRelaxedBernoulli, and ExpConcrete with K = 2, whose density
    is the Concrete one times ``x_0 x_1``), else ``log f(z) - log x_0 - log x_1``."""
    log_f = scipy.stats.logistic.logpdf(_logit_of_draws(case, x), loc, scale)
    if case.family in ("LogitRelaxedBernoulli", "ExpRelaxedOneHotCategorical"):
        return log_f
    with np.errstate(divide="ignore", invalid="ignore"):
        if case.event_shape:
            return log_f - np.log(x[..., 0]) - np.log(x[..., 1])
        return log_f - np.log(x) - np.log1p(-x)


@pytest.mark.parametrize(
    ("case", "name"),
    _params(
        "reference_density",
        lambda c: ({"logistic", "k2"} & set(c.gof)) and "density" not in c.options,
    ),
)
def test_binary_and_two_category_densities_match_the_logistic_law(case: Case, name: str):
    backend = get_backend(name)
    d = build(backend, case, "float64")
    x = _np(backend, backend.sample(d, (N,), seed=case.seed))
    log_p = _np(backend, d.log_prob(backend.array(x)))
    want = _reference_log_prob(case, x, *_logistic_law(backend, case))
    # Draws that rounded to exactly 0 or 1 are scored at a clipped value by design.
    kept = np.isfinite(want)
    assert kept.mean() > 0.9
    np.testing.assert_allclose(log_p[kept], want[kept], rtol=1e-9)


# -- NumPyro: jit, vmap, pytree ----------------------------------------------------------


def _numpyro_draw(case: Case, arrays, key):
    d = build(get_backend("numpyro"), case, arrays=arrays)
    x = d.sample(key, (N,))
    return x, d.log_prob(x)


def _structure(case: Case) -> tuple:
    """What a traced program depends on besides array shapes: cases that share it (and
    their shapes) share one compiled program."""
    base = None if case.base is None else (case.base[0], tuple(case.base[1]))
    params = tuple((k, v is None) for k, v in case.params.items())
    return case.family, params, base, tuple(case.options.items())


_BY_STRUCTURE: dict[tuple, Case] = {}


@functools.cache
def _jitted_draws():
    import jax

    def traced(structure, dist, value, stacked, keys):
        assert type(dist.support.event_dim) is int
        case = _BY_STRUCTURE[structure]
        draws = jax.vmap(lambda a, k: _numpyro_draw(case, a, k))(stacked, keys)
        return dist.log_prob(value), draws

    return jax.jit(traced, static_argnums=0)


@pytest.mark.parametrize(("case", "name"), _params("jit", backends=["numpyro"]))
def test_numpyro_jit_vmap_and_pytree_match_eager(case: Case, name: str):
    """The distribution flattens and unflattens as a pytree; passed into ``jax.jit``
    it scores as eagerly; and drawing and scoring under ``jit`` of ``vmap`` over
    parameters and keys (the distribution built from traced parameters) give the eager
    numbers."""
    import jax

    backend = get_backend(name)
    arrays = {k: backend.array(v, case.dtype) for k, v in case.arrays().items()}
    keys = jax.random.split(jax.random.PRNGKey(case.seed), 2)
    stacked = {k: jax.numpy.stack([v, v]) for k, v in arrays.items()}
    d = build(backend, case)
    x = _fresh(backend, d.sample(keys[0], (N,)))
    want = _np(backend, d.log_prob(x))

    leaves, tree = jax.tree_util.tree_flatten(d)
    again = jax.tree_util.tree_unflatten(tree, leaves)
    assert type(again) is type(d)
    assert (again.batch_shape, again.event_shape) == (d.batch_shape, d.event_shape)
    np.testing.assert_array_equal(_np(backend, again.log_prob(x)), want)

    structure = _structure(case)
    _BY_STRUCTURE.setdefault(structure, case)
    log_p, draws = _jitted_draws()(structure, d, x, stacked, keys)
    _assert_close(_np(backend, log_p), want, case.dtype)
    for i, key in enumerate(keys):
        for got, expected in zip(draws, _numpyro_draw(case, arrays, key), strict=True):
            _assert_close(_np(backend, got[i]), _np(backend, expected), case.dtype)


# -- pickling ----------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "name"), _params("pickle"))
def test_pickled_distribution_scores_and_draws_the_same(case: Case, name: str):
    backend = get_backend(name)
    d = build(backend, case)
    x = _fresh(backend, backend.sample(d, (N,), seed=case.seed))
    again = pickle.loads(pickle.dumps(d))
    assert type(again) is type(d)
    assert tuple(again.batch_shape) == case.batch_shape
    np.testing.assert_array_equal(_np(backend, again.log_prob(x)), _np(backend, d.log_prob(x)))
    np.testing.assert_array_equal(
        _np(backend, backend.sample(again, (N,), seed=1)),
        _np(backend, backend.sample(d, (N,), seed=1)),
    )


# -- the two backends agree --------------------------------------------------------------


def _call(fn):
    """``fn()``, or None where the distribution does not define what it computes."""
    try:
        return fn()
    except NotImplementedError:
        return None


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.id, marks=_marks(c, ("cross_backend",))) for c in CASES]
)
def test_backends_agree_in_float64(case: Case):
    backends = [get_backend(name) for name in BACKEND_NAMES]
    dists = [build(b, case, "float64") for b in backends]
    x = _np(backends[1], backends[1].sample(dists[1], (N,), seed=case.seed))
    q, _ = _at_n(case, case.quantiles)
    results = []
    for b, d in zip(backends, dists, strict=True):
        out = {
            "log_prob": d.log_prob(b.array(x)),
            "cdf": _call(lambda d=d, b=b: d.cdf(b.array(x))),
            "icdf": _call(lambda d=d, b=b: d.icdf(b.array(q))),
            "mean": _call(lambda d=d: d.mean),
            "variance": _call(lambda d=d: d.variance),
        }
        results.append({k: None if v is None else _np(b, v) for k, v in out.items()})
    for key, got in results[0].items():
        want = results[1][key]
        assert (got is None) == (want is None), f"{key} defined in one backend only"
        if want is not None:
            # Absolute slack at the values' own scale, for results that cancel to ~0.
            scale = np.abs(want[np.isfinite(want)]).max(initial=0.0)
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-13 * scale, err_msg=key)
    # The same support: in particular, both close (or both open) a truncation end.
    for end in ("low", "high"):
        if case.params.get(end) is None:
            continue
        value = np.array(np.broadcast_to(case.params[end], case.batch_shape))
        inside = [
            _np(b, _host(b.name).check(d.support, b.array(value)))
            for b, d in zip(backends, dists, strict=True)
        ]
        assert (inside[0] == inside[1]).all(), f"{end} end inside the support: {inside}"


# -- SoftClipTransform -------------------------------------------------------------------


def _clip(backend, c, dtype=None):
    dtype = dtype or c.dtype
    ends = [None if v is None else backend.array(v, dtype) for v in (c.low, c.high)]
    return backend.dist.SoftClipTransform(*ends, backend.array(c.softness, dtype))


def _clip_inputs(c) -> np.ndarray:
    """Points from 5 softness widths outside the ends to inside: shape (41,) plus the
    parameters' broadcast shape."""
    s = np.asarray(c.softness, dtype=float)
    ends = [np.asarray(v, dtype=float) for v in (c.low, c.high) if v is not None]
    batch = np.broadcast_shapes(s.shape, *(e.shape for e in ends))
    t = np.linspace(0.0, 1.0, 41).reshape((-1,) + (1,) * len(batch))
    if len(ends) == 2:
        low, high = ends
        return low - 5 * s + t * (high - low + 10 * s)
    return np.array(np.broadcast_to(ends[0] + (t - 0.5) * (10 * s + 4), (41,) + batch))


def _clip_params():
    return [
        pytest.param(c, name, id=f"{name}-{c.id}") for c in CLIP_CASES for name in BACKEND_NAMES
    ]


def _forward_slope(backend, t, x):
    """dy/dx of the transform by automatic differentiation, elementwise."""
    if backend.name == "pyro":
        import torch

        x = x.detach().clone().requires_grad_(True)
        (slope,) = torch.autograd.grad(t(x).sum(), x)
        return slope
    import jax

    return jax.grad(lambda v: t(v).sum())(x)


@pytest.mark.parametrize(("c", "name"), _clip_params())
def test_soft_clip_maps_into_its_codomain_invertibly_with_the_autodiff_jacobian(c, name):
    backend, host = get_backend(name), _host(name)
    t = _clip(backend, c)
    x = backend.array(_clip_inputs(c), c.dtype)
    y = t(x)
    assert tuple(y.shape) == tuple(np.shape(_clip_inputs(c)))
    assert np.isfinite(_np(backend, y)).all()
    assert _np(backend, host.check(t.codomain, y)).all()
    assert type(t.codomain.event_dim) is int and t.codomain.event_dim == 0
    assert type(t.domain.event_dim) is int and t.domain.event_dim == 0
    tol = {"rtol": 1e-5, "atol": 1e-5} if c.dtype == "float32" else {"rtol": 1e-10, "atol": 1e-10}
    np.testing.assert_allclose(_np(backend, t.inv(y)), _np(backend, x), **tol)
    ladj = t.log_abs_det_jacobian(x, y)
    slope = _forward_slope(backend, t, x)
    np.testing.assert_allclose(_np(backend, ladj), np.log(_np(backend, slope)), **tol)
    batch = np.broadcast_shapes(
        *(np.shape(v) for v in (c.low, c.high, c.softness) if v is not None)
    )
    assert tuple(t.forward_shape(())) == batch
    assert tuple(t.inverse_shape(())) == batch
    z = np.linspace(-30.0, 30.0, 7).reshape((-1,) + (1,) * len(batch))
    y = host.biject_to(t.codomain)(backend.array(z, c.dtype))
    assert np.isfinite(_np(backend, y)).all()


@pytest.mark.parametrize(
    ("bad", "name"),
    [pytest.param(b, name, id=f"{name}-{b[0]}") for b in BAD_CLIPS for name in BACKEND_NAMES],
)
def test_soft_clip_rejects_bad_parameters_naming_them(bad, name):
    backend = get_backend(name)
    _, low, high, softness, names = bad
    ends = [None if v is None else backend.array(v) for v in (low, high)]
    with pytest.raises(ValueError) as info:
        backend.dist.SoftClipTransform(*ends, backend.array(softness))
    for param in names:
        assert param in str(info.value)


@pytest.mark.parametrize("c", [pytest.param(c, id=c.id) for c in CLIP_CASES])
def test_soft_clip_backends_agree_and_survive_pickling(c):
    x = _clip_inputs(c)
    results = {}
    for name in BACKEND_NAMES:
        backend = get_backend(name)
        t = pickle.loads(pickle.dumps(_clip(backend, c, "float64")))
        y = t(backend.array(x))
        results[name] = [
            _np(backend, v)
            for v in (
                y,
                t.inv(backend.array(_np(backend, y))),
                t.log_abs_det_jacobian(backend.array(x), y),
            )
        ]
    for got, want in zip(results["pyro"], results["numpyro"], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("c", [pytest.param(c, id=c.id) for c in CLIP_CASES])
def test_numpyro_soft_clip_is_a_pytree_under_jit(c):
    import jax

    backend = get_backend("numpyro")
    t = _clip(backend, c)
    x = backend.array(_clip_inputs(c), c.dtype)
    leaves, tree = jax.tree_util.tree_flatten(t)
    again = jax.tree_util.tree_unflatten(tree, leaves)
    np.testing.assert_array_equal(_np(backend, again(x)), _np(backend, t(x)))
    jitted = jax.jit(lambda tr, v: (tr(v), tr.log_abs_det_jacobian(v, tr(v))))(t, x)
    _assert_close(_np(backend, jitted[0]), _np(backend, t(x)), c.dtype)
    _assert_close(_np(backend, jitted[1]), _np(backend, t.log_abs_det_jacobian(x, t(x))), c.dtype)

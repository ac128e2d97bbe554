"""Supports, the Truncated factory, argument checks and batched soft truncation, in both
backends: one-sided truncations are half lines whose biject_to reaches every point."""

import math

import numpy as np
import pytest
import scipy.stats

from tests import truncated_reference as ref
from tests.backends import BACKEND_NAMES, get_backend

INF = math.inf
CLASSES = ["TruncatedNormal", "TruncatedLogistic", "TruncatedLaplace", "TruncatedGumbel"]
# (low, high) -> (constraint, the bounds it keeps); an infinite end is no end.
SUPPORTS = [
    ((0.0, None), ("GreaterThanEq", {"lower_bound": 0.0})),
    ((1.5, INF), ("GreaterThanEq", {"lower_bound": 1.5})),
    ((None, 0.0), ("LessThanEq", {"upper_bound": 0.0})),
    ((-INF, -2.0), ("LessThanEq", {"upper_bound": -2.0})),
    ((-1.0, 2.0), ("Interval", {"lower_bound": -1.0, "upper_bound": 2.0})),
    ((None, None), ("Real", {})),
    ((-INF, INF), ("Real", {})),
]


def _host(backend):
    """The backend's biject_to."""
    if backend.name == "pyro":
        from torch.distributions import biject_to
    else:
        from numpyro.distributions.transforms import biject_to
    return biject_to


def _check(backend, constraint, x):
    """Whether ``x`` satisfies ``constraint``, as a NumPy array."""
    inside = constraint.check(x) if backend.name == "pyro" else constraint(x)
    return backend.numpy(inside)


def _value(backend, v) -> float:
    return float(v) if isinstance(v, float) else float(backend.numpy(v))


def _build(backend, cls_name, low, high, **kwargs):
    if cls_name == "Cauchy":
        base = backend.upstream.Cauchy(backend.array(0.3), backend.array(1.7))
        return backend.dist.Truncated(base, low, high, **kwargs)
    return getattr(backend.dist, cls_name)(backend.array(0.3), backend.array(1.7), low, high)


@pytest.mark.parametrize("cls_name", [*CLASSES, "Cauchy"])
@pytest.mark.parametrize(("ends", "expected"), SUPPORTS)
def test_support_is_the_half_line_or_interval_the_ends_bound(backend, cls_name, ends, expected):
    d = _build(backend, cls_name, *ends)
    kind, bounds = expected
    assert type(d.support).__name__.lstrip("_") == kind
    for name, value in bounds.items():
        assert _value(backend, getattr(d.support, name)) == value
    assert not hasattr(d.support, {"GreaterThanEq": "upper_bound"}.get(kind, "_"))
    assert not hasattr(d.support, {"LessThanEq": "lower_bound"}.get(kind, "_"))
    # biject_to reaches finite points of the support from all of R, and they score finite
    # where the log density is representable (a Gumbel's lower tail is -e^-z).
    z = backend.array(np.linspace(-30.0, 30.0, 13))
    y = _host(backend)(d.support)(z)
    yn = backend.numpy(y)
    assert np.all(np.isfinite(yn)), yn
    assert np.all(_check(backend, d.support, y))
    y_near = _host(backend)(d.support)(backend.array(np.linspace(-3.0, 3.0, 7)))
    assert np.all(np.isfinite(backend.numpy(d.log_prob(y_near))))


@pytest.mark.parametrize("cls_name", CLASSES)
def test_support_event_dim_and_shapes_are_static(backend, cls_name):
    cls = getattr(backend.dist, cls_name)
    assert cls.support.event_dim == 0 and cls.support.is_discrete is False
    batch_shape, event_shape = cls.infer_shapes(loc=(3,), scale=(), low=(2, 1), high=())
    assert tuple(batch_shape) == (2, 3) and tuple(event_shape) == ()


def test_a_draw_on_the_closed_end_is_inside_the_support(backend):
    """The ends are closed (as NumPyro's TruncatedDistribution): a draw that rounds onto
    an end, as float32 draws far in a tail can, is in the support with a finite density."""
    for low, high in [(2.0, None), (None, 2.0), (2.0, 3.0)]:
        d = backend.dist.TruncatedNormal(backend.array(0.0), backend.array(1.0), low, high)
        x = backend.array(2.0)
        assert _check(backend, d.support, x)
        assert np.isfinite(backend.numpy(d.log_prob(x)))


def test_one_sided_supports_agree_across_backends():
    reprs = []
    for name in BACKEND_NAMES:
        backend = get_backend(name)
        reprs.append(
            [
                type(_build(backend, cls_name, *ends).support).__name__
                for cls_name in [*CLASSES, "Cauchy"]
                for ends, _ in SUPPORTS
            ]
        )
    assert reprs[0] == reprs[1]


def test_truncated_is_a_factory_of_the_dedicated_classes(backend):
    assert not isinstance(backend.dist.Truncated, type)
    for base, cls_name in [
        (backend.upstream.Normal(0.0, 2.0), "TruncatedNormal"),
        (backend.upstream.Logistic(0.0, 2.0), "TruncatedLogistic"),
        (backend.upstream.Laplace(0.0, 2.0), "TruncatedLaplace"),
        (backend.upstream.Gumbel(0.0, 2.0), "TruncatedGumbel"),
        (backend.upstream.Cauchy(0.0, 2.0), "GenericTruncated"),
    ]:
        d = backend.dist.Truncated(base, low=1.0)
        assert isinstance(d, getattr(backend.dist, cls_name))
        assert isinstance(d, backend.upstream.Distribution)


@pytest.mark.parametrize("cls_name", [*CLASSES, "Cauchy"])
def test_empty_interval_is_a_value_error_naming_the_ends_under_validation(backend, cls_name):
    for low, high in [(2.0, 1.0), (1.0, 1.0)]:
        with pytest.raises(ValueError, match=r"low < high.*low=\[.*high=\["):
            _build(backend, cls_name, backend.array(low), backend.array(high), validate_args=True)
    # Without validation nothing is checked, as for every distribution of the backend.
    if cls_name == "Cauchy":
        _build(backend, cls_name, 2.0, 1.0, validate_args=False)
    else:
        getattr(backend.dist, cls_name)(0.0, 1.0, 2.0, 1.0, validate_args=False)


@pytest.mark.parametrize("cls_name", CLASSES)
def test_non_positive_scale_is_a_value_error_naming_scale(backend, cls_name):
    cls = getattr(backend.dist, cls_name)
    for scale in (0.0, -1.0):
        with pytest.raises(ValueError, match="scale"):
            cls(backend.array(0.0), backend.array(scale), 0.0, 1.0, validate_args=True)


# -- SoftTruncated with batched ends or softness and a scalar base ------------------------

LOWS, HIGHS, SOFTNESS = [-1.0, 0.0], [2.0, 1.0], [0.1, 1.0]


def _batched_soft(backend, high=True):
    base = backend.upstream.Normal(backend.array(0.3), backend.array(1.2))
    hi = backend.array(HIGHS) if high else None
    return backend.dist.SoftTruncated(base, backend.array(LOWS), hi, backend.array(SOFTNESS))


@pytest.mark.parametrize("high", [True, False])
def test_soft_truncated_broadcasts_batched_ends_and_softness(backend, high):
    d = _batched_soft(backend, high)
    assert tuple(d.batch_shape) == (2,) and tuple(d.event_shape) == ()
    y = backend.sample(d, (50,), seed=0)
    assert tuple(y.shape) == (50, 2)
    e = d.expand((3, 2))
    assert tuple(e.batch_shape) == (3, 2)
    assert tuple(backend.sample(e, (4,), seed=1).shape) == (4, 3, 2)
    # log_prob of a batch of draws: the base density at the inverse, less the log slope.
    yn = backend.numpy(y)
    log_p = backend.numpy(d.log_prob(y))
    his = HIGHS if high else [None, None]
    want = np.empty_like(yn)
    for i, j in np.ndindex(*yn.shape):
        x = ref.soft_clip_inverse(yn[i, j], LOWS[j], his[j], SOFTNESS[j])
        slope = ref.soft_clip_log_slope(x, LOWS[j], his[j], SOFTNESS[j])
        want[i, j] = scipy.stats.norm(0.3, 1.2).logpdf(x) - slope
    np.testing.assert_allclose(log_p, want, rtol=1e-8, atol=1e-10)
    # cdf is the base cdf at the inverse (the transform is increasing); icdf inverts it.
    cdf = backend.numpy(d.cdf(y))
    inverse = [
        [ref.soft_clip_inverse(yn[i, j], LOWS[j], his[j], SOFTNESS[j]) for j in range(2)]
        for i in range(yn.shape[0])
    ]
    np.testing.assert_allclose(cdf, scipy.stats.norm(0.3, 1.2).cdf(inverse), rtol=1e-9)
    q = backend.array([[0.1, 0.9], [0.5, 0.5], [0.99, 0.01]])
    np.testing.assert_allclose(backend.numpy(d.cdf(d.icdf(q))), backend.numpy(q), rtol=1e-10)

"""The table that ``tests/cross/test_contract.py`` runs its generic checks over: every
public distribution of ``ppl_reparam`` with ordinary, batched and extreme parameters.

A :class:`Case` holds backend-neutral NumPy values; :func:`build` turns it into an
instance of the same-named class in either backend. Cases a check cannot apply to say
so, with the reason, in ``skip`` (``{check: reason}``; ``"check:backend"`` for one
backend only); ``xfail`` lists known failures the same way (strict, so they are removed
once fixed).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

INF = np.inf
# Every check draws and evaluates N points per batch element: one array shape per case,
# so NumPyro compiles each distribution's functions once, not once per check.
N = 2000
LOC, SCALE = 0.3, 1.7  # the truncated cases' base, so standard units are explicit


@dataclass(frozen=True)
class Case:
    """One distribution with one parameter set.

    ``params``: array-valued keyword arguments (NumPy arrays or floats; ``None`` for an
    open end). ``base``: ``(upstream class name, its params)`` for the families built
    over a base distribution. ``gof``: which goodness-of-fit checks apply (see the test
    module). ``outside``: a value outside the support, broadcastable to the batch.
    """

    id: str
    family: str
    params: Mapping[str, Any]
    batch_shape: tuple[int, ...]
    event_shape: tuple[int, ...] = ()
    dtype: str = "float64"
    base: tuple[str, Mapping[str, Any]] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    gof: tuple[str, ...] = ()
    outside: Any = None
    one_sided: str | None = None  # "low" (support [low, inf)) or "high" ((-inf, high])
    seed: int = 0
    quantiles: tuple[float, ...] = (1e-6, 0.01, 0.2, 0.5, 0.8, 0.99, 1 - 1e-6)
    # Bin edges for a chi-square test instead of KS, where part of the law is not
    # representable (draws pile up at the clipping points next to 0 or 1).
    bins: tuple[float, ...] | None = None
    # Where the density has a kink (Laplace: at loc), so quadrature splits there.
    kink: Any = None
    skip: Mapping[str, str] = field(default_factory=dict)
    xfail: Mapping[str, str] = field(default_factory=dict)

    def arrays(self) -> dict[str, Any]:
        """The array parameters, the base's under ``base.<name>``."""
        flat = {k: v for k, v in self.params.items() if v is not None}
        if self.base is not None:
            flat.update({f"base.{k}": v for k, v in self.base[1].items()})
        return flat

    @property
    def scalar(self) -> bool:
        return self.event_shape == ()


def build(backend, case: Case, dtype: str | None = None, validate_args=None, arrays=None):
    """``case`` as a distribution of ``backend``; ``arrays`` (as from
    :meth:`Case.arrays`, already backend arrays, e.g. tracers) replaces its values."""
    dtype = dtype or case.dtype
    if arrays is None:
        arrays = {k: backend.array(v, dtype) for k, v in case.arrays().items()}
    kwargs = {k: arrays.get(k) for k in case.params}
    if case.base is not None:
        name, base_params = case.base
        base_cls = getattr(backend.upstream, name)
        kwargs["base"] = base_cls(**{k: arrays[f"base.{k}"] for k in base_params})
    cls = getattr(backend.dist, case.family)
    return cls(**kwargs, **case.options, validate_args=validate_args)


def _sd(lo, hi):
    """Truncation ends ``lo``, ``hi`` standard deviations from LOC (None for infinite)."""
    return {
        "loc": LOC,
        "scale": SCALE,
        "low": None if lo == -INF else LOC + SCALE * lo,
        "high": None if hi == INF else LOC + SCALE * hi,
    }


_RNG = np.random.default_rng(0)
LOGITS_1000 = 2.0 * _RNG.standard_normal(1000)
UNIFORM_1000 = np.zeros(1000)

# Quadrature over a stretch where the density varies over hundreds of orders of
# magnitude in x is meaningless; these cases are checked through their cdf instead.
_PEAKED = "density spans hundreds of orders of magnitude between quantiles"


def _kumaraswamy() -> list[Case]:
    fam = "Kumaraswamy"
    gof = ("cdf",)
    return [
        Case(
            "kum-ordinary",
            fam,
            {"concentration1": 2.0, "concentration0": 3.0},
            (),
            gof=gof,
            outside=1.5,
        ),
        Case(
            "kum-batched",
            fam,
            {
                "concentration1": np.array([[0.5], [2.0], [5.0]]),
                "concentration0": np.array([0.7, 1.5, 4.0, 10.0]),
            },
            (3, 4),
            gof=gof,
            outside=-0.5,
        ),
        # 84% of the mass lies within 1e-6 of 1 (float32) and 71% within 1e-15 of 1
        # (float64): those draws are the clipping point 1 - eps/2, so the bins put it
        # in the last bin. icdf(q) rounds to 1 above q ~ 0.3 and below 1e-400 under q ~ 1e-5.
        Case(
            "kum-tiny-f32",
            fam,
            {"concentration1": 0.01, "concentration0": 0.01},
            (),
            dtype="float32",
            gof=gof,
            outside=1.5,
            bins=(1e-3, 0.5, 1 - 1e-4, 1 - 1e-6),
            quantiles=(1e-4, 0.01, 0.1, 0.2),
            skip={"quadrature": _PEAKED},
        ),
        Case(
            "kum-tiny-f64",
            fam,
            {"concentration1": 0.01, "concentration0": 0.01},
            (),
            gof=gof,
            outside=1.5,
            bins=(0.5, 1 - 1e-8, 1 - 1e-15),
            quantiles=(1e-4, 0.01, 0.1, 0.2),
            skip={"quadrature": _PEAKED},
        ),
        Case(
            "kum-huge-f32",
            fam,
            {"concentration1": 100.0, "concentration0": 100.0},
            (),
            dtype="float32",
            gof=gof,
            outside=1.5,
        ),
        # 76% of the mass within 1e-14 of 1: binned; above q ~ 0.15, icdf(q) is within
        # 1e-12 of 1, where float64 resolves 1 - x only to a few digits.
        Case(
            "kum-100-0.01",
            fam,
            {"concentration1": 100.0, "concentration0": 0.01},
            (),
            gof=gof,
            outside=1.5,
            bins=(0.999, 1 - 1e-6, 1 - 1e-10, 1 - 1e-14),
            quantiles=(1e-6, 0.01, 0.05, 0.1),
            skip={"quadrature": _PEAKED},
        ),
        # 8% of the mass below the smallest normal float64, where draws are clipped.
        Case(
            "kum-0.01-100",
            fam,
            {"concentration1": 0.01, "concentration0": 100.0},
            (),
            gof=gof,
            outside=-0.5,
            bins=(1e-300, 1e-250, 1e-200, 1e-150),
            quantiles=(0.1, 0.2, 0.5, 0.8, 0.99, 1 - 1e-6),
            skip={"quadrature": _PEAKED},
        ),
    ]


def _relaxed_categorical() -> list[Case]:
    cases = []
    probs3 = np.array([0.2, 0.3, 0.5])
    logits43 = np.array([[0.0, 1.0, -1.0], [2.0, 0.0, 0.0], [-0.5, 0.5, 1.5], [0.0, 0.0, 0.0]])
    for fam, short, out3, out1000, gof3 in [
        (
            "RelaxedOneHotCategorical",
            "rohc",
            [0.5, 0.6, 0.2],
            np.full(1000, 2e-3),
            ("argmax", "simplex_region"),
        ),
        (
            "ExpRelaxedOneHotCategorical",
            "exp",
            [np.nan, 0.0, 0.0],
            np.full(1000, np.nan),
            ("argmax", "simplex_region"),
        ),
        (
            "RelaxedOneHotCategoricalStraightThrough",
            "st",
            [0.5, 0.6, 0.2],
            np.full(1000, 2e-3),
            ("argmax",),
        ),
    ]:
        cases += [
            Case(
                f"{short}-ordinary",
                fam,
                {"temperature": 0.5, "probs": probs3},
                (),
                (3,),
                gof=gof3,
                outside=np.array(out3),
            ),
            Case(
                f"{short}-batched",
                fam,
                {"temperature": np.array([[0.3], [1.0]]), "logits": logits43},
                (2, 4),
                (3,),
                gof=("argmax",),
                outside=np.array(out3),
            ),
            Case(
                f"{short}-cold-K1000-f32",
                fam,
                {"temperature": 0.01, "logits": UNIFORM_1000},
                (),
                (1000,),
                dtype="float32",
                gof=("argmax",),
                outside=out1000,
            ),
            # seed 16: these 2000 draws include one whose float32 components, summed,
            # were off from 1 by more than the backends' Simplex tolerance of 1e-6.
            Case(
                f"{short}-K1000-tau0.8-f32",
                fam,
                {"temperature": 0.8, "logits": LOGITS_1000},
                (),
                (1000,),
                dtype="float32",
                gof=("argmax",),
                outside=out1000,
                seed=16,
            ),
        ]
        if fam != "RelaxedOneHotCategoricalStraightThrough":
            cases.append(
                Case(
                    f"{short}-K2",
                    fam,
                    {"temperature": 0.7, "logits": np.array([0.4, -0.3])},
                    (),
                    (2,),
                    gof=("k2",),
                    outside=np.array(out3[:2]),
                )
            )
    cases.append(
        Case(
            "exp-density-categorical",
            "ExpRelaxedOneHotCategorical",
            {"temperature": 0.5, "probs": probs3},
            (),
            (3,),
            options={"density": "categorical"},
            gof=("argmax",),
            outside=np.array([np.nan, 0.0, 0.0]),
        )
    )
    return cases


def _relaxed_binary() -> list[Case]:
    cases = []
    for fam, short, outside, gof in [
        ("RelaxedBernoulli", "rb", 1.5, ("logistic", "bernoulli")),
        ("RelaxedBernoulliStraightThrough", "rbst", 1.5, ("bernoulli",)),
        ("LogitRelaxedBernoulli", "lrb", np.nan, ("logistic", "bernoulli")),
    ]:
        cases += [
            Case(
                f"{short}-ordinary",
                fam,
                {"temperature": 0.5, "probs": 0.3},
                (),
                gof=gof,
                outside=outside,
            ),
            Case(
                f"{short}-batched",
                fam,
                {"temperature": np.array([[0.2], [1.5]]), "logits": np.array([-1.0, 0.0, 2.0])},
                (2, 3),
                gof=gof,
                outside=outside,
            ),
            Case(
                f"{short}-cold-f32",
                fam,
                {"temperature": 0.01, "probs": 0.3},
                (),
                dtype="float32",
                gof=("bernoulli",),
                outside=outside,
            ),
            Case(
                f"{short}-rare",
                fam,
                {"temperature": 0.1, "probs": 0.01},
                (),
                gof=("bernoulli",),
                outside=outside,
            ),
        ]
    cases.append(
        Case(
            "lrb-density-categorical",
            "LogitRelaxedBernoulli",
            {"temperature": 0.5, "probs": 0.3},
            (),
            options={"density": "categorical"},
            gof=("bernoulli",),
            outside=np.nan,
        )
    )
    return cases


def _truncated() -> list[Case]:
    cases = []
    for fam, short in [
        ("TruncatedNormal", "tn"),
        ("TruncatedLogistic", "tl"),
        ("TruncatedLaplace", "tlap"),
        ("TruncatedGumbel", "tg"),
    ]:
        cases += [
            Case(
                f"{short}-ordinary",
                fam,
                _sd(-1.0, 1.5),
                (),
                gof=("cdf",),
                outside=LOC + 2.0 * SCALE,
            ),
            Case(
                f"{short}-batched",
                fam,
                {
                    "loc": np.array([[-1.0], [0.0], [2.0]]),
                    "scale": 1.5,
                    "low": np.array([-2.0, -1.0, 0.0, 1.0]),
                    "high": 3.0,
                },
                (3, 4),
                gof=("cdf",),
                outside=3.5,
            ),
            Case(
                f"{short}-low0",
                fam,
                {"loc": 0.0, "scale": 1.0, "low": 0.0, "high": None},
                (),
                gof=("cdf",),
                outside=-1.0,
                one_sided="low",
            ),
            Case(
                f"{short}-high0",
                fam,
                {"loc": 0.0, "scale": 1.0, "low": None, "high": 0.0},
                (),
                gof=("cdf",),
                outside=1.0,
                one_sided="high",
            ),
        ]
        if fam in ("TruncatedNormal", "TruncatedLogistic"):
            cases += [
                Case(
                    f"{short}-tail20",
                    fam,
                    _sd(20.0, 21.0),
                    (),
                    gof=("cdf",),
                    outside=LOC + 19.0 * SCALE,
                ),
                Case(
                    f"{short}-tail20-f32",
                    fam,
                    _sd(20.0, 21.0),
                    (),
                    dtype="float32",
                    gof=("cdf",),
                    outside=LOC + 19.0 * SCALE,
                ),
                Case(
                    f"{short}-tail-40",
                    fam,
                    _sd(-40.0, -39.0),
                    (),
                    gof=("cdf",),
                    outside=LOC - 38.0 * SCALE,
                ),
                Case(
                    f"{short}-tail30-open",
                    fam,
                    _sd(30.0, INF),
                    (),
                    gof=("cdf",),
                    outside=LOC + 29.0 * SCALE,
                    one_sided="low",
                ),
            ]
    cases = [
        replace(c, kink=c.params["loc"]) if c.family == "TruncatedLaplace" else c for c in cases
    ]
    cauchy = ("Cauchy", {"loc": 0.0, "scale": 1.0})
    cases += [
        Case(
            "trunc-cauchy",
            "Truncated",
            {"low": 1.0, "high": 3.0},
            (),
            base=cauchy,
            gof=("cdf",),
            outside=0.0,
        ),
        Case(
            "trunc-cauchy-batched",
            "Truncated",
            {"low": np.array([[-1.0], [2.0]]), "high": 5.0},
            (2, 3),
            base=("Cauchy", {"loc": np.array([0.0, 1.0, -2.0]), "scale": 1.0}),
            gof=("cdf",),
            outside=6.0,
        ),
        Case(
            "trunc-cauchy-low0",
            "Truncated",
            {"low": 0.0, "high": None},
            (),
            base=cauchy,
            gof=("cdf",),
            outside=-1.0,
            one_sided="low",
        ),
        Case(
            "trunc-cauchy-high0",
            "Truncated",
            {"low": None, "high": 0.0},
            (),
            base=cauchy,
            gof=("cdf",),
            outside=1.0,
            one_sided="high",
        ),
        # The base has a cdf only (near 1 here, 1 - 3e-4): the truncated cdf resolves
        # ~1e-12 of the truncated mass, so the quantiles stop at 1e-3 from either end.
        Case(
            "trunc-cauchy-far",
            "Truncated",
            {"low": 1e3, "high": 1e4},
            (),
            base=cauchy,
            gof=("cdf",),
            outside=0.0,
            quantiles=(1e-3, 0.01, 0.2, 0.5, 0.8, 0.99, 1 - 1e-3),
        ),
        # Truncated over a Normal base dispatches to TruncatedNormal.
        Case(
            "trunc-normal-low0",
            "Truncated",
            {"low": 0.0, "high": None},
            (),
            base=("Normal", {"loc": 0.0, "scale": 1.0}),
            gof=("cdf",),
            outside=-1.0,
            one_sided="low",
        ),
    ]
    return cases


# Soft clipping puts base quantiles d beyond an end within s*exp(-d/s) of it: further out
# than these, icdf(q) is within an ulp or so of the end and cdf cannot recover q.
_SOFT_Q = (0.01, 0.2, 0.5, 0.8, 0.99)


def _soft_truncated() -> list[Case]:
    normal = ("Normal", {"loc": 0.0, "scale": 1.0})
    fam = "SoftTruncated"
    return [
        Case(
            "soft-ordinary",
            fam,
            {"low": -1.0, "high": 1.0, "softness": 0.1},
            (),
            base=normal,
            gof=("cdf",),
            outside=1.5,
            quantiles=_SOFT_Q,
        ),
        Case(
            "soft-batched-ends",
            fam,
            {
                "low": np.array([-1.0, -2.0]),
                "high": np.array([1.0, 0.5]),
                "softness": np.array([0.1, 0.3]),
            },
            (2,),
            base=normal,
            gof=("cdf",),
            outside=2.5,
            quantiles=_SOFT_Q,
        ),
        Case(
            "soft-batched-base",
            fam,
            {"low": -1.0, "high": 1.0, "softness": 0.2},
            (3,),
            base=("Normal", {"loc": np.array([-1.0, 0.0, 2.0]), "scale": 1.0}),
            gof=("cdf",),
            outside=1.5,
            quantiles=(0.01, 0.2, 0.5, 0.8, 0.9),
        ),
        Case(
            "soft-low0",
            fam,
            {"low": 0.0, "high": None, "softness": 0.5},
            (),
            base=normal,
            gof=("cdf",),
            outside=-1.0,
            one_sided="low",
        ),
        Case(
            "soft-high0",
            fam,
            {"low": None, "high": 0.0, "softness": 0.5},
            (),
            base=normal,
            gof=("cdf",),
            outside=1.0,
            one_sided="high",
        ),
        # A third of the base mass lies beyond the ends, where softness 0.01 puts it
        # within 1e-20 of them: those draws are the ends themselves, in float32 and
        # float64, so the draws are binned, and only central quantiles invert.
        Case(
            "soft-sharp-f32",
            fam,
            {"low": -1.0, "high": 1.0, "softness": 0.01},
            (),
            base=normal,
            dtype="float32",
            gof=("cdf",),
            outside=1.5,
            bins=(-0.99, -0.5, 0.0, 0.5, 0.99),
            quantiles=(0.2, 0.35, 0.5, 0.65, 0.8),
            skip={"quadrature": "the outer deciles are within 1e-20 of the ends"},
        ),
    ]


CASES: list[Case] = (
    _kumaraswamy() + _relaxed_categorical() + _relaxed_binary() + _truncated() + _soft_truncated()
)


@dataclass(frozen=True)
class BadParams:
    """A parameter set ``validate_args=True`` must reject with a ``ValueError`` whose
    message names each of ``names``."""

    id: str
    case: str  # the Case whose other parameters are kept
    overrides: Mapping[str, Any]
    names: tuple[str, ...]


def _bad_params() -> list[BadParams]:
    bad = [
        BadParams("kum-c1-zero", "kum-ordinary", {"concentration1": 0.0}, ("concentration1",)),
        BadParams("kum-c0-negative", "kum-ordinary", {"concentration0": -1.0}, ("concentration0",)),
        BadParams("kum-c1-nan", "kum-ordinary", {"concentration1": np.nan}, ("concentration1",)),
        BadParams(
            "kum-batched-one-bad",
            "kum-batched",
            {"concentration0": np.array([0.7, -1.5, 4.0, 10.0])},
            ("concentration0",),
        ),
    ]
    for short in ("rohc", "exp", "st", "rb", "rbst", "lrb"):
        categorical = short in ("rohc", "exp", "st")
        bad += [
            BadParams(
                f"{short}-temperature-zero",
                f"{short}-ordinary",
                {"temperature": 0.0},
                ("temperature",),
            ),
            BadParams(
                f"{short}-temperature-negative",
                f"{short}-ordinary",
                {"temperature": -0.5},
                ("temperature",),
            ),
            BadParams(
                f"{short}-temperature-nan",
                f"{short}-ordinary",
                {"temperature": np.nan},
                ("temperature",),
            ),
            # At infinite temperature the density is degenerate ((K - 1) log tau).
            BadParams(
                f"{short}-temperature-inf",
                f"{short}-ordinary",
                {"temperature": INF},
                ("temperature",),
            ),
            BadParams(
                f"{short}-temperature-batched-one-bad",
                f"{short}-batched",
                {"temperature": np.array([[0.3], [-1.0]])},
                ("temperature",),
            ),
        ]
        if categorical:
            bad += [
                BadParams(
                    f"{short}-probs-not-normalized",
                    f"{short}-ordinary",
                    {"probs": np.array([0.2, 0.3, 0.6])},
                    ("probs",),
                ),
                BadParams(
                    f"{short}-probs-negative",
                    f"{short}-ordinary",
                    {"probs": np.array([-0.1, 0.6, 0.5])},
                    ("probs",),
                ),
                # A category of probability 0 draws components exactly 0: log_prob of
                # the distribution's own draws is then not finite.
                BadParams(
                    f"{short}-probs-zero",
                    f"{short}-ordinary",
                    {"probs": np.array([0.0, 0.5, 0.5])},
                    ("probs",),
                ),
                BadParams(
                    f"{short}-logits-nan",
                    f"{short}-batched",
                    {"logits": np.where(np.eye(4, 3) > 0, np.nan, 0.0)},
                    ("logits",),
                ),
                BadParams(
                    f"{short}-logits-inf",
                    f"{short}-batched",
                    {"logits": np.where(np.eye(4, 3) > 0, INF, 0.0)},
                    ("logits",),
                ),
            ]
        else:
            bad += [
                BadParams(
                    f"{short}-probs-above-one", f"{short}-ordinary", {"probs": 1.2}, ("probs",)
                ),
                BadParams(
                    f"{short}-probs-negative", f"{short}-ordinary", {"probs": -0.1}, ("probs",)
                ),
                # probs 0 or 1: the relaxation degenerates to a point mass at 0 or 1.
                BadParams(f"{short}-probs-one", f"{short}-ordinary", {"probs": 1.0}, ("probs",)),
                BadParams(f"{short}-probs-zero", f"{short}-ordinary", {"probs": 0.0}, ("probs",)),
                BadParams(
                    f"{short}-logits-nan",
                    f"{short}-batched",
                    {"logits": np.array([np.nan, 0.0, 1.0])},
                    ("logits",),
                ),
                BadParams(
                    f"{short}-logits-inf",
                    f"{short}-batched",
                    {"logits": np.array([0.0, INF, 1.0])},
                    ("logits",),
                ),
            ]
    for short in ("tn", "tl", "tlap", "tg"):
        bad += [
            BadParams(f"{short}-scale-zero", f"{short}-ordinary", {"scale": 0.0}, ("scale",)),
            BadParams(f"{short}-scale-negative", f"{short}-ordinary", {"scale": -1.0}, ("scale",)),
            BadParams(f"{short}-loc-nan", f"{short}-ordinary", {"loc": np.nan}, ("loc",)),
            BadParams(
                f"{short}-low-above-high",
                f"{short}-ordinary",
                {"low": 2.0, "high": 1.0},
                ("low", "high"),
            ),
            BadParams(
                f"{short}-low-equals-high",
                f"{short}-ordinary",
                {"low": 1.0, "high": 1.0},
                ("low", "high"),
            ),
            BadParams(
                f"{short}-batched-low-above-high",
                f"{short}-batched",
                {"high": np.array([3.0, 3.0, -1.0, 3.0])},
                ("low", "high"),
            ),
        ]
    bad += [
        BadParams(
            "trunc-low-above-high", "trunc-cauchy", {"low": 3.0, "high": 1.0}, ("low", "high")
        ),
        BadParams("soft-softness-zero", "soft-ordinary", {"softness": 0.0}, ("softness",)),
        BadParams("soft-softness-negative", "soft-ordinary", {"softness": -0.1}, ("softness",)),
        BadParams(
            "soft-low-above-high", "soft-ordinary", {"low": 1.0, "high": -1.0}, ("low", "high")
        ),
        BadParams(
            "soft-batched-softness-one-bad",
            "soft-batched-ends",
            {"softness": np.array([0.1, -0.3])},
            ("softness",),
        ),
    ]
    return bad


BAD_PARAMS: list[BadParams] = _bad_params()


@dataclass(frozen=True)
class ClipCase:
    """A :class:`SoftClipTransform` with its ``(low, high, softness)``."""

    id: str
    low: Any
    high: Any
    softness: Any
    dtype: str = "float64"


CLIP_CASES = [
    ClipCase("clip-ordinary", -1.0, 2.0, 0.3),
    ClipCase("clip-batched", np.array([-1.0, 0.0, 0.5]), np.array([[1.0], [10.0]]), 0.5),
    ClipCase("clip-sharp", 0.0, 1.0, 0.01),
    ClipCase("clip-sharp-f32", 0.0, 1.0, 0.01, dtype="float32"),
    ClipCase("clip-low0", 0.0, None, 0.5),
    ClipCase("clip-high0", None, 0.0, 0.5),
    ClipCase("clip-wide", -1e4, 1e4, 10.0),
]

BAD_CLIPS = [
    ("clip-softness-zero", 0.0, 1.0, 0.0, ("softness",)),
    ("clip-softness-negative", 0.0, 1.0, np.array([0.1, -0.1]), ("softness",)),
    ("clip-low-above-high", 1.0, 0.0, 0.1, ("low", "high")),
    ("clip-no-ends", None, None, 0.1, ("low", "high")),
]


def case_by_id(case_id: str) -> Case:
    """The case called ``case_id``."""
    return _BY_ID[case_id]


_BY_ID = {c.id: c for c in CASES}
assert len(_BY_ID) == len(CASES), "case ids must be unique"

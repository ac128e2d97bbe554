"""The failures the docs' comparison page quotes, measured side by side: upstream Pyro
(torch), upstream NumPyro, TensorFlow Probability's JAX substrate, and ppl_reparam.

1. Kumaraswamy(0.1, 0.1), float32, 100,000 draws: draws equal to exactly 0 or 1, and
   draws whose own log_prob is not finite.
2. TruncatedNormal(0, 1, low=20, high=21), float32, 10,000 draws: their mean (exact
   20.0498), draws outside [20, 21] and exactly on an end, and draws whose d x / d loc
   is not finite.
3. RelaxedOneHotCategorical(temperature 0.05, 10 equal logits), float32, 2,000 draws:
   draws whose log_prob is not finite or that leave the simplex (a non-finite entry or
   |sum - 1| > 1e-6).
4. KL(Kumaraswamy(a, b) || Beta(a, b)) at (2, 3) and (0.5, 0.5), float64, relative error
   against mpmath quadrature; "not registered" where the library has no rule.

TFP is not a dependency of this project: install it to include its column
(``pip install tfp-nightly dm-tree six``); without it its rows say "not installed".
Run: ``PYTHONPATH=. python benchmarks/upstream_failures.py`` (about half a minute).
"""

import argparse

import mpmath as mp
import numpy as np

N_KUMA, N_TRUNC, N_RELAX = 100_000, 10_000, 2_000


def _frac(mask) -> str:
    mask = np.asarray(mask)
    return f"{mask.mean():.1%}"


def exact_kl(a: float, b: float) -> float:
    """KL(Kumaraswamy(a, b) || Beta(a, b)) by 30-digit quadrature of the density ratio."""
    mp.mp.dps = 30
    a, b = mp.mpf(a), mp.mpf(b)

    def log_k(x):
        return mp.log(a * b) + (a - 1) * mp.log(x) + (b - 1) * mp.log(1 - x**a)

    def log_beta(x):
        return (a - 1) * mp.log(x) + (b - 1) * mp.log(1 - x) - mp.log(mp.beta(a, b))

    return float(mp.quad(lambda x: mp.exp(log_k(x)) * (log_k(x) - log_beta(x)), [0, 0.5, 1]))


def torch_rows() -> list:
    import pyro.distributions as upstream
    import torch

    from ppl_reparam.pyro.distributions import Kumaraswamy

    torch.manual_seed(0)
    rows = []
    c = torch.tensor(0.1)
    for name, d in (
        ("Pyro (torch)", upstream.Kumaraswamy(c, c)),
        ("ours, Pyro", Kumaraswamy(c, c)),
    ):
        x = d.rsample((N_KUMA,))
        rows.append(
            (
                "Kumaraswamy(0.1, 0.1)",
                name,
                _frac((x == 0) | (x == 1)),
                _frac(~d.log_prob(x).isfinite()),
            )
        )
    logits = torch.zeros(10)
    tau = torch.tensor(0.05)
    # validation off: count the bad draws instead of raising on the first
    d = upstream.RelaxedOneHotCategorical(tau, logits=logits, validate_args=False)
    x = d.rsample((N_RELAX,))
    bad = ~d.log_prob(x).isfinite() | ~x.isfinite().all(-1) | ((x.sum(-1) - 1).abs() > 1e-6)
    rows.append(("relaxed, tau 0.05", "Pyro (torch)", _frac(bad.numpy()), ""))
    return rows


def jax_rows() -> list:
    import jax
    import jax.numpy as jnp
    import numpyro.distributions as upstream

    from ppl_reparam.numpyro.distributions import Kumaraswamy, RelaxedOneHotCategorical
    from ppl_reparam.numpyro.distributions import TruncatedNormal as OurTruncatedNormal

    key = jax.random.key(0)
    rows = []
    c = jnp.float32(0.1)
    for name, d in (("NumPyro", upstream.Kumaraswamy(c, c)), ("ours, NumPyro", Kumaraswamy(c, c))):
        x = d.sample(key, (N_KUMA,))
        rows.append(
            (
                "Kumaraswamy(0.1, 0.1)",
                name,
                _frac((x == 0) | (x == 1)),
                _frac(~jnp.isfinite(d.log_prob(x))),
            )
        )
    for name, cls in (("NumPyro", upstream.TruncatedNormal), ("ours, NumPyro", OurTruncatedNormal)):
        rows.append(("TruncatedNormal [20, 21]", name, *_truncated(cls, key)))
    d = RelaxedOneHotCategorical(jnp.float32(0.05), logits=jnp.zeros(10))
    x, intermediates = d.sample_with_intermediates(key, (N_RELAX,))
    lp = d.log_prob(x, intermediates)
    bad = ~jnp.isfinite(lp) | ~jnp.isfinite(x).all(-1) | (jnp.abs(x.sum(-1) - 1) > 1e-6)
    rows.append(("relaxed, tau 0.05", "ours, NumPyro", _frac(bad), ""))
    return rows


def _truncated(make, key) -> tuple:
    import jax
    import jax.numpy as jnp

    def draws(loc):
        return make(loc, jnp.float32(1.0), low=jnp.float32(20.0), high=jnp.float32(21.0)).sample(
            key, (N_TRUNC,)
        )

    x = draws(jnp.float32(0.0))
    dx = jax.jacfwd(draws)(jnp.float32(0.0))
    outside, at_end = (x < 20) | (x > 21), (x == 20) | (x == 21)
    text = f"mean {float(x.mean()):.2f}, outside {_frac(outside)}, on an end {_frac(at_end)}"
    return text, _frac(~jnp.isfinite(dx))


def tfp_rows() -> list:
    try:
        import tensorflow_probability as tfp_meta
        import tensorflow_probability.substrates.jax as tfp
    except ImportError:
        return [("all", "TFP", "not installed", "")]
    import jax
    import jax.numpy as jnp

    d = tfp.distributions
    name = f"TFP {tfp_meta.__version__} (JAX)"
    key = jax.random.key(0)
    rows = []
    c = jnp.float32(0.1)
    k = d.Kumaraswamy(c, c)
    x = k.sample(N_KUMA, seed=key)
    rows.append(
        (
            "Kumaraswamy(0.1, 0.1)",
            name,
            _frac((x == 0) | (x == 1)),
            _frac(~jnp.isfinite(k.log_prob(x))),
        )
    )

    def make(loc, scale, low, high):
        class Adapter:
            def sample(self, key, shape):
                return d.TruncatedNormal(loc, scale, low, high).sample(shape, seed=key)

        return Adapter()

    rows.append(("TruncatedNormal [20, 21]", name, *_truncated(make, key)))
    r = d.RelaxedOneHotCategorical(jnp.float32(0.05), logits=jnp.zeros(10))
    x = r.sample(N_RELAX, seed=key)
    bad = ~jnp.isfinite(r.log_prob(x)) | ~jnp.isfinite(x).all(-1) | (jnp.abs(x.sum(-1) - 1) > 1e-6)
    rows.append(("relaxed, tau 0.05", name, _frac(bad), ""))
    return rows


def kl_rows() -> list:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpyro.distributions as upstream

    from ppl_reparam.numpyro.distributions import Kumaraswamy

    libraries = [
        (
            "NumPyro",
            lambda a, b: upstream.kl_divergence(upstream.Kumaraswamy(a, b), upstream.Beta(a, b)),
        ),
        (
            "ours, NumPyro",
            lambda a, b: upstream.kl_divergence(Kumaraswamy(a, b), upstream.Beta(a, b)),
        ),
    ]
    try:
        import tensorflow_probability.substrates.jax as tfp

        td = tfp.distributions
        libraries.append(
            ("TFP (JAX)", lambda a, b: td.kl_divergence(td.Kumaraswamy(a, b), td.Beta(a, b)))
        )
    except ImportError:
        pass
    rows = []
    for a, b in ((2.0, 3.0), (0.5, 0.5)):
        exact = exact_kl(a, b)
        for name, kl in libraries:
            try:
                value = float(kl(jnp.float64(a), jnp.float64(b)))
                text = f"{value:.6g} (rel. error {abs(value - exact) / exact:.1e})"
            except NotImplementedError:
                text = "not registered"
            rows.append((f"KL(K({a:g}, {b:g}) || Beta), exact {exact:.6g}", name, text, ""))
    return rows


def main() -> None:
    # no options: --help prints what the script measures
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    rows = torch_rows() + jax_rows() + tfp_rows()
    print(
        "| case | library | draws on 0 or 1 / draws / bad draws | non-finite log_prob or dx/dloc |"
    )
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print("\n| case | library | value |\n|---|---|---|")
    for case, name, text, _ in kl_rows():
        print(f"| {case} | {name} | {text} |")


if __name__ == "__main__":
    main()

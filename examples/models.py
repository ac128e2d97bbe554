"""Reference hierarchical models, written once per backend, used by the examples, the NUTS
reference script and the posterior-accuracy tests.

- Eight schools, non-centered (Rubin 1981): ``mu``, ``tau``, ``theta_raw[8]``.
- Rat tumours, hierarchical Beta-Binomial (Tarone 1982; Gelman et al., BDA sec. 5.3):
  population mean ``m ~ Uniform(0, 1)``, concentration ``kappa = alpha + beta`` with
  ``p(kappa) ∝ kappa^(-5/2)`` on ``kappa > 1`` (Gelman's prior, made proper), and
  ``theta[71] ~ Beta(m kappa, (1 - m) kappa)``.
"""


def numpyro_eight_schools(sigma, y=None):
    import numpyro
    import numpyro.distributions as dist

    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("school", len(sigma)):
        theta_raw = numpyro.sample("theta_raw", dist.Normal(0.0, 1.0))
        numpyro.sample("y", dist.Normal(mu + tau * theta_raw, sigma), obs=y)


def numpyro_rat_tumors(rats, tumors=None):
    import numpyro
    import numpyro.distributions as dist

    m = numpyro.sample("m", dist.Uniform(0.0, 1.0))
    kappa = numpyro.sample("kappa", dist.Pareto(1.0, 1.5))
    with numpyro.plate("experiment", len(rats)):
        theta = numpyro.sample("theta", dist.Beta(m * kappa, (1.0 - m) * kappa))
        numpyro.sample("tumors", dist.Binomial(rats, probs=theta), obs=tumors)


def pyro_eight_schools(sigma, y=None):
    import pyro
    import pyro.distributions as dist

    mu = pyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = pyro.sample("tau", dist.HalfCauchy(5.0))
    with pyro.plate("school", len(sigma)):
        theta_raw = pyro.sample("theta_raw", dist.Normal(0.0, 1.0))
        pyro.sample("y", dist.Normal(mu + tau * theta_raw, sigma), obs=y)


def pyro_rat_tumors(rats, tumors=None):
    import pyro
    import pyro.distributions as dist

    m = pyro.sample("m", dist.Uniform(0.0, 1.0))
    kappa = pyro.sample("kappa", dist.Pareto(1.0, 1.5))
    with pyro.plate("experiment", len(rats)):
        theta = pyro.sample("theta", dist.Beta(m * kappa, (1.0 - m) * kappa))
        pyro.sample("tumors", dist.Binomial(rats, probs=theta), obs=tumors)

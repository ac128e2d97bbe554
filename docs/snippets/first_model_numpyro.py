import arviz as az
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from ppl_reparam.numpyro.arviz import to_inference_data
from ppl_reparam.numpyro.guides import AutoPathwiseGuide
from ppl_reparam.numpyro.infer import fit


def model(sigma, y=None):  # eight schools, non-centred
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))  # positive: a softplus-normal guide
    with numpyro.plate("school", len(sigma)):
        theta_raw = numpyro.sample("theta_raw", dist.Normal(0.0, 1.0))
        numpyro.sample("y", dist.Normal(mu + tau * theta_raw, sigma), obs=y)


y = jnp.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
sigma = jnp.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
result = fit(model, AutoPathwiseGuide(model), sigma, y, num_steps=2000, progress_bar=False)
print(az.summary(to_inference_data(result), var_names=["mu", "tau"]))

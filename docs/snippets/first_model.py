import arviz as az
import pyro
import pyro.distributions as dist
import torch

from ppl_reparam.pyro.arviz import to_inference_data
from ppl_reparam.pyro.guides import AutoPathwiseGuide
from ppl_reparam.pyro.infer import fit


def model(sigma, y=None):  # eight schools, non-centred
    mu = pyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = pyro.sample("tau", dist.HalfCauchy(5.0))  # positive: a softplus-normal guide
    with pyro.plate("school", len(sigma)):
        theta_raw = pyro.sample("theta_raw", dist.Normal(0.0, 1.0))
        pyro.sample("y", dist.Normal(mu + tau * theta_raw, sigma), obs=y)


y = torch.tensor([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
sigma = torch.tensor([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
result = fit(model, AutoPathwiseGuide(model), sigma, y, num_steps=2000, progress_bar=False)
print(az.summary(to_inference_data(result), var_names=["mu", "tau"]))

"""`fit` names the parameter whose gradient turned non-finite when parameters are nested
(a module's pytree in NumPyro, a module's sub-module parameters in Pyro)."""

import pytest


def _pyro_fit():
    import pyro
    import pyro.distributions as dist
    import torch

    from ppl_reparam.pyro.infer import fit

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.shift = torch.nn.Parameter(torch.zeros(2))
            self.gain = torch.nn.Module()
            self.gain.root = torch.nn.Parameter(torch.tensor(0.0))

    net = Net()

    def model():
        pyro.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        pyro.module("net", net)
        # sqrt at 0: a finite loss whose gradient in `root` is infinite
        pyro.sample("z", dist.Normal(net.shift.sum() + net.gain.root.sqrt(), 1.0))

    pyro.clear_param_store()
    fit(model, guide, num_steps=5, progress_bar=False)


def _numpyro_fit():
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    from ppl_reparam.numpyro.infer import fit

    def model():
        numpyro.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        # a pytree parameter, as numpyro.module and AutoIAFNormal store theirs
        net = numpyro.param("net", {"shift": jnp.zeros(2), "gain": {"root": jnp.array(0.0)}})
        loc = net["shift"].sum() + jnp.sqrt(net["gain"]["root"])
        numpyro.sample("z", dist.Normal(loc, 1.0))

    fit(model, guide, num_steps=5, progress_bar=False)


@pytest.mark.parametrize(
    "run, name",
    [(_pyro_fit, "net$$$gain.root"), (_numpyro_fit, "net/gain/root")],
    ids=["pyro", "numpyro"],
)
def test_a_non_finite_gradient_of_a_nested_parameter_names_its_leaf(run, name):
    from ppl_reparam._fit import NonFiniteLossError

    with pytest.raises(NonFiniteLossError) as info:
        run()
    message = str(info.value)
    assert f"parameters with a non-finite gradient: {name}" in message
    assert "shift" not in message  # its gradient is finite

"""ppl_reparam: pathwise (reparameterized) ELBO gradients for Pyro and NumPyro.

Importing this package imports neither torch nor jax. Use the backend you work in::

    from ppl_reparam.pyro.distributions import Kumaraswamy      # PyTorch / Pyro
    from ppl_reparam.numpyro.distributions import Kumaraswamy   # JAX / NumPyro

Formulas shared by both backends live once, in :mod:`ppl_reparam.math`.
"""

__version__ = "0.1.0"

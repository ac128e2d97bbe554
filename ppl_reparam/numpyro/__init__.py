"""The JAX / NumPyro backend of ppl_reparam."""

from ppl_reparam.numpyro import distributions, kl

__all__ = ["distributions", "kl"]

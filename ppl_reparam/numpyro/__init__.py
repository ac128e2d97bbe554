"""The JAX / NumPyro backend of ppl_reparam."""

from ppl_reparam.numpyro import distributions, kl, transforms

__all__ = ["distributions", "kl", "transforms"]

"""Reparameterizable distributions for Pyro; importing this registers their KL rules."""

from ppl_reparam.pyro import kl as _kl  # noqa: E402, F401, I001  (registers KL rules)
from ppl_reparam.pyro.distributions.kumaraswamy import Kumaraswamy

__all__ = ["Kumaraswamy"]

"""KL divergences registered with torch's ``kl_divergence`` (which Pyro's
``TraceMeanField_ELBO`` uses); importing :mod:`ppl_reparam.pyro.distributions` registers
them.
"""

import torch
from torch.distributions import Beta, kl_divergence, register_kl

from ppl_reparam.math import kumaraswamy as _k
from ppl_reparam.pyro import _xp
from ppl_reparam.pyro.distributions.kumaraswamy import Kumaraswamy

__all__ = ["kl_divergence"]


@register_kl(Kumaraswamy, Beta)
def _kl_kumaraswamy_beta(p: Kumaraswamy, q: Beta) -> torch.Tensor:
    return _k.kl_beta(_xp, p.concentration1, p.concentration0, q.concentration1, q.concentration0)

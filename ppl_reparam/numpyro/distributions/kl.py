"""KL divergences registered with NumPyro's ``kl_divergence`` (which its
``TraceMeanField_ELBO`` uses); importing :mod:`ppl_reparam.numpyro.distributions`
registers them.
"""

from numpyro.distributions import Beta
from numpyro.distributions.kl import kl_divergence

from ppl_reparam.math import kumaraswamy as _k
from ppl_reparam.numpyro import _xp
from ppl_reparam.numpyro.distributions.kumaraswamy import Kumaraswamy

__all__ = ["kl_divergence"]


@kl_divergence.register(Kumaraswamy, Beta)
def _kl_kumaraswamy_beta(p: Kumaraswamy, q: Beta):
    return _k.kl_beta(_xp, p.concentration1, p.concentration0, q.concentration1, q.concentration0)

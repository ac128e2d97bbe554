"""Pyro's constraints, plus the closed upper half line torch lacks.

``less_than_eq`` is NumPyro's constraint of that name, the mirror image of torch's
``greater_than_eq``; it is registered with ``biject_to`` and ``transform_to`` (the map of
``less_than``), so Pyro's autoguides and NUTS handle it like any torch constraint.
"""

from pyro.distributions.constraints import *  # noqa: F403
from pyro.distributions.constraints import __all__ as _pyro_all
from torch.distributions import biject_to, transform_to
from torch.distributions.constraints import _LessThan
from torch.distributions.transforms import AffineTransform, ComposeTransform, ExpTransform


class _LessThanEq(_LessThan):
    """Constrain to the closed real half line ``(-inf, upper_bound]``."""

    def check(self, value):
        return value <= self.upper_bound


less_than_eq = _LessThanEq


@biject_to.register(_LessThanEq)
@transform_to.register(_LessThanEq)
def _transform_to_less_than_eq(constraint: _LessThanEq) -> ComposeTransform:
    return ComposeTransform([ExpTransform(), AffineTransform(constraint.upper_bound, -1)])


__all__ = [*_pyro_all, "less_than_eq"]

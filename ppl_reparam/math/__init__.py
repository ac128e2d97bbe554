"""Backend-neutral formulas, written once against a small array namespace.

Every function here takes the namespace ``xp`` as its first argument: an object that
exposes the element-wise operations listed in :class:`ArrayNamespace`. The PyTorch
backend passes :mod:`ppl_reparam.pyro._xp`, the JAX backend :mod:`ppl_reparam.numpyro._xp`.
A formula must use nothing but these operations and Python arithmetic, so it runs
unchanged on torch tensors, JAX arrays (under ``jit``/``vmap``/``grad``) and, in the
tests, NumPy arrays.
"""

from ppl_reparam.math.namespace import ArrayNamespace

__all__ = ["ArrayNamespace"]

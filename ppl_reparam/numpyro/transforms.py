"""The transforms, also importable from here; they live in
:mod:`ppl_reparam.numpyro.distributions.transforms`."""

from ppl_reparam.numpyro.distributions.transforms import SoftClipTransform

__all__ = ["SoftClipTransform"]

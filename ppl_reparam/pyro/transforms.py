"""The transforms, also importable from here; they live in
:mod:`ppl_reparam.pyro.distributions.transforms`."""

from ppl_reparam.pyro.distributions.transforms import SoftClipTransform

__all__ = ["SoftClipTransform"]

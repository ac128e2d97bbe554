"""Helpers shared by the Pyro distributions' custom gradient rules."""

import torch


def sum_to_shape(grad: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Undo broadcasting: sum ``grad`` down to a parameter of shape ``shape``."""
    return grad.sum_to_size(shape) if grad.shape != shape else grad

"""The PyTorch array namespace for :mod:`ppl_reparam.math`."""

import torch

exp = torch.exp
log = torch.log
log1p = torch.log1p
expm1 = torch.expm1
sqrt = torch.sqrt
abs = torch.abs
lgamma = torch.lgamma
digamma = torch.digamma
erfc = torch.special.erfc
erfcx = torch.special.erfcx
ndtri = torch.special.ndtri


def where(cond: torch.Tensor, x, y) -> torch.Tensor:
    return torch.where(cond, x, y)


def clip(x: torch.Tensor, low, high) -> torch.Tensor:
    return torch.clamp(x, low, high)


def finfo(x: torch.Tensor) -> torch.finfo:
    return torch.finfo(x.dtype)


def stop_gradient(x: torch.Tensor) -> torch.Tensor:
    return x.detach()


def sum(x: torch.Tensor, axis: int) -> torch.Tensor:
    return torch.sum(x, dim=axis)


def constant(values, like: torch.Tensor) -> torch.Tensor:
    out = torch.as_tensor(list(values), dtype=like.dtype, device=like.device)
    return out.reshape((-1,) + (1,) * like.dim())


def logsumexp(x: torch.Tensor, axis: int) -> torch.Tensor:
    return torch.logsumexp(x, dim=axis)


def log_softmax(x: torch.Tensor, axis: int) -> torch.Tensor:
    return torch.log_softmax(x, dim=axis)


def softplus(x: torch.Tensor) -> torch.Tensor:
    # not torch.nn.functional.softplus: its linear cut-off above 20 is off by 2e-9.
    return torch.logaddexp(x, torch.zeros_like(x))


def one_hot_argmax(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.one_hot(x.argmax(-1), x.shape[-1]).to(x.dtype)


def argmax(x: torch.Tensor, axis: int) -> torch.Tensor:
    return torch.argmax(x, dim=axis)

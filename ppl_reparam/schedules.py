r"""Temperature schedules: plain Python callables from a training step to a float.

A schedule imports neither torch nor jax. Read it once per step and pass the number to
the step function; the relaxed distributions take the temperature as an ordinary
parameter, so a jitted NumPyro step given ``temperature`` as an argument is compiled
once and reused for every value::

    schedule = ExponentialDecay(start=1.0, rate=1e-4, floor=0.5, update_every=500)
    for t in range(num_steps):
        state, loss = svi_step(state, schedule(t))   # no recompilation

Every schedule holds its value constant between updates: it changes only at steps that
are multiples of ``update_every``.
"""

import math
from abc import ABC, abstractmethod
from numbers import Integral, Real


def _check_real(name: str, param: str, value, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{name}: `{param}` must be a finite real number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{name}: `{param}` must be > 0, got {value!r}")
    return float(value)


def _check_count(name: str, param: str, value, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name}: `{param}` must be an integer >= {minimum}, got {value!r}")
    return int(value)


class Schedule(ABC):
    """A value that a training loop reads at step ``t``: ``schedule(t) -> float``."""

    def __init__(self, update_every: int = 1):
        self.update_every = _check_count(
            type(self).__name__, "update_every", update_every, minimum=1
        )

    def __call__(self, step: int) -> float:
        """The value at ``step`` (an integer >= 0): the value at the last update step,
        the largest multiple of ``update_every`` not after ``step``."""
        step = _check_count(type(self).__name__, "step", step, minimum=0)
        return self._value(step - step % self.update_every)

    @abstractmethod
    def _value(self, step: int) -> float:
        """The value at an update step."""


class Constant(Schedule):
    """The same value at every step.

    Example::

        >>> Constant(0.5)(1000)
        0.5
    """

    def __init__(self, value: float):
        super().__init__()
        self.value = _check_real("Constant", "value", value, positive=True)

    def _value(self, step: int) -> float:
        return self.value

    def __repr__(self) -> str:
        return f"Constant({self.value!r})"


class LinearDecay(Schedule):
    r"""Linear interpolation from ``start`` at step 0 to ``end`` at ``num_steps``, then
    ``end``:

    .. math::
        \tau(t) = \text{start} + (\text{end} - \text{start}) \min(t / \text{num\_steps}, 1),

    with ``t`` rounded down to a multiple of ``update_every``. Both ends must be > 0
    (``end`` may exceed ``start``, for a warm-up).

    Example::

        >>> LinearDecay(1.0, 0.5, num_steps=100)(50)
        0.75
    """

    def __init__(self, start: float, end: float, num_steps: int, update_every: int = 1):
        super().__init__(update_every)
        self.start = _check_real("LinearDecay", "start", start, positive=True)
        self.end = _check_real("LinearDecay", "end", end, positive=True)
        self.num_steps = _check_count("LinearDecay", "num_steps", num_steps, minimum=1)

    def _value(self, step: int) -> float:
        fraction = min(step / self.num_steps, 1.0)
        return self.start + (self.end - self.start) * fraction

    def __repr__(self) -> str:
        return (
            f"LinearDecay(start={self.start!r}, end={self.end!r}, "
            f"num_steps={self.num_steps!r}, update_every={self.update_every!r})"
        )


class ExponentialDecay(Schedule):
    r"""Exponential decay with a floor, updated every ``update_every`` steps:

    .. math::
        \tau(t) = \max\big(\text{floor},\ \text{start}\, e^{-\text{rate}\, t}\big),
        \qquad t = \text{update\_every} \lfloor \text{step} / \text{update\_every} \rfloor,

    the annealing schedule of Jang, Gu and Poole (2017), who use ``start=1``,
    ``floor=0.5``, ``rate`` of 1e-5 or 1e-4 and ``update_every=500``. ``floor`` must be
    > 0 (a relaxed distribution needs a positive temperature) and at most ``start``.

    Example::

        >>> ExponentialDecay(start=1.0, rate=1e-4, floor=0.5, update_every=500)(999)
        0.951229424500714
    """

    def __init__(self, start: float, rate: float, floor: float, update_every: int = 1):
        super().__init__(update_every)
        self.start = _check_real("ExponentialDecay", "start", start, positive=True)
        self.rate = _check_real("ExponentialDecay", "rate", rate)
        self.floor = _check_real("ExponentialDecay", "floor", floor, positive=True)
        if self.rate < 0:
            raise ValueError(f"ExponentialDecay: `rate` must be >= 0, got {rate!r}")
        if self.floor > self.start:
            raise ValueError(
                f"ExponentialDecay: `floor` ({floor!r}) must not exceed `start` ({start!r})"
            )

    def _value(self, step: int) -> float:
        # exp(-rate * step) underflows to 0.0 for huge steps; the floor then applies.
        return max(self.floor, self.start * math.exp(-self.rate * step))

    def __repr__(self) -> str:
        return (
            f"ExponentialDecay(start={self.start!r}, rate={self.rate!r}, "
            f"floor={self.floor!r}, update_every={self.update_every!r})"
        )


__all__ = ["Constant", "ExponentialDecay", "LinearDecay", "Schedule"]

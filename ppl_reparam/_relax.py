"""Backend-neutral pieces of the relaxation strategy (no torch or jax import)."""

from numbers import Real

from ppl_reparam.schedules import Schedule

RELAXED_SUFFIX = "_relaxed"
TEMPERATURE_KWARG = "relax_temperature"


def relaxed_site_name(name: str) -> str:
    """The name of the log-space latent site that replaces discrete site ``name``."""
    return name + RELAXED_SUFFIX


class TemperatureSpec:
    """What a user gave as the temperature of :func:`relax`: a positive number, an array
    of the backend, or a :class:`~ppl_reparam.schedules.Schedule`."""

    def __init__(self, temperature, array_type: type):
        if isinstance(temperature, Real) and not isinstance(temperature, bool):
            if not temperature > 0:
                raise ValueError(f"relax: temperature must be > 0, got {temperature!r}")
        elif not isinstance(temperature, (Schedule, array_type)):
            raise TypeError(
                "relax: temperature must be a positive number, an array or a "
                f"ppl_reparam.schedules.Schedule, got {type(temperature).__name__}"
            )
        self.temperature = temperature

    def at(self, step: int):
        """The temperature at training step ``step``."""
        if isinstance(self.temperature, Schedule):
            return self.temperature(step)
        return self.temperature

    def resolve(self, override):
        """The temperature for one call: ``override`` if given, else the fixed value."""
        if override is not None:
            return override
        if isinstance(self.temperature, Schedule):
            raise ValueError(
                f"relax: the temperature is a schedule; pass {TEMPERATURE_KWARG}="
                "relaxed.temperature_at(step) to the model and guide at every step"
            )
        return self.temperature

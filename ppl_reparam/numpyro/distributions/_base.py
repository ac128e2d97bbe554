"""What every ppl_reparam NumPyro distribution shares."""

import jax
import numpy as np
from numpyro.distributions import Distribution, constraints
from numpyro.util import not_jax_tracer

from ppl_reparam._validation import invalid_parameter_message


class ValidatedDistribution(Distribution):
    """A NumPyro ``Distribution`` whose argument check names the parameter, the
    constraint it must satisfy and the offending values."""

    def validate_args(self, strict: bool = True) -> None:
        with jax.ensure_compile_time_eval():
            for param, value in self.get_args().items():
                constraint = self.arg_constraints[param]
                if constraints.is_dependent(constraint):
                    continue
                is_valid = constraint(value)
                if not_jax_tracer(is_valid):
                    if not np.all(is_valid):
                        bad = np.asarray(value)[
                            ~np.broadcast_to(np.asarray(is_valid), np.shape(value))
                        ]
                        raise ValueError(
                            invalid_parameter_message(type(self).__name__, param, constraint, bad)
                        )
                elif strict:
                    raise RuntimeError("Cannot validate arguments inside jitted code.")

"""Eight schools (Rubin 1981), non-centred, fitted by SVI with AutoPathwiseGuide in
either backend, against a long NUTS reference.

Coaching effects ``y`` with standard errors ``sigma`` in 8 schools; ``mu ~ Normal(0, 5)``,
``tau ~ HalfCauchy(5)``, ``theta_raw ~ Normal(0, 1)``, ``y ~ Normal(mu + tau theta_raw,
sigma)`` (the model is ``examples/models.py``). The posterior is drawn through
``to_inference_data`` (the ArviZ export) and compared, site by site, with NUTS
(``data/nuts_reference.json``).

Run: ``ppl-reparam examples run eight_schools --backend pyro|numpyro [--steps N]`` or
``python examples/eight_schools.py ...``. Writes ``eight_schools_<backend>_posterior.png``
(SVI mean and sd against NUTS per element) and ``..._summary.json``.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

NAME = "eight_schools"
DESCRIPTION = "eight schools, non-centred: AutoPathwiseGuide posterior against NUTS"
DEFAULT_STEPS = 5000
#: seconds (wall) of one run at the default steps, imports included, on a shared 2-core
#: CPU under load (``ppl-reparam examples list``); an idle machine is several times faster
RUN_TIME_S = {"numpyro": 34, "pyro": 120}


def run(backend: str, out: Path, steps: int, seed: int) -> dict:
    """Fit, write the figure under ``out``, return the summary (see examples/_common.py)."""
    from examples import _hierarchical

    table = _hierarchical.load_csv("eight_schools")
    y, sigma = table["effect"].astype(float), table["stderr"].astype(float)
    return _hierarchical.run(NAME, backend, out, steps, seed, (sigma,), {"y": y})


if __name__ == "__main__":
    from examples._common import main

    main(sys.modules[__name__])

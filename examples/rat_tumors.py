"""Rat tumours (Tarone 1982; BDA sec. 5.3), a hierarchical Beta-Binomial, fitted by SVI
with AutoPathwiseGuide in either backend, against a long NUTS reference.

Tumours in 71 groups of rats: population mean ``m ~ Uniform(0, 1)``, concentration
``kappa ~ Pareto(1, 1.5)``, ``theta[71] ~ Beta(m kappa, (1 - m) kappa)``, ``tumors ~
Binomial(rats, theta)`` (the model is ``examples/models.py``). The unit-interval sites
``m`` and ``theta`` get the guide's default family there, the logit-normal: the best
Kumaraswamy fit of the 71 Beta-shaped ``theta`` is itself about 0.4 NUTS sd off on
``kappa`` (``benchmarks/posterior_accuracy.py``).

Run: ``ppl-reparam examples run rat_tumors --backend pyro|numpyro [--steps N]`` or
``python examples/rat_tumors.py ...``. Writes ``rat_tumors_<backend>_posterior.png`` and
``..._summary.json``.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

NAME = "rat_tumors"
DESCRIPTION = "rat tumours, hierarchical Beta-Binomial: AutoPathwiseGuide posterior against NUTS"
DEFAULT_STEPS = 5000
#: seconds (wall) of one run at the default steps, imports included, on a shared 2-core
#: CPU under load (``ppl-reparam examples list``); an idle machine is several times faster
RUN_TIME_S = {"numpyro": 120, "pyro": 177}


def run(backend: str, out: Path, steps: int, seed: int) -> dict:
    """Fit, write the figure under ``out``, return the summary (see examples/_common.py)."""
    from examples import _hierarchical

    table = _hierarchical.load_csv("rat_tumors")
    tumors, rats = table["tumors"].astype(int), table["rats"].astype(int)
    return _hierarchical.run(NAME, backend, out, steps, seed, (rats,), {"tumors": tumors})


if __name__ == "__main__":
    from examples._common import main

    main(sys.modules[__name__])

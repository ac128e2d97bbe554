"""Every runnable example runs end to end from the ``ppl-reparam`` command in both
backends (a few steps), so that none can rot: each writes its PNG figures and a JSON
summary with the keys it documents and no NaN or infinity."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ppl_reparam.cli import examples_table

ROOT = Path(__file__).resolve().parents[1]
COMMON_KEYS = {"example", "backend", "device", "steps", "seed", "wall_time_s", "figures"}
# the keys each example's summary adds to the common ones
KEYS = {
    "eight_schools": {"against_nuts", "worst_mean_error_in_nuts_sd", "guide_families"},
    "rat_tumors": {"against_nuts", "worst_mean_error_in_nuts_sd", "guide_families"},
    "mixture": {"weights", "means", "assignments", "final_temperature"},
    "binary_features": {"methods", "variance_ratio_score_over_relaxed"},
    "tails": {"intervals", "ours_worst_relative_error"},
    "lotka_volterra": {
        "posterior",
        "against_nuts",
        "nuts_wall_time_s",
        "mean_field",
        "correlation",
    },
    "sir": {"posterior", "against_nuts", "nuts_wall_time_s", "mean_field", "correlation"},
}
STEPS = 3  # SVI steps; for the tails example, interval positions


def _reject(constant: str):
    raise ValueError(f"{constant} in a JSON summary")


def test_every_example_is_checked_here():
    assert set(examples_table()) == set(KEYS)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
def test_every_example_writes_its_figures_and_summary(backend, tmp_path):
    # one process per backend: the examples share its imports, and the settings they
    # make (JAX's x64 mode) stay out of the test session
    runs = [
        [
            "examples",
            "run",
            name,
            "--backend",
            backend,
            "--steps",
            str(STEPS),
            "--out",
            str(tmp_path),
        ]
        for name in KEYS
    ]
    script = (
        "import sys; from ppl_reparam.cli import main\n"
        f"for argv in {runs!r}:\n"
        "    if main(argv): sys.exit(f'failed: {argv}')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for name, keys in KEYS.items():
        summary_path = tmp_path / f"{name}_{backend}_summary.json"
        summary = json.loads(summary_path.read_text(), parse_constant=_reject)
        assert COMMON_KEYS | keys <= summary.keys(), (name, set(summary))
        assert summary["example"] == name and summary["backend"] == backend
        assert summary["figures"], name
        for figure in summary["figures"]:
            assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", figure

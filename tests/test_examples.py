"""The ODE examples run end to end in both backends (a few steps), so that none can rot:
each writes its two figures and a JSON summary with finite posterior moments."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
@pytest.mark.parametrize("example", ["lotka_volterra", "sir"])
def test_ode_example_writes_figures_and_summary(example, backend, tmp_path):
    script = ROOT / "examples" / f"{example}.py"
    cmd = [sys.executable, str(script), "--backend", backend, "--out", str(tmp_path)]
    subprocess.run([*cmd, "--steps", "3"], check=True, capture_output=True, timeout=600)
    for suffix in ("trajectories.png", "marginals.png"):
        assert (tmp_path / f"{example}_{backend}_{suffix}").stat().st_size > 0
    summary = json.loads((tmp_path / f"{example}_{backend}_summary.json").read_text())
    assert summary["nuts_wall_time_s"] > 0
    text = json.dumps(summary)
    assert "NaN" not in text and "Infinity" not in text

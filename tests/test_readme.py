"""The README's first model is the docs' first model, and it runs and fits, in both backends."""

import json
import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SNIPPET = ROOT / "docs" / "snippets" / "first_model.py"


def _blocks(text: str) -> list[tuple[str, str]]:
    """The fenced code blocks of a Markdown text, as (language, code)."""
    return re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)


def test_readme_starts_with_the_two_setup_commands_then_the_first_model():
    blocks = _blocks(README)
    assert blocks[:2] == [("bash", "bash scripts/demo.sh\n"), ("bash", "bash scripts/test.sh\n")]
    assert blocks[2] == ("python", SNIPPET.read_text())
    for script in ("demo.sh", "test.sh", "docs.sh"):
        assert (ROOT / "scripts" / script).is_file()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
def test_first_model_runs_and_lands_near_nuts(backend, capsys):
    snippet = SNIPPET if backend == "pyro" else SNIPPET.with_name("first_model_numpyro.py")
    host = pytest.importorskip(backend)
    pytest.importorskip("arviz")
    if backend == "pyro":
        host.clear_param_store()
    runpy.run_path(str(snippet), run_name="__main__")
    printed = capsys.readouterr().out
    reference = json.loads((ROOT / "data" / "nuts_reference.json").read_text())
    for site in ("mu", "tau"):
        match = re.search(rf"^{site}\s+(-?\d+\.\d+)\s+(\d+\.\d+)", printed, re.M)
        assert match, printed
        nuts = reference["eight_schools"]["sites"][site]
        # 2000 steps of a mean-field guide: within 0.3 NUTS posterior sd of the NUTS mean
        assert abs(float(match.group(1)) - nuts["mean"]) < 0.3 * nuts["sd"], (site, printed)

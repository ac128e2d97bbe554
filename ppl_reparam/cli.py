"""The ppl-reparam command: what is installed, the runnable examples, the benchmarks.

The examples and benchmarks live in the source repository (examples/, benchmarks/, with
their data in data/), not in the installed package: run them from a checkout (an
editable install, pip install -e '.[all]'), or point PPL_REPARAM_ROOT at one.
"""

import argparse
import ast
import importlib
import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import ppl_reparam

PROG = "ppl-reparam"
BACKENDS = {"pyro": ("torch", "pyro-ppl"), "numpyro": ("jax", "numpyro")}
EXAMPLE_BACKENDS = tuple(BACKENDS)
DEFAULT_OUT = Path("ppl-reparam-output")
# the distributions that matter to the backends, in the order info prints them
PACKAGES = (
    "numpy",
    "torch",
    "pyro-ppl",
    "torchdiffeq",
    "jax",
    "jaxlib",
    "numpyro",
    "optax",
    "funsor",
    "diffrax",
    "arviz",
    "matplotlib",
    "tqdm",
)
EPILOG = """\
examples:
  ppl-reparam examples run eight_schools --backend pyro --steps 500 --out results
  ppl-reparam bench mixture --backend numpyro --K 3 10 --steps 300
"""


class UsageError(Exception):
    """Bad use of the command: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with errors on one line: the message and where to find help."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _metadata_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _public_names(backend: str) -> list[str]:
    """``__all__`` of ``ppl_reparam.<backend>.distributions``, read from the source (no
    import, so neither torch nor jax is loaded)."""
    path = Path(ppl_reparam.__file__).parent / backend / "distributions" / "__init__.py"
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return [n for n in ast.literal_eval(node.value) if n[0].isupper()]
    return []


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def add_run_arguments(parser: argparse.ArgumentParser, default_steps: int | None) -> None:
    """The arguments of one example run (``default_steps=None``: the example's own)."""
    steps_default = "the example's own" if default_steps is None else default_steps
    parser.add_argument(
        "--backend", choices=EXAMPLE_BACKENDS, default="numpyro", help="default: numpyro"
    )
    parser.add_argument(
        "--device", choices=("cpu", "gpu"), default="cpu", help="where to fit (default: cpu)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"folder for the figures and the JSON summary (default: ./{DEFAULT_OUT})",
    )
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=default_steps,
        help=f"SVI steps (default: {steps_default}; fewer for a quick look)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")


def info() -> None:
    """Print the versions of ppl_reparam and its backends, and the families each offers."""
    print(f"ppl_reparam {ppl_reparam.__version__} ({Path(ppl_reparam.__file__).parent})")
    for name in PACKAGES:
        version = _metadata_version(name)
        print(f"  {name:<12} {version or 'not installed'}")
    for backend, requirements in BACKENDS.items():
        missing = [r for r in requirements if _metadata_version(r) is None]
        if missing:
            print(
                f"{backend}: unavailable (missing {', '.join(missing)}; "
                f"pip install 'ppl-reparam[{backend}]')"
            )
            continue
        print(
            f"{backend}: ppl_reparam.{backend}.distributions: {', '.join(_public_names(backend))}"
        )


# ------------------------------------------------------------------ repository files


def repository_root() -> Path:
    """The source checkout holding examples/ and benchmarks/: ``$PPL_REPARAM_ROOT`` if
    set, else the folder above the imported package (an editable install or a run from
    the checkout)."""
    given = os.environ.get("PPL_REPARAM_ROOT")
    root = Path(given) if given else Path(ppl_reparam.__file__).resolve().parent.parent
    if not (root / "examples" / "_common.py").is_file():
        where = f"PPL_REPARAM_ROOT={given}" if given else f"{root} (above the installed package)"
        raise UsageError(
            f"the examples and benchmarks are not available: {where} is not a ppl_reparam "
            "source checkout. They ship with the repository, not the wheel: clone it and "
            "pip install -e '.[all]' there, or set PPL_REPARAM_ROOT to the checkout"
        )
    return root


def _constants(path: Path) -> dict:
    """The module-level constants (literals), function names and docstring of a file."""
    tree = ast.parse(path.read_text())
    found = {"__doc__": ast.get_docstring(tree) or ""}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    found[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    pass
        elif isinstance(node, ast.FunctionDef):
            found[node.name] = "function"
    return found


def examples_table() -> dict[str, dict]:
    """``{name: {"description", "default_steps", "run_time_s"}}`` of every runnable example
    (a file in examples/ defining ``NAME``, ``DESCRIPTION`` and ``run``), without
    importing any of them."""
    table = {}
    for path in sorted((repository_root() / "examples").glob("[!_]*.py")):
        found = _constants(path)
        if {"NAME", "DESCRIPTION", "run"} <= found.keys():
            table[found["NAME"]] = {
                "description": found["DESCRIPTION"],
                "default_steps": found.get("DEFAULT_STEPS"),
                "run_time_s": found.get("RUN_TIME_S") or {},
            }
    return table


def _seconds(value) -> str:
    if value is None:
        return "?"
    return f"~{value:.0f} s" if value < 120 else f"~{value / 60:.0f} min"


def examples_list() -> None:
    table = examples_table()
    width = max(map(len, table))
    print(f"{'name':<{width}}  {'numpyro':>8}  {'pyro':>8}  what it shows")
    for name, row in table.items():
        times = row["run_time_s"]
        print(
            f"{name:<{width}}  {_seconds(times.get('numpyro')):>8}  "
            f"{_seconds(times.get('pyro')):>8}  {row['description']}"
        )
    print(
        "\nTimes: wall seconds of one run at the default steps, imports and compilation "
        "included, measured on a shared 2-core CPU under load (an idle machine is several "
        "times faster); ?: not measured.\n"
        f"Run one with: {PROG} examples run NAME --backend pyro|numpyro"
    )


def examples_run(opts: argparse.Namespace) -> None:
    root = repository_root()
    table = examples_table()
    if opts.name not in table:
        raise UsageError(f"no example {opts.name!r}; choose one of {', '.join(table)}")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    common = importlib.import_module("examples._common")
    example = importlib.import_module(f"examples.{opts.name}")
    try:
        path = common.run_example(example, opts)
    except common.ExampleError as err:
        raise UsageError(str(err)) from None
    print(f"wrote {path} and the figures beside it")


def _first_sentence(doc: str) -> str:
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    return paragraph.split(". ")[0].rstrip(".")


def benchmarks_table() -> dict[str, Path]:
    folder = repository_root() / "benchmarks"
    return {path.stem: path for path in sorted(folder.glob("[!_]*.py"))}


def bench(name: str | None, args: list[str]) -> int:
    table = benchmarks_table()
    if name is None:
        width = max(map(len, table))
        for stem, path in table.items():
            print(f"{stem:<{width}}  {_first_sentence(_constants(path)['__doc__'])}")
        print(f"\nRun one with: {PROG} bench NAME [ARGS ...] (NAME --help for its arguments)")
        return 0
    if name not in table:
        raise UsageError(f"no benchmark {name!r}; choose one of {', '.join(table)}")
    script = table[name]
    if any(a == "--backend" or a.startswith("--backend=") for a in args):
        if '"--backend"' not in script.read_text():
            raise UsageError(
                f"benchmark {name!r} takes no --backend: it runs the backends its table "
                f"compares (see {PROG} bench {name} --help)"
            )
    root = repository_root()
    # the checkout's ppl_reparam, whatever else is installed
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run([sys.executable, str(script), *args], cwd=root, env=env).returncode


def parser() -> argparse.ArgumentParser:
    top = _Parser(
        prog=PROG,
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("info", help="versions and families (fast: imports neither torch nor jax)")
    examples = commands.add_parser(
        "examples",
        help="list or run the examples",
        description="List the runnable examples, or run one.",
    )
    what = examples.add_subparsers(dest="action", metavar="ACTION", required=True)
    what.add_parser("list", help="name, what it shows, time per backend")
    run = what.add_parser(
        "run",
        help="run one example",
        description=(
            "Run one example: fit its model in the chosen backend, write its figures (PNG) "
            "and a JSON summary to --out."
        ),
    )
    run.add_argument("name", metavar="NAME", help=f"an example ({PROG} examples list)")
    add_run_arguments(run, None)
    bench_parser = commands.add_parser(
        "bench",
        help="list the benchmarks, or run one and print its table",
        description=(
            "Run a script of benchmarks/ in the source checkout and print its table. "
            "Everything after NAME goes to the script (e.g. --backend, --steps)."
        ),
    )
    bench_parser.add_argument(
        "name", metavar="NAME", nargs="?", help="a benchmark; none: list them"
    )
    bench_parser.add_argument(
        "args", metavar="ARGS", nargs=argparse.REMAINDER, help="its arguments"
    )
    return top


def main(argv: list[str] | None = None) -> int:
    opts = parser().parse_args(argv)
    try:
        if opts.command == "info":
            info()
        elif opts.command == "examples" and opts.action == "list":
            examples_list()
        elif opts.command == "examples":
            examples_run(opts)
        else:
            return bench(opts.name, opts.args)
    except UsageError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

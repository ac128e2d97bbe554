"""The ``ppl-reparam`` command: report what is installed and which families it offers."""

import argparse
import importlib
import importlib.util

from ppl_reparam import __version__

BACKENDS = {"pyro": ("torch", "pyro"), "numpyro": ("jax", "numpyro")}


def info() -> None:
    print(f"ppl_reparam {__version__}")
    for backend, requirements in BACKENDS.items():
        missing = [r for r in requirements if importlib.util.find_spec(r) is None]
        if missing:
            print(f"  {backend:<8} unavailable (install the '{backend}' extra; missing {missing})")
            continue
        module = importlib.import_module(f"ppl_reparam.{backend}.distributions")
        print(f"  {backend:<8} distributions: {', '.join(module.__all__)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="ppl-reparam", description=__doc__)
    parser.add_argument("command", choices=["info"], help="what to do")
    args = parser.parse_args(argv)
    if args.command == "info":
        info()


if __name__ == "__main__":
    main()

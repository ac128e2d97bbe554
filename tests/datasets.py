"""Loaders for the small public data sets in ``data/``."""

from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent.parent / "data"


def eight_schools() -> tuple[np.ndarray, np.ndarray]:
    """(y, sigma): estimated coaching effects and their standard errors."""
    table = np.genfromtxt(
        DATA / "eight_schools.csv", delimiter=",", names=True, dtype=None, encoding="utf-8"
    )
    return np.asarray(table["effect"], dtype=float), np.asarray(table["stderr"], dtype=float)


def rat_tumors() -> tuple[np.ndarray, np.ndarray]:
    """(tumours, rats) in 71 experiments."""
    table = np.genfromtxt(
        DATA / "rat_tumors.csv", delimiter=",", names=True, dtype=None, encoding="utf-8"
    )
    return np.asarray(table["tumors"], dtype=int), np.asarray(table["rats"], dtype=int)

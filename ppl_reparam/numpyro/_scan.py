"""Reaching the sites inside ``numpyro.contrib.control_flow.scan``.

NumPyro runs a scan body under ``handlers.block()`` and replays its sites, stacked over
time, to the handlers outside only after the loop: a handler that must act while a site
is drawn (a reparameterizer) never sees it, and a value it sets must keep the loop's
carry of one type. :class:`ScanBodies` hands each scan body to a wrapper before the loop
runs; :func:`check_carry` turns a carry that changes type into an error naming the
sites.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from numpyro import handlers
from numpyro.contrib.control_flow.scan import scan_wrapper
from numpyro.primitives import Messenger

from ppl_reparam import _rebar

# the infer key labelling the sites of one scan, read by estimators' frames
SCAN_KEY = "ppl_reparam_scan"
CARRY_ADVICE = (
    "a relaxed site's value is a relaxed one-hot vector (a bit in (0, 1)) where the "
    "integer was, so carry what is computed from it, e.g. choose(z, transition_probs), "
    "rather than z itself"
)


class ScanBodies(Messenger):
    """Replaces the body ``f`` of every scan the model runs by ``wrap(f, k)``, ``k``
    counting the scans from 0 in program order."""

    def __init__(self, fn: Callable, wrap: Callable):
        self.wrap, self.count = wrap, 0
        super().__init__(fn)

    def __enter__(self):
        self.count = 0
        return super().__enter__()

    def process_message(self, msg: dict) -> None:
        if msg["type"] == "control_flow" and msg["fn"] is scan_wrapper:
            body, *rest = msg["args"]
            msg["args"] = (self.wrap(body, self.count), *rest)
            self.count += 1


class _Record(Messenger):
    """Records the names of the sample sites it sees in ``sites``, as ``{name: k}``."""

    def __init__(self, fn: Callable, sites: dict, k: int):
        self.sites, self.k = sites, k
        super().__init__(fn)

    def process_message(self, msg: dict) -> None:
        if msg["type"] == "sample":
            self.sites[msg["name"]] = self.k


def _types(tree) -> list:
    return [(jnp.shape(x), jnp.result_type(x)) for x in jax.tree.leaves(tree)]


def check_carry(body: Callable, who: str) -> Callable:
    """``body`` with an error naming its sites when it returns a carry of another shape
    or dtype than it received (``who`` opens the message)."""

    def checked(carry, x):
        with handlers.trace() as trace:
            new_carry, y = body(carry, x)
        if _types(new_carry) != _types(carry):
            names = [n for n, s in trace.items() if s["type"] in ("sample", "deterministic")]
            raise TypeError(
                f"{who}: a scan body over sites {names} receives its carry as "
                f"{_types(carry)} (shape, dtype) and returns it as {_types(new_carry)}; "
                f"{CARRY_ADVICE}"
            )
        return new_carry, y

    return checked


class ScanSites:
    """``model`` with its carries checked and the sites of its k-th scan known: after a
    run, :meth:`label` gives a trace's messages with ``infer[SCAN_KEY] = k`` on them (the
    scan's time axis is then a frame of :func:`frames`). Labelled afterwards, not as they
    are drawn: ``replay`` replaces a site's ``infer`` by the guide's."""

    def __init__(self, model: Callable, who: str):
        self.sites: dict[str, int] = {}

        def wrap(body: Callable, k: int) -> Callable:
            return check_carry(_Record(body, self.sites, k), who)

        self.model = ScanBodies(model, wrap)

    def label(self, msgs) -> list:
        return [
            {**msg, "infer": {**(msg.get("infer") or {}), SCAN_KEY: self.sites[msg["name"]]}}
            if msg.get("name") in self.sites
            else msg
            for msg in msgs
        ]


def labelled_run(model: Callable, who: str, args: tuple, kwargs: dict) -> list:
    """The messages of one run of ``model`` (seeded at 0), with the sites of each scan
    labelled (:meth:`ScanSites.label`), so that a site inside a scan keeps its time axis
    as a frame of :func:`frames`; ``who`` opens a carry error's message."""
    scans = ScanSites(model, who)
    trace = handlers.trace(handlers.seed(scans.model, 0)).get_trace(*args, **kwargs)
    return scans.label(trace.values())


def frames(msg: dict) -> dict:
    """``{name: dim}`` of a site's plates, and of its scan's time axis (the leading
    batch axis of a site the scan stacked) under the name ``_rebar.SCAN_FRAME + k``."""
    found = {f.name: f.dim for f in msg["cond_indep_stack"]}
    scan = (msg.get("infer") or {}).get(SCAN_KEY)
    if scan is not None and msg["type"] == "sample":
        found[f"{_rebar.SCAN_FRAME}{scan}"] = -len(msg["fn"].batch_shape)
    return found

"""Fixtures shared by the test suite.

The ``backend`` fixture runs one test body against both backends through a small
adapter (:class:`tests.backends.Backend`); ``dtype`` runs it in float32 and float64.
JAX is switched to 64-bit here so float64 cases are really float64.
"""

import os

# Under pytest-xdist every worker shares the machine's few cores: one thread per worker
# (torch and XLA would each start one per core, and oversubscribed they run several
# times slower). Set before torch or jax is imported.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
    ).strip()

import pytest  # noqa: E402

from tests.backends import BACKEND_NAMES, get_backend  # noqa: E402


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        try:
            import torch

            torch.set_num_threads(1)
        except ImportError:
            pass
    try:
        import jax
    except ImportError:
        return
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")


@pytest.fixture(params=BACKEND_NAMES)
def backend(request):
    return get_backend(request.param)


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    return request.param


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)

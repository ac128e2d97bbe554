"""A relaxed hidden Markov model has the same log joint in both backends: NumPyro's
``scan`` and Pyro's ``markov`` loop, at the same relaxed values."""

import numpy as np
import pytest

pytest.importorskip("numpyro")
pytest.importorskip("pyro")


def test_a_relaxed_scan_in_numpyro_and_a_relaxed_markov_loop_in_pyro_agree():
    import jax
    import jax.numpy as jnp
    from numpyro.infer.util import log_density

    from ppl_reparam.numpyro.relax import relax
    from tests import hmm_reference as ref
    from tests.numpyro.test_sequential import scan_hmm
    from tests.pyro.test_sequential import markov, relaxed_log_joint

    values = jnp.log(jax.nn.softmax(jnp.asarray(ref.LOGITS) * 0.7, -1))
    args = (jnp.asarray(ref.A), jnp.asarray(ref.Y))
    numpyro_value, _ = log_density(relax(scan_hmm, 0.6), args, {}, {"z_relaxed": values})
    np.testing.assert_allclose(float(numpyro_value), relaxed_log_joint(markov), rtol=1e-12)

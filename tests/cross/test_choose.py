"""`choose` with bits and one-hots inside plates, on both backends, against the
formula written out by hand: ``(1 - z) * options[0] + z * options[1]`` for a bit,
``sum_k z[..., k] * options[k]`` for a one-hot."""

import contextlib

import numpy as np
import pytest


def _api(backend):
    """(choose, plate) of a backend."""
    if backend.name == "pyro":
        import pyro

        from ppl_reparam.pyro.relax import choose

        return choose, pyro.plate
    import numpyro

    from ppl_reparam.numpyro.relax import choose

    return choose, numpyro.plate


def _in_plates(backend, sizes):
    """Nested plates of ``sizes`` (outermost first), the last one at dim -1."""
    _, plate = _api(backend)
    stack = contextlib.ExitStack()
    for i, size in enumerate(sizes):
        stack.enter_context(plate(f"p{i}", size, dim=i - len(sizes)))
    return stack


def _bit_mix(z, options):
    z = z.reshape(z.shape + (1,) * (options.ndim - 1))
    return (1 - z) * options[0] + z * options[1]


@pytest.mark.parametrize("size", [2, 3, 5])
def test_a_bit_in_a_plate_chooses_between_two_options(backend, size):
    choose, _ = _api(backend)
    rng = np.random.default_rng(size)
    for shape, hard in [((size,), False), ((size,), True), ((4, size), False)]:
        z = rng.uniform(size=shape)
        if hard:
            z = (z > 0.5) * 1.0  # Pyro's Bernoulli draws floating 0/1
        options = rng.normal(size=(2, 3))
        weights = rng.normal(size=(*shape, 3))

        def loss(z, options, shape=shape, weights=weights):
            with _in_plates(backend, shape):
                return (choose(z, options) * backend.array(weights)).sum()

        with _in_plates(backend, shape):
            value = backend.numpy(choose(backend.array(z), backend.array(options)))
        np.testing.assert_allclose(value, _bit_mix(z, options), rtol=1e-12)
        if hard:
            np.testing.assert_allclose(value, options[z.astype(int)], rtol=1e-12)
            continue  # the gradient is the relaxed bit's, checked below
        grad_z, grad_options = backend.grad(loss, backend.array(z), backend.array(options))
        np.testing.assert_allclose(backend.numpy(grad_z), weights @ (options[1] - options[0]))
        expected = np.stack(
            [
                ((1 - z)[..., None] * weights).reshape(-1, 3).sum(0),
                (z[..., None] * weights).reshape(-1, 3).sum(0),
            ]
        )
        np.testing.assert_allclose(backend.numpy(grad_options), expected, rtol=1e-12)


@pytest.mark.parametrize("size", [2, 3, 5])
@pytest.mark.parametrize("num_options", [2, 3])
def test_a_one_hot_in_a_plate_mixes_its_options(backend, size, num_options):
    choose, _ = _api(backend)
    rng = np.random.default_rng(10 * size + num_options)
    z = rng.dirichlet(np.ones(num_options), size=size)  # a relaxed one-hot per datum
    options = rng.normal(size=(num_options,))
    weights = rng.normal(size=size)

    def loss(z, options):
        with _in_plates(backend, (size,)):
            return (choose(z, options) * backend.array(weights)).sum()

    with _in_plates(backend, (size,)):
        value = backend.numpy(choose(backend.array(z), backend.array(options)))
    np.testing.assert_allclose(value, z @ options, rtol=1e-12)
    grad_z, grad_options = backend.grad(loss, backend.array(z), backend.array(options))
    np.testing.assert_allclose(backend.numpy(grad_z), weights[:, None] * options[None, :])
    np.testing.assert_allclose(backend.numpy(grad_options), weights @ z, rtol=1e-12)


def test_the_ambiguous_shapes_follow_the_plates_or_the_keyword(backend):
    choose, _ = _api(backend)
    z = np.array([0.2, 0.8])
    options = np.array([-1.0, 3.0])
    one_hot_mix = 0.2 * -1.0 + 0.8 * 3.0
    bits = _bit_mix(z, options)

    def run(sizes, **kwargs):
        with _in_plates(backend, sizes):
            return backend.numpy(choose(backend.array(z), backend.array(options), **kwargs))

    np.testing.assert_allclose(run(()), one_hot_mix)  # no plate: a global one-hot
    np.testing.assert_allclose(run((2,)), bits)  # bits of a plate of size 2
    np.testing.assert_allclose(run((2,), one_hot=True), one_hot_mix)  # a global one-hot
    np.testing.assert_allclose(run((), one_hot=False), bits)  # bits outside their plate
    # a one-hot per datum in a plate of size 2 has an axis beyond the plate's
    pairs = np.array([[0.2, 0.8], [0.9, 0.1]])
    with _in_plates(backend, (2,)):
        value = backend.numpy(choose(backend.array(pairs), backend.array(options)))
    np.testing.assert_allclose(value, pairs @ options)


def test_integer_and_boolean_labels_index(backend):
    choose, _ = _api(backend)
    options = backend.array(np.arange(6.0).reshape(2, 3))
    labels = np.array([1, 0, 1])
    if backend.name == "pyro":
        import torch

        as_int, as_bool = torch.as_tensor(labels), torch.as_tensor(labels.astype(bool))
    else:
        import jax.numpy as jnp

        as_int, as_bool = jnp.asarray(labels), jnp.asarray(labels.astype(bool))
    expected = np.arange(6.0).reshape(2, 3)[labels]
    with _in_plates(backend, (3,)):
        np.testing.assert_array_equal(backend.numpy(choose(as_int, options)), expected)
        np.testing.assert_array_equal(backend.numpy(choose(as_bool, options)), expected)


def test_bad_choices_are_clear_errors(backend):
    choose, _ = _api(backend)
    three = backend.array(np.arange(3.0))
    with pytest.raises(ValueError, match="3 categories on its last axis"):
        choose(backend.array(np.ones((4, 2)) / 2), three)
    with pytest.raises(ValueError, match="chooses between 2 options"):
        choose(backend.array(np.full(3, 0.5)), three, one_hot=False)
    with pytest.raises(ValueError, match="one_hot must be None, True or False"):
        choose(backend.array(np.full(3, 0.5)), three, one_hot="yes")

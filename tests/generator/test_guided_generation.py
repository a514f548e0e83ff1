"""`ImageGenerator` with a guide: `fit_prior(guide_at_step=...)`, `generate(guidance_scale=...)`, saving, serving."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.tiny_models import images
from tests.tiny_models import tiny_generator
from tests.tiny_models import tiny_prior
from tests.tiny_models import tiny_transformer_prior
from vqkeras.export import export_saved_model
from vqkeras.models import ImageGenerator
from vqkeras.priors import MaskGITPrior
from vqkeras.priors import PixelCNNPrior


@pytest.fixture(scope="module")
def guided():
    keras.utils.set_random_seed(0)
    generator = tiny_generator(prior_trained=False)
    generator.fit_prior(images(16), epochs=2, batch_size=4, guide_at_step=3, verbose=0)  # 8 steps
    return generator


def test_fit_prior_keeps_the_prior_of_the_chosen_step_as_guide(guided):
    tokens = np.random.default_rng(0).integers(0, 16, size=(4, 4, 4))
    guide, prior = guided.guide, guided.prior
    assert guide is not None and not guide.trainable_weights
    assert not np.allclose(guide.logits(tokens).numpy(), prior.logits(tokens).numpy())  # 5 more steps moved the prior
    expected = prior.sample(3, seed=2, guide=guide, guidance_scale=1.5).numpy()
    np.testing.assert_array_equal(guided.generate_tokens(3, seed=2, guidance_scale=1.5).numpy(), expected)
    assert not np.array_equal(guided.generate_tokens(3, seed=2).numpy(), expected)
    np.testing.assert_array_equal(guided.generate_tokens(3, seed=2, guidance_scale=0.0).numpy(),
                                  guided.generate_tokens(3, seed=2).numpy())


def test_guide_fraction_takes_the_copy_at_that_share_of_the_steps():
    keras.utils.set_random_seed(0)
    by_fraction = tiny_generator(tiny_transformer_prior(dropout=0.0), prior_trained=False)  # no random masks
    prior = tiny_transformer_prior(dropout=0.0)
    prior.set_weights(by_fraction.prior.get_weights())
    by_step = ImageGenerator(by_fraction.tokenizer, prior)  # the same (frozen) tokenizer, the same start
    for generator, kwargs in ((by_fraction, dict(guide_fraction=0.3)), (by_step, dict(guide_at_step=2))):
        keras.utils.set_random_seed(1)  # the same data order for both
        generator.fit_prior(images(16), epochs=2, batch_size=4, verbose=0, **kwargs)  # 8 steps: 0.3 → step 2
    tokens = np.random.default_rng(0).integers(0, 16, size=(4, 4, 4))
    np.testing.assert_allclose(by_fraction.guide.logits(tokens).numpy(), by_step.guide.logits(tokens).numpy(),
                               atol=1e-6)
    with pytest.raises(ValueError, match="not both. Received: guide_at_step=2, guide_fraction=0.3"):
        by_step.fit_prior(images(4), guide_at_step=2, guide_fraction=0.3)
    with pytest.raises(ValueError, match=r"guide_fraction must be in \(0, 1\). Received: guide_fraction=0"):
        by_step.fit_prior(images(4), guide_fraction=0)


def test_fit_prior_with_xla_trains_the_same_prior_and_guide():
    keras.utils.set_random_seed(0)
    with_xla = tiny_generator(tiny_transformer_prior(dropout=0.0), prior_trained=False)
    prior = tiny_transformer_prior(dropout=0.0)
    prior.set_weights(with_xla.prior.get_weights())
    without = ImageGenerator(with_xla.tokenizer, prior)
    for generator, jit_compile in ((with_xla, True), (without, False)):
        keras.utils.set_random_seed(1)  # the same data order for both
        generator.fit_prior(images(16), epochs=2, batch_size=4, guide_at_step=2, jit_compile=jit_compile, verbose=0)
        assert generator.prior.jit_compile is jit_compile
    tokens = np.random.default_rng(0).integers(0, 16, size=(4, 4, 4))
    for model in ("prior", "guide"):
        np.testing.assert_allclose(getattr(with_xla, model).logits(tokens).numpy(),
                                   getattr(without, model).logits(tokens).numpy(), atol=1e-4)
    with pytest.raises(ValueError, match="jit_compile must be \"auto\", True or False. Received: jit_compile='yes'"):
        without.fit_prior(images(4), jit_compile="yes")


def test_keras_round_trip_and_to_inference_keep_the_guide(guided, tmp_path):
    expected = guided.generate(2, seed=4, guidance_scale=2.0).numpy()
    for model in (guided, guided.to_inference()):
        path = tmp_path / f"{id(model)}.keras"
        model.save(path)
        loaded = keras.models.load_model(path)  # safe_mode on
        assert loaded.guide is not None
        np.testing.assert_allclose(loaded.generate(2, seed=4, guidance_scale=2.0).numpy(), expected, atol=1e-5)


def test_guidance_errors_come_before_any_work():
    generator = tiny_generator()
    with pytest.raises(ValueError, match=r"guidance_scale needs a guide.*Received: guidance_scale=1.0, guide=None"):
        generator.generate(1, guidance_scale=1.0)
    with pytest.raises(ValueError, match="guide_at_step must be ≤ the run's 4 training steps.*guide_at_step=5"):
        generator.fit_prior(images(8), epochs=1, batch_size=2, guide_at_step=5, verbose=0)
    with pytest.raises(ValueError, match="at_step must be an integer ≥ 1. Received: at_step=0"):
        generator.fit_prior(images(8), epochs=1, guide_at_step=0, verbose=0)
    with pytest.raises(ValueError, match="num_embeddings, grid_shape and num_classes"):
        generator.set_guide(tiny_transformer_prior(num_embeddings=8))
    with pytest.raises(ValueError, match="guide must be an autoregressive vqkeras prior"):
        generator.set_guide(tiny_prior(MaskGITPrior))
    with pytest.raises(ValueError, match="Guided sampling needs an autoregressive prior.*MaskGITPrior"):
        tiny_generator(MaskGITPrior).set_guide(tiny_transformer_prior())
    generator.set_guide(tiny_prior(PixelCNNPrior))  # any autoregressive prior of the same grid can guide
    assert generator.generate(1, seed=0, guidance_scale=1.0).shape == (1, 8, 8, 1)


def test_exported_generate_takes_a_guidance_scale(guided, tmp_path):
    generate = tf.saved_model.load(export_saved_model(guided, tmp_path)).signatures["generate"]
    names = sorted(generate.structured_input_signature[1])
    assert names == ["guidance_scale", "num_images", "seed", "temperature", "top_k"], names
    for scale in (0.0, 1.5):
        out = generate(num_images=tf.constant(3), seed=tf.constant(7, tf.int64), temperature=tf.constant(1.0),
                       top_k=tf.constant(0), guidance_scale=tf.constant(scale))
        expected = guided.generate_tokens(3, seed=7, guidance_scale=scale).numpy()
        np.testing.assert_array_equal(out["tokens"].numpy(), expected)
    with pytest.raises(tf.errors.InvalidArgumentError, match="guidance_scale must be >= 0"):
        generate(num_images=tf.constant(1), seed=tf.constant(0, tf.int64), temperature=tf.constant(1.0),
                 top_k=tf.constant(0), guidance_scale=tf.constant(-1.0))


def mean_nll(prior, tokens):
    """Mean negative log-likelihood (nats/token) of `tokens` under `prior`, in NumPy from its logits."""
    logits = prior.logits(tokens).numpy().reshape(-1, prior.num_embeddings).astype(np.float64)
    log_p = logits - logits.max(-1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
    return float(-log_p[np.arange(len(log_p)), tokens.reshape(-1)].mean())


def test_fit_guide_gives_a_trained_generator_a_fresh_weaker_guide():
    keras.utils.set_random_seed(0)
    generator = tiny_generator(tiny_transformer_prior(dropout=0.0), prior_trained=False)
    x = images(16)
    generator.fit_prior(x, epochs=10, batch_size=4, optimizer=keras.optimizers.Adam(1e-2), verbose=0)  # 40 steps
    assert generator.guide is None
    generator.prior.trainable = False  # a frozen prior (as after loading some inference files) still gets a guide
    batches = []
    count = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: batches.append(batch))
    history = generator.fit_guide(x, steps=3, batch_size=4, optimizer=keras.optimizers.Adam(1e-2), verbose=0,
                                  callbacks=[count])
    guide, prior = generator.guide, generator.prior
    assert type(guide) is type(prior) and guide.name == f"{prior.name}_guide"
    def architecture(config):
        return {k: v for k, v in config.items() if k not in ("name", "trainable")}

    assert architecture(guide.get_config()) == architecture(prior.get_config())
    assert not guide.trainable_weights and batches == [0, 1, 2] and not guide.compiled
    assert len(history.history["loss"]) == 1
    tokens = generator.encode_dataset(x)
    uniform = np.log(prior.num_embeddings)
    assert mean_nll(prior, tokens) < mean_nll(guide, tokens) < uniform  # trained less, but trained
    np.testing.assert_array_equal(generator.generate_tokens(3, seed=1, guidance_scale=0.5).numpy(),
                                  prior.sample(3, seed=1, guide=guide, guidance_scale=0.5).numpy())


def test_fit_guide_errors_come_before_any_work():
    generator = tiny_generator()
    for steps in (0, 2.5, True):
        with pytest.raises(ValueError, match=f"steps must be an integer ≥ 1. Received: steps={steps!r}"):
            generator.fit_guide(images(4), steps=steps)
    with pytest.raises(ValueError, match="The prior has not been trained"):
        tiny_generator(prior_trained=False).fit_guide(images(4), steps=1)
    with pytest.raises(ValueError, match="Guided sampling needs an autoregressive prior.*MaskGITPrior"):
        tiny_generator(MaskGITPrior).fit_guide(images(4), steps=1)

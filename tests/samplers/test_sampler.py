"""`vqkeras.samplers.Sampler`: validation, serialization, and one sampler giving the same tokens on every path."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.tiny_models import tiny_generator
from tests.tiny_models import tiny_transformer_prior
from vqkeras import samplers
from vqkeras.export import export_saved_model
from vqkeras.priors import MaskGITPrior
from vqkeras.priors import TransformerPrior
from vqkeras.samplers import Sampler


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": 0}, "temperature must be > 0. Received: temperature=0"),
        ({"temperature": -1.0}, "temperature=-1.0"),
        ({"temperature": math.inf}, "temperature=inf"),
        ({"temperature": math.nan}, "temperature=nan"),
        ({"temperature": None}, "temperature=None"),
        ({"temperature": "1"}, "temperature='1'"),
        ({"temperature": True}, "temperature=True"),
        ({"top_k": 0}, "top_k must be in \\[1, K=None\\]. Received: top_k=0"),
        ({"top_k": 2.5}, "top_k must be an integer in \\[1, K\\]. Received: top_k=2.5"),
        ({"top_k": "3"}, "top_k='3'"),
        ({"top_k": True}, "top_k=True"),
        ({"top_p": 0.0}, "top_p must be in \\(0, 1\\]. Received: top_p=0.0"),
        ({"top_p": 1.5}, "top_p=1.5"),
        ({"guidance_scale": -0.5}, "guidance_scale must be a float ≥ 0. Received: guidance_scale=-0.5"),
        ({"guidance_scale": math.nan}, "guidance_scale=nan"),
        ({"guidance_scale": "1"}, "guidance_scale=1"),
    ],
)
def test_every_field_is_validated_in_the_constructor(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Sampler(**kwargs)


def test_fields_are_plain_python_numbers():
    sampler = Sampler(np.float32(0.5), top_k=np.int64(3), top_p=1, guidance_scale=2)
    assert sampler.get_config() == {"temperature": 0.5, "top_k": 3, "top_p": 1.0, "guidance_scale": 2.0}
    assert [type(v) for v in sampler.get_config().values()] == [float, int, float, float]
    assert Sampler().get_config() == {"temperature": 1.0, "top_k": None, "top_p": None, "guidance_scale": None}


def test_config_round_trip():
    sampler = Sampler(0.7, top_k=5, top_p=0.9, guidance_scale=1.5)
    assert Sampler.from_config(sampler.get_config()) == sampler
    serialized = keras.saving.serialize_keras_object(sampler)
    assert serialized["registered_name"] == "vqkeras>Sampler"
    restored = keras.saving.deserialize_keras_object(serialized)
    assert isinstance(restored, Sampler) and restored == sampler
    assert samplers.get(serialized) == sampler and samplers.get(sampler.get_config()) == sampler
    assert samplers.get(None) == Sampler() and samplers.get(sampler) is sampler
    assert sampler != Sampler(0.7, top_k=5, top_p=0.9)
    assert repr(sampler) == "Sampler(temperature=0.7, top_k=5, top_p=0.9, guidance_scale=1.5)"


def test_get_and_build_refuse_bad_input():
    with pytest.raises(ValueError, match="sampler must be a vqkeras.samplers.Sampler.*Received: sampler=0.9"):
        samplers.get(0.9)
    with pytest.raises(ValueError, match=r"Give sampler= or its fields \(top_k\), not both"):
        samplers.build_sampler(Sampler(), top_k=3)
    with pytest.raises(TypeError, match="Unexpected sampling argument.*: top_q"):
        samplers.build_sampler(top_q=0.5)
    with pytest.raises(TypeError, match="Unexpected sampling argument.*: prefix"):
        samplers.build_sampler(prefix=[1])
    assert samplers.build_sampler(temperature=0.5, top_k=None) == Sampler(0.5)


def test_tensors_switch_unset_filters_off():
    tensors = Sampler(0.5).tensors()
    assert [t.dtype for t in tensors] == [tf.float32, tf.int32, tf.float32, tf.float32]
    assert [float(t) for t in tensors] == [0.5, 0.0, 1.0, 0.0]
    assert float(Sampler(guidance_scale=2.0).tensors().guidance_scale) == 2.0
    assert float(Sampler().tensors(guidance_scale=1.0).guidance_scale) == 1.0


def test_a_sampler_and_its_fields_as_keywords_give_the_same_tokens():
    prior = tiny_transformer_prior()
    sampler = Sampler(0.8, top_k=5, top_p=0.9)
    by_object = prior.sample(3, sampler, seed=4).numpy()
    np.testing.assert_array_equal(by_object, prior.sample(3, seed=4, temperature=0.8, top_k=5, top_p=0.9).numpy())
    np.testing.assert_array_equal(by_object, prior.sample(3, sampler.get_config(), seed=4).numpy())
    # the filters act: a different sampler gives different tokens for the same seed
    assert not np.array_equal(by_object, prior.sample(3, Sampler(0.8, top_k=1), seed=4).numpy())
    with pytest.raises(ValueError, match=f"top_k must be in \\[1, K={prior.num_embeddings}\\]"):
        prior.sample(1, Sampler(top_k=prior.num_embeddings + 1), seed=0)
    with pytest.raises(ValueError, match="Give sampler= or its fields"):
        prior.sample(1, sampler, temperature=0.5)


@pytest.mark.parametrize("prior_cls", [TransformerPrior, MaskGITPrior])
def test_generate_and_the_export_signature_agree_for_one_sampler_and_seed(prior_cls, tmp_path):
    generator = tiny_generator(prior_cls)
    sampler = Sampler(0.8, top_k=5)
    generate = tf.saved_model.load(export_saved_model(generator, tmp_path)).signatures["generate"]
    for seed in (3, 11):
        expected = generator.generate_tokens(3, sampler=sampler, seed=seed).numpy()
        out = generate(num_images=tf.constant(3), seed=tf.constant(seed, tf.int64),
                       temperature=tf.constant(sampler.temperature), top_k=tf.constant(sampler.top_k))
        np.testing.assert_array_equal(out["tokens"].numpy(), expected)
    # `generate` decodes those tokens (the last seed's)
    np.testing.assert_array_equal(generator.generate(3, sampler, seed=11).numpy(), generator.decode(expected).numpy())

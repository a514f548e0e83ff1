"""VQBackbone (architecture only) and the parts the VQVAE / VQGAN tasks take: the one-line form builds the same model
as the parts, configs and weights files round-trip, and the weights file keeps the layout of older files."""

import io
import os
import zipfile

import h5py
import keras
import numpy as np
import pytest

from tests import tiny_models
from tests.models.record_training_steps import FIXTURE_DIR
from vqkeras.losses import AdversarialSchedule
from vqkeras.losses import CodeEntropy
from vqkeras.models import PatchDiscriminator
from vqkeras.models import VQGAN
from vqkeras.models import VQVAE
from vqkeras.models import VQBackbone


def weight_paths(path):
    """Every dataset path in a `.keras` file's weights."""
    with zipfile.ZipFile(path) as archive, h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as weights:
        names = []
        weights.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
    return sorted(names)


def test_the_one_line_form_builds_the_parts():
    schedule = dict(disc_start=5, disc_warmup=2, disc_weight=0.3, disc_loss="vanilla", r1_weight=1.0,
                    diff_augment="color")
    one_line = tiny_models.tiny_vqgan(code_entropy_weight=0.2, **schedule)
    parts = VQGAN(
        backbone=VQBackbone(**tiny_models.TOKENIZER_ARGS, name="backbone"),
        discriminator=PatchDiscriminator(num_layers=1, filters=8, name="discriminator"),
        adversarial=AdversarialSchedule(start=5, warmup=2, weight=0.3, loss="vanilla", r1_weight=1.0,
                                        diff_augment="color"),
        perceptual_weight=0.0, code_regularizer=CodeEntropy(0.2), name=one_line.name,
    )
    assert parts.get_config() == one_line.get_config()
    assert (one_line.adversarial.start, one_line.adversarial.warmup, one_line.adversarial.r1_weight) == (5, 2, 1.0)
    assert one_line.diff_augment is one_line.adversarial.diff_augment
    assert VQGAN.from_config(one_line.get_config()).get_config() == one_line.get_config()
    assert one_line.quantizer is one_line.backbone.quantizer and one_line.downsample_factor == 2


def test_bad_parts_name_the_argument():
    backbone = VQBackbone(**tiny_models.TOKENIZER_ARGS)
    with pytest.raises(ValueError, match="not both. Received: backbone and latent_dim=4"):
        VQVAE(backbone=backbone, latent_dim=4)
    with pytest.raises(ValueError, match="not both. Received: adversarial and disc_start=3"):
        VQGAN(backbone=backbone, adversarial=AdversarialSchedule(), disc_start=3)
    with pytest.raises(ValueError, match="backbone must be a vqkeras VQBackbone"):
        VQVAE(backbone="encoder")
    with pytest.raises(ValueError, match="start must be an integer"):
        AdversarialSchedule(start=-1)
    with pytest.raises(ValueError, match="temperature=0"):
        CodeEntropy(0.1, temperature=0)


def test_backbone_round_trips_and_encodes_as_its_task(tmp_path):
    vqvae = tiny_models.tiny_vqvae()
    x = tiny_models.images(2)
    vqvae.build(x.shape)
    vqvae.backbone.save(tmp_path / "backbone.keras")
    loaded = keras.models.load_model(tmp_path / "backbone.keras", safe_mode=True)
    assert type(loaded) is VQBackbone
    np.testing.assert_array_equal(loaded.encode(x).numpy(), vqvae.encode(x).numpy())
    np.testing.assert_array_equal(loaded(x).numpy(), vqvae(x).numpy())


def test_new_files_keep_the_weights_layout_of_older_ones(tmp_path):
    """A VQ-GAN file saved before the split, loaded and saved again, holds its weights at the same paths."""
    old = os.path.join(FIXTURE_DIR, "tiny_vqgan.keras")
    keras.models.load_model(old).save(tmp_path / "again.keras")
    assert weight_paths(tmp_path / "again.keras") == weight_paths(old)
    assert any(path.startswith("layers/conv2d/") for path in weight_paths(old))  # pre_quant, by class name

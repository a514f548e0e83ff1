"""The faces recipe preset: registered as plain data, reproduced by `train_vqgan(preset=...)` and the CLI."""

import json

import keras
import pytest

import vqkeras
from vqkeras.cli import main
from vqkeras.models import VQGAN
from vqkeras.presets import get_recipe
from vqkeras.presets import list_presets

# The recipe on a few photos, with a tiny model: the preset's data, phases and options, in seconds.
TINY = dict(split="train[:32]", image_size=16, num_embeddings=16, latent_dim=8, base_channels=8,
            channel_multipliers=[1, 2], reconstruction_epochs=1, epochs=1, prior_epochs=1, disc_filters=8,
            disc_num_layers=1, perceptual_weight=0.0, prior_kwargs=dict(embed_dim=16, num_layers=1, num_heads=2))


def test_registered_as_a_plain_data_recipe():
    assert "orl_faces_64" in list_presets("generator")
    config = get_recipe("orl_faces_64")
    assert json.loads(json.dumps(config)) == config
    assert (config["dataset"], config["split"], config["image_size"], config["channels"]) == (
        "orl_faces", "train[:90%]", 64, 1)
    assert config["diff_augment"] == ["color", "translation", "cutout"]


def test_train_vqgan_runs_the_recipe_and_arguments_win(tmp_path):
    backup = tmp_path / "backup"
    generator = vqkeras.train_vqgan(preset="orl_faces_64", backup_dir=str(backup), verbose=0, code_entropy_weight=0.3,
                                    **TINY)
    tokenizer = generator.tokenizer
    assert isinstance(tokenizer, VQGAN)
    # From the preset: the options not overridden here.
    assert tokenizer.diff_augment.policy == ("color", "translation", "cutout")
    assert (tokenizer.normalization, tokenizer.upsample, tokenizer.patch_size) == ("none", "pixel_shuffle", 2)
    assert (tokenizer.adversarial.weight, tokenizer.adversarial.warmup) == (0.3, 100)
    assert generator.dataset_name == "orl_faces"
    # From the arguments.
    assert (tokenizer.num_embeddings, tokenizer.latent_dim, tokenizer.perceptual_weight) == (16, 8, 0.0)
    assert tuple(generator.prior.grid_shape) == (4, 4)  # f = patch 2 · 2¹
    assert generator.generate_face(2, seed=0).shape == (2, 16, 16, 1)
    # Two phases: the first one's result is kept for a rerun; its step counter says it trained 2 steps (32 photos).
    saved = backup / "reconstruction.keras"
    assert saved.exists()
    # The code regulariser waits for the second phase: from scratch it would collapse the codebook.
    assert keras.models.load_model(saved, safe_mode=True).code_regularizer is None
    assert tokenizer.code_regularizer.weight == 0.3
    assert int(tokenizer.optimizer.iterations.numpy()) == 2


def test_unknown_preset_names_the_closest_and_no_data_is_an_error():
    with pytest.raises(ValueError, match="Did you mean 'orl_faces_64'"):
        vqkeras.train_vqgan(preset="orl_face_64")
    with pytest.raises(ValueError, match="dataset=None"):
        vqkeras.train_vqgan(image_size=8)
    with pytest.raises(ValueError, match="reconstruction_epochs=-1"):
        vqkeras.train_vqgan(preset="orl_faces_64", reconstruction_epochs=-1)


def test_cli_preset_rejects_flags_it_sets_and_unknown_names(capsys):
    assert main(["train", "--preset", "orl_faces_64", "--epochs", "3", "--out", "x.keras"]) == 2
    assert "--epochs" in capsys.readouterr().err
    assert main(["train", "--preset", "orl_face_64"]) == 2
    assert "Did you mean 'orl_faces_64'" in capsys.readouterr().err
    assert main(["train", "vqvae", "--preset", "orl_faces_64"]) == 2
    assert "model=vqvae" in capsys.readouterr().err
    assert main(["train", "--data", "orl_faces"]) == 2
    assert "--preset" in capsys.readouterr().err

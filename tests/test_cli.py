"""The command line, run in-process through `main(argv)`."""

import keras
import numpy as np
import pytest
from PIL import Image

from tests.tiny_models import tiny_generator
from tests.tiny_models import tiny_vqvae
from vqkeras.cli import main
from vqkeras.models import ImageGenerator

TINY = [
    "--image-size", "16", "--channels", "1", "--batch-size", "16", "--num-embeddings", "16", "--latent-dim", "8",
    "--base-channels", "8", "--channel-multipliers", "1,2", "--num-res-blocks", "0", "--no-attention",
]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["generate", "--model", "missing.keras"], "model file not found: missing.keras"),
        (["train", "vqvae", "--data", "tfds:mnistt", "--out", "m.keras"], "Did you mean"),
        (["train", "vqvae", "--data", "mnist5k", "--out", "m.h5"], "--out must end in .keras"),
        (["train", "vqvae", "--data", "/no/such/folder"], "no/such/folder"),
        (["train", "vqgan", "--data", "mnist5k", "--split", "train[:32]", *TINY, "--perceptual-image-size", "16",
          "--out", "m.keras"], "perceptual_image_size=16"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line.startswith("vqkeras: error:")]
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["generate", "--model", "m.keras", "--num-images", "many"], "invalid int value"),
        (["train", "vqvae", "--data", "mnist5k", "--channel-multipliers", "1,x"], "comma-separated integers"),
        (["train", "vqvae", "--data", "mnist5k", "--channels", "2"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_flags_exit_2_with_one_line(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("vqkeras: error:")


def test_corrupt_model_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip file")
    code, _, err = run(capsys, "generate", "--model", bad)
    assert code == 2 and "could not load" in err and "Traceback" not in err


def test_guidance_without_a_guide_is_a_one_line_error(tmp_path, capsys):
    path = tmp_path / "g.keras"
    tiny_generator().save(path)
    code, _, err = run(capsys, "generate", "--model", path, "--guidance-scale", "1", "--out", tmp_path / "s.png")
    assert code == 2 and "guidance_scale needs a guide" in err and "Traceback" not in err
    assert not (tmp_path / "s.png").exists()


def test_train_guide_gives_a_trained_generator_a_guide(tmp_path, capsys, monkeypatch):
    path, guided = tmp_path / "g.keras", tmp_path / "guided.keras"
    tiny_generator().save(path)  # 8×8 images, prior marked as trained
    fit_guide, compiled_with = ImageGenerator.fit_guide, []

    def spy(self, *args, jit_compile="auto", **kwargs):
        compiled_with.append(jit_compile)
        return fit_guide(self, *args, jit_compile=jit_compile, **kwargs)

    monkeypatch.setattr(ImageGenerator, "fit_guide", spy)
    code, out, err = run(capsys, "train-guide", "--model", path, "--data", "mnist5k", "--split", "train[:32]",
                         "--batch-size", "8", "--steps", "2", "--xla", "--out", guided)
    assert code == 0, err
    generator = keras.models.load_model(guided)
    assert generator.guide is not None and generator.guide.name.endswith("_guide") and compiled_with == [True]
    code, out, err = run(capsys, "generate", "--model", guided, "--num-images", "2", "--guidance-scale", "0.5",
                         "--out", tmp_path / "s.png")
    assert code == 0, err
    bad = [(["--steps", "0"], "--steps must be ≥ 1. Received: --steps 0"),
           (["--steps", "1", "--image-size", "16"], "generator's 8×8 images. Received: --image-size 16")]
    for flags, message in bad:
        code, _, err = run(capsys, "train-guide", "--model", path, "--data", "mnist5k", *flags,
                           "--out", tmp_path / "x.keras")
        assert code == 2 and message in err and "Traceback" not in err


def test_train_prior_takes_the_prior_options_and_a_generator_file(tmp_path, capsys):
    path, out_path = tmp_path / "g.keras", tmp_path / "new.keras"
    tiny_generator().save(path)  # its tokenizer gets a new prior
    code, out, err = run(capsys, "train-prior", "--tokenizer", path, "--data", "mnist5k", "--split", "train[:32]",
                         "--image-size", "8", "--batch-size", "8", "--epochs", "1", "--learning-rate", "1e-3",
                         "--embed-dim", "24", "--num-layers", "1", "--num-heads", "2", "--dropout", "0", "--xla",
                         "--out", out_path)
    assert code == 0, err
    prior = keras.models.load_model(out_path).prior
    assert (prior.embed_dim, prior.num_layers, prior.num_heads, prior.dropout) == (24, 1, 2, 0.0)
    assert prior.jit_compile is True
    assert prior.optimizer.learning_rate.numpy() == pytest.approx(1e-3)
    bad = [(["--prior", "pixelcnn", "--num-heads", "2"], "--prior pixelcnn takes no --num-heads. Received: "
                                                           "--num-heads 2"),
           (["--learning-rate", "0"], "--learning-rate must be > 0. Received: --learning-rate 0.0"),
           (["--embed-dim", "30", "--num-heads", "4"], "embed_dim=30, num_heads=4")]
    for flags, message in bad:
        code, _, err = run(capsys, "train-prior", "--tokenizer", path, "--data", "mnist5k", "--split", "train[:32]",
                           "--image-size", "8", *flags, "--out", tmp_path / "x.keras")
        assert code == 2 and message in err and "Traceback" not in err
        assert not (tmp_path / "x.keras").exists()


def _weights(path, part):
    return [w.numpy() for w in getattr(keras.models.load_model(path), part).weights]


def test_train_prior_and_train_guide_seed_the_initial_weights(tmp_path, capsys):
    """Same `--seed`, bit-identical prior (and guide) weights; another seed, other weights."""
    path = tmp_path / "g.keras"
    tiny_generator().save(path)
    prior_flags = ["--data", "mnist5k", "--split", "train[:16]", "--image-size", "8", "--batch-size", "8", "--epochs",
                   "1", "--embed-dim", "16", "--num-layers", "1", "--num-heads", "2"]
    trained = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        trained[name] = tmp_path / f"prior_{name}.keras"
        code, _, err = run(capsys, "train-prior", "--tokenizer", path, *prior_flags, "--seed", seed,
                           "--out", trained[name])
        assert code == 0, err
    a, b, c = (_weights(trained[name], "prior") for name in "abc")
    for left, right in zip(a, b):
        np.testing.assert_array_equal(left, right)
    assert not all(np.array_equal(left, right) for left, right in zip(a, c))
    guides = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        guided = tmp_path / f"guided_{name}.keras"
        code, _, err = run(capsys, "train-guide", "--model", trained["a"], "--data", "mnist5k", "--split",
                           "train[:16]", "--batch-size", "8", "--steps", "1", "--seed", seed, "--out", guided)
        assert code == 0, err
        guides.append(_weights(guided, "guide"))
    for left, right in zip(guides[0], guides[1]):
        np.testing.assert_array_equal(left, right)
    assert not all(np.array_equal(left, right) for left, right in zip(guides[0], guides[2]))


def test_every_subcommand_documents_its_flags(capsys):
    for command in ("train", "train-prior", "train-guide", "reconstruct", "generate", "style", "inpaint", "export", "evaluate", "demo"):
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0
        text = capsys.readouterr().out
        assert "--" in text and "usage: vqkeras " + command in text


def test_train_reconstruct_prior_generate_style_end_to_end(tmp_path, capsys):
    tokenizer = tmp_path / "tok.keras"
    code, out, err = run(capsys, "train", "vqvae", "--data", "mnist5k", "--split", "train[:64]", "--epochs", "1",
                         *TINY, "--out", tokenizer, "--backup-dir", tmp_path / "backup",
                         "--tensorboard", tmp_path / "tb")
    assert code == 0, err
    assert tokenizer.exists() and list((tmp_path / "tb" / "images").iterdir())
    code, out, err = run(capsys, "reconstruct", "--model", tokenizer, "--data", "mnist5k", "--image-size", "16",
                         "--num-images", "4", "--out", tmp_path / "rec.png")
    assert code == 0, err
    assert Image.open(tmp_path / "rec.png").size == (4 * 16, 2 * 16)
    generator = tmp_path / "gen.keras"
    code, out, err = run(capsys, "train-prior", "--tokenizer", tokenizer, "--data", "mnist5k", "--split", "train[:64]",
                         "--image-size", "16", "--batch-size", "16", "--epochs", "1", "--guide-at-step", "2",
                         "--out", generator)
    assert code == 0, err
    code, out, err = run(capsys, "generate", "--model", generator, "--num-images", "10", "--seed", "3",
                         "--guidance-scale", "0.5", "--out", tmp_path / "s.png")
    assert code == 0, err
    assert Image.open(tmp_path / "s.png").size == (8 * 16, 2 * 16)
    style = tmp_path / "style.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 20), dtype=np.uint8)).save(style)
    code, out, err = run(capsys, "style", "--model", generator, "--image", style, "--num-images", "3",
                         "--out", tmp_path / "st.png")
    assert code == 0, err
    assert Image.open(tmp_path / "st.png").size == (4 * 16, 16)
    code, out, err = run(capsys, "style", "--model", tokenizer, "--image", style)
    assert code == 2 and "not an ImageGenerator" in err


def test_evaluate_prints_the_metrics(tmp_path, capsys):
    model = tiny_vqvae()
    model.build((None, 16, 16, 1))
    model.save(tmp_path / "m.keras")
    code, out, err = run(capsys, "evaluate", "--model", tmp_path / "m.keras", "--data", "mnist5k",
                         "--split", "train[:32]", "--image-size", "16")
    assert code == 0, err
    values = dict(line.split(": ") for line in out.strip().splitlines() if ": " in line)
    assert {"psnr", "ssim", "usage", "perplexity"} <= set(values)
    assert 0 < float(values["usage"]) <= 1 and float(values["psnr"]) > 0


def test_train_takes_the_architecture_options(tmp_path, capsys):
    tokenizer = tmp_path / "tok.keras"
    code, out, err = run(capsys, "train", "vqvae", "--data", "mnist5k", "--split", "train[:32]", "--epochs", "1",
                         *TINY, "--normalization", "none", "--upsample", "pixel_shuffle", "--patch-size", "2",
                         "--out", tokenizer)
    assert code == 0, err
    model = keras.models.load_model(tokenizer, safe_mode=True)
    assert model.normalization == "none" and model.upsample == "pixel_shuffle" and model.patch_size == 2
    with pytest.raises(SystemExit) as info:
        main(["train", "vqvae", "--data", "mnist5k", "--upsample", "bilinear"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "--upsample" in err and "bilinear" in err and "Traceback" not in err

"""The command line's promise: bad input gives one line on stderr and exit code 2, before any work starts.

Each row is a case found by probing the CLI (issue 35): the argv, and the words its one-line error must contain.
Every case runs in-process through `vqkeras.cli.main`, inside an empty folder that also holds an old model file and
an old image (so that a default output path lands there too). After the error, the folder must hold exactly those two
files, unchanged, and nothing that does work (training, sampling, predicting, exporting, evaluating) may have been
called. The TensorFlow start-up lines are checked in real processes at the end.
"""

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from tests.tiny_models import tiny_generator
from tests.tiny_models import tiny_vqvae
from vqkeras import _startup
from vqkeras import export
from vqkeras import metrics
from vqkeras.cli import build_parser
from vqkeras.cli import main
from vqkeras.models import ImageGenerator

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--image-size", "16", "--channels", "1", "--batch-size", "16", "--num-embeddings", "16", "--latent-dim", "8",
        "--base-channels", "8", "--channel-multipliers", "1,2", "--num-res-blocks", "0", "--no-attention"]
TRAIN = ["train", "vqvae", "--data", "mnist5k", "--split", "train[:16]", *TINY, "--epochs", "1"]
PRIOR = ["train-prior", "--tokenizer", "{tok}", "--data", "mnist5k", "--split", "train[:16]", "--image-size", "16",
         "--batch-size", "8", "--epochs", "1"]
GUIDE = ["train-guide", "--model", "{gen}", "--data", "mnist5k", "--split", "train[:16]", "--batch-size", "8",
         "--steps", "1"]
GENERATE = ["generate", "--model", "{gen}", "--num-images", "1"]
RECONSTRUCT = ["reconstruct", "--model", "{tok}"]
DATA = ["--data", "mnist5k", "--split", "train[:16]", "--image-size", "16"]
STYLE = ["style", "--model", "{gen}", "--image", "{img8}", "--num-images", "1"]
INPAINT = ["inpaint", "--model", "{gen}", "--image", "{img8}"]
DEMO = ["demo", "--num-faces", "1", "--num-styles", "1", "--looks", "1", "--out-dir", "{tmp}/demo"]

CASES = {
    # train: exit 0 with an untrained or diverged model, or a failure only after an epoch
    "train-epochs-negative": (TRAIN + ["--epochs", "-1", "--out", "{tmp}/m.keras"], ["--epochs", "≥ 1", "-1"]),
    "train-epochs-zero-keeps-old-model": (TRAIN + ["--epochs", "0", "--out", "{tmp}/old.keras"], ["--epochs"]),
    "train-learning-rate-negative": (TRAIN + ["--learning-rate", "-1", "--out", "{tmp}/m.keras"],
                                     ["--learning-rate", "> 0", "-1.0"]),
    "train-learning-rate-nan": (TRAIN + ["--learning-rate", "nan", "--out", "{tmp}/m.keras"],
                                ["--learning-rate", "finite", "nan"]),
    "train-out-unwritable": (TRAIN + ["--out", "/proc/vqkeras-probe.keras"], ["--out", "not writable", "/proc"]),
    "train-backup-dir-under-a-file": (TRAIN + ["--out", "{tmp}/m.keras", "--backup-dir", "{file}/backup"],
                                      ["--backup-dir", "is a file"]),
    "train-tensorboard-under-a-file": (TRAIN + ["--out", "{tmp}/m.keras", "--tensorboard", "{file}/tb"],
                                       ["--tensorboard", "is a file"]),
    # train-prior and train-guide: saved (or failed) only after training
    "train-prior-epochs-zero": (PRIOR + ["--epochs", "0", "--out", "{tmp}/g.keras"], ["--epochs", "≥ 1"]),
    "train-prior-out-not-keras": (PRIOR + ["--out", "{tmp}/g.txt"], ["--out", ".keras"]),
    "train-prior-image-size-not-a-multiple": (PRIOR + ["--image-size", "15", "--out", "{tmp}/g.keras"],
                                              ["--image-size", "multiple", "factor 2", "14 or 16"]),
    "train-guide-out-under-a-file": (GUIDE + ["--out", "{file}/g.keras"], ["--out", "is a file"]),
    "train-guide-out-not-keras": (GUIDE + ["--out", "{tmp}/g.png"], ["--out", ".keras"]),
    # generate: a traceback after sampling, a concatenate error, exit 0 on inf
    "generate-out-txt": (GENERATE + ["--out", "{tmp}/samples.txt"], ["--out", ".png", "samples.txt"]),
    "generate-out-is-a-folder": (GENERATE + ["--out", "{tmp}"], ["--out", ".png"]),
    "generate-out-under-a-file": (GENERATE + ["--out", "{file}/s.png"], ["--out", "is a file"]),
    "generate-out-unwritable": (GENERATE + ["--out", "/proc/vqkeras-probe.png"], ["--out", "not writable"]),
    "generate-num-images-zero": (GENERATE + ["--num-images", "0", "--out", "{tmp}/s.png"], ["--num-images", "≥ 1"]),
    "generate-num-images-negative": (GENERATE + ["--num-images", "-3", "--out", "{tmp}/s.png"],
                                     ["--num-images", "-3"]),
    "generate-temperature-inf": (GENERATE + ["--temperature", "inf", "--out", "{tmp}/s.png"],
                                 ["--temperature", "finite", "inf"]),
    "generate-guidance-scale-nan": (GENERATE + ["--guidance-scale", "nan", "--out", "{tmp}/s.png"],
                                    ["--guidance-scale", "finite"]),
    "generate-corrupt-model": (["generate", "--model", "{corrupt}", "--out", "{tmp}/s.png"],
                               ["not a valid .keras file", "corrupt.keras"]),
    "generate-model-is-a-folder": (["generate", "--model", "{tmp}", "--out", "{tmp}/s.png"], ["--model", "folder"]),
    # reconstruct: IndexError, UnboundLocalError, obscure Keras errors, ignored flags
    "reconstruct-size-one-number": (RECONSTRUCT + ["--image", "{img8}", "--size", "16", "--out", "{tmp}/r.png"],
                                    ["--size", "h,w", "'16'"]),
    "reconstruct-num-images-zero": (RECONSTRUCT + DATA + ["--num-images", "0", "--out", "{tmp}/r.png"],
                                    ["--num-images", "≥ 1"]),
    "reconstruct-no-images": (RECONSTRUCT + ["--out", "{tmp}/r.png"], ["--image", "--data"]),
    "reconstruct-image-flag-without-files": (RECONSTRUCT + ["--image", "--out", "{tmp}/r.png"], ["--image"]),
    "reconstruct-image-and-data": (RECONSTRUCT + DATA + ["--image", "{img8}", "--out", "{tmp}/r.png"],
                                   ["--image", "--data"]),
    "reconstruct-size-with-data": (RECONSTRUCT + DATA + ["--size", "8,8", "--out", "{tmp}/r.png"],
                                   ["--size", "--image-size"]),
    "reconstruct-images-of-two-sizes": (RECONSTRUCT + ["--image", "{img8}", "{img9}", "--out", "{tmp}/r.png"],
                                        ["8×8", "9×9", "--size"]),
    "reconstruct-image-not-a-multiple": (RECONSTRUCT + ["--image", "{img9}", "--out", "{tmp}/r.png"],
                                         ["9×9", "--size", "factor 2"]),
    "reconstruct-size-zero": (RECONSTRUCT + ["--image", "{img8}", "--size", "0,0", "--out", "{tmp}/r.png"],
                              ["--size", "≥ 1"]),
    "reconstruct-size-not-a-multiple": (RECONSTRUCT + ["--image", "{img8}", "--size", "9,9", "--out", "{tmp}/r.png"],
                                        ["--size", "multiple", "factor 2"]),
    "reconstruct-image-size-not-a-multiple": (RECONSTRUCT + DATA + ["--image-size", "15", "--out", "{tmp}/r.png"],
                                              ["--image-size", "multiple", "15"]),
    "reconstruct-more-images-than-the-data": (RECONSTRUCT + DATA + ["--split", "train[:4]", "--num-images", "8",
                                                                    "--out", "{tmp}/r.png"],
                                              ["--num-images", "4 images"]),
    "reconstruct-out-txt": (RECONSTRUCT + DATA + ["--num-images", "2", "--out", "{tmp}/r.txt"], ["--out", ".png"]),
    # style and inpaint: a traceback after sampling
    "style-out-unknown-extension": (STYLE + ["--out", "{tmp}/s.jpgx"], ["--out", ".png", "s.jpgx"]),
    "style-num-images-zero": (STYLE + ["--num-images", "0", "--out", "{tmp}/s.png"], ["--num-images", "≥ 1"]),
    "inpaint-out-txt": (INPAINT + ["--box", "0,0,4,4", "--out", "{tmp}/i.txt"], ["--out", ".png"]),
    "inpaint-out-under-a-file": (INPAINT + ["--box", "0,0,4,4", "--out", "{file}/i.png"], ["--out", "is a file"]),
    # export and evaluate
    "export-out-dir-under-a-file": (["export", "--model", "{tok}", "--out-dir", "{file}/export"],
                                    ["--out-dir", "is a file"]),
    "evaluate-image-size-not-a-multiple": (["evaluate", "--model", "{tok}", *DATA, "--image-size", "15"],
                                           ["--image-size", "multiple"]),
    # demo: a concatenate error, or a failure only after the faces are sampled
    "demo-num-faces-zero": (DEMO + ["--num-faces", "0"], ["--num-faces", "≥ 1"]),
    "demo-num-styles-zero": (DEMO + ["--num-styles", "0"], ["--num-styles", "≥ 1"]),
    "demo-looks-zero": (DEMO + ["--looks", "0"], ["--looks", "≥ 1"]),
    "demo-more-styles-than-shipped": (DEMO + ["--num-styles", "99"], ["--num-styles", "shipped style images", "99"]),
    "demo-out-dir-is-a-file": (DEMO + ["--out-dir", "{file}"], ["--out-dir", "existing file"]),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Inputs the cases name: a tiny tokenizer (16×16 images, factor 2), a tiny generator (8×8), a corrupt .keras, a
    plain file, and 8×8 and 9×9 images."""
    root = tmp_path_factory.mktemp("cli_inputs")
    tokenizer = tiny_vqvae()
    tokenizer.build((None, 16, 16, 1))
    tokenizer.save(root / "tok.keras")
    tiny_generator().save(root / "gen.keras")
    (root / "corrupt.keras").write_bytes(b"PK\x03\x04 not a zip archive")
    (root / "plain_file").write_text("a file, not a folder")
    rng = np.random.default_rng(0)
    for size in (8, 9):
        Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(root / f"img{size}.png")
    return dict(tok=root / "tok.keras", gen=root / "gen.keras", corrupt=root / "corrupt.keras",
                file=root / "plain_file", img8=root / "img8.png", img9=root / "img9.png")


@pytest.fixture
def work(monkeypatch):
    """Records every call that does a command's work (training, sampling, predicting, exporting, evaluating)."""
    calls = []

    def spy(owner, name):
        original = getattr(owner, name)

        def recorded(*args, **kwargs):
            calls.append(name)
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, recorded)

    for name in ("fit", "predict"):
        spy(keras.Model, name)
    for name in ("generate", "generate_image", "inpaint", "fit_prior", "fit_guide"):
        spy(ImageGenerator, name)
    spy(export, "export_saved_model")
    spy(metrics, "evaluate_model")
    return calls


def run(argv, capsys):
    """`main(argv)`'s exit code (argparse's own errors exit through `SystemExit`), stdout and stderr."""
    try:
        code = main(argv)
    except SystemExit as error:
        code = error.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("argv, words", CASES.values(), ids=CASES.keys())
def test_bad_input_is_one_line_exit_2_before_any_work(argv, words, files, work, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # default outputs land here too
    old = {"old.keras": b"an old model", "old.png": b"an old image"}
    for name, content in old.items():
        (tmp_path / name).write_bytes(content)
    argv = [arg.format(tmp=tmp_path, **files) for arg in argv]

    code, out, err = run(argv, capsys)

    assert code != 0, f"exit 0 (work done: {work})"
    assert not work, f"late: the command started {work} before failing ({err.strip()})"
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("vqkeras: error:"), (code, err)
    assert all(word in lines[0] for word in words), (words, lines[0])
    assert out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(old), "an output was created"
    assert all((tmp_path / name).read_bytes() == content for name, content in old.items()), "an old file changed"


def test_every_number_flag_has_a_range():
    """Every int or float flag declares its range through its `type=`, so none can slip through unchecked; only the
    seeds take any integer and `--channels` has its choices."""
    unchecked = []
    for command, parser in build_parser().commands.items():
        for action in parser._actions:
            if action.type in (int, float) and action.dest not in ("seed", "channels"):
                unchecked.append(f"{command} {action.option_strings[0]}")
    assert unchecked == []


@pytest.mark.parametrize(
    "argv0, orig_argv, expected",
    [
        ("/venv/bin/vqkeras", ["/venv/bin/python", "/venv/bin/vqkeras", "demo"], True),
        ("C:\\venv\\Scripts\\vqkeras.exe", [], True),
        ("-m", ["python", "-u", "-m", "vqkeras.cli", "demo"], True),
        ("/venv/bin/pytest", ["python", "-m", "pytest"], False),
        ("train.py", ["python", "train.py"], False),
        ("-c", ["python", "-c", "import vqkeras.cli"], False),
    ],
)
def test_only_the_command_line_hides_tensorflow_logs(argv0, orig_argv, expected):
    assert _startup.is_command_line(argv0, orig_argv) is expected


def run_process(*argv, cwd):
    """Runs `python -m vqkeras.cli *argv` with this checkout first on the path and no TensorFlow log level set."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "vqkeras.cli", *map(str, argv)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_a_failing_command_prints_one_line_in_a_real_process(files, tmp_path):
    """TensorFlow loads (its start-up lines), the model loads (TensorFlow starts its devices: on a CPU machine,
    `failed call to cuInit`), then the command fails: stderr must hold the command's one line only."""
    result = run_process("reconstruct", "--model", files["tok"], "--image", files["img9"], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("vqkeras: error:") and result.stderr.count("\n") == 1, result.stderr


@pytest.mark.slow  # the test above covers the same lines (start-up and cuInit) in a shorter run
def test_demo_prints_only_its_own_lines(tmp_path):
    """On a CPU machine TensorFlow logs `failed call to cuInit ... (303)` and its start-up lines (oneDNN, CUDA stubs,
    absl) on stderr; the command hides them unless TF_CPP_MIN_LOG_LEVEL is set."""
    result = run_process("demo", "--num-faces", "1", "--num-styles", "1", "--looks", "1", "--out-dir", tmp_path,
                         cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "cuInit" not in result.stderr and "absl" not in result.stderr
    assert result.stderr == "", result.stderr
    assert "wrote" in result.stdout and (tmp_path / "faces.png").exists()

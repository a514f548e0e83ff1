"""Records what a shipped `.keras` generator gives, for `test_shipped_outputs.py` to compare against.

    python tests/presets/record_shipped_outputs.py saved_models/NAME.keras

writes `tests/presets/fixtures/NAME-<first 12 hex digits of its SHA-256>.npz` and prints the line to add to
`FIXTURES` in `test_shipped_outputs.py`. It only uses API that vqkeras had when the shipped files were first
recorded (commit a04de2f), so it can run against an older checkout: `PYTHONPATH=<that checkout> python ...`.

The fixture holds, for a few images made from `saved_models/style_examples.npy` (uint8, repeated to the model's size):
- `images` (uint8), `indices` (`tokenizer.encode`), `reconstructions` (the model called eagerly on the images,
  `generator(x, training=False)`) and `decoded` (`generator.decode(indices)`);
- `tokens`: `generate_tokens(NUM_SAMPLES, seed=s, top_k=TOP_K)` for each seed in `SEEDS`, and `guided_tokens` with
  `guidance_scale=GUIDANCE_SCALE` when the generator has a guide.
"""

import argparse
import hashlib
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import vqkeras  # noqa: E402,F401  (registers the classes)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE_DIR = os.path.join(ROOT, "tests", "presets", "fixtures")
SEEDS = (0, 1, 2)
NUM_SAMPLES = 2
TOP_K = 50
GUIDANCE_SCALE = 0.35
PIXELS = 4096  # images × height × width recorded: 5 images at 28×28, 1 at 64×64


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fixture_name(path, digest):
    return f"{os.path.splitext(os.path.basename(path))[0]}-{digest[:12]}.npz"


def test_images(image_shape):
    """uint8 `(n, H, W, C)`: the shipped style examples, each pixel repeated (as often as it takes to cover `H×W`,
    then cropped to it), channels repeated to `C`."""
    examples = np.load(os.path.join(ROOT, "saved_models", "style_examples.npy"))  # (8, 28, 28, 1) uint8
    height, width, channels = image_shape
    count = max(1, PIXELS // (height * width))
    images = examples[:count].repeat(-(-height // examples.shape[1]), axis=1)
    images = images.repeat(-(-width // examples.shape[2]), axis=2)[:, :height, :width]
    return images.repeat(channels // images.shape[-1], axis=-1)


def model_inputs(images):
    """uint8 images as float32 in [-1, 1] (`x / 127.5 − 1`, written out so no library version is involved)."""
    return images.astype("float32") / 127.5 - 1.0


def outputs(generator):
    """`{name: array}` of everything the fixture holds (see the module docstring)."""
    images = test_images(tuple(generator.image_shape))
    x = model_inputs(images)
    indices = np.asarray(generator.tokenizer.encode(x))
    result = {
        "images": images,
        "indices": indices,
        "reconstructions": np.asarray(generator(x, training=False)),
        "decoded": np.asarray(generator.decode(indices)),
        "tokens": np.stack([np.asarray(generator.generate_tokens(NUM_SAMPLES, seed=s, top_k=TOP_K)) for s in SEEDS]),
    }
    if getattr(generator, "guide", None) is not None:
        result["guided_tokens"] = np.stack([
            np.asarray(generator.generate_tokens(NUM_SAMPLES, seed=s, top_k=TOP_K, guidance_scale=GUIDANCE_SCALE))
            for s in SEEDS
        ])
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="a shipped .keras generator")
    args = parser.parse_args(argv)
    digest = sha256(args.path)
    generator = keras.saving.load_model(args.path)
    target = os.path.join(FIXTURE_DIR, fixture_name(args.path, digest))
    os.makedirs(FIXTURE_DIR, exist_ok=True)
    np.savez_compressed(target, sha256=np.array(digest), **outputs(generator))
    print(f"wrote {os.path.relpath(target, ROOT)}; add to FIXTURES: {digest!r}: {os.path.basename(target)!r},")


if __name__ == "__main__":
    sys.exit(main())

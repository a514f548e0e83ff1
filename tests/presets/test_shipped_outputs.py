"""The shipped `saved_models/*.keras` files give exactly what they gave as shipped.

Each file is checked against the fixture recorded from it, found by the file's SHA-256 in `FIXTURES`: the
reconstructions (the model called eagerly on a few images), the token indices of those images and the sampled
tokens for fixed seeds (guided too, for a generator with a guide) must be identical; `generator.decode`, which runs
as a graph since the calls were compiled, must agree to float32 rounding (`DECODE_ATOL`).

The first fixtures were recorded from the files as shipped at commit a04de2f, with that commit's code:

    git archive a04de2f | tar -x -C /tmp/old && mkdir -p /tmp/old/tests/presets
    cp tests/presets/record_shipped_outputs.py /tmp/old/tests/presets/
    cd /tmp/old && PYTHONPATH=/tmp/old python tests/presets/record_shipped_outputs.py saved_models/NAME.keras

A replaced (retrained) file has a new SHA-256 and needs its own fixture: record it with the file as you ship it,

    python tests/presets/record_shipped_outputs.py saved_models/NAME.keras

commit the `.npz` it writes to `tests/presets/fixtures/` and add the printed line to `FIXTURES` (drop the old
file's entry and fixture). A fixture is evidence of what a file gave; never re-record one for an unchanged file.
"""

import glob
import os

import keras
import numpy as np
import pytest

from tests.presets.record_shipped_outputs import FIXTURE_DIR
from tests.presets.record_shipped_outputs import ROOT
from tests.presets.record_shipped_outputs import outputs
from tests.presets.record_shipped_outputs import sha256

# SHA-256 of a shipped file → its fixture in tests/presets/fixtures/.
FIXTURES = {
    "6ecb8e3db483030b06e75c0da9ce9dbcacab4b716f8031b5809d937f8dd4d93e": "fashion_vqgan-6ecb8e3db483.npz",
    "e6fcf3bdf983f774290a8ee05d7e7e1a7127a60c35fe1698d8857fa7bbb1f5f4": "faces_vqgan-e6fcf3bdf983.npz",
}
EXACT = ("images", "indices", "reconstructions", "tokens", "guided_tokens")
DECODE_ATOL = 1e-5
SHIPPED = sorted(os.path.relpath(path, ROOT) for path in glob.glob(os.path.join(ROOT, "saved_models", "*.keras")))


def test_every_fixture_is_small_and_names_its_file():
    assert SHIPPED, "no saved_models/*.keras found"
    for digest, name in FIXTURES.items():
        path = os.path.join(FIXTURE_DIR, name)
        assert os.path.getsize(path) < 100_000, name
        with np.load(path) as fixture:
            assert str(fixture["sha256"]) == digest, name


@pytest.mark.parametrize("path", SHIPPED)
def test_shipped_file_gives_its_recorded_outputs(path):
    digest = sha256(os.path.join(ROOT, path))
    if digest not in FIXTURES:
        pytest.fail(
            f"{path} (SHA-256 {digest}) has no recorded fixture: it is new or was replaced. Record one with "
            f"`python tests/presets/record_shipped_outputs.py {path}` and add the printed line to FIXTURES in "
            "tests/presets/test_shipped_outputs.py (see its docstring)."
        )
    with np.load(os.path.join(FIXTURE_DIR, FIXTURES[digest])) as fixture:
        expected = {key: fixture[key] for key in fixture.files if key != "sha256"}
    actual = outputs(keras.saving.load_model(os.path.join(ROOT, path)))
    assert sorted(actual) == sorted(expected)
    for key in EXACT:
        if key in expected:
            np.testing.assert_array_equal(actual[key], expected[key], err_msg=f"{path}: {key}")
    np.testing.assert_allclose(actual["decoded"], expected["decoded"], rtol=0, atol=DECODE_ATOL,
                               err_msg=f"{path}: decoded")

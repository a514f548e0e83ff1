import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _reset_keras_state():
    """Every test starts from a float32 policy and a fresh Keras session."""
    keras.mixed_precision.set_global_policy("float32")
    keras.utils.clear_session()
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture(scope="session")
def keras_cache(tmp_path_factory):
    """A Keras cache root shared by the session: backbone weights convert only once."""
    return str(tmp_path_factory.getbasetemp() / "keras_home")

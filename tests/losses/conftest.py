import pytest


@pytest.fixture(scope="session")
def keras_cache(tmp_path_factory):
    """A Keras cache root shared by the session: weights convert only once."""
    return str(tmp_path_factory.getbasetemp() / "keras_home")

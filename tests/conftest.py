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


# A skipped check must not read as a passing one: the README's test command installs every package the suite
# needs, so any skip (a missing package, a missing dataset) fails the run. Set VQKERAS_ALLOW_SKIPS=1 to run a
# partial suite on purpose.
_SKIPPED = []


def pytest_collectreport(report):
    if report.skipped:
        _SKIPPED.append(report.nodeid)


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        _SKIPPED.append(report.nodeid)


def _skips_fail():
    return bool(_SKIPPED) and os.environ.get("VQKERAS_ALLOW_SKIPS") != "1"


def pytest_sessionfinish(session, exitstatus):
    if _skips_fail() and not hasattr(session.config, "workerinput"):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if _skips_fail():
        terminalreporter.write_line(
            f"{len(_SKIPPED)} skipped, which fails the suite (VQKERAS_ALLOW_SKIPS=1 allows it): "
            + ", ".join(_SKIPPED[:10]), red=True)

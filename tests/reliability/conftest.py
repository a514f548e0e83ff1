"""Shared fixtures of the reliability tests."""

import pytest

from tests.reliability.sigkill import Child


@pytest.fixture
def child(tmp_path):
    """`child(spec)` starts `sigkill_child.py` with `spec`; every child still running at the end is killed."""
    started = []

    def start(spec):
        started.append(Child(spec, tmp_path / f"child-{len(started)}.log"))
        return started[-1]

    yield start
    for process in started:
        if process.process.poll() is None:
            process.kill()

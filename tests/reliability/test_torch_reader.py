"""Resource bounds of the torch-file reader (issue 35): small crafted files must not allocate gigabytes, run for an
exponential time or escape as `RecursionError`/`MemoryError`. Each row is one crafted file in both formats, with the
error it must give and the words its message must contain."""

import contextlib
import signal

import numpy as np
import pytest

from tests import torch_pickles as tp
from vqkeras.backbones import torch_checkpoint
from vqkeras.backbones.torch_checkpoint import load_torch_checkpoint


def _stride_zero(legacy):
    # One float viewed as 200 million (0.8 GB once materialised).
    body = tp.tensor("0", (200_000_000,), (0,), 1, legacy=legacy)
    return body, {"0": np.ones(1, "<f4")}


def _overlapping_views(legacy):
    # 400 views of the whole of one 64k-float storage: every view is within bounds, together 400× the file.
    body = b"]" + tp.MARK + b"".join(
        tp.tensor("0", (2**16,), (1,), 2**16, legacy=legacy) for _ in range(400)) + b"e"
    return body, {"0": np.zeros(2**16, "<f4")}


def _shared_references(legacy):
    # 60 levels of `a_i = [a_(i−1), a_(i−1)]`: a resolver that follows every path takes 2^60 steps.
    return tp.doubling_chain(60), {}


def _deep_nesting(legacy):
    return tp.nested_lists(100_000), {}


CASES = [
    # (case, crafted file, expected error, words in the message)
    ("stride_zero_view", _stride_zero, ValueError, "may not be larger than its storage"),
    ("overlapping_views", _overlapping_views, ValueError, "more than 4× its size"),
    ("deep_nesting", _deep_nesting, ValueError, "nests its objects too deeply"),
]


def _write(tmp_path, make, legacy):
    body, storages = make(legacy)
    path = tmp_path / ("legacy.pth" if legacy else "zip.pth")
    raw = tp.legacy_file(body, storages) if legacy else tp.zip_file(tp.PROTO + body + tp.STOP, storages)
    path.write_bytes(raw)
    return path


@contextlib.contextmanager
def _time_limit(seconds):
    def fail(signum, frame):
        raise TimeoutError(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "zip"])
@pytest.mark.parametrize("case, make, error, words", CASES, ids=[c[0] for c in CASES])
def test_crafted_file_gives_a_clear_error(tmp_path, legacy, case, make, error, words):
    path = _write(tmp_path, make, legacy)
    with _time_limit(20), pytest.raises(error, match=words):
        load_torch_checkpoint(path)


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "zip"])
def test_shared_references_resolve_once(tmp_path, legacy):
    path = _write(tmp_path, _shared_references, legacy)
    assert path.stat().st_size < 1000
    with _time_limit(20):
        chain = load_torch_checkpoint(path)
    # Shared objects stay shared: 60 levels, each the same list twice.
    for _ in range(60):
        assert len(chain) == 2 and chain[0] is chain[1]
        chain = chain[0]
    assert chain == []


def test_cycles_stay_cycles(tmp_path):
    # a = []; a.append(a)
    body = b"]q\x00h\x00a"
    path = tmp_path / "cycle.pth"
    path.write_bytes(tp.legacy_file(body, {}))
    a = load_torch_checkpoint(path)
    assert a[0] is a


def test_memory_error_becomes_value_error(tmp_path, monkeypatch):
    path = tmp_path / "w.pth"
    path.write_bytes(tp.legacy_file(tp.tensor("0", (4,), (1,), 4), {"0": np.arange(4, dtype="<f4")}))
    np.testing.assert_array_equal(load_torch_checkpoint(path), [0, 1, 2, 3])

    def out_of_memory(self, record):
        raise MemoryError

    monkeypatch.setattr(torch_checkpoint._Materializer, "tensor", out_of_memory)
    with pytest.raises(ValueError, match="needs more memory"):
        load_torch_checkpoint(path)


def test_zip_member_may_not_expand_beyond_the_file(tmp_path):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", tp.PROTO + tp.tensor("0", (4,), (1,), 4, legacy=False) + tp.STOP)
        archive.writestr("archive/data/0", b"\0" * 50_000_000)  # deflates to about 50 kB
    path = tmp_path / "bomb.pth"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="would expand to 50000000 bytes"):
        load_torch_checkpoint(path)

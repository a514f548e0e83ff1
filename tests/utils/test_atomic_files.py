"""`atomic_file` and `replace_directory`: the target is replaced whole or left alone, and no temporary file stays."""

import pytest

from vqkeras.utils import atomic_files
from vqkeras.utils.atomic_files import atomic_directory
from vqkeras.utils.atomic_files import atomic_file


def _write_version(directory, text):
    directory.mkdir()
    (directory / "a.txt").write_text(text)
    (directory / "sub").mkdir()
    (directory / "sub" / "b.txt").write_text(text)


def test_atomic_file_replaces_the_target_and_keeps_the_suffix(tmp_path):
    target = tmp_path / "m.keras"
    target.write_text("old")
    with atomic_file(target, suffix=".keras") as temporary:
        assert temporary.endswith(".keras")
        with open(temporary, "w") as f:
            f.write("new")
        assert target.read_text() == "old"  # untouched until the block ends
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]


def test_atomic_file_leaves_the_target_when_the_writer_fails(tmp_path):
    target = tmp_path / "m.keras"
    target.write_text("old")
    with pytest.raises(OSError, match="disk full"):
        with atomic_file(target) as temporary:
            with open(temporary, "w") as f:
                f.write("half")
            raise OSError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]


@pytest.mark.parametrize("exchange", [True, False], ids=["rename-exchange", "rename-aside"])
def test_atomic_directory_replaces_a_whole_tree(tmp_path, monkeypatch, exchange):
    if not exchange:  # a system without renameat2(RENAME_EXCHANGE)
        monkeypatch.setattr(atomic_files, "_exchange", lambda a, b: False)
    target = tmp_path / "1"
    _write_version(target, "old")
    with atomic_directory(target) as staging:
        _write_version(tmp_path / staging, "new")
        assert (target / "sub" / "b.txt").read_text() == "old"
    assert (target / "a.txt").read_text() == (target / "sub" / "b.txt").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["1"]


def test_atomic_directory_leaves_the_old_tree_when_the_writer_fails(tmp_path):
    target = tmp_path / "1"
    _write_version(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as staging:
            _write_version(tmp_path / staging, "half")
            raise RuntimeError
    assert (target / "sub" / "b.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["1"]

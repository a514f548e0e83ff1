import pytest

from vqkeras.presets import registry


@pytest.fixture
def empty_registry(monkeypatch):
    monkeypatch.setattr(registry, "_PRESETS", {})


def test_register_and_get(empty_registry):
    preset = {"kind": "recipe", "description": "d", "config": {"epochs": 3}}
    registry.register_presets({"faces_small": preset})
    assert registry.get_preset("faces_small") is preset
    assert registry.list_presets() == ["faces_small"]
    assert registry.list_presets("tokenizer") == []


def test_unknown_name_lists_closest(empty_registry):
    registry.register_presets({"faces_64": {"kind": "recipe", "description": "d", "config": {}}})
    with pytest.raises(ValueError, match=r"name='faces_46'.*Did you mean 'faces_64'"):
        registry.get_preset("faces_46")
    with pytest.raises(ValueError, match="of kind 'tokenizer'"):
        registry.get_preset("faces_64", kind="tokenizer")


@pytest.mark.parametrize(
    "preset, words",
    [
        ({"kind": "recipe", "description": "d"}, "needs the keys"),
        ({"kind": "model", "description": "d", "config": {}}, "kind='model'"),
        ({"kind": "recipe", "description": "d", "config": {}, "url": "x"}, "unknown keys"),
    ],
)
def test_malformed_presets(empty_registry, preset, words):
    with pytest.raises(ValueError, match=words):
        registry.register_presets({"p": preset})


def test_duplicate_name(empty_registry):
    preset = {"kind": "recipe", "description": "d", "config": {}}
    registry.register_presets({"p": preset})
    with pytest.raises(ValueError, match="registered twice"):
        registry.register_presets({"p": preset})

"""`from_preset`: a preset's model, built from its config or loaded from where its weights come from."""

from pathlib import Path

from vqkeras.presets.registry import get_preset

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


def load_preset(name, expected_class=None, checkpoint=None):
    """The model of preset `name`.

    - `weights: {"url": ...}`: a pretrained checkpoint in another framework's format, converted by
      `vqkeras.convert` (downloaded once where there is a network, or read from `checkpoint`).
    - `weights: {"file": ...}` alone: the shipped `.keras` file, loaded through the checked
      `vqkeras.export.load_model`.
    - no weights: a fresh model of `expected_class` built from the preset's config.

    Asking a tokenizer class (`VQVAE`) for a generator preset returns the generator's tokenizer.
    """
    from vqkeras.export import load_model

    preset = get_preset(name)
    if preset["kind"] == "recipe":
        raise ValueError(
            f"Preset {name!r} is a training recipe, not a model: train it with vqkeras.train_vqgan(preset={name!r}) "
            f"or `vqkeras train --preset {name}`."
        )
    weights = preset.get("weights")
    if weights is None:
        if expected_class is None:
            raise ValueError(f"Preset {name!r} has no weights; build it with a model class's from_preset.")
        return expected_class(**preset["config"])
    if "url" in weights:
        from vqkeras import convert

        model = convert.from_preset(name, checkpoint=checkpoint)
    else:
        if checkpoint is not None:
            raise ValueError(f"Preset {name!r} ships its own file; checkpoint= is for converted presets.")
        model = load_model(REPOSITORY_ROOT / weights["file"])
    return _as_class(model, expected_class, name)


def _as_class(model, expected_class, name):
    if expected_class is None or isinstance(model, expected_class):
        return model
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is not None and isinstance(tokenizer, expected_class):
        return tokenizer
    raise ValueError(
        f"Preset {name!r} holds a {type(model).__name__}, not a {expected_class.__name__}: "
        f"load it with {type(model).__name__}.from_preset({name!r})."
    )


class PresetLoading:
    """Mixin: `cls.from_preset(name)` returns the preset's model as an instance of `cls` (see `load_preset`)."""

    @classmethod
    def from_preset(cls, name, checkpoint=None):
        """The model of preset `name` (`vqkeras.presets.list_presets()` lists them).

        Args:
            name: String. A registered preset name.
            checkpoint: Optional path to a pretrained checkpoint of a converted preset, for machines without a
                network.
        """
        return load_preset(name, expected_class=cls, checkpoint=checkpoint)

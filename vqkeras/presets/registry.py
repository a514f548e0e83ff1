"""The preset registry: plain dicts keyed by name, looked up by `from_preset` and `vqkeras train --preset`.

A preset is a dict with:
- `kind`: `"tokenizer"` (a `VQVAE`/`VQGAN` architecture), `"generator"` (a tokenizer and a prior) or `"recipe"`
  (a training recipe: the arguments of `train_vqvae` / `train_vqgan`);
- `description`: one sentence for listings;
- `config`: the plain-data configuration (constructor or training arguments);
- `weights` (optional): where the weights come from, one of
  - `{"file": "saved_models/<name>.keras"}`: a file shipped inside the repository (relative to its root),
  - `{"url": "https://...", "sha256": "<hex>" or None, "format": "<converter name>", "file": "<download name>"}`: a
    checkpoint to download once on a machine with a network and convert (`sha256` None says that no published hash
    could be found; see `vqkeras.convert.from_preset`).

- `recipe` (optional, generators): the training arguments that made the generator (`train_vqgan(preset=name)`).

Preset families live in their own modules and call `register_presets` when `vqkeras.presets` imports them.
"""

import difflib

_KINDS = ("tokenizer", "generator", "recipe")
_KEYS = {"kind", "description", "config", "weights", "recipe"}
_PRESETS = {}


def register_presets(presets):
    """Adds `{name: preset}` to the registry; a name registered twice, or a malformed preset, is a `ValueError`."""
    for name, preset in presets.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"A preset name must be a non-empty string. Received: name={name!r}")
        if name in _PRESETS:
            raise ValueError(f"The preset {name!r} is registered twice.")
        if not isinstance(preset, dict) or not {"kind", "description", "config"} <= set(preset):
            raise ValueError(
                f"Preset {name!r} needs the keys 'kind', 'description' and 'config'. Received: {preset!r}"
            )
        unknown = set(preset) - _KEYS
        if unknown:
            raise ValueError(f"Preset {name!r} has unknown keys {sorted(unknown)}; allowed: {sorted(_KEYS)}")
        if preset["kind"] not in _KINDS:
            raise ValueError(f"Preset {name!r}: kind must be one of {_KINDS}. Received: kind={preset['kind']!r}")
        _PRESETS[name] = preset


def list_presets(kind=None):
    """Names of the registered presets (of one `kind` if given), sorted."""
    if kind is not None and kind not in _KINDS:
        raise ValueError(f"kind must be None or one of {_KINDS}. Received: kind={kind!r}")
    return sorted(name for name, preset in _PRESETS.items() if kind is None or preset["kind"] == kind)


def get_preset(name, kind=None):
    """The preset dict registered as `name`; an unknown name is a `ValueError` that lists the closest names."""
    preset = _PRESETS.get(name)
    if preset is None or (kind is not None and preset["kind"] != kind):
        names = list_presets(kind)
        close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"Unknown preset{'' if kind is None else ' of kind ' + repr(kind)}: name={name!r}.{hint} "
            f"Known presets: {', '.join(names) or 'none'}."
        )
    return preset


def get_recipe(name):
    """The training arguments of preset `name`: a `"recipe"` preset's config, or the `recipe` that made a shipped
    generator. An unknown name, or a preset without a recipe, is a `ValueError` that lists the closest names."""
    preset = _PRESETS.get(name)
    recipe = None if preset is None else preset["config"] if preset["kind"] == "recipe" else preset.get("recipe")
    if recipe is None:
        names = sorted(n for n, p in _PRESETS.items() if p["kind"] == "recipe" or "recipe" in p)
        close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"Unknown training recipe: preset={name!r}.{hint} Presets with a recipe: {', '.join(names) or 'none'}."
        )
    return recipe

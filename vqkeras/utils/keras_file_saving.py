"""`save` that writes atomically and refuses the legacy `.h5` model format, which Keras 3 cannot read back."""

import os

from keras.src.utils.io_utils import ask_to_proceed_with_overwrite

from vqkeras.utils.atomic_files import atomic_directory
from vqkeras.utils.atomic_files import atomic_file

LEGACY_SUFFIXES = (".h5", ".hdf5")


class KerasFileSaving:
    """Mixin for vqkeras `keras.Model` subclasses: `save` refuses a legacy `.h5` path and replaces files atomically.

    - Keras 3 still writes a subclassed model to legacy `.h5`, but its legacy loader can neither find the registered
      classes nor build the model before loading the weights, so the file could never be loaded as a model. Failing
      at `save` time, with the two working routes in the message, keeps a training run from ending in a useless file.
      (`vqkeras.export.load_model` gives the same advice for `.h5` files written by other means.)
    - Keras writes straight into the target, so a process killed mid-save leaves a truncated file where a valid model
      was. Here the model is written beside the target and renamed over it (`vqkeras.utils.atomic_files`): the path
      holds the old or the new model at every moment. `save_weights` to a `.weights.h5` file does the same. This
      covers `keras.callbacks.ModelCheckpoint`, which calls one of them. Remote paths (`gs://`, `hf://`), file
      objects and sharded weights go to Keras unchanged.
    """

    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        name = os.fspath(filepath) if isinstance(filepath, (str, os.PathLike)) else None
        if name is not None and name.lower().endswith(LEGACY_SUFFIXES):  # `save("m.weights.h5")` too writes a legacy model file
            raise ValueError(
                f"filepath must end in .keras: Keras 3 cannot load a vqkeras {type(self).__name__} back from "
                "legacy .h5. Save the whole model with model.save('model.keras') (load it with "
                "keras.models.load_model), or only the weights with model.save_weights('model.weights.h5'). "
                f"Received: filepath={name!r}"
            )
        if name is None or "://" in name:  # a file object or a remote path
            return super().save(filepath, overwrite=overwrite, zipped=zipped, **kwargs)
        if os.path.exists(name) and not overwrite and not ask_to_proceed_with_overwrite(name):
            return None
        if zipped is False and not name.endswith(".keras"):  # an unzipped model: a directory
            with atomic_directory(name) as temporary:
                return super().save(temporary, overwrite=True, zipped=False, **kwargs)
        if zipped is not False and name.endswith(".keras"):
            with atomic_file(name, suffix=".keras") as temporary:  # Keras checks the extension
                return super().save(temporary, overwrite=True, zipped=zipped, **kwargs)
        return super().save(filepath, overwrite=overwrite, zipped=zipped, **kwargs)  # Keras' error for other paths

    def save_weights(self, filepath, overwrite=True, **kwargs):
        name = os.fspath(filepath) if isinstance(filepath, (str, os.PathLike)) else ""
        if not name.endswith(".weights.h5") or "://" in name or kwargs.get("max_shard_size") is not None:
            return super().save_weights(filepath, overwrite=overwrite, **kwargs)
        if os.path.exists(name) and not overwrite and not ask_to_proceed_with_overwrite(name):
            return None
        with atomic_file(name, suffix=".weights.h5") as temporary:
            return super().save_weights(temporary, overwrite=True, **kwargs)

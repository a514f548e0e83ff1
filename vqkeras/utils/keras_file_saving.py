"""`save` that refuses the legacy `.h5` model format, which Keras 3 cannot read back for vqkeras models."""

import os

LEGACY_SUFFIXES = (".h5", ".hdf5")


class KerasFileSaving:
    """Mixin for vqkeras `keras.Model` subclasses: `save` refuses a legacy `.h5` / `.hdf5` path before writing.

    Keras 3 still writes a subclassed model to legacy `.h5`, but its legacy loader can neither find the registered
    classes nor build the model before loading the weights, so the file could never be loaded as a model. Failing
    at `save` time, with the two working routes in the message, keeps a training run from ending in a useless file.
    (`vqkeras.export.load_model` gives the same advice for `.h5` files written by other means.)
    """

    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        if isinstance(filepath, (str, os.PathLike)):
            name = os.fspath(filepath)
            if name.lower().endswith(LEGACY_SUFFIXES):  # `save("m.weights.h5")` too writes a legacy model file
                raise ValueError(
                    f"filepath must end in .keras: Keras 3 cannot load a vqkeras {type(self).__name__} back from "
                    "legacy .h5. Save the whole model with model.save('model.keras') (load it with "
                    "keras.models.load_model), or only the weights with model.save_weights('model.weights.h5'). "
                    f"Received: filepath={name!r}"
                )
        return super().save(filepath, overwrite=overwrite, zipped=zipped, **kwargs)

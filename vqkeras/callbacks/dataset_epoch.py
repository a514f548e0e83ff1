"""`DatasetEpoch`: tells a `load_images` dataset which epoch begins, so a resumed run sees the same batches."""

import keras

from vqkeras.data.load_images import set_epoch


class DatasetEpoch(keras.callbacks.Callback):
    """Sets a `load_images` dataset's epoch at the start of each epoch of `fit`.

    Epoch `e` of a `load_images` dataset is shuffled and flipped by `(seed, e)`. Without this callback `e` counts the
    passes made in the current process, so a run resumed at epoch 5 (by a backup callback) would replay epoch 0's
    order. With it, `e` is `fit`'s epoch, and a killed-and-resumed run trains on exactly the batches of an
    uninterrupted one.

    Args:
        dataset: The `tf.data.Dataset` returned by `vqkeras.data.load_images`.

    Example:

    >>> data = load_images("mnist5k", 28, seed=0)
    >>> model.fit(data, epochs=10, callbacks=[DatasetEpoch(data), AtomicBackupAndRestore("/tmp/backup")])
    """

    def __init__(self, dataset):
        super().__init__()
        set_epoch(dataset, 0)  # checks that `dataset` comes from load_images
        self.dataset = dataset

    def on_epoch_begin(self, epoch, logs=None):
        set_epoch(self.dataset, epoch)

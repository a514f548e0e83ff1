"""Keras callbacks."""

from vqkeras.callbacks.atomic_backup_and_restore import AtomicBackupAndRestore
from vqkeras.callbacks.dataset_epoch import DatasetEpoch
from vqkeras.callbacks.image_logger import ImageLogger
from vqkeras.priors.guide_snapshot import GuideSnapshot  # lives with the priors; kept here for old imports

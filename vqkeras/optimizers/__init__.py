"""Learning-rate schedules."""

from vqkeras.optimizers.stable_decay_schedule import StableDecaySchedule

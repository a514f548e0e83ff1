"""The training budget of the quality benchmarks: a Keras callback that stops `fit` after a number of minutes."""

import time

import keras

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


class TrainingBudget(keras.callbacks.Callback):
    """Stops `fit` once `minutes` of training time are spent; every `every` seconds records PSNR and usage on
    `probe` images. The clock starts after the first step (tracing), and the probe's own time is not counted.

    `clock="wall"` counts wall-clock seconds; `clock="cpu"` counts the CPU seconds of this process (all its threads,
    `time.process_time`), which other jobs on a shared machine disturb far less: the budget for comparing models
    that run one after another.

    With `anneal = a > 0` (warmup-stable-decay without the warmup), the learning rate is constant until `(1 − a)·T`
    of the budget `T`, then falls linearly to 0: `lr(t) = lr₀ · min(1, (T − t) / (a·T))`, `t` the training seconds.
    """

    def __init__(self, minutes, probe=None, every=20.0, anneal=0.0, clock="wall"):
        super().__init__()
        if not 0.0 <= anneal <= 1.0:
            raise ValueError(f"anneal must be in [0, 1]. Received: anneal={anneal}")
        if clock not in CLOCKS:
            raise ValueError(f"clock must be one of {sorted(CLOCKS)}. Received: clock={clock!r}")
        self.budget = 60.0 * minutes
        self.probe = probe
        self.every = every
        self.anneal = anneal
        self.clock = CLOCKS[clock]
        self.curve = []
        self.steps = 0

    def on_train_begin(self, logs=None):
        self.start = None
        self.excluded = 0.0
        self.last_probe = 0.0
        self.initial_lr = float(self.model.optimizer.learning_rate)

    def on_train_batch_begin(self, batch, logs=None):
        fraction = min(self.trained_seconds() / self.budget, 1.0)
        if self.anneal > 0:
            self.model.optimizer.learning_rate = self.initial_lr * min(1.0, (1.0 - fraction) / self.anneal)

    def trained_seconds(self):
        return 0.0 if self.start is None else self.clock() - self.start - self.excluded

    def record(self):
        from vqkeras.metrics import evaluate_model

        t0 = self.clock()
        stats = evaluate_model(self.model, self.probe, verbose=0)
        self.curve.append(dict(seconds=self.trained_seconds(), steps=self.steps, psnr=stats["psnr"],
                               usage=stats["usage"]))
        self.excluded += self.clock() - t0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.start is None:  # the first step traces the function: start the clock after it
            self.start = self.clock()
        elapsed = self.trained_seconds()
        if self.probe is not None and (self.steps == 1 or elapsed - self.last_probe >= self.every):
            self.last_probe = elapsed
            self.record()
        if elapsed >= self.budget:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.probe is not None:
            self.record()

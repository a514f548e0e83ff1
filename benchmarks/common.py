"""Shared by the benchmark scripts: the docs section writer, the machine line, the machine's matmul rate and the
training budget callback."""

import os
import platform
import re
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402

DOCS_PATH = os.path.join("docs", "benchmarks.md")
DOCS_HEADER = (
    "# Benchmarks\n\n"
    "The current figures, one section per benchmark, each with the command that wrote it, the machine and the date.\n"
    "Every benchmark runs from the repository root (`pip install -e \".[bench]\"`). Absolute times are noisy on a\n"
    "shared 2-core CPU; the ratios, measured in one process with the variants alternated, are the figures to read.\n"
    "What earlier probes found, with the commit that holds each script, is in `docs/experiments.md`.\n"
)


def write_section(path, section_text, heading):
    """Replaces (or appends) the section starting with `heading` in the Markdown file at `path`."""
    text = open(path).read() if os.path.exists(path) else DOCS_HEADER
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section_text.rstrip("\n") + "\n\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section_text.rstrip("\n") + "\n"
    with open(path, "w") as f:
        f.write(text.rstrip("\n") + "\n")


def machine_line():
    """`x86_64, 2 CPU cores, TensorFlow 2.21.0, Keras 3.15.1` for the machine this process runs on."""
    import tensorflow as tf

    return f"{platform.machine()}, {os.cpu_count()} CPU cores, TensorFlow {tf.__version__}, Keras {keras.__version__}"


def matmul_gflops(n=2048, repeats=5):
    """The machine's dense float32 `tf.matmul` rate in GFLOP/s (`2·n³` FLOPs, median of `repeats`): wall-clock
    budgets' step counts follow it, so results record it to tell machines apart."""
    import numpy as np
    import tensorflow as tf

    a, b = tf.random.normal((n, n), seed=0), tf.random.normal((n, n), seed=1)
    product = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
    float(product(a, b))  # traces
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        float(product(a, b))
        seconds.append(time.perf_counter() - start)
    return 2 * n**3 / float(np.median(seconds)) / 1e9


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

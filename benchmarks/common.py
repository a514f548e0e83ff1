"""Shared by the benchmark scripts: the docs section writer, the machine line, the machine's matmul rate and the
peak-RSS probes of the memory subprocesses."""

import os
import platform
import re
import resource
import time

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
    import keras
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


def fashion_images(split):
    """The Fashion-MNIST images of `split` (from the Debian package) in the model range [-1, 1]."""
    import vqkeras

    return vqkeras.utils.to_model_range(vqkeras.data.load_offline_arrays("fashion_mnist", split=split)[0])


def image_statistics(images, extractor):
    """`(mu, sigma)` of the `extractor` features (e.g. EfficientNet-Lite0) of `images` in [-1, 1]."""
    from vqkeras.metrics import compute_features
    from vqkeras.metrics import feature_statistics

    return feature_statistics(compute_features(images, extractor, batch_size=250, verbose=0))


def fid_against(images, extractor, reference_statistics):
    """FID (with `extractor`'s features) of `images` against `(mu, sigma)` reference statistics."""
    from vqkeras.metrics import frechet_distance

    return float(frechet_distance(*image_statistics(images, extractor), *reference_statistics))


def reset_peak_rss():
    """Resets the process's RSS high-water mark to its current RSS (Linux); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def max_rss_mib():
    """This process's peak RSS in MiB since it started or since `reset_peak_rss`: `VmHWM` of `/proc/self/status`
    (Linux), else `ru_maxrss`. Not `ru_maxrss` first: in a child started by `subprocess`, it also counts the peak
    of the parent the child was forked from."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux

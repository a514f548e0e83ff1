"""Helpers of the SIGKILL tests: `sigkill_child.py` run as a child process, killed on cue, and checks of its files."""

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("sigkill_child.py")
# The child imports TensorFlow on a shared, loaded machine: generous, since a timeout only turns a hang into a failure.
TIMEOUT = 600

# The small CLI training run of the SIGKILL tests: 64 MNIST digits of 16×16, 4 batches an epoch, a tiny tokenizer.
TINY_TRAIN = [
    "--data", "mnist5k", "--split", "train[:64]", "--image-size", "16", "--channels", "1", "--batch-size", "16",
    "--num-embeddings", "16", "--latent-dim", "8", "--base-channels", "8", "--channel-multipliers", "1,2",
    "--num-res-blocks", "0", "--no-attention",
]


class Child:
    """A running `sigkill_child.py`, with its stdout lines as they come."""

    def __init__(self, spec, log_path):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, str(CHILD), json.dumps(spec)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
            stderr=self.log,
        )
        self.lines = []
        self._buffer = b""

    def wait_for(self, predicate, timeout=TIMEOUT):
        """Reads stdout until `predicate(lines)` holds; fails (with the child's stderr) if the child ends first."""
        deadline = time.monotonic() + timeout
        while not predicate(self.lines):
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"the child printed {self.lines} and timed out; stderr:\n{self._stderr()}")
            ready, _, _ = select.select([self.process.stdout], [], [], 1.0)
            if not ready:
                continue
            chunk = os.read(self.process.stdout.fileno(), 65536)
            if not chunk:
                self.process.wait()
                pytest.fail(f"the child ended (code {self.process.returncode}) after {self.lines}; "
                            f"stderr:\n{self._stderr()}")
            self._buffer += chunk
            *complete, self._buffer = self._buffer.split(b"\n")
            self.lines += [line.decode() for line in complete]
        return self.lines

    def wait_for_exit(self, timeout=TIMEOUT):
        code = self.process.wait(timeout)
        self.lines += self.process.stdout.read().decode().splitlines()
        assert code == 0, f"the child failed with code {code}; stderr:\n{self._stderr()}"
        return self.lines

    def kill(self):
        """SIGKILL (no handler, `finally` or flush runs in the child), then the lines it printed before."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        rest = self._buffer + self.process.stdout.read()
        self.lines += [line.decode() for line in rest.split(b"\n") if line]
        self._buffer = b""
        self.log.close()
        return self.lines

    def _stderr(self):
        if not self.log.closed:
            self.log.flush()
        return Path(self.log_path).read_text(errors="replace")[-3000:]


def done_count(lines):
    """The number of `DONE k` lines: finished saves or exports of a loop."""
    return sum(line.startswith("DONE ") for line in lines)


def snapshots(lines, kind):
    """`{k: path}` of the child's `SNAPSHOT <kind> <k> <path>` lines."""
    found = {}
    for line in lines:
        parts = line.split(" ", 3)
        if parts[0] == "SNAPSHOT" and parts[1] == kind:
            found[int(parts[2])] = parts[3]
    return found


def weights_of(path):
    """The weights of a `.keras` file, read through the checked loader (which fails on a truncated file)."""
    from vqkeras.export import load_model

    return [np.asarray(w) for w in load_model(path, compile=False).get_weights()]


def same_weights(a, b):
    return len(a) == len(b) and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b))

"""TensorFlow's native log level, set before TensorFlow loads; the `vqkeras` command hides its start-up lines.

TensorFlow reads `TF_CPP_MIN_LOG_LEVEL` once, as it loads, so the level must be in the environment before the first
`import tensorflow`; changing it later has no effect. Level 2 (the library's default) hides INFO and WARNING lines;
level 3 also hides ERROR lines such as a CPU-only machine's `failed call to cuInit: UNKNOWN ERROR (303)`, which is
harmless but reads as a failure. A few lines (oneDNN, the CUDA stubs) are logged while the shared libraries load,
before TensorFlow reads the level at all: only pointing file descriptor 2 elsewhere during the import hides those.

The command line (the `vqkeras` console script or `python -m vqkeras.cli`) does both, so that its output is its own,
unless the user set `TF_CPP_MIN_LOG_LEVEL` (e.g. `TF_CPP_MIN_LOG_LEVEL=0 vqkeras demo` shows every TensorFlow log).
A library user keeps TensorFlow's ERROR lines and its start-up lines.

This module must not import TensorFlow.
"""

import contextlib
import os
import re
import sys

LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL"


def is_command_line(argv0=None, orig_argv=None):
    """True when this Python process runs the `vqkeras` command: its console script or `python -m vqkeras.cli`.

    `argv0` and `orig_argv` default to `sys.argv[0]` and `sys.orig_argv` (during `python -m`, `sys.argv[0]` is `-m`
    until the module is found; `sys.orig_argv` keeps the command as typed).
    """
    argv0 = (sys.argv[0] if sys.argv else "") if argv0 is None else argv0
    orig_argv = getattr(sys, "orig_argv", []) if orig_argv is None else orig_argv
    script = re.split(r"[\\/]", argv0)[-1]
    if re.fullmatch(r"vqkeras(-script\.pyw?|\.exe)?", script):  # the names pip gives the console script
        return True
    return any(flag == "-m" and module == "vqkeras.cli" for flag, module in zip(orig_argv, orig_argv[1:]))


@contextlib.contextmanager
def _stderr_to_devnull():
    """Points file descriptor 2 (native and Python writes alike) at the null device, then restores it."""
    if sys.stderr is None:  # Python started with file descriptor 2 closed: nothing to quiet
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def set_tensorflow_log_level():
    """Sets TensorFlow's native log level before it loads: 3 for the command line, else 2, unless the user chose.

    For the command line, TensorFlow is also imported here with its start-up lines hidden. An import that fails
    still reports: the traceback prints after file descriptor 2 is restored.
    """
    if "tensorflow" in sys.modules:  # too late: TensorFlow has read its level already
        return
    quiet = LOG_LEVEL not in os.environ and is_command_line()
    os.environ.setdefault(LOG_LEVEL, "3" if quiet else "2")
    if quiet:
        with _stderr_to_devnull():
            import tensorflow  # noqa: F401

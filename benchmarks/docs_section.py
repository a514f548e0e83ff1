"""Writes one benchmark's section of docs/benchmarks.md (shared by the benchmark scripts)."""

import os
import re

DOCS_PATH = os.path.join("docs", "benchmarks.md")
DOCS_HEADER = (
    "# Benchmarks\n\n"
    "Every figure here is a side-by-side comparison measured in one run of the command given in its section, on a\n"
    "shared 2-core x86_64 CPU without GPU. Absolute times are noisy on that machine (other jobs run beside it); the\n"
    "ratios, measured in the same process with the implementations alternated, are the figures to read. Each\n"
    "section is self-contained and is rewritten by its own script.\n"
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

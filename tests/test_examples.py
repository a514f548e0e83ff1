"""The example scripts run with the current API: every `vqkeras.…` name they use exists, and `generate_faces.py`
generates from the shipped faces generator."""

import ast
import os
import pathlib
import subprocess
import sys

import pytest
from PIL import Image

import vqkeras

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))


def _vqkeras_names(tree):
    """The dotted names `vqkeras.a.b` of attribute chains that start at the module `vqkeras`."""
    names = set()
    for node in ast.walk(tree):
        chain = []
        while isinstance(node, ast.Attribute):
            chain.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id == "vqkeras" and chain:
            names.add(".".join(reversed(chain)))
    return names


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_example_uses_only_existing_names(script):
    tree = ast.parse(script.read_text(), filename=str(script))
    for name in _vqkeras_names(tree):
        target = vqkeras
        for part in name.split("."):
            if not hasattr(target, part):  # a method of a returned object (e.g. `...from_preset(...).x`) stops here
                assert not isinstance(target, type(vqkeras)), f"{script.name}: vqkeras.{name} does not exist"
                break
            target = getattr(target, part)
    local = {path.stem for path in SCRIPTS}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in local:
            module = ast.parse((EXAMPLES / f"{node.module}.py").read_text())
            defined = {n.name for n in module.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
            assert {alias.name for alias in node.names} <= defined, f"{script.name}: {node.module}"


def test_generate_faces_runs_on_the_shipped_generator(tmp_path):
    out = tmp_path / "faces.png"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(EXAMPLES.parent), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, str(EXAMPLES / "generate_faces.py"), "--num-images", "8", "--out",
                             str(out)], cwd=EXAMPLES, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "held-out PSNR" in result.stdout and Image.open(out).size == (8 * 64, 64)

"""repalign needs no Ray; repalign.ray without it says how to install it."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest


def test_repalign_imports_without_ray():
    code = "import sys, repalign; assert 'ray' not in sys.modules, 'repalign imported ray'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_ray_module_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    monkeypatch.delitem(sys.modules, "repalign.ray", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'repalign\[ray\]'"):
        importlib.import_module("repalign.ray")

"""The README's Python example runs as printed, and the compat example's calls work."""

import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    section = README.read_text().split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_readme_example_runs(capsys):
    example = python_blocks()[0]
    exec(compile(example, "README.md", "exec"), {})
    out = capsys.readouterr().out.split()
    score, p_value = float(out[0]), float(out[1])
    assert 0.1 < score < 1.0
    assert p_value == 1 / 1001


def test_the_readme_compat_example_runs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 3, 32)).astype(np.float32)
    y = x[:, :2, :16] + 0.1 * rng.standard_normal((200, 2, 16)).astype(np.float32)
    env = {"feats_A": x[:, 0], "feats_B": y[:, 0], "x_feats": x, "y_feats": y}
    (block,) = [b for b in python_blocks() if "repalign.compat" in b]
    exec(compile(block, "README.md", "exec"), env)
    assert 0.0 < env["score"] <= 1.0
    assert 0.0 < env["best"] <= 1.0 and (env["i"], env["j"]) in [(i, j) for i in range(3) for j in range(2)]


def test_the_readme_zoo_example_runs(tmp_path, monkeypatch, capsys):
    import repalign

    rng = np.random.default_rng(1)
    signal = rng.standard_normal((120, 1, 16)).astype(np.float32)
    layers = {n: signal + rng.standard_normal((120, 3, 16)).astype(np.float32) for n in ("vit", "dino", "clip")}
    (block,) = [b for b in python_blocks() if "repalign.zoo(" in b]
    monkeypatch.chdir(tmp_path)
    env = {"repalign": repalign, **{f"{n}_layers": x for n, x in layers.items()}}
    exec(compile(block, "README.md", "exec"), env)
    assert env["r"].matrix.shape == (3, 3) and len(env["r"].pairs) == 3
    assert (tmp_path / "states").is_dir() and env["r"].cache["computed"] == 9
    assert "vit" in capsys.readouterr().out

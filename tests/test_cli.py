"""The command line: one-line errors, --version, the name it was called by."""
from __future__ import annotations

import sys

import pytest

import pyautodiff as ad
from pyautodiff.__main__ import main


def _run(argv, monkeypatch, prog="pyautodiff"):
    monkeypatch.setattr(sys, "argv", [f"/usr/bin/{prog}", *argv])
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value


def test_version(monkeypatch, capsys):
    assert _run(["--version"], monkeypatch).code == 0
    assert capsys.readouterr().out.strip() == f"pyautodiff {ad.__version__}"


def test_usage_names_the_console_script(monkeypatch, capsys):
    _run([], monkeypatch)
    assert capsys.readouterr().err.startswith("usage: pyautodiff ")
    _run([], monkeypatch, prog="__main__.py")
    assert capsys.readouterr().err.startswith("usage: python -m pyautodiff ")


def _one_line(exc) -> str:
    message = str(exc.code)
    assert exc.code != 0 and "\n" not in message and "Traceback" not in message
    return message


def test_missing_file_is_one_line(monkeypatch, tmp_path):
    missing = tmp_path / "nope.py"
    exc = _run(["export", f"{missing}:f", "--example", f"{missing}:ARGS"], monkeypatch)
    assert _one_line(exc) == f"pyautodiff: error: no such file: {missing}"


def test_typo_in_the_name_is_one_line(monkeypatch, tmp_path):
    mod = tmp_path / "model.py"
    mod.write_text("import numpy as np\n\ndef loss(x):\n    return np.sum(x ** 2)\n\nARGS = (np.ones(2),)\n")
    exc = _run(["export", f"{mod}:los", "--example", f"{mod}:ARGS"], monkeypatch)
    assert "defines no 'los'" in _one_line(exc) and "loss" in str(exc.code)


def test_broken_module_is_one_line(monkeypatch, tmp_path):
    mod = tmp_path / "broken.py"
    mod.write_text("def f(x):\n    return x +\n")
    exc = _run(["export", f"{mod}:f", "--example", f"{mod}:ARGS"], monkeypatch)
    assert "SyntaxError" in _one_line(exc)


def test_unsupported_code_names_the_users_line(monkeypatch, tmp_path):
    mod = tmp_path / "model.py"
    mod.write_text("import numpy as np\n\ndef loss(x):\n    return np.sum(np.lexsort((x,)) * x)\n\n"
                   "ARGS = (np.arange(3.0),)\n")
    exc = _run(["export", f"{mod}:loss", "--example", f"{mod}:ARGS"], monkeypatch)
    # the library's message: one line, then the user's file and line (no Python traceback)
    first, *where = str(exc.code).splitlines()
    assert first == "pyautodiff: error: numpy.lexsort has no lowering for traced values"
    assert f'File "{mod}", line 4, in loss' in where[0] and "Traceback" not in str(exc.code)


def test_export_writes_code_that_matches(monkeypatch, tmp_path, capsys):
    mod = tmp_path / "model.py"
    mod.write_text("import numpy as np\n\ndef loss(x):\n    return np.sum(np.sin(x))\n\n"
                   "ARGS = (np.arange(3.0),)\n")
    out = tmp_path / "grad.py"
    monkeypatch.setattr(sys, "argv", ["pyautodiff"])
    assert main(["export", f"{mod}:loss", "--example", f"{mod}:ARGS", "-o", str(out)]) == 0
    assert "matches pyautodiff" in capsys.readouterr().out
    assert "def grad_loss(x):" in out.read_text()

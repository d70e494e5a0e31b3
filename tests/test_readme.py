"""The README's quickstart runs as written, and CI runs the README's own commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_ci_runs_the_readme_commands():
    text = README.read_text()
    for marker in ("<!-- ci:install -->", "<!-- ci:test -->"):
        assert marker in text
        block = text.split(marker, 1)[1]
        command = block.split("```bash\n", 1)[1].split("\n", 1)[0]
        assert command.strip(), marker
    install = text.split("<!-- ci:install -->", 1)[1]
    assert "pip install torch==2.13.0" in install.split("```", 2)[1]
    assert "pytest" in text.split("<!-- ci:test -->", 1)[1].split("```", 2)[1]


@pytest.mark.slow
def test_quickstart_runs_as_written(shared_data_home, monkeypatch, capsys):
    monkeypatch.setenv("DOS_ESTIMATORS_DATA", str(shared_data_home))
    # The first Python block is the quickstart; the others (universal-potential phonons)
    # cost minutes of phonon calculations and are the subject of tests/test_prior.py.
    code = _python_blocks(README.read_text())[0]
    assert len(code.strip().splitlines()) == 5
    exec(compile(code, str(README), "exec"), {})
    score = float(capsys.readouterr().out.strip().splitlines()[-1])
    assert -1.0 < score <= 1.0

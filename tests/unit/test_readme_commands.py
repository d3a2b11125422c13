"""Every `shopsense ...` command written in the README parses as written (its --help form), so docs and CLI agree.

A command line in a code block is run with ``--help`` appended: Click parses every option before it prints help, so
an option the CLI does not know, or a decision or sub-command that does not exist, fails here. Table rows in the
README's command table are checked up to their first placeholder (``[...]``, ``{...}``, ``<...>``).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from training.cli import app

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[2] / "README.md"
PLACEHOLDER = re.compile(r"^[\[{<]|^-")


def _code_block_commands(text: str) -> list[list[str]]:
    commands = []
    for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            match = re.match(r"^(?:\S+=\S+\s+)*(?:\.venv/bin/)?shopsense\s+(.*)$", line)
            if match:
                commands.append(shlex.split(match.group(1)))
    return commands


def _table_commands(text: str) -> list[list[str]]:
    commands = []
    for cell in re.findall(r"^\| `shopsense ([^`]+)`", text, flags=re.M):
        words = []
        for word in cell.split():
            if PLACEHOLDER.match(word):
                break
            words.append(word)
        commands.append(words)
    return commands


def _commands() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    found = _code_block_commands(text) + _table_commands(text)
    unique = {" ".join(c): c for c in found}
    return list(unique.values())


def test_the_readme_has_commands() -> None:
    assert len(_commands()) >= 8


@pytest.mark.parametrize("words", _commands(), ids=lambda w: " ".join(w))
def test_readme_command_parses(words: list[str]) -> None:
    result = CliRunner().invoke(app, [*words, "--help"])
    assert result.exit_code == 0, result.output
    assert "COMMAND [ARGS]" not in result.output or words[:1] in (["data"], ["features"])

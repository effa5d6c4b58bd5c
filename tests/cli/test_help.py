"""Every command has help text with an example, and the README lists every command."""

from pathlib import Path

import pytest

from badpix.cli import COMMANDS as TABLE
from badpix.cli import _installed, main

COMMANDS = sorted(name for name, module, _ in TABLE if _installed(module))
README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_all_expected_commands_are_registered():
    assert set(COMMANDS) >= {"demo", "scan", "localvar", "synth", "evaluate", "repair", "fill",
                             "export-badpixels", "background", "report", "show", "timeline"}


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_an_example_and_readme_mentions_it(command, capsys):
    assert main([command, "--help"]) == 0
    text = capsys.readouterr().out
    assert "example" in text.lower(), command
    assert f"badpix {command}" in README, command

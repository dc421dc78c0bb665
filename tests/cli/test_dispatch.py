"""The one dispatch table of the ``breachindex`` command line."""
from __future__ import annotations

import pytest

from breachindex.cli.main import COMMANDS, main


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_of_the_table_answers_help_under_its_own_name(name, capsys):
    assert _exit_code([name, "--help"]) == 0
    out = capsys.readouterr().out
    assert f"breachindex {name}" in out


def test_the_top_level_help_lists_every_command_once_in_table_order(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert listed == list(COMMANDS)


@pytest.mark.parametrize("argv", [[], ["no-such-command"], ["-x"]])
def test_no_command_or_an_unknown_one_is_a_usage_error(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "usage: breachindex" in err

"""Help screens show option syntax literally: Rich must not turn ':B:' into an emoji."""

import typer
from typer.testing import CliRunner

from dlcli.cli import app

runner = CliRunner()


def test_tts_synth_help_shows_the_mix_syntax_literally():
    result = runner.invoke(app, ["tts", "synth", "--help"], env={"COLUMNS": "120", "TERMINAL_WIDTH": "120"})
    assert result.exit_code == 0, result.output
    assert "A:B:WEIGHT" in result.output
    assert "\U0001f171" not in result.output  # the emoji Rich makes of ':b:'


def _command_paths(group, prefix=()):
    command = typer.main.get_command(group) if isinstance(group, typer.Typer) else group
    for name, sub in getattr(command, "commands", {}).items():
        yield (*prefix, name)
        yield from _command_paths(sub, (*prefix, name))


def test_no_help_screen_contains_an_emoji():
    from rich._emoji_codes import EMOJI

    emoji = {code[0] for code in EMOJI.values() if not code[0].isascii()}  # keycaps start with a digit
    paths = list(_command_paths(app))
    assert ("tts", "synth") in paths and len(paths) > 10
    for path in [(), *paths]:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        found = set(result.output) & emoji
        assert not found, (path, found)

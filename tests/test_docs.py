"""The README only names commands that exist, and every command is in the README."""

from __future__ import annotations

import re
from pathlib import Path

import click

from bot.cli import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def documented() -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    blocks = "\n".join(re.findall(r"^```sh\n(.*?)^```", README, flags=re.M | re.S))
    for line in re.findall(r"^paperbot ([^#\n]+)", blocks, flags=re.M):
        for alternative in line.split("|"):
            words = [w for w in alternative.split() if re.fullmatch(r"[a-z][a-z-]*", w)]
            if words:
                found.add(tuple(words[:2]))
    return found


def test_every_documented_command_exists() -> None:
    for words in documented():
        command: click.Command | None = cli.commands.get(words[0])
        assert command is not None, f"README names 'paperbot {words[0]}', which does not exist"
        if isinstance(command, click.Group) and len(words) > 1:
            assert words[1] in command.commands, f"README names 'paperbot {' '.join(words)}'"


def test_every_command_is_documented() -> None:
    named = {words[0] for words in documented()}
    missing = set(cli.commands) - named
    assert missing == set(), f"commands missing from the README: {sorted(missing)}"

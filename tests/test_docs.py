"""docs/cli.md keeps up with the command line: every subcommand and flag is documented."""
import argparse
import re
from pathlib import Path

from datacityzen.cli import build_parser

CLI_DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_every_flag_of_every_subcommand_is_in_docs_cli():
    text = CLI_DOC.read_text(encoding="utf-8")
    sections = dict(re.findall(r"^## `datacityzen ([\w-]+)`\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M))
    for name, sub in subcommands().items():
        assert name in sections, f"docs/cli.md has no section for `datacityzen {name}`"
        for action in sub._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert f"`{flag}" in sections[name], f"`datacityzen {name} {flag}` is not in docs/cli.md"


def test_readme_starts_with_the_two_commands():
    readme = (CLI_DOC.parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.S)
    assert "datacityzen demo" in blocks[0]
    assert blocks[1].strip() == "bash .ci/run"

"""The README, .env.example and Makefile stay true to the code."""

from __future__ import annotations

import re
import subprocess

from bot.cli import build_parser
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_gives_the_two_commands():
    assert "make run" in README and "make test" in README
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_file_overview_paths_exist():
    table = README.split("## Files", 1)[1]
    paths = re.findall(r"^\| `([^`]+)`", table, flags=re.M)
    paths += re.findall(r"^\| `[^`]+`, `([^`]+)`", table, flags=re.M)
    assert len(paths) > 10
    for path in paths:
        assert (ROOT / path).exists(), path


def test_cli_commands_in_readme_exist():
    parser = build_parser()
    for group, action in re.findall(r"crisisdesk (\w+) (\w+)", README):
        assert parser.parse_known_args([group, action, "1"])[0].group == group


def test_env_example_documents_every_setting():
    config = (ROOT / "bot/config.py").read_text()
    used = set(re.findall(r'env\.get\("([A-Z_]+)"\)', config))
    used |= set(re.findall(r'path\("([A-Z_]+)"', config))
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), flags=re.M))
    assert used and used <= documented


def test_make_help_lists_the_promised_targets():
    out = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True).stdout
    for target in ("run", "test", "shell", "train", "validate", "bench", "help"):
        assert f"make {target}" in out

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
        assert parser.parse_known_args([group, action, "1", "x"])[0].group == group


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


# --- docs/architecture.md names only files that exist -------------------------

ARCHITECTURE = ROOT / "docs/architecture.md"
# What a backticked word must end with to be taken for a file name.
FILE_SUFFIXES = {".py", ".yml", ".yaml", ".md", ".csv", ".toml", ".lock", ".txt", ".json", ".gz"}
# Made by `make run` / `make test` at run time, never in git.
GENERATED = {"var", "models", "results", ".venv", ".rasa", ".env"}
_PATHISH = re.compile(r"[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.*-]+)*/?")
_MODULE = re.compile(r"(?:bot|actions|tests|scripts)(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


def _exists(relative: str) -> bool:
    """A file or folder of the project; `a/b.Name` is module `a/b` and one of its names."""
    if "*" in relative:
        return any(ROOT.glob(relative))
    if (ROOT / relative).exists():
        return True
    head, _, last = relative.rpartition("/")
    module, dot, _ = last.partition(".")
    if dot and "." + last.rsplit(".", 1)[1] not in FILE_SUFFIXES:
        base = f"{head}/{module}" if head else module
        return (ROOT / f"{base}.py").is_file() or (ROOT / base / "__init__.py").is_file()
    return False


def missing_paths(markdown: str) -> list:
    """Every backticked project path in `markdown` that does not exist.

    A bare file name (`facts.py`) is looked up in the last folder (`actions/`)
    named before it in the same paragraph, else anywhere in the project; a
    dotted module name (`bot.nlu.components.X`) must have its module file.
    """
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    basenames = {name.rsplit("/", 1)[-1] for name in tracked}
    missing = []
    for paragraph in re.split(r"\n\s*\n", markdown):
        folder = ""
        for word in re.findall(r"`([^`\n]+)`", paragraph):
            if _MODULE.fullmatch(word):
                parts = word.split(".")
                if not any(
                    (ROOT / "/".join(parts[:n])).with_suffix(".py").is_file()
                    or (ROOT / "/".join(parts[:n]) / "__init__.py").is_file()
                    for n in range(2, len(parts) + 1)
                ):
                    missing.append(word)
                continue
            if word.startswith(("/", "../")) or not _PATHISH.fullmatch(word):
                continue
            if word.split("/", 1)[0].rstrip("/") in GENERATED:
                continue
            named_file = "." + word.rsplit(".", 1)[-1] in FILE_SUFFIXES
            if word.endswith("/"):
                folder = word
                if not (ROOT / word).is_dir():
                    missing.append(word)
            elif "/" in word:
                if not _exists(word):
                    missing.append(word)
            elif named_file or word in ("Makefile", "Procfile"):
                if folder:
                    if not (ROOT / folder / word).exists():
                        missing.append(folder + word)
                elif word not in basenames:
                    missing.append(word)
    return missing


def test_missing_paths_finds_what_is_gone():
    text = (
        "Actions (`actions/`): `facts.py`, `gone.py`.\n\n"
        "Top: `config.yml`, `nowhere.yml`, `bot/store`, `bot/answers.Knowledge`,"
        " `bot/nope.Thing`, `bot/channels/`, `old/`, `var/crisisdesk.db`, `.env`,"
        " `bot.nlu.components.BilingualTokenizer`, `bot.gone.Thing`, `/webhooks/x`,"
        " `RASA_TOKEN`, `make run`, `data/facts/*.csv`, `data/*.nothing`"
    )
    assert missing_paths(text) == [
        "actions/gone.py",
        "nowhere.yml",
        "bot/nope.Thing",
        "old/",
        "bot.gone.Thing",
        "data/*.nothing",
    ]


def test_architecture_doc_names_only_existing_files():
    assert missing_paths(ARCHITECTURE.read_text(encoding="utf-8")) == []

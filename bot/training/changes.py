"""Every accepted change to the training data: recorded, and committed in a git work tree.

`record` writes a row of `training_changes` (bot/store/training.py: who, what,
which intent, which files, when) and, when the project folder is inside a git
work tree, commits exactly the written files with the trainer as the author
(`NAME <NAME@crisisdesk.local>`), so the change can be reviewed and reverted with
git. Other staged or unstaged changes are never part of that commit (`git add` and
`git commit -- paths` name only the written files), and an add is refused when one
of the files it would write has uncommitted changes, which the commit would carry.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

from bot.store.people import USER_NAME

EMAIL_DOMAIN = "crisisdesk.local"


def author_problems(author: str) -> List[str]:
    """Why `author` cannot name a change (empty when it can)."""
    if USER_NAME.match(author or ""):
        return []
    return [
        f"author {author!r}: 2-32 characters, lower-case letters, digits, '.', '_' or '-'"
        " (a desk user name)"
    ]


def _git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=check
    )


def is_work_tree(root: Path) -> bool:
    """True when `root` is inside a git work tree."""
    try:
        result = _git(root, "rev-parse", "--is-inside-work-tree", check=False)
    except FileNotFoundError:  # no git installed
        return False
    return result.returncode == 0 and result.stdout.strip() == "true"


def dirty_problems(root: Path, files: Sequence[str]) -> List[str]:
    """Files among `files` with uncommitted changes (a commit of them would carry those)."""
    if not is_work_tree(root):
        return []
    status = _git(root, "status", "--porcelain", "--", *files).stdout.splitlines()
    return [
        f"{line[3:]} has uncommitted changes: commit or discard them first"
        for line in status
        if line.strip()
    ]


def commit(root: Path, files: Sequence[str], author: str, message: str) -> str:
    """Commits exactly `files` with `author` as the author; returns the sha."""
    _git(root, "add", "--", *files)
    identity: List[str] = []
    if not _git(root, "config", "user.email", check=False).stdout.strip():
        # No committer configured (a fresh checkout): the desk commits as itself.
        identity = ["-c", "user.name=crisisdesk", "-c", f"user.email=crisisdesk@{EMAIL_DOMAIN}"]
    _git(
        root,
        *identity,
        "commit",
        "--quiet",
        "--no-verify",
        "-m",
        message,
        "--author",
        f"{author} <{author}@{EMAIL_DOMAIN}>",
        "--",
        *files,
    )
    return _git(root, "rev-parse", "HEAD").stdout.strip()


def record(
    root: Path,
    store: Any,
    *,
    author: str,
    action: str,
    intent: str,
    files: Sequence[str],
    message: str,
) -> Tuple[int, str | None]:
    """Commits (in a git work tree) and records an accepted change; (change id, sha)."""
    sha = commit(root, files, author, message) if is_work_tree(root) else None
    change_id = store.record_training_change(
        author=author, action=action, intent=intent, files=files, git_commit=sha
    )
    return change_id, sha


def list_changes(store: Any, intent: str | None = None, limit: int = 100) -> List[Dict[str, Any]]:
    """Recorded changes to the training data, newest first (for the desk and the CLI)."""
    return store.list_training_changes(intent=intent, limit=limit)

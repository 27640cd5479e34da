"""Temporary copies of the project for the trainers' tests, and one small baseline model.

`copy_project(target)` makes a git work tree holding what training and the gate
read (data/, heldout/, domain.yml, config.yml, the held-out and out-of-domain
sets), so a test never writes into the real data/ or models/. `train_baseline`
trains, once per test session (the `small_baseline` fixture in conftest.py), the
model that tests/config_small.yml makes from the unchanged data; the modules
that need one live model to compare with copy it instead of training their own.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from bot.training import models

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "tests/config_small.yml"


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=True)


def copy_project(target: Path) -> Path:
    """A git work tree at `target` with a copy of what training and the gate read."""
    for folder in ("data", "heldout"):
        shutil.copytree(ROOT / folder, target / folder)
    for name in (
        "domain.yml",
        "config.yml",
        "tests/nlu_heldout.yml",
        *models.OOD_SETS,
        "scripts/validate.py",
    ):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)
    _git(target, "init", "-q")
    _git(target, "config", "user.name", "Test Committer")
    _git(target, "config", "user.email", "committer@example.invalid")
    _git(target, "add", "-A")
    _git(target, "commit", "-q", "-m", "copy of the project")
    return target


def train_baseline(workdir: Path) -> Path:
    """The small config's model of the unchanged project data (trained on a copy)."""
    root = copy_project(workdir / "project")
    return Path(models.train(root, SMALL, name="baseline")["model"])


def install_baseline(baseline: Path, root: Path) -> Path:
    """Copies the baseline in as `root`'s live model (models/crisisdesk.tar.gz)."""
    live = root / models.DEFAULT_LIVE
    live.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(baseline, live)
    return live

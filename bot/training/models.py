"""The model lifecycle: train a candidate, evaluate it against the live model, promote, roll back.

`crisisdesk model train|evaluate|promote|rollback|status`, and the same functions for
the desk (a progress callback, results as data):

- `train` runs `rasa train` on the project's `data/` and `domain.yml` (with
  `config.yml`, or a smaller config for tests) into `models/candidates/`, never
  over the live model. Progress comes from Rasa's own output: the components it
  reports finished and DIET's epoch bar.
- `evaluate` loads the candidate and the live model with Rasa's `Agent` and parses
  the held-out set (`tests/nlu_heldout.yml` and `heldout/nlu/*.yml`, the ~20 % of
  each new intent that `intents add` set aside; none of it is in `data/`) and the
  out-of-domain dev sets `OOD_SETS` (dev sets, not `tests/ood_heldout2.yml`,
  which stays unseen for `make bench`'s final measure). The report holds
  per-intent F1 old/new/delta, the confusion pairs whose counts changed, the
  out-of-domain rejected share of both, and the gate's verdict.
- The gate (`gate`): no intent the live model knows may lose more than
  `MAX_F1_DROP` (2 points) of F1, the out-of-domain share may not drop, and every
  new intent (in the held-out set, unknown to the live model) needs F1 >=
  `NEW_INTENT_MIN_F1`. Existing intents are scored on the held-out examples of
  intents the live model knows, for both models, so a new intent's examples
  neither help nor hurt the comparison.
- `promote` moves the candidate to `models/promoted/`, loads it into the running
  Rasa server through `PUT /model` (`RasaClient.load_model`) and records the
  promotion with its report (`model_promotions`, bot/store/models.py); refused
  (`GateRefused`, naming the regressed intents) when the gate fails, unless an
  admin forces it, which the audit log records.
- `rollback` loads the model the newest live promotion replaced, and marks that
  promotion rolled back; again for the one before.

The live model is the newest promotion not rolled back, else `models/crisisdesk.tar.gz`
(what `make run` starts with); when the server is reachable, the file it reports
(`/status`) wins, looked up among the recorded and known files.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Sequence, Tuple

import yaml

from bot.training import evaluate as scoring

CANDIDATES = "models/candidates"
PROMOTED = "models/promoted"
DEFAULT_LIVE = "models/crisisdesk.tar.gz"
HELDOUT_SETS = ("tests/nlu_heldout.yml", "heldout/nlu/*.yml")
# Dev sets: the gate runs on every promotion, so a set it sees is no longer unseen.
OOD_SETS = ("tests/ood_dev.yml", "tests/ood_dev2.yml", "tests/ood_dev3.yml")
MAX_F1_DROP = 0.02
NEW_INTENT_MIN_F1 = 0.80
REPORT_SUFFIX = ".report.json"


class LifecycleError(RuntimeError):
    """A lifecycle step could not be done (the message says why, for the trainer)."""


class GateRefused(LifecycleError):
    """The gate refused a candidate; `report` holds the evaluation and its reasons."""

    def __init__(self, report: Dict[str, Any]) -> None:
        super().__init__("; ".join(report["gate"]["reasons"]))
        self.report = report


@dataclass
class Progress:
    """How far a step is: `fraction` 0..1 and what it is doing now."""

    fraction: float
    stage: str


ProgressCallback = Callable[[Progress], None]


def _noop(_: Progress) -> None:
    return None


# -- files ----------------------------------------------------------------------


def _model_name(path: Path) -> str:
    return path.name[: -len(".tar.gz")] if path.name.endswith(".tar.gz") else path.stem


def report_path(model: Path) -> Path:
    """Where a model's evaluation report is kept (beside it)."""
    return model.with_name(_model_name(model) + REPORT_SUFFIX)


def list_candidates(root: Path) -> List[Path]:
    """Trained candidates not promoted yet, oldest first."""
    folder = root / CANDIDATES
    return (
        sorted(folder.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    )


def latest_candidate(root: Path) -> Path:
    """The newest candidate (LifecycleError when there is none)."""
    found = list_candidates(root)
    if not found:
        raise LifecycleError(f"no candidate in {CANDIDATES}/: run `crisisdesk model train` first")
    return found[-1]


def resolve_candidate(root: Path, given: str | None) -> Path:
    """A candidate given by path or name (`candidate-...`), or the newest one."""
    if not given:
        return latest_candidate(root)
    for path in (Path(given), root / CANDIDATES / given, root / CANDIDATES / f"{given}.tar.gz"):
        if path.is_file():
            return path.resolve()
    raise LifecycleError(f"no candidate {given!r} (see `crisisdesk model status`)")


@contextmanager
def _models_lock(root: Path) -> Iterator[None]:
    """One promote or rollback at a time per project."""
    folder = root / "models"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lifecycle.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


# -- train ----------------------------------------------------------------------

_EPOCH = re.compile(r"Epochs:\s+(\d+)%")
_FINISHED = re.compile(r"(?:Finished training|Restored) component '(\w+)'")
_STARTED = re.compile(r"Starting to train component '(\w+)'")
_SAVED = re.compile(r"Your Rasa model is trained and saved at")
# Components Rasa does not train (so it never reports them finished).
_UNTRAINED = ("Tokenizer", "FallbackClassifier", "SpacyRuleEntityExtractor", "RegexEntityExtractor")
DIET_SHARE = 0.6  # of the bar: DIET's epochs take most of a training's time


def _is_diet(component: str) -> bool:
    """Rasa's DIETClassifier or crisisdesk's QuickLoadDIETClassifier (bot/nlu/diet.py)."""
    return component.endswith("DIETClassifier")


def _trained_components(config: Path) -> List[str]:
    data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    names = [str(c.get("name", "")).rsplit(".", 1)[-1] for c in data.get("pipeline") or []]
    names += [str(c.get("name", "")) for c in data.get("policies") or []]
    return [n for n in names if n and not n.endswith(_UNTRAINED)]


class _TrainingBar:
    """Turns `rasa train` output lines into Progress."""

    def __init__(self, components: Sequence[str], progress: ProgressCallback) -> None:
        self.others = max(1, len([c for c in components if not _is_diet(c)]))
        self.diet = any(_is_diet(c) for c in components)
        self.done = 0
        self.epochs = 0.0
        self.stage = "reading the training data"
        self.progress = progress

    def fraction(self) -> float:
        rest = (1 - DIET_SHARE) if self.diet else 1.0
        value = 0.02 + 0.96 * (rest * min(self.done, self.others) / self.others)
        if self.diet:
            value += 0.96 * DIET_SHARE * self.epochs
        return min(value, 0.98)

    def line(self, text: str) -> None:
        if _SAVED.search(text):
            self.progress(Progress(1.0, "saved"))
            return
        if match := _EPOCH.search(text):
            self.epochs = int(match.group(1)) / 100
            self.stage = f"training DIET ({match.group(1)} % of the epochs)"
        elif match := _STARTED.search(text):
            self.stage = f"training {match.group(1)}"
        elif match := _FINISHED.search(text):
            if _is_diet(match.group(1)):
                self.epochs = 1.0
            else:
                self.done += 1
            self.stage = f"trained {match.group(1)}"
        else:
            return
        self.progress(Progress(round(self.fraction(), 3), self.stage))


def train(
    root: Path,
    config: Path | None = None,
    progress: ProgressCallback = _noop,
    name: str | None = None,
) -> Dict[str, Any]:
    """Trains a candidate from `root`'s data/ and domain.yml; returns its file and timings.

    `config` defaults to the project's config.yml. The candidate goes to
    models/candidates/NAME.tar.gz (NAME: candidate-UTC time), beside a
    NAME.train.json that says which config it was trained with.
    """
    root = root.resolve()
    config = (config or root / "config.yml").resolve()
    if not config.is_file():
        raise LifecycleError(f"no training config at {config}")
    name = name or time.strftime("candidate-%Y%m%d-%H%M%S", time.gmtime())
    out = root / CANDIDATES
    out.mkdir(parents=True, exist_ok=True)
    rasa = Path(sys.executable).parent / "rasa"
    command = [
        str(rasa),
        "train",
        "--config",
        str(config),
        "--domain",
        "domain.yml",
        "--data",
        "data",
        "--out",
        str(out),
        "--fixed-model-name",
        name,
    ]
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "RASA_TELEMETRY_ENABLED": "false",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "LOG_LEVEL": "INFO",  # the component lines the bar follows are INFO
    }
    bar = _TrainingBar(_trained_components(config), progress)
    progress(Progress(0.0, "starting rasa train"))
    started = time.monotonic()
    tail: deque = deque(maxlen=30)
    process = subprocess.Popen(
        command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None
    buffer = ""
    while chunk := process.stdout.read1(4096):  # type: ignore[attr-defined]
        buffer += chunk.decode("utf-8", errors="replace")
        *lines, buffer = re.split(r"[\r\n]", buffer)
        for text in lines:
            if text.strip():
                tail.append(text)
                bar.line(text)
    status = process.wait()
    model = out / f"{name}.tar.gz"
    if status != 0 or not model.is_file():
        raise LifecycleError(
            f"rasa train failed (exit status {status}):\n" + "\n".join(list(tail)[-15:])
        )
    seconds = round(time.monotonic() - started, 1)
    info = {
        "model": str(model),
        "config": str(config),
        "seconds": seconds,
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    model.with_name(f"{name}.train.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    progress(Progress(1.0, f"candidate {model.name} trained in {seconds} s"))
    return info


# -- evaluate -------------------------------------------------------------------


def heldout_files(root: Path) -> List[Path]:
    """The held-out NLU files: the evaluation set and every new intent's share."""
    found: List[Path] = []
    for pattern in HELDOUT_SETS:
        found += sorted(p for p in root.glob(pattern) if p.is_file())
    return found


def ood_files(root: Path) -> List[Path]:
    """The out-of-domain sets the gate uses (those present in the project)."""
    return [root / name for name in OOD_SETS if (root / name).is_file()]


def load_heldout(root: Path) -> List[Tuple[str, str, str]]:
    """(text, intent, language) of every held-out example."""
    examples = []
    for path in heldout_files(root):
        examples += scoring.load_examples(path)
    if not examples:
        raise LifecycleError("no held-out examples (tests/nlu_heldout.yml, heldout/nlu/)")
    return examples


def load_ood(root: Path) -> List[Dict[str, str]]:
    """The out-of-domain messages of `OOD_SETS`, each text once."""
    seen, messages = set(), []
    for path in ood_files(root):
        for message in scoring.load_ood(path):
            if message["text"] not in seen:
                seen.add(message["text"])
                messages.append(message)
    return messages


def _cache_key(model: Path, texts: List[str]) -> str:
    digest = hashlib.sha256("\n".join(texts).encode("utf-8"))
    stat = model.stat()
    digest.update(f"|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


async def _parse(model: Path, texts: List[str]) -> Tuple[List[str], List[str]]:
    agent = scoring.load_agent(model)
    parsed = await scoring.parse_all(agent, texts)
    return [intent for intent, _ in parsed], list(agent.domain.intents)


def predictions(model: Path, texts: List[str]) -> Tuple[List[str], List[str]]:
    """(predicted intents, the model's intents) of a model file for `texts`.

    Kept beside the model (NAME.predictions.json) for the same file and texts, so
    the live model is parsed once for every candidate compared with it.
    """
    cache = model.with_name(_model_name(model) + ".predictions.json")
    key = _cache_key(model, texts)
    if cache.is_file():
        saved = json.loads(cache.read_text(encoding="utf-8"))
        if saved.get("key") == key:
            return saved["predicted"], saved["intents"]
    predicted, intents = asyncio.run(_parse(model, texts))
    cache.write_text(
        json.dumps({"key": key, "predicted": predicted, "intents": intents}), encoding="utf-8"
    )
    return predicted, intents


def compare(
    examples: List[Tuple[str, str, str]],
    old: Tuple[List[str], List[str]],
    new: Tuple[List[str], List[str]],
    ood_messages: List[Dict[str, str]],
    old_ood: List[str],
    new_ood: List[str],
) -> Dict[str, Any]:
    """The comparison of two models' predictions (`(predicted, model intents)` each)."""
    (old_pred, old_intents), (new_pred, new_intents) = old, new
    gold = [intent for _, intent, _ in examples]
    known = [i for i, g in enumerate(gold) if g in old_intents]
    old_f1 = scoring.per_intent_f1([gold[i] for i in known], [old_pred[i] for i in known])
    new_f1_known = scoring.per_intent_f1([gold[i] for i in known], [new_pred[i] for i in known])
    new_f1_all = scoring.per_intent_f1(gold, new_pred)
    rows = []
    for intent in sorted(set(gold)):
        count = gold.count(intent)
        if intent in old_intents:
            before, after = old_f1.get(intent, 0.0), new_f1_known.get(intent, 0.0)
            rows.append(
                {
                    "intent": intent,
                    "kind": "existing",
                    "examples": count,
                    "old": before,
                    "new": after,
                    "delta": round(after - before, 4),
                }
            )
        elif intent in new_intents:
            rows.append(
                {
                    "intent": intent,
                    "kind": "new",
                    "examples": count,
                    "old": None,
                    "new": new_f1_all.get(intent, 0.0),
                    "delta": None,
                }
            )
        else:
            rows.append(
                {"intent": intent, "kind": "unknown", "examples": count, "old": None, "new": None}
            )
    before_pairs = scoring.confusions(gold, old_pred)
    after_pairs = scoring.confusions(gold, new_pred)
    changed = [
        {"gold": g, "predicted": p, "old": before_pairs[(g, p)], "new": after_pairs[(g, p)]}
        for g, p in set(before_pairs) | set(after_pairs)
        if before_pairs[(g, p)] != after_pairs[(g, p)]
    ]
    changed.sort(key=lambda c: (-abs(c["new"] - c["old"]), c["gold"], c["predicted"]))
    ood_old = scoring.ood_result(ood_messages, old_ood) if ood_messages else {}
    ood_new = scoring.ood_result(ood_messages, new_ood) if ood_messages else {}
    return {
        "examples": len(examples),
        "intents": rows,
        "confusions_changed": changed,
        "ood": {
            "messages": len(ood_messages),
            "old": ood_old.get("rejected_share"),
            "new": ood_new.get("rejected_share"),
            "old_by_kind": ood_old.get("kind", {}),
            "new_by_kind": ood_new.get("kind", {}),
        },
        "macro_f1": {
            "old": scoring.scores([gold[i] for i in known], [old_pred[i] for i in known])[
                "macro_f1"
            ]
            if known
            else None,
            "new": scoring.scores(gold, new_pred)["macro_f1"],
        },
    }


def gate(comparison: Dict[str, Any]) -> Dict[str, Any]:
    """The promotion gate's verdict on a comparison: passed, and why not."""
    regressed = [
        r
        for r in comparison["intents"]
        if r["kind"] == "existing" and r["old"] - r["new"] > MAX_F1_DROP + 1e-9
    ]
    weak_new = [
        r for r in comparison["intents"] if r["kind"] == "new" and r["new"] < NEW_INTENT_MIN_F1
    ]
    reasons = [
        f"{r['intent']}: F1 {r['old']:.2f} -> {r['new']:.2f} (drop {r['old'] - r['new']:.2f} >"
        f" {MAX_F1_DROP:.2f})"
        for r in regressed
    ]
    reasons += [
        f"new intent {r['intent']}: F1 {r['new']:.2f} < {NEW_INTENT_MIN_F1:.2f}" for r in weak_new
    ]
    ood = comparison["ood"]
    ood_dropped = ood["old"] is not None and ood["new"] < ood["old"]
    if ood_dropped:
        reasons.append(f"out-of-domain rejected share {ood['old']:.3f} -> {ood['new']:.3f}")
    return {
        "passed": not reasons,
        "regressed": [r["intent"] for r in regressed],
        "new_below_minimum": [r["intent"] for r in weak_new],
        "ood_dropped": ood_dropped,
        "reasons": reasons,
    }


def evaluate(
    root: Path,
    candidate: Path,
    live: Path,
    progress: ProgressCallback = _noop,
) -> Dict[str, Any]:
    """Compares `candidate` with `live` on the held-out and out-of-domain sets; the report.

    The report (also written to models/candidates/NAME.report.json) holds the
    comparison, the gate's verdict, both model files and the sets used.
    """
    root = root.resolve()
    for path in (candidate, live):
        if not path.is_file():
            raise LifecycleError(f"no model file at {path}")
    examples = load_heldout(root)
    ood_messages = load_ood(root)
    texts = [text for text, _, _ in examples] + [m["text"] for m in ood_messages]
    started = time.monotonic()
    progress(Progress(0.05, f"parsing {len(texts)} messages with the live model {live.name}"))
    old_pred, old_intents = predictions(live, texts)
    progress(Progress(0.5, f"parsing {len(texts)} messages with the candidate {candidate.name}"))
    new_pred, new_intents = predictions(candidate, texts)
    n = len(examples)
    comparison = compare(
        examples,
        (old_pred[:n], old_intents),
        (new_pred[:n], new_intents),
        ood_messages,
        old_pred[n:],
        new_pred[n:],
    )
    report = {
        "candidate": str(candidate.resolve()),
        "live": str(live.resolve()),
        "heldout_files": [str(p.relative_to(root)) for p in heldout_files(root)],
        "ood_files": [str(p.relative_to(root)) for p in ood_files(root)],
        "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(time.monotonic() - started, 1),
        **comparison,
    }
    report["gate"] = gate(comparison)
    report_path(candidate).write_text(
        json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    progress(Progress(1.0, "passed" if report["gate"]["passed"] else "refused"))
    return report


def saved_report(candidate: Path, live: Path) -> Dict[str, Any] | None:
    """The candidate's report when it compared it with `live` and is newer than both files."""
    path = report_path(candidate)
    if not path.is_file():
        return None
    report = json.loads(path.read_text(encoding="utf-8"))
    fresh = path.stat().st_mtime >= max(candidate.stat().st_mtime, live.stat().st_mtime)
    same = report.get("candidate") == str(candidate.resolve()) and report.get("live") == str(
        live.resolve()
    )
    return report if fresh and same else None


# -- live model, promote, roll back --------------------------------------------


def recorded_live(root: Path, store: Any) -> Path:
    """The live model by the record: the newest promotion not rolled back, else the default."""
    row = store.live_promotion()
    return Path(row["model_file"]) if row else (root / DEFAULT_LIVE).resolve()


def _known_files(root: Path, store: Any) -> List[Path]:
    files = [(root / DEFAULT_LIVE).resolve()]
    for row in store.list_promotions(limit=1000):
        files += [Path(row["model_file"]), Path(row["previous_file"])]
    return files + list_candidates(root)


def live_model(root: Path, store: Any, client: Any = None) -> Path:
    """The model the running server has (by `/status`), else the recorded live model.

    The server names only the file (no folder), which is looked up among the
    recorded files and the default; LifecycleError when it is none of them.
    """
    root = root.resolve()
    recorded = recorded_live(root, store)
    if client is None:
        return recorded
    served = str(client.status().get("model_file") or "")
    if not served or served == recorded.name:
        return recorded
    for path in _known_files(root, store):
        if path.name == served and path.is_file():
            return path
    raise LifecycleError(
        f"the Rasa server runs {served!r}, which is not a model this project knows"
        f" (recorded live model: {recorded.name})"
    )


def _may_force(store: Any, user: str) -> str | None:
    """Why `user` may not use --force (None when they may: an enabled admin)."""
    found = store.find_user(user)
    if not found or found.get("disabled"):
        return f"--force needs --as an admin of the users table; {user!r} is not a user"
    if found.get("role") != "admin":
        return f"--force is for admins; {user!r} is a {found.get('role')}"
    return None


def _load_into_server(client: Any, model: Path) -> None:
    client.load_model(str(model))
    served = str(client.status().get("model_file") or "")
    if served != model.name:
        raise LifecycleError(f"the Rasa server reports {served!r} after loading {model.name}")


def promote(
    root: Path,
    store: Any,
    client: Any,
    candidate: Path,
    *,
    by: str,
    force: bool = False,
    progress: ProgressCallback = _noop,
) -> Dict[str, Any]:
    """Promotes `candidate` into the running server when the gate passes (or an admin forces).

    Evaluates first unless the candidate's saved report compared it with the
    current live model. Returns the promotion record (with its report); raises
    GateRefused (the report names the regressed intents) or LifecycleError.
    """
    root = root.resolve()
    if force and (problem := _may_force(store, by)):
        raise LifecycleError(problem)
    with _models_lock(root):
        live = live_model(root, store, client)
        report = saved_report(candidate, live) or evaluate(root, candidate, live, progress)
        passed = report["gate"]["passed"]
        if not passed and not force:
            raise GateRefused(report)
        target = root / PROMOTED / candidate.name
        target.parent.mkdir(parents=True, exist_ok=True)
        progress(Progress(0.9, f"loading {target.name} into the Rasa server"))
        shutil.move(str(candidate), target)
        for extra in (".train.json", REPORT_SUFFIX, ".predictions.json"):
            side = candidate.with_name(_model_name(candidate) + extra)
            if side.is_file():
                shutil.move(str(side), target.with_name(side.name))
        try:
            _load_into_server(client, target)
        except Exception:
            shutil.move(str(target), candidate)  # back, so it can be tried again
            raise
        verdict = "passed" if passed else "forced"
        promotion_id = store.record_promotion(
            model_file=str(target),
            previous_file=str(live),
            promoted_by=by,
            verdict=verdict,
            report=report,
            forced=not passed,
        )
        store.audit(
            by,
            "model.promote_forced" if not passed else "model.promote",
            f"model:{target.name}",
            {
                "promotion": promotion_id,
                "previous": live.name,
                "reasons": report["gate"]["reasons"],
            },
        )
    progress(Progress(1.0, f"{target.name} is live"))
    return store.get_promotion(promotion_id)


def rollback(root: Path, store: Any, client: Any, *, by: str) -> Dict[str, Any]:
    """Loads the model the live promotion replaced and marks it rolled back; what was done."""
    root = root.resolve()
    with _models_lock(root):
        row = store.live_promotion()
        if row is None:
            raise LifecycleError("nothing to roll back: no promoted model is live")
        previous = Path(row["previous_file"])
        if not previous.is_file():
            raise LifecycleError(f"the previous model {previous} is missing")
        _load_into_server(client, previous)
        store.mark_rolled_back(row["id"], by)
        store.audit(
            by,
            "model.rollback",
            f"model:{Path(row['model_file']).name}",
            {"promotion": row["id"], "restored": previous.name},
        )
    return {"rolled_back": row["model_file"], "restored": str(previous), "promotion": row["id"]}


def status(root: Path, store: Any, client: Any = None) -> Dict[str, Any]:
    """The live model (recorded and served), the candidates and the promotion history."""
    root = root.resolve()
    served: str | None = None
    problem = ""
    if client is not None:
        try:
            served = str(client.status().get("model_file") or "")
        except Exception as error:  # RasaUnavailable: shown, not fatal
            problem = str(error)
    candidates = []
    for path in list_candidates(root):
        report = report_path(path)
        verdict = None
        if report.is_file():
            verdict = "passed" if json.loads(report.read_text())["gate"]["passed"] else "refused"
        candidates.append({"model": path.name, "evaluated": verdict, "size": path.stat().st_size})
    promotions = [
        {k: v for k, v in row.items() if k != "report"} for row in store.list_promotions(limit=10)
    ]
    live_row = store.live_promotion()
    return {
        "live": str(recorded_live(root, store)),
        "live_promotion": live_row["id"] if live_row else None,
        "served": served,
        "server_problem": problem,
        "candidates": candidates,
        "promotions": promotions,
    }


# -- printing and the command line ------------------------------------------------


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def format_report(report: Dict[str, Any], confusions: int = 15) -> List[str]:
    """The report as text lines: verdict, F1 table, changed confusions, out-of-domain share."""
    verdict = report["gate"]
    lines = [
        f"candidate {Path(report['candidate']).name} vs live {Path(report['live']).name}:"
        f" {report['examples']} held-out examples ({', '.join(report['heldout_files'])}),"
        f" {report['ood']['messages']} out-of-domain ({', '.join(report['ood_files'])})",
        "verdict: "
        + (
            "PASS, may be promoted"
            if verdict["passed"]
            else "REFUSED: " + "; ".join(verdict["reasons"])
        ),
        "",
        f"{'intent':<28} {'n':>4} {'old F1':>7} {'new F1':>7} {'delta':>7}",
    ]
    for row in report["intents"]:
        delta = "—" if row.get("delta") is None else f"{row['delta']:+.2f}"
        mark = ""
        if row["intent"] in verdict["regressed"] or row["intent"] in verdict["new_below_minimum"]:
            mark = "  <- regressed" if row["kind"] == "existing" else "  <- below 0.80"
        elif row["kind"] == "new":
            mark = "  (new)"
        elif row["kind"] == "unknown":
            mark = "  (in neither model)"
        lines.append(
            f"{row['intent']:<28} {row['examples']:>4} {_cell(row.get('old')):>7}"
            f" {_cell(row.get('new')):>7} {delta:>7}{mark}"
        )
    macro = report["macro_f1"]
    lines.append(f"{'macro F1':<28} {'':>4} {_cell(macro['old']):>7} {_cell(macro['new']):>7}")
    changed = report["confusions_changed"]
    lines += ["", f"confusions that changed ({len(changed)}):"]
    for pair in changed[:confusions]:
        lines.append(
            f"  {pair['gold']} read as {pair['predicted']}: {pair['old']} -> {pair['new']}"
        )
    if not changed:
        lines.append("  (none)")
    elif len(changed) > confusions:
        lines.append(f"  ... and {len(changed) - confusions} more (--json shows all)")
    ood = report["ood"]
    lines += [
        "",
        f"out-of-domain rejected share: {_cell(ood['old'])} -> {_cell(ood['new'])}",
    ]
    return lines


def _project(args: Any) -> Path:
    from bot.training.intents import project_root

    return (Path(args.project) if args.project else project_root()).resolve()


def _store(args: Any) -> Any:
    from bot.config import settings
    from bot.store import Store

    return Store.open(args.db or settings().db_path)


def _client(args: Any) -> Any:
    from bot.config import settings
    from bot.rasa_api import RasaClient

    cfg = settings()
    return RasaClient(args.rasa_url or cfg.rasa_url, cfg.rasa_token)


def _bar(stream: Any) -> ProgressCallback:
    """A progress bar on a terminal; one line per new stage otherwise."""
    last = {"stage": ""}

    def show(step: Progress) -> None:
        if stream.isatty():
            filled = int(step.fraction * 30)
            stream.write(
                f"\r[{'#' * filled}{'.' * (30 - filled)}] {step.fraction * 100:3.0f}%"
                f" {step.stage[:60]:<60}"
            )
            if step.fraction >= 1:
                stream.write("\n")
        elif step.stage != last["stage"]:
            stream.write(f"{step.fraction * 100:3.0f}% {step.stage}\n")
        last["stage"] = step.stage
        stream.flush()

    return show


def cli_train(args: Any) -> int:
    """`crisisdesk model train`."""
    root = _project(args)
    config = Path(args.config).resolve() if args.config else None
    try:
        info = train(root, config, progress=_bar(sys.stderr))
    except LifecycleError as problem:
        print(str(problem), file=sys.stderr)
        return 1
    print(f"candidate {Path(info['model']).relative_to(root)} ({info['seconds']} s)")
    print("next: crisisdesk model evaluate")
    return 0


def _live_for(args: Any, root: Path, store: Any) -> Path:
    if args.live:
        return Path(args.live).resolve()
    try:
        return live_model(root, store, _client(args))
    except Exception as problem:  # the server is not running: the record decides
        from bot.rasa_api import RasaUnavailable

        if not isinstance(problem, RasaUnavailable):
            raise
        return recorded_live(root, store)


def cli_evaluate(args: Any) -> int:
    """`crisisdesk model evaluate`."""
    root = _project(args)
    store = _store(args)
    try:
        candidate = resolve_candidate(root, args.candidate)
        live = _live_for(args, root, store)
        report = evaluate(root, candidate, live, progress=_bar(sys.stderr))
    except LifecycleError as problem:
        print(str(problem), file=sys.stderr)
        return 1
    finally:
        store.close()
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print("\n".join(format_report(report)))
    return 0


def cli_promote(args: Any) -> int:
    """`crisisdesk model promote`."""
    from bot.rasa_api import RasaUnavailable
    from bot.training.changes import author_problems

    if problems := author_problems(args.user):
        print(problems[0].replace("author", "--as"), file=sys.stderr)
        return 2
    root = _project(args)
    store = _store(args)
    try:
        candidate = resolve_candidate(root, args.candidate)
        row = promote(
            root,
            store,
            _client(args),
            candidate,
            by=args.user,
            force=args.force,
            progress=_bar(sys.stderr),
        )
    except GateRefused as refused:
        print("\n".join(format_report(refused.report)))
        names = ", ".join(
            refused.report["gate"]["regressed"] + refused.report["gate"]["new_below_minimum"]
        )
        print(
            f"not promoted: {names or 'out-of-domain share dropped'}"
            " (an admin may use --force --as ADMIN; it is logged)",
            file=sys.stderr,
        )
        return 1
    except (LifecycleError, RasaUnavailable) as problem:
        print(f"not promoted: {problem}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print("\n".join(format_report(row["report"])))
    print(
        f"promoted {Path(row['model_file']).name} (promotion {row['id']}"
        + (", FORCED past the gate, logged" if row["forced"] else "")
        + f"); previous: {Path(row['previous_file']).name}"
    )
    return 0


def cli_rollback(args: Any) -> int:
    """`crisisdesk model rollback`."""
    from bot.rasa_api import RasaUnavailable
    from bot.training.changes import author_problems

    if problems := author_problems(args.user):
        print(problems[0].replace("author", "--as"), file=sys.stderr)
        return 2
    root = _project(args)
    store = _store(args)
    try:
        done = rollback(root, store, _client(args), by=args.user)
    except (LifecycleError, RasaUnavailable) as problem:
        print(f"not rolled back: {problem}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(
        f"rolled back {Path(done['rolled_back']).name}; the server runs"
        f" {Path(done['restored']).name} again"
    )
    return 0


def cli_status(args: Any) -> int:
    """`crisisdesk model status`."""
    root = _project(args)
    store = _store(args)
    try:
        found = status(root, store, _client(args))
    finally:
        store.close()
    if args.json:
        print(json.dumps(found, ensure_ascii=False, indent=2))
        return 0
    print(f"live (recorded): {Path(found['live']).name}")
    if found["served"] is not None:
        same = found["served"] == Path(found["live"]).name
        print(
            f"Rasa server runs: {found['served']}"
            + ("" if same else "  (not the recorded one: restarted? promote again)")
        )
    else:
        print(f"Rasa server: {found['server_problem']}")
    print("candidates:" + ("" if found["candidates"] else " (none)"))
    for c in found["candidates"]:
        print(f"  {c['model']}  {c['evaluated'] or 'not evaluated'}")
    print("promotions (newest first):" + ("" if found["promotions"] else " (none)"))
    for p in found["promotions"]:
        state = "live" if p["id"] == found["live_promotion"] else ""
        if p["rolled_back_at"]:
            state = f"rolled back {p['rolled_back_at']} by {p['rolled_back_by']}"
        print(
            f"  {p['id']:>3}  {p['promoted_at']}  {Path(p['model_file']).name}"
            f"  by {p['promoted_by']}  {p['verdict']}  {state}"
        )
    return 0


def add_commands(groups: Any, command: Callable[..., Any]) -> None:
    """Adds the `model` group to the crisisdesk command line."""
    group = groups.add_parser(
        "model",
        help="train, evaluate, promote and roll back the NLU/dialogue model",
        description="The model lifecycle: candidate -> evaluation -> promotion into the"
        " running Rasa server -> rollback.",
    )
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    project_help = "project folder (default: $CRISISDESK_PROJECT or this one)"
    rasa_help = "Rasa server (default: RASA_URL)"
    p = command(
        sub,
        "train",
        cli_train,
        f"train a candidate into {CANDIDATES}/ (the live model stays), with a progress bar",
    )
    p.add_argument("--config", help="training config (default: the project's config.yml)")
    p.add_argument("--project", help=project_help)
    p = command(
        sub,
        "evaluate",
        cli_evaluate,
        "compare a candidate with the live model on the held-out set (tests/nlu_heldout.yml,"
        " heldout/nlu/) and the out-of-domain dev sets: verdict, per-intent F1, changed"
        " confusions, out-of-domain share",
    )
    p.add_argument("candidate", nargs="?", help="candidate file or name (default: the newest)")
    p.add_argument("--live", help="the live model file (default: the server's, or the record's)")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.add_argument("--rasa-url", help=rasa_help)
    p.add_argument("--project", help=project_help)
    p = command(
        sub,
        "promote",
        cli_promote,
        "load a candidate into the running Rasa server (PUT /model) if no intent's F1 drops"
        f" more than {MAX_F1_DROP * 100:.0f} points, the out-of-domain share does not drop and"
        f" each new intent reaches {NEW_INTENT_MIN_F1:.2f}; refused (exit status 1) otherwise,"
        " naming the intents",
    )
    p.add_argument("candidate", nargs="?", help="candidate file or name (default: the newest)")
    p.add_argument("--as", dest="user", default="cli", help="who promotes (a desk user name)")
    p.add_argument(
        "--force", action="store_true", help="promote past the gate (admins only; logged)"
    )
    p.add_argument("--rasa-url", help=rasa_help)
    p.add_argument("--project", help=project_help)
    p = command(
        sub,
        "rollback",
        cli_rollback,
        "load the model the live promotion replaced into the running Rasa server",
    )
    p.add_argument("--as", dest="user", default="cli", help="who rolls back (a desk user name)")
    p.add_argument("--rasa-url", help=rasa_help)
    p.add_argument("--project", help=project_help)
    p = command(sub, "status", cli_status, "the live model, candidates and promotions")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--rasa-url", help=rasa_help)
    p.add_argument("--project", help=project_help)

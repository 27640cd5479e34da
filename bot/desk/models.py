"""Trainers' pages for intents and models: add an intent, train, compare, promote, roll back.

The same steps as `crisisdesk intents add` and `crisisdesk model ...`, through the
same functions (bot/training/intents.py, bot/training/models.py), for the roles
trainer and admin:

- `/training/intents`: every intent with its example counts per language, and the
  form that adds one (examples one per line for each language; a response in both
  languages, a handoff, or a published fact). A refusal (a clashing name, too few
  examples, an example another intent has or nearly has) is shown on the form,
  naming the example; nothing is written.
- `/training/models`: the live model (as recorded, and as the Rasa server reports
  it), the candidates with their verdicts, and the promotions with their reports.
  "Train a candidate" starts a background job that trains (`rasa train` in a
  child process) and then evaluates the candidate against the live model; its
  progress updates in place (`/training/models/job`, polled by htmx while a job
  runs). Promote and roll back are jobs too (loading a model into the Rasa
  server takes a while); the gate's refusal names the regressed intents, and
  only an admin sees "promote anyway" (`force`), which the audit log records.
- `/training/models/report`: a candidate's or a promotion's comparison: verdict,
  per-intent F1 old/new/delta, the confusion pairs that changed, the
  out-of-domain share.

One job at a time per desk process (`ModelJobs`, on `app.state.model_jobs`); the
job runs in a worker thread with its own store connection. Promote and rollback
also take the project's models lock, so a CLI promotion and a desk promotion
never overlap. A job that is running when the desk stops is abandoned: a
training's child process may still write its candidate, which the page lists.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.desk.auth import TRAINERS, current_user, route
from bot.desk.web import audit, render, store
from bot.store import NotFound, Store
from bot.training import intents as intent_files
from bot.training import models as lifecycle

logger = logging.getLogger(__name__)

# The most characters a form's examples field takes (about 200 examples).
MAX_EXAMPLES_CHARS = 20_000
# Share of a "train" job's bar that training takes; evaluating takes the rest.
TRAIN_SHARE = 0.7


@dataclass
class Job:
    """A lifecycle step running (or run) for a trainer, as the page shows it."""

    kind: str  # "train", "promote" or "rollback"
    by: str
    started: float = field(default_factory=time.time)
    fraction: float = 0.0
    stage: str = "starting"
    finished: float | None = None
    error: str = ""
    reasons: List[str] = field(default_factory=list)  # the gate's, when it refused
    result: Dict[str, Any] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.finished is None

    @property
    def seconds(self) -> float:
        return round((self.finished or time.time()) - self.started, 1)


class Busy(Exception):
    """Another job is running."""


class ModelJobs:
    """One lifecycle job at a time for a desk process, each in a worker thread.

    Args:
        root: the project folder (data/, domain.yml, models/).
        db_path: the store's SQLite file (the job opens its own connection).
        rasa: returns the Rasa HTTP API client.
        config: the training config (default the project's config.yml).
    """

    def __init__(
        self,
        root: Path,
        db_path: Path,
        rasa: Callable[[], Any],
        config: Path | None = None,
    ) -> None:
        self.root = root
        self.db_path = db_path
        self.rasa = rasa
        self.config = config
        self.job: Job | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self, kind: str, by: str, work: Callable[[Store, Job], Dict[str, Any]]) -> Job:
        """Starts `work(store, job)` in a thread; raises Busy while another job runs."""
        with self._lock:
            if self.job is not None and self.job.running:
                raise Busy(f"{self.job.kind} started by {self.job.by} is still running")
            job = self.job = Job(kind, by)
        self._thread = threading.Thread(
            target=self._run, args=(job, work), name=f"crisisdesk-model-{kind}", daemon=True
        )
        self._thread.start()
        return job

    def _run(self, job: Job, work: Callable[[Store, Job], Dict[str, Any]]) -> None:
        db = Store.open(self.db_path)
        try:
            job.result = work(db, job) or {}
            job.fraction, job.stage = 1.0, "done"
        except lifecycle.GateRefused as refused:
            job.reasons = list(refused.report["gate"]["reasons"])
            job.error = "The gate refused the candidate."
            job.result = {"report": _short(refused.report)}
        except (lifecycle.LifecycleError, intent_files.Refused) as problem:
            job.error = str(problem)
        except Exception as problem:  # shown to the trainer, the details in the log
            logger.exception("model %s failed", job.kind)
            job.error = f"{job.kind} failed: {type(problem).__name__}: {problem}"
        finally:
            job.finished = time.time()
            db.close()

    def wait(self, timeout: float | None = None) -> None:
        """Waits for the running job's thread (tests, shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout)

    # -- the jobs ------------------------------------------------------------------

    def train(self, by: str) -> Job:
        """Trains a candidate, then compares it with the live model."""

        def work(db: Store, job: Job) -> Dict[str, Any]:
            def training(step: lifecycle.Progress) -> None:
                job.fraction, job.stage = step.fraction * TRAIN_SHARE, step.stage

            def evaluating(step: lifecycle.Progress) -> None:
                job.fraction = TRAIN_SHARE + step.fraction * (1 - TRAIN_SHARE)
                job.stage = step.stage

            info = lifecycle.train(self.root, self.config, progress=training)
            candidate = Path(info["model"])
            job.result = {"candidate": candidate.name}
            live = lifecycle.live_model(self.root, db, self._client_or_none())
            report = lifecycle.evaluate(self.root, candidate, live, progress=evaluating)
            return {"candidate": candidate.name, "report": _short(report)}

        return self.start("train", by, work)

    def promote(self, by: str, candidate: str, force: bool) -> Job:
        """Promotes a candidate (the gate decides, unless an admin forces)."""

        def work(db: Store, job: Job) -> Dict[str, Any]:
            def step(progress: lifecycle.Progress) -> None:
                job.fraction, job.stage = progress.fraction, progress.stage

            path = lifecycle.resolve_candidate(self.root, candidate)
            row = lifecycle.promote(
                self.root, db, self.rasa(), path, by=by, force=force, progress=step
            )
            return {"promotion": row["id"], "model": Path(row["model_file"]).name}

        return self.start("promote", by, work)

    def rollback(self, by: str) -> Job:
        """Loads the model the live promotion replaced."""

        def work(db: Store, job: Job) -> Dict[str, Any]:
            job.stage = "loading the previous model into the Rasa server"
            done = lifecycle.rollback(self.root, db, self.rasa(), by=by)
            return {"restored": Path(done["restored"]).name, "promotion": done["promotion"]}

        return self.start("rollback", by, work)

    def _client_or_none(self) -> Any:
        """The Rasa client when the server answers (evaluation works without it)."""
        client = self.rasa()
        try:
            client.status()
        except Exception:  # RasaUnavailable: compare with the recorded live model
            return None
        return client


def _short(report: Dict[str, Any]) -> Dict[str, Any]:
    """What a job keeps of a report: the verdict and the file it compared."""
    return {
        "passed": report["gate"]["passed"],
        "reasons": report["gate"]["reasons"],
        "candidate": Path(report["candidate"]).name,
        "live": Path(report["live"]).name,
    }


def model_jobs(app: Any) -> ModelJobs:
    """The app's jobs (made once: the project folder, the store, the Rasa client)."""
    found = getattr(app.state, "model_jobs", None)
    if found is None:
        from bot.desk.conversations import rasa_client

        found = app.state.model_jobs = ModelJobs(
            project(app), app.state.settings.db_path, lambda: rasa_client(app)
        )
    return found


def project(app: Any) -> Path:
    """The project folder the trainers change: `app.state.project`, else CRISISDESK_PROJECT."""
    found = getattr(app.state, "project", None)
    return Path(found) if found else intent_files.project_root().resolve()


# -- intents ---------------------------------------------------------------------


def _lines(text: str) -> List[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


async def intents_page(
    request: Request,
    form: Dict[str, str] | None = None,
    problems: List[str] | None = None,
    status_code: int = 200,
) -> Response:
    """Every intent with its example counts, and the form that adds one."""
    root = project(request.app)
    rows = await asyncio.to_thread(intent_files.intent_counts, root)
    facts = [f for f in await store(request).list_facts("published")]
    return render(
        request,
        "training/intents.html",
        {
            "rows": rows,
            "facts": facts,
            "form": form or {"reaction": "response"},
            "problems": problems or [],
            "added": request.query_params.get("added", ""),
            "minimum": intent_files.MIN_TRAINING + intent_files.MIN_HELDOUT,
        },
        status_code=status_code,
    )


async def intents_list(request: Request) -> Response:
    return await intents_page(request)


async def intent_add(request: Request) -> Response:
    """Adds an intent from the form; a refusal re-shows the form with its reasons (422)."""
    raw = await request.form()
    form = {
        name: str(raw.get(name) or "")
        for name in (
            "name",
            "examples_tr",
            "examples_en",
            "reaction",
            "response_tr",
            "response_en",
            "fact",
        )
    }
    user = current_user(request)
    problems: List[str] = []
    if any(len(form[k]) > MAX_EXAMPLES_CHARS for k in ("examples_tr", "examples_en")):
        problems.append(f"At most {MAX_EXAMPLES_CHARS} characters of examples per language.")
    reaction = form["reaction"]
    if reaction not in ("response", "handoff", "fact"):
        problems.append("Choose how the bot reacts: a response, a handoff or a fact.")
    if problems:
        return await intents_page(request, form, problems, 422)
    options: Dict[str, Any] = {}
    if reaction == "response":
        options = {
            "response_tr": form["response_tr"].strip() or None,
            "response_en": form["response_en"].strip() or None,
        }
    elif reaction == "handoff":
        options = {"handoff": True}
    else:
        options = {"fact_id": form["fact"].strip() or None}
    given = {"tr": _lines(form["examples_tr"]), "en": _lines(form["examples_en"])}
    root = project(request.app)
    db_path = request.app.state.settings.db_path

    def add() -> intent_files.Added:
        db = Store.open(db_path)
        try:
            return intent_files.add_intent(
                root, db, form["name"].strip(), given, author=user["name"], **options
            )
        finally:
            db.close()

    try:
        added = await asyncio.to_thread(add)
    except intent_files.Refused as refused:
        return await intents_page(request, form, list(refused.problems), 422)
    await audit(
        request,
        "intent.add",
        f"intent:{added.plan.name}",
        {"files": added.files, "change": added.change_id, "commit": added.commit},
    )
    return RedirectResponse(f"/training/intents?added={added.plan.name}", status_code=303)


# -- models ----------------------------------------------------------------------


def _status(root: Path, db_path: Path, client: Any) -> Dict[str, Any]:
    db = Store.open(db_path)
    try:
        return lifecycle.status(root, db, client)
    finally:
        db.close()


async def models_page(request: Request, problem: str = "", status_code: int = 200) -> Response:
    """The live model, the candidates, the promotions, and the job running now."""
    jobs = model_jobs(request.app)
    from bot.desk.conversations import rasa_client

    found = await asyncio.to_thread(
        _status, jobs.root, request.app.state.settings.db_path, rasa_client(request.app)
    )
    return render(
        request,
        "training/models.html",
        {
            "status": found,
            "job": jobs.job,
            "problem": problem,
            "is_admin": current_user(request)["role"] == "admin",
            "name": lambda path: Path(path).name if path else "–",
        },
        status_code=status_code,
    )


async def models_list(request: Request) -> Response:
    return await models_page(request)


async def job_panel(request: Request) -> Response:
    """The job box alone (htmx polls it while a job runs)."""
    return render(request, "training/_job.html", {"job": model_jobs(request.app).job})


async def _start(request: Request, kind: str, begin: Callable[[], Job], detail: Any) -> Response:
    try:
        begin()
    except Busy as busy:
        return await models_page(request, f"Not started: {busy}.", 409)
    await audit(request, f"model.{kind}_started", "model", detail)
    return RedirectResponse("/training/models", status_code=303)


async def train_start(request: Request) -> Response:
    user = current_user(request)
    jobs = model_jobs(request.app)
    return await _start(request, "train", lambda: jobs.train(user["name"]), {})


async def promote_start(request: Request) -> Response:
    user = current_user(request)
    form = await request.form()
    candidate = str(form.get("candidate") or "")
    force = form.get("force") == "1"
    if force and user["role"] != "admin":
        return await models_page(request, "Only an admin may promote past the gate.", 403)
    if not candidate:
        return await models_page(request, "Choose a candidate to promote.", 422)
    jobs = model_jobs(request.app)
    return await _start(
        request,
        "promote",
        lambda: jobs.promote(user["name"], candidate, force),
        {"candidate": candidate, "force": force},
    )


async def rollback_start(request: Request) -> Response:
    user = current_user(request)
    jobs = model_jobs(request.app)
    return await _start(request, "rollback", lambda: jobs.rollback(user["name"]), {})


def _read_report(
    root: Path, db_path: Path, candidate: str, promotion: str
) -> Dict[str, Any] | None:
    if promotion:
        if not promotion.isdigit():
            return None
        db = Store.open(db_path)
        try:
            return db.get_promotion(int(promotion))["report"]
        except NotFound:
            return None
        finally:
            db.close()
    try:
        path = lifecycle.report_path(lifecycle.resolve_candidate(root, candidate))
    except lifecycle.LifecycleError:
        return None
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


async def report_page(request: Request) -> Response:
    """A candidate's (`?candidate=`) or a promotion's (`?promotion=`) comparison."""
    candidate = request.query_params.get("candidate", "")
    promotion = request.query_params.get("promotion", "")
    if "/" in candidate or ".." in candidate:
        return await models_page(request, "There is no such candidate.", 404)
    report = await asyncio.to_thread(
        _read_report,
        project(request.app),
        request.app.state.settings.db_path,
        candidate,
        promotion,
    )
    if report is None:
        return await models_page(request, "There is no such report (not evaluated yet?).", 404)
    return render(
        request,
        "training/report.html",
        {
            "report": report,
            "name": lambda path: Path(path).name,
            "min_new": lifecycle.NEW_INTENT_MIN_F1,
            "max_drop": lifecycle.MAX_F1_DROP,
        },
    )


def routes() -> List[Any]:
    """The intents and models pages (trainers; admin too)."""
    return [
        route("/training/intents", intents_list, roles=TRAINERS, methods=["GET"]),
        route("/training/intents", intent_add, roles=TRAINERS, methods=["POST"]),
        route("/training/models", models_list, roles=TRAINERS, methods=["GET"]),
        route("/training/models/job", job_panel, roles=TRAINERS, methods=["GET"]),
        route("/training/models/report", report_page, roles=TRAINERS, methods=["GET"]),
        route("/training/models/train", train_start, roles=TRAINERS, methods=["POST"]),
        route("/training/models/promote", promote_start, roles=TRAINERS, methods=["POST"]),
        route("/training/models/rollback", rollback_start, roles=TRAINERS, methods=["POST"]),
    ]

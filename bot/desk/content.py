"""Editors' pages: facts, FAQ entries and the open-rumour groups.

Facts and FAQ entries are written as drafts in both languages and checked by
the same validation as the CSV import (`bot.facts.validate_fact`,
`validate_faq`), every problem shown next to its field. Saving a change to a
published entry makes it a draft again: what customers read is always what an
editor last published. Publishing a fact goes through `bot.publishing`, the
mechanism the CLI uses: verified by the logged-in editor, open rumours it
answers are linked and their askers' follow-ups queued (once each). Confirming
or rejecting a rumour group's suggested fact calls `bot.rumours.confirm` /
`reject`, as `crisisdesk rumours confirm/reject` does. Every change is written
to the audit log. Customer wordings reach the page only through autoescaped
templates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Sequence
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot import clock as crisis_clock
from bot import rumours as rumour_queue
from bot.alerts import RUMOUR_WINDOW, rumour_ranking
from bot.desk import web
from bot.desk.auth import EDITORS, current_user, route
from bot.facts import validate_fact, validate_faq
from bot.publishing import publish_fact, retire_fact
from bot.store import FACT_FIELDS, FACT_STATUSES, FAQ_FIELDS, VERDICTS, NotFound, Store
from bot.store.content import FAQ_STATUSES

GROWTH_WINDOW = RUMOUR_WINDOW  # "fastest-growing": new askers within this window
MAX_FORM_FIELD = 8000  # the form refuses more before validation (validation allows 4000)


def _store(request: Request) -> Any:
    """The desk's store (`bot.store.aio.AsyncStore`: every method awaited)."""
    return web.store(request)


def _actor(request: Request) -> str:
    user = current_user(request)
    return user["name"] if user else "anonymous"


def _render(
    request: Request, name: str, context: Dict[str, Any], status_code: int = 200
) -> Response:
    return web.render(request, name, {"verdicts": VERDICTS, **context}, status_code)


def _run_sync(path: Path, func: Callable[..., Any], *args: Any) -> Any:
    store = Store.open(path, migrate=False)
    try:
        return func(store, *args)
    finally:
        store.close()


async def _sync(request: Request, func: Callable[..., Any], *args: Any) -> Any:
    """Runs `func(store, *args)` on a plain `Store` in a worker thread (several calls)."""
    return await run_in_threadpool(_run_sync, _store(request).path, func, *args)


def _back(path: str, **query: str) -> RedirectResponse:
    """A redirect after a POST (303: the browser GETs the page)."""
    shown = {k: v for k, v in query.items() if v}
    return RedirectResponse(path + ("?" + urlencode(shown) if shown else ""), status_code=303)


async def _form(request: Request, fields: Sequence[str]) -> Dict[str, str]:
    form = await request.form()
    out = {}
    for name in fields:
        value = form.get(name)
        out[name] = value[:MAX_FORM_FIELD] if isinstance(value, str) else ""
    return out


_PLACEHOLDER = {"id": "x", "source_url": "https://example.org", "verdict": VERDICTS[0]}


def field_errors(
    validate: Callable[[Dict[str, str]], Dict[str, str]], row: Mapping[str, str]
) -> Dict[str, str]:
    """Every problem `validate` finds in a form, by field (the import's own checks).

    The import's validators stop at the first problem; each one found is noted
    against the field its message names, that field is set to a valid value, and
    the row is checked again, so the editor sees all problems at once.
    """
    trial = dict(row)
    errors: Dict[str, str] = {}
    for _ in range(len(trial) + 1):
        try:
            validate(trial)
            return errors
        except ValueError as problem:
            message = str(problem)
            name = message.split(" ", 1)[0]
            if name not in trial or name in errors:
                errors["_form"] = message
                return errors
            errors[name] = message
            trial[name] = _PLACEHOLDER.get(name, "x")
    return errors


def _not_found(request: Request, what: str) -> Response:
    return _render(request, "content/not_found.html", {"what": what}, status_code=404)


@dataclass(frozen=True)
class Kind:
    """One kind of editable content (a fact, an FAQ entry): one set of form handlers."""

    name: str  # the template's variable, the audit action's prefix: "fact", "faq"
    label: str  # what the editor reads: "fact", "FAQ entry"
    path: str  # the list's address: "/facts"
    fields: Sequence[str]
    validate: Callable[[Dict[str, str]], Dict[str, str]]
    get: Callable[[Any, str], Awaitable[Dict[str, Any] | None]]
    save_draft: Callable[[Any, Dict[str, str]], Awaitable[Any]]
    form_extra: Mapping[str, Any] = field(default_factory=dict)  # more template values

    def row(self, record: Mapping[str, Any]) -> Dict[str, str]:
        return {name: str(record.get(name) or "") for name in self.fields}

    def address(self, item_id: str) -> str:
        return f"{self.path}/{quote(item_id)}"

    def target(self, item_id: str) -> str:
        return f"{self.name}:{item_id}"


FACT = Kind(
    name="fact",
    label="fact",
    path="/facts",
    fields=FACT_FIELDS,
    validate=validate_fact,
    get=lambda store, item_id: store.get_fact(item_id, missing_ok=True),
    save_draft=lambda store, fact: store.upsert_fact(fact, status="draft", verified_by=""),
    form_extra={"rumour": ""},
)
FAQ = Kind(
    name="faq",
    label="FAQ entry",
    path="/faq",
    fields=FAQ_FIELDS,
    validate=validate_faq,
    get=lambda store, item_id: store.get_faq(item_id, missing_ok=True),
    save_draft=lambda store, faq: store.upsert_faq(faq, status="draft"),
)


def _form_page(
    request: Request,
    kind: Kind,
    row: Mapping[str, str],
    record: Mapping[str, Any] | None,
    errors: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A kind's form: new (no record) or an existing entry, with any problems (422)."""
    context = {
        **kind.form_extra,
        kind.name: row,
        "record": record,
        "errors": errors or {},
        "new": record is None,
        "notice": request.query_params.get("notice", ""),
        **extra,
    }
    status_code = 422 if errors else 200
    return _render(request, f"content/{kind.name}_form.html", context, status_code)


async def _new_id_errors(store: Any, kind: Kind, row: Mapping[str, str]) -> Dict[str, str]:
    """A new entry's problems: the import's checks, then a reserved or taken id."""
    errors = field_errors(kind.validate, row)
    item_id = row["id"].strip()
    if not errors and item_id.lower() == "new":
        errors["id"] = "'new' is the address of this form: please choose another id"
    if not errors and await kind.get(store, item_id):
        errors["id"] = f"{item_id!r} already exists ({kind.label} ids are unique): edit that one"
    return errors


def edit_page(kind: Kind) -> Callable[[Request], Any]:
    async def edit(request: Request) -> Response:
        item_id = request.path_params["item_id"]
        record = await kind.get(_store(request), item_id)
        if not record:
            return _not_found(request, f"{kind.label} {item_id}")
        extra = await _helpfulness(request, item_id) if kind is FACT else {}
        return _form_page(request, kind, kind.row(record), record, **extra)

    edit.__doc__ = f"One {kind.label}: its edit form, status and publish/retire buttons."
    return edit


def save_edit(kind: Kind) -> Callable[[Request], Any]:
    async def save(request: Request) -> Response:
        store = _store(request)
        item_id = request.path_params["item_id"]
        record = await kind.get(store, item_id)
        if not record:
            return _not_found(request, f"{kind.label} {item_id}")
        row = await _form(request, kind.fields)
        row["id"] = item_id  # the id is the entry's name everywhere: never changed by an edit
        errors = field_errors(kind.validate, row)
        if errors:
            return _form_page(request, kind, row, record, errors)
        item = kind.validate(row)
        changed = sorted(k for k in kind.fields if item[k] != (record.get(k) or ""))
        await kind.save_draft(store, item)
        await web.audit(
            request,
            f"{kind.name}.edit",
            kind.target(item_id),
            {"changed": changed, "was": record["status"]},
        )
        return _back(kind.address(item_id), notice="saved as a draft")

    save.__doc__ = (
        f"Saves an edited {kind.label} as a draft (a published one leaves the air"
        " until republished)."
    )
    return save


# -- facts -----------------------------------------------------------------------


async def _poor_facts(request: Request) -> Dict[str, Dict[str, Any]]:
    """Facts flagged for poor helpfulness (FEEDBACK_MIN_ANSWERS, FEEDBACK_HELPFUL_SHARE)."""
    cfg = web.settings(request)
    return await _store(request).poor_facts(cfg.feedback_min_answers, cfg.feedback_helpful_share)


async def _helpfulness(request: Request, fact_id: str) -> Dict[str, Any]:
    """A fact's "was this helpful?" figures, its flag and the messages behind its "no"s."""
    store = _store(request)
    rows = [r for r in await store.fact_helpfulness() if r["fact_id"] == fact_id]
    poor = await _poor_facts(request)
    return {
        "helpfulness": rows[0] if rows else None,
        "poor": poor.get(fact_id),
        "unhelpful": await store.unhelpful_messages(fact_id),
    }


async def facts_list(request: Request) -> Response:
    """Facts, searchable, with verdict, status and who verified them when."""
    query = request.query_params.get("q", "")[:200]
    status = request.query_params.get("status", "")
    status = status if status in FACT_STATUSES else ""
    facts = await _store(request).search_facts(query, status or None)
    poor = await _poor_facts(request)
    return _render(
        request,
        "content/facts.html",
        {
            "facts": facts,
            "poor": poor,
            "q": query,
            "status": status,
            "statuses": FACT_STATUSES,
            "notice": request.query_params.get("notice", ""),
        },
    )


def _prefill_from_rumour(store: Store, rumour_id: str) -> Dict[str, str]:
    """A new fact's claims from a rumour group's wordings (most asked in each language)."""
    try:
        group = store.get_rumour(int(rumour_id))
    except (NotFound, ValueError):
        return {}
    claims: Dict[str, str] = {}
    for wording in store.rumour_wordings(group["id"]):
        key = f"claim_{wording['language']}" if wording["language"] in ("tr", "en") else ""
        if key and key not in claims:
            claims[key] = " ".join(wording["text"].split())
    if not claims:
        claims["claim_en"] = " ".join(group["text"].split())
    return claims


async def fact_new(request: Request) -> Response:
    """The form for a new fact (pre-filled from a rumour group with ?rumour=ID)."""
    rumour = request.query_params.get("rumour", "")
    row = {name: "" for name in FACT_FIELDS}
    row.update(await _sync(request, _prefill_from_rumour, rumour) if rumour else {})
    return _form_page(request, FACT, row, None, rumour=rumour)


async def fact_create(request: Request) -> Response:
    """Saves a new fact as a draft, or shows the form again with its problems."""
    store = _store(request)
    row = await _form(request, FACT_FIELDS)
    rumour = (await request.form()).get("rumour", "")
    rumour = rumour if isinstance(rumour, str) and rumour.isdigit() else ""
    errors = await _new_id_errors(store, FACT, row)
    if errors:
        return _form_page(request, FACT, row, None, errors, rumour=rumour)
    fact = validate_fact(row)
    await FACT.save_draft(store, fact)
    detail: Dict[str, Any] = {"verdict": fact["verdict"]}
    if rumour:
        try:
            await store.get_rumour(int(rumour))
            # The group will list the new fact, to confirm once it is published.
            await store.suggest_facts(int(rumour), [(fact["id"], 1.0)], by=_actor(request))
            detail["rumour"] = int(rumour)
        except NotFound:
            pass
    await web.audit(request, "fact.create", FACT.target(fact["id"]), detail)
    return _back(FACT.address(fact["id"]), notice="saved as a draft")


async def fact_publish(request: Request) -> Response:
    """Publishes a fact as verified by the editor; answers rumours, queues follow-ups."""
    store = _store(request)
    fact_id = request.path_params["item_id"]
    if not await store.get_fact(fact_id, missing_ok=True):
        return _not_found(request, f"fact {fact_id}")
    actor = _actor(request)
    done = await _sync(request, publish_fact, fact_id, actor)
    await web.audit(
        request,
        "fact.publish",
        f"fact:{fact_id}",
        {
            "rumours_answered": [r["id"] for r in done.answered],
            "followups_queued": done.followups.queued,
            "unreachable": done.followups.unreachable,
        },
    )
    notice = (
        f"published; {len(done.answered)} open rumour(s) answered,"
        f" {done.followups.queued} follow-up(s) queued,"
        f" {done.followups.unreachable} asker(s) on channels the bot cannot write to"
    )
    return _back(f"/facts/{quote(fact_id)}", notice=notice)


async def fact_retire(request: Request) -> Response:
    """Retires a fact: the bot no longer uses it."""
    store = _store(request)
    fact_id = request.path_params["item_id"]
    if not await store.get_fact(fact_id, missing_ok=True):
        return _not_found(request, f"fact {fact_id}")
    await _sync(request, retire_fact, fact_id, _actor(request))
    await web.audit(request, "fact.retire", f"fact:{fact_id}")
    return _back(f"/facts/{quote(fact_id)}", notice="retired")


# -- rumour groups ---------------------------------------------------------------


def rumour_board(
    store: Store, order: str = "largest", status: str = "open", at: datetime | None = None
) -> List[Dict]:
    """Rumour groups with their growth and suggested facts, largest or fastest-growing first.

    Growth is `bot.alerts.rumour_ranking`'s: new askers in the last hour against
    the group's hourly rate before, as `crisisdesk rumours list` shows it.
    """
    at = at or crisis_clock.now()
    ranked = rumour_ranking(store, at, GROWTH_WINDOW, None if status == "all" else "open")
    groups = []
    for group in ranked:
        suggestions = []
        for fact_id, score in group["suggestions"]:
            fact = store.get_fact(fact_id, missing_ok=True)
            if fact:
                suggestions.append({"fact": fact, "score": score})
        wordings = store.rumour_wordings(group["id"])
        groups.append({**group, "items": wordings, "offers": suggestions})
    if order == "growing":
        groups.sort(key=lambda g: (-g["growth"], -g["recent"], -g["askers"], g["id"]))
    else:
        groups.sort(key=lambda g: (-g["askers"], -g["recent"], -g["ask_count"], g["id"]))
    return groups


async def rumours_list(request: Request) -> Response:
    """The open-rumour groups with their wordings, askers and suggested facts."""
    order = "growing" if request.query_params.get("order") == "growing" else "largest"
    status = "all" if request.query_params.get("status") == "all" else "open"
    return _render(
        request,
        "content/rumours.html",
        {
            "groups": await _sync(request, rumour_board, order, status, request.app.state.clock()),
            "order": order,
            "status": status,
            "window_minutes": int(GROWTH_WINDOW.total_seconds() // 60),
            "notice": request.query_params.get("notice", ""),
            "problem": request.query_params.get("problem", ""),
        },
    )


async def _rumour_and_fact(request: Request) -> tuple[int | None, str]:
    form = await request.form()
    fact_id = form.get("fact_id")
    try:
        rumour_id = int(request.path_params["rumour_id"])
    except ValueError:
        rumour_id = None
    return rumour_id, fact_id if isinstance(fact_id, str) else ""


async def rumour_confirm(request: Request) -> Response:
    """Confirms that a fact answers a group: askers told, wordings kept as claim variants."""
    rumour_id, fact_id = await _rumour_and_fact(request)
    if rumour_id is None or not fact_id:
        return _back("/rumours", problem="choose a rumour group and a fact")
    actor = _actor(request)
    try:
        done = await _sync(request, rumour_queue.confirm, rumour_id, fact_id, actor)
    except NotFound as problem:
        return _back("/rumours", problem=str(problem.args[0]))
    except ValueError as problem:
        return _back("/rumours", problem=str(problem))
    await web.audit(
        request,
        "rumour.confirm",
        f"rumour:{rumour_id}",
        {
            "fact": fact_id,
            "variants": done.variants,
            "followups_queued": done.followups.queued,
            "unreachable": done.followups.unreachable,
        },
    )
    return _back(
        "/rumours",
        notice=f"rumour {rumour_id} answered by {fact_id}; {done.variants} wording(s) kept,"
        f" {done.followups.queued} follow-up(s) queued",
    )


async def rumour_reject(request: Request) -> Response:
    """Removes a suggested fact from a group; it is not suggested again."""
    rumour_id, fact_id = await _rumour_and_fact(request)
    if rumour_id is None or not fact_id:
        return _back("/rumours", problem="choose a rumour group and a fact")
    try:
        await _sync(request, rumour_queue.reject, rumour_id, fact_id, _actor(request))
    except NotFound as problem:
        return _back("/rumours", problem=str(problem.args[0]))
    await web.audit(request, "rumour.reject", f"rumour:{rumour_id}", {"fact": fact_id})
    return _back("/rumours", notice=f"{fact_id} is no longer suggested for rumour {rumour_id}")


# -- FAQ -------------------------------------------------------------------------


async def faq_list(request: Request) -> Response:
    """FAQ entries with their status."""
    status = request.query_params.get("status", "")
    status = status if status in FAQ_STATUSES else ""
    return _render(
        request,
        "content/faq.html",
        {
            "faqs": await _store(request).list_faqs(status or None),
            "status": status,
            "statuses": FAQ_STATUSES,
            "notice": request.query_params.get("notice", ""),
        },
    )


async def faq_new(request: Request) -> Response:
    """The form for a new FAQ entry."""
    return _form_page(request, FAQ, {name: "" for name in FAQ_FIELDS}, None)


async def faq_create(request: Request) -> Response:
    """Saves a new FAQ entry as a draft, or shows the form again with its problems."""
    store = _store(request)
    row = await _form(request, FAQ_FIELDS)
    errors = await _new_id_errors(store, FAQ, row)
    if errors:
        return _form_page(request, FAQ, row, None, errors)
    faq = validate_faq(row)
    await FAQ.save_draft(store, faq)
    await web.audit(request, "faq.create", FAQ.target(faq["id"]))
    return _back(FAQ.address(faq["id"]), notice="saved as a draft")


def _faq_status(status: str, action: str) -> Callable[[Request], Any]:
    async def change(request: Request) -> Response:
        store = _store(request)
        faq_id = request.path_params["item_id"]
        if not await store.get_faq(faq_id, missing_ok=True):
            return _not_found(request, f"FAQ entry {faq_id}")
        await store.set_faq_status(faq_id, status)
        await web.audit(request, action, f"faq:{faq_id}")
        return _back(f"/faq/{quote(faq_id)}", notice=status)

    change.__doc__ = f"Marks an FAQ entry {status}."
    change.__name__ = f"faq_{action.split('.')[1]}"
    return change


# -- routes ----------------------------------------------------------------------


def routes() -> List[Any]:
    """The editors' routes (editor and admin only)."""
    get, post = ["GET"], ["POST"]
    return [
        route("/facts", facts_list, roles=EDITORS, methods=get),
        route("/facts/new", fact_new, roles=EDITORS, methods=get),
        route("/facts/new", fact_create, roles=EDITORS, methods=post),
        route("/facts/{item_id}", edit_page(FACT), roles=EDITORS, methods=get),
        route("/facts/{item_id}", save_edit(FACT), roles=EDITORS, methods=post),
        route("/facts/{item_id}/publish", fact_publish, roles=EDITORS, methods=post),
        route("/facts/{item_id}/retire", fact_retire, roles=EDITORS, methods=post),
        route("/rumours", rumours_list, roles=EDITORS, methods=get),
        route("/rumours/{rumour_id}/confirm", rumour_confirm, roles=EDITORS, methods=post),
        route("/rumours/{rumour_id}/reject", rumour_reject, roles=EDITORS, methods=post),
        route("/faq", faq_list, roles=EDITORS, methods=get),
        route("/faq/new", faq_new, roles=EDITORS, methods=get),
        route("/faq/new", faq_create, roles=EDITORS, methods=post),
        route("/faq/{item_id}", edit_page(FAQ), roles=EDITORS, methods=get),
        route("/faq/{item_id}", save_edit(FAQ), roles=EDITORS, methods=post),
        route(
            "/faq/{item_id}/publish",
            _faq_status("published", "faq.publish"),
            roles=EDITORS,
            methods=post,
        ),
        route(
            "/faq/{item_id}/retire",
            _faq_status("retired", "faq.retire"),
            roles=EDITORS,
            methods=post,
        ),
    ]

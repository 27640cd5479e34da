"""Incidents: opening, official statements with four eyes, closing, and topic detection.

An editor or admin opens an incident (name, severity, topic keywords, example
messages in Turkish and English, start time). Its official statement is
versioned: every new version is a draft, and it reaches customers only once a
second person, an editor or admin other than its writer, approves it; the
version live before it becomes superseded. Every version keeps who wrote and
approved it, and when. Closing an incident stops everything: no statement, no
greeting line, no priority for its handoffs.

While an incident is active, the conversation changes (the calls are in
actions/common.py and bot/nlg.py):

- `statement_to_show` gives the live statement for a customer message on the
  topic, once per conversation and version;
- `greeting_statement` gives the statement whose first sentence the greeting
  mentions;
- `handoff_incident` and `raised_priority` tag and raise a handoff on the topic.

`TopicDetector(store).incident_for(text)` decides whether a message is on an
active incident's topic: one of its keywords (diacritic-insensitive, Turkish
lower case, with Turkish suffixes) or a sentence-vector cosine with one of its
examples of at least `CRISISDESK_INCIDENT_TOPIC_THRESHOLD`.

Every change is written to the audit log here, so the CLI and the desk record
the same things.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterable, List, Mapping, Sequence, Tuple

import numpy as np

from bot.language import words
from bot.store import NotFound, Store
from bot.store.incidents import SEVERITIES, StatementRefused

logger = logging.getLogger(__name__)

# Who may open, write, approve and close (desk roles); agents may only look.
STATEMENT_ROLES = ("editor", "admin")
MAX_NAME = 200
MAX_STATEMENT = 2000  # one WhatsApp message (1600) and a bit: a statement is short
MAX_KEYWORDS = 50
MAX_EXAMPLES = 50  # per language
PRIORITY_RAISE = {"low": "normal", "normal": "high", "high": "high"}
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


class IncidentProblem(ValueError):
    """Bad input for an incident or a statement; the message says what to fix."""


class NotAllowed(PermissionError):
    """The person acting may not do this (not an editor or admin, or the writer approving)."""


# -- normalisation and keywords --------------------------------------------------------

# After a short keyword (under five letters) only these endings count, so "cam"
# (glass) finds "camdan", "camlar", "cam'ı" but not "camasir" (çamaşır, laundry).
# Folded (ı->i, ü->u, ö->o), so one form covers the vowel-harmony variants.
_SHORT_SUFFIX = re.compile(
    r"(?:lar|ler)?(?:imiz|iniz|umuz|unuz|im|in|um|un|si|su|i|u)?"
    r"(?:ndan|nden|nda|nde|dan|den|tan|ten|da|de|ta|te|nin|nun|in|un|na|ne|ni|nu|ya|ye|yi|yu"
    r"|yla|yle|la|le|a|e|i|u|ki)?(?:s|es)?"
)
LONG_KEYWORD = 5  # letters; a keyword this long also matches as a word's beginning


def fold_words(text: str) -> List[str]:
    """Word tokens, Turkish-aware lower case with diacritics removed ("Çamaşır" -> "camasir")."""
    tokens = []
    for token in words(text):
        # bot.language.words folds Turkish letters; strip any other accent too (é, ñ).
        stripped = "".join(
            ch for ch in unicodedata.normalize("NFKD", token) if not unicodedata.combining(ch)
        )
        tokens.append(stripped)
    return tokens


def _word_fits(keyword: str, token: str) -> bool:
    if token == keyword:
        return True
    if not token.startswith(keyword):
        return False
    if len(keyword) >= LONG_KEYWORD:
        return True
    return _SHORT_SUFFIX.fullmatch(token[len(keyword) :]) is not None


def keyword_hit(keywords: Sequence[Sequence[str]], tokens: Sequence[str]) -> str | None:
    """The first keyword (as folded words) that occurs in `tokens`, joined by spaces, or None.

    A keyword of several words matches consecutive words of the message.
    """
    for keyword in keywords:
        if not keyword:
            continue
        size = len(keyword)
        for start in range(len(tokens) - size + 1):
            if all(_word_fits(keyword[k], tokens[start + k]) for k in range(size)):
                return " ".join(keyword)
    return None


# -- topic detection -----------------------------------------------------------------


@dataclass(frozen=True)
class TopicMatch:
    """Why a message is on an incident's topic: a keyword, or the closest example's cosine."""

    incident: Dict[str, Any]
    score: float  # 1.0 for a keyword
    keyword: str | None = None
    example: str | None = None


@dataclass
class _Prepared:
    revision: Tuple[int, int]
    keywords: List[List[str]]
    examples: List[str]
    vectors: np.ndarray = field(repr=False)


def _encode(texts: Sequence[str]) -> np.ndarray:
    from bot import encoder

    return encoder.encode(texts)


def _encode_one(text: str) -> np.ndarray:
    from bot import encoder

    return encoder.encode_one(text)


class TopicDetector:
    """Which active incident, if any, a customer message is about.

    The examples' sentence vectors are computed once per incident revision (a
    change of keywords, examples or status), not per message; the message itself
    is encoded only when no keyword decided and an active incident has examples.

    Args:
        store: the store to read active incidents from (every call: a small query).
        threshold: the cosine an example must reach (default: the setting).
        encode: texts -> unit vectors (default: bot.encoder; tests may count calls).
    """

    def __init__(
        self,
        store: Store,
        threshold: float | None = None,
        encode: Callable[[Sequence[str]], np.ndarray] | None = None,
        encode_one: Callable[[str], np.ndarray] | None = None,
    ) -> None:
        if threshold is None:
            from bot.config import settings

            threshold = settings().incident_topic_threshold
        self.store = store
        self.threshold = float(threshold)
        self._encode = encode or _encode
        self._encode_one = encode_one or (
            (lambda text: self._encode([text])[0]) if encode else _encode_one
        )
        self._prepared: Dict[int, _Prepared] = {}

    def _prepare(self, incident: Dict[str, Any]) -> _Prepared:
        key = (int(incident["id"]), int(incident.get("revision") or 0))
        found = self._prepared.get(key[0])
        if found is not None and found.revision == key:
            return found
        examples = [
            text
            for lang in ("tr", "en")
            for text in incident["examples"].get(lang, [])
            if text and text.strip()
        ]
        vectors = (
            np.asarray(self._encode(examples), dtype=np.float32)
            if examples
            else np.zeros((0, 1), dtype=np.float32)
        )
        prepared = _Prepared(
            key,
            [fold_words(keyword) for keyword in incident["keywords"]],
            examples,
            vectors,
        )
        self._prepared[key[0]] = prepared
        return prepared

    def match(self, text: str) -> TopicMatch | None:
        """The best active incident for `text` with the reason, or None (not on a topic)."""
        if not text or not text.strip():
            return None
        incidents = self.store.active_incidents()
        active = {int(i["id"]) for i in incidents}
        for stale in [k for k in self._prepared if k not in active]:
            del self._prepared[stale]
        if not incidents:
            return None
        tokens = fold_words(text)
        best: TopicMatch | None = None
        by_meaning = []
        for incident in incidents:
            prepared = self._prepare(incident)
            hit = keyword_hit(prepared.keywords, tokens)
            if hit is not None:
                candidate = TopicMatch(incident, 1.0, keyword=hit)
                if best is None or _stronger(candidate, best):
                    best = candidate
            elif prepared.examples:
                by_meaning.append((incident, prepared))
        if best is not None:
            return best
        if not by_meaning:
            return None
        vector = np.asarray(self._encode_one(text), dtype=np.float32)
        for incident, prepared in by_meaning:
            scores = prepared.vectors @ vector
            index = int(np.argmax(scores))
            score = float(scores[index])
            if score >= self.threshold:
                candidate = TopicMatch(incident, score, example=prepared.examples[index])
                if best is None or _stronger(candidate, best):
                    best = candidate
        return best

    def incident_for(self, text: str) -> Dict[str, Any] | None:
        """The active incident `text` is about, or None."""
        found = self.match(text)
        return found.incident if found else None


def _stronger(a: TopicMatch, b: TopicMatch) -> bool:
    """Whether match `a` beats `b`: higher score, then the more severe, then the newer incident."""
    return (a.score, SEVERITY_RANK.get(a.incident["severity"], 0), a.incident["id"]) > (
        b.score,
        SEVERITY_RANK.get(b.incident["severity"], 0),
        b.incident["id"],
    )


# -- the conversation ----------------------------------------------------------------


def statement_text(statement: Mapping[str, Any], language: str | None) -> str:
    """A statement in the customer's language; both (Turkish first) when it is unknown."""
    if language in ("tr", "en"):
        return str(statement[f"text_{language}"])
    return f"{statement['text_tr']}\n\n{statement['text_en']}"


_SENTENCE_END = re.compile(r"(?<!\d)[.!?](?=\s|$)")
MAX_HEADLINE = 160


def headline(text: str) -> str:
    """A statement's first sentence, at most 160 characters (cut at a word), for one line."""
    text = " ".join(text.split())
    found = _SENTENCE_END.search(text)
    first = text[: found.end()] if found else text
    if len(first) <= MAX_HEADLINE:
        return first
    cut = first[: MAX_HEADLINE - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


def statement_to_show(
    store: Store,
    detector: TopicDetector,
    *,
    sender_id: str,
    text: str,
    channel: str | None,
    language: str | None,
) -> Tuple[Dict[str, Any] | None, Dict[str, Any] | None]:
    """For one customer message: (the incident it is on or None, the statement to show or None).

    The conversation is recorded as on the incident's topic. The statement is
    the live version, given only the first time this conversation meets it (a
    newly approved version is given again); drafts are never given.
    """
    incident = detector.incident_for(text)
    if incident is None:
        return None, None
    store.note_incident_conversation(int(incident["id"]), sender_id, channel, language)
    live = store.live_statement(int(incident["id"]))
    if live is None or not store.mark_statement_shown(int(live["id"]), sender_id, language):
        return incident, None
    return incident, live


def greeting_statement(store: Store) -> Dict[str, Any] | None:
    """The live statement a greeting mentions: of the most severe active incident, then newest."""
    return store.greeting_statement()


def greeting_headline(statement: Mapping[str, Any], language: str | None) -> str:
    """The greeting's line about a statement: its first sentence (both languages when unknown)."""
    if language in ("tr", "en"):
        return headline(str(statement[f"text_{language}"]))
    return f"{headline(str(statement['text_tr']))} / {headline(str(statement['text_en']))}"


def handoff_incident(
    store: Store, detector: TopicDetector, sender_id: str, texts: Iterable[str]
) -> Dict[str, Any] | None:
    """The active incident a conversation being handed over is on, or None.

    Its latest customer texts (newest first) are checked, then what the
    conversation was recorded writing about.
    """
    for text in texts:
        incident = detector.incident_for(text)
        if incident is not None:
            return incident
    return store.conversation_incident(sender_id)


def raised_priority(priority: str) -> str:
    """One step up for a handoff on an active incident's topic (high stays high)."""
    return PRIORITY_RAISE.get(priority, priority)


# -- people and input ----------------------------------------------------------------


def check_actor(store: Store, name: str) -> Dict[str, Any]:
    """The enabled editor or admin called `name`; NotAllowed otherwise."""
    if not name:
        raise NotAllowed("say who acts with --as NAME (an editor or admin of the desk's users)")
    user = store.find_user(name)
    if user is None:
        raise NotAllowed(f"{name!r} is not a desk user: --as names an editor or admin")
    if user.get("disabled"):
        raise NotAllowed(f"{name} is disabled")
    if user.get("role") not in STATEMENT_ROLES:
        raise NotAllowed(f"{name} is {user.get('role')}: only editors and admins may do this")
    return user


def split_lines(text: str) -> List[str]:
    """Non-empty lines, white space collapsed, each once (first kept)."""
    seen: List[str] = []
    for line in (text or "").splitlines():
        line = " ".join(line.split())
        if line and line not in seen:
            seen.append(line)
    return seen


def split_keywords(text: str) -> List[str]:
    """Keywords from one comma- or line-separated text."""
    return split_lines((text or "").replace(",", "\n"))


def parse_started_at(value: str | None) -> str | None:
    """An ISO 8601 start time as a UTC ISO string (None: now). IncidentProblem when unreadable."""
    if value is None or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as problem:
        raise IncidentProblem(
            f"start time {value!r} is not an ISO 8601 time (e.g. 2026-12-03T12:00+03:00)"
        ) from problem
    if moment.tzinfo is None:
        raise IncidentProblem(f"start time {value!r} needs a time zone (e.g. +03:00 or Z)")
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def incident_problems(
    name: str,
    severity: str,
    keywords: Sequence[str],
    examples: Mapping[str, Sequence[str]],
) -> Dict[str, str]:
    """Every problem with a new incident's fields, by field name ({} when it is fine)."""
    problems: Dict[str, str] = {}
    if not name.strip():
        problems["name"] = "name: give the incident a name"
    elif len(name) > MAX_NAME:
        problems["name"] = f"name: at most {MAX_NAME} characters"
    if severity not in SEVERITIES:
        problems["severity"] = f"severity: one of {', '.join(SEVERITIES)}"
    if len(keywords) > MAX_KEYWORDS:
        problems["keywords"] = f"keywords: at most {MAX_KEYWORDS}"
    elif any(not fold_words(k) for k in keywords):
        problems["keywords"] = "keywords: each needs letters or digits"
    for lang, label in (("tr", "Turkish"), ("en", "English")):
        given = examples.get(lang) or []
        if not given:
            problems[f"examples_{lang}"] = (
                f"examples_{lang}: at least one {label} example message, one a line"
            )
        elif len(given) > MAX_EXAMPLES:
            problems[f"examples_{lang}"] = f"examples_{lang}: at most {MAX_EXAMPLES}"
    return problems


def statement_problems(text_tr: str, text_en: str) -> Dict[str, str]:
    """Every problem with a statement's two texts, by field name."""
    problems = {}
    for lang, text, label in (("tr", text_tr, "Turkish"), ("en", text_en, "English")):
        if not text.strip():
            problems[f"text_{lang}"] = f"text_{lang}: the statement in {label} is required"
        elif len(text) > MAX_STATEMENT:
            problems[f"text_{lang}"] = f"text_{lang}: at most {MAX_STATEMENT} characters"
    return problems


def _first(problems: Mapping[str, str]) -> None:
    if problems:
        raise IncidentProblem("; ".join(problems.values()))


# -- changes (CLI and desk) --------------------------------------------------------------


def open_incident(
    store: Store,
    *,
    name: str,
    severity: str,
    keywords: Sequence[str],
    examples: Mapping[str, Sequence[str]],
    by: str,
    started_at: str | None = None,
) -> Dict[str, Any]:
    """Opens an active incident (IncidentProblem for bad fields); audited as incident.open."""
    name = " ".join(name.split())
    keywords = [" ".join(k.split()) for k in keywords if k.strip()]
    examples = {lang: split_lines("\n".join(examples.get(lang) or [])) for lang in ("tr", "en")}
    _first(incident_problems(name, severity, keywords, examples))
    started = parse_started_at(started_at)
    incident_id = store.open_incident(
        name=name,
        severity=severity,
        keywords=keywords,
        examples=examples,
        opened_by=by,
        started_at=started,
    )
    store.audit(
        by,
        "incident.open",
        f"incident:{incident_id}",
        {"name": name, "severity": severity, "keywords": len(keywords)},
    )
    tag_earlier_messages(store, incident_id)
    return store.get_incident(incident_id)


def tag_earlier_messages(
    store: Store, incident_id: int, detector: TopicDetector | None = None
) -> int:
    """Puts the messages logged since the incident's start on it, where they are on its topic.

    An incident is usually opened after its first messages came in (the alert
    came first). Those messages, logged on no incident, are matched against the
    topic now, so its report and its broadcast count them. Messages already on
    another incident keep it. Returns how many were tagged.
    """
    incident = store.get_incident(incident_id)
    if incident["status"] != "active":
        return 0
    detector = detector or TopicDetector(store)
    ids = []
    for row in store.untagged_messages_since(incident["started_at"]):
        found = detector.match(row["text"])
        if found is not None and found.incident["id"] == incident_id:
            ids.append(row["id"])
    return store.tag_incident_messages(incident_id, incident["name"], ids)


def change_topic(
    store: Store,
    incident_id: int,
    *,
    by: str,
    severity: str | None = None,
    keywords: Sequence[str] | None = None,
    examples: Mapping[str, Sequence[str]] | None = None,
) -> Dict[str, Any]:
    """Changes an active incident's severity, keywords or examples (None: unchanged).

    The topic detector re-encodes the examples on its next message. Audited as
    incident.topic; IncidentProblem for bad fields or a closed incident.
    """
    incident = store.get_incident(incident_id)
    if incident["status"] != "active":
        raise IncidentProblem(f"incident {incident_id} is closed: its topic no longer changes")
    new_keywords = (
        [" ".join(k.split()) for k in keywords if k.strip()]
        if keywords is not None
        else incident["keywords"]
    )
    new_examples = (
        {lang: split_lines("\n".join(examples.get(lang) or [])) for lang in ("tr", "en")}
        if examples is not None
        else incident["examples"]
    )
    _first(
        incident_problems(
            incident["name"], severity or incident["severity"], new_keywords, new_examples
        )
    )
    changed = store.update_incident(
        incident_id,
        severity=severity or None,
        keywords=new_keywords if keywords is not None else None,
        examples=new_examples if examples is not None else None,
    )
    store.audit(
        by,
        "incident.topic",
        f"incident:{incident_id}",
        {
            "severity": changed["severity"],
            "keywords": len(changed["keywords"]),
            "examples": sum(len(v) for v in changed["examples"].values()),
        },
    )
    if keywords is not None or examples is not None:
        tag_earlier_messages(store, incident_id)
    return changed


def write_statement(
    store: Store, incident_id: int, *, text_tr: str, text_en: str, by: str
) -> Dict[str, Any]:
    """A new draft version of an incident's statement; audited as incident.statement."""
    text_tr, text_en = text_tr.strip(), text_en.strip()
    _first(statement_problems(text_tr, text_en))
    try:
        statement = store.add_statement(
            incident_id, text_tr=text_tr, text_en=text_en, written_by=by
        )
    except ValueError as problem:
        raise IncidentProblem(str(problem)) from problem
    store.audit(
        by,
        "incident.statement",
        f"incident:{incident_id}",
        {"statement": statement["id"], "version": statement["version"]},
    )
    return statement


def approve_statement(store: Store, statement_id: int, *, by: str) -> Dict[str, Any]:
    """Makes a draft live, approved by `by`, who must not be its writer (four eyes).

    Raises NotAllowed for the writer, IncidentProblem for anything else refused
    (not a draft, a newer version live, a closed incident); a refusal is audited
    as incident.approve_refused, an approval as incident.approve.
    """
    statement = store.get_statement(statement_id)
    subject = f"incident:{statement['incident_id']}"
    try:
        live = store.approve_statement(statement_id, by)
    except StatementRefused as refused:
        store.audit(
            by,
            "incident.approve_refused",
            subject,
            {"statement": statement_id, "version": statement["version"], "why": refused.reason},
        )
        if refused.statement["written_by"] == by and refused.statement["status"] == "draft":
            raise NotAllowed(refused.reason) from refused
        raise IncidentProblem(refused.reason) from refused
    store.audit(
        by,
        "incident.approve",
        subject,
        {"statement": statement_id, "version": live["version"], "written_by": live["written_by"]},
    )
    return live


def reject_statement(store: Store, statement_id: int, *, by: str) -> Dict[str, Any]:
    """Rejects a draft (it never goes live); audited as incident.reject."""
    try:
        statement = store.reject_statement(statement_id, by)
    except StatementRefused as refused:
        raise IncidentProblem(refused.reason) from refused
    store.audit(
        by,
        "incident.reject",
        f"incident:{statement['incident_id']}",
        {"statement": statement_id, "version": statement["version"]},
    )
    return statement


def close_incident(store: Store, incident_id: int, *, by: str) -> Dict[str, Any]:
    """Closes an incident: its statement, greeting line and handoff priority stop at once.

    Audited as incident.close; then its post-crisis report is frozen
    (bot.report.freeze_report, once). Closing a closed incident changes nothing
    but freezes the report if an earlier attempt could not.
    """
    if store.close_incident(incident_id, by):
        store.audit(by, "incident.close", f"incident:{incident_id}")
    from bot.report import freeze_report  # the report reads every area: imported when needed

    try:
        freeze_report(store, incident_id)
    except Exception:  # the incident stays closed; closing again retries the report
        logger.exception("incident %s closed, its report could not be frozen", incident_id)
    return store.get_incident(incident_id)


def summary(store: Store, incident_id: int) -> Dict[str, Any]:
    """An incident with its statement versions, live version, counts (for CLI and desk)."""
    incident = store.get_incident(incident_id)
    views = store.statement_views(incident_id)
    statements = [
        {**s, "views": views.get(int(s["id"]), 0)} for s in store.list_statements(incident_id)
    ]
    return {
        **incident,
        "statements": statements,
        "live": next((s for s in statements if s["status"] == "live"), None),
        "conversations": len(store.incident_conversations(incident_id)),
        "handoffs": store.incident_handoffs(incident_id),
    }


# -- the command line ---------------------------------------------------------------------


def _cli_store(args: argparse.Namespace) -> Store:
    from bot.config import settings

    return Store.open(args.db or settings().db_path)


def _read_file(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _text_arg(args: argparse.Namespace, lang: str) -> str:
    value = getattr(args, lang)
    from_file = getattr(args, f"{lang}_file")
    if from_file:
        return _read_file(from_file)
    return value or ""


def _refuse(problem: Exception, code: int = 2) -> int:
    print(str(problem.args[0] if problem.args else problem), file=sys.stderr)
    return code


def cli_open(args: argparse.Namespace) -> int:
    """Opens an incident."""
    store = _cli_store(args)
    try:
        check_actor(store, args.user)
        incident = open_incident(
            store,
            name=args.name,
            severity=args.severity,
            keywords=[k for value in args.keyword for k in split_keywords(value)],
            examples={"tr": args.example_tr, "en": args.example_en},
            by=args.user,
            started_at=args.started_at,
        )
    except (IncidentProblem, NotAllowed) as problem:
        return _refuse(problem)
    print(
        f"incident {incident['id']} opened: {incident['name']} ({incident['severity']}),"
        f" started {incident['started_at']}"
    )
    print(
        f"  no statement yet: crisisdesk incidents statement {incident['id']}"
        " --tr TEXT --en TEXT --as NAME"
    )
    return 0


def cli_list(args: argparse.Namespace) -> int:
    """Lists incidents, active ones first."""
    store = _cli_store(args)
    rows = []
    for incident in store.list_incidents(None if args.all else "active"):
        live = store.live_statement(int(incident["id"]))
        rows.append(
            {
                **incident,
                "live_version": live["version"] if live else "",
                "keywords": ", ".join(incident["keywords"]),
            }
        )
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("(none)")
        return 0
    columns = ["id", "status", "severity", "name", "started_at", "live_version", "keywords"]
    print("  ".join(columns))
    for row in rows:
        print("  ".join(" ".join(str(row.get(c) or "").split())[:48] for c in columns))
    return 0


def cli_show(args: argparse.Namespace) -> int:
    """Shows an incident and every version of its statement."""
    store = _cli_store(args)
    found = summary(store, args.id)
    if args.json:
        print(json.dumps(found, ensure_ascii=False, indent=2))
        return 0
    print(f"incident {found['id']}: {found['name']}")
    print(f"  status {found['status']}, severity {found['severity']}")
    print(f"  opened by {found['opened_by']}, started {found['started_at']}")
    if found["closed_at"]:
        print(f"  closed by {found['closed_by']} at {found['closed_at']}")
    print(f"  keywords: {', '.join(found['keywords']) or '(none)'}")
    for lang in ("tr", "en"):
        for example in found["examples"][lang]:
            print(f"  example ({lang}): {example}")
    print(
        f"  {found['conversations']} conversation(s) on the topic,"
        f" {len(found['handoffs'])} handoff(s) tagged"
    )
    if not found["statements"]:
        print("  no statement yet")
    for s in found["statements"]:
        line = f"  statement {s['id']} version {s['version']}: {s['status']}"
        line += f"; written by {s['written_by']} at {s['written_at']}"
        if s["approved_by"]:
            line += f"; approved by {s['approved_by']} at {s['approved_at']}"
        if s["rejected_by"]:
            line += f"; rejected by {s['rejected_by']} at {s['rejected_at']}"
        if s["superseded_at"]:
            line += f"; superseded at {s['superseded_at']}"
        if s["views"]:
            line += f"; shown to {s['views']} conversation(s)"
        print(line)
        print(f"    tr: {s['text_tr']}")
        print(f"    en: {s['text_en']}")
    return 0


def cli_topic(args: argparse.Namespace) -> int:
    """Changes an active incident's severity, keywords or examples."""
    store = _cli_store(args)
    keywords = [k for value in args.keyword for k in split_keywords(value)]
    examples = {"tr": args.example_tr, "en": args.example_en}
    try:
        check_actor(store, args.user)
        incident = change_topic(
            store,
            args.id,
            by=args.user,
            severity=args.severity or None,
            keywords=keywords if args.keyword else None,
            examples=examples if args.example_tr or args.example_en else None,
        )
    except (IncidentProblem, NotAllowed) as problem:
        return _refuse(problem)
    print(
        f"incident {incident['id']}: severity {incident['severity']},"
        f" {len(incident['keywords'])} keyword(s),"
        f" {len(incident['examples']['tr'])} Turkish and"
        f" {len(incident['examples']['en'])} English example(s)"
    )
    return 0


def cli_statement(args: argparse.Namespace) -> int:
    """Writes a new draft version of an incident's statement."""
    store = _cli_store(args)
    try:
        check_actor(store, args.user)
        statement = write_statement(
            store,
            args.id,
            text_tr=_text_arg(args, "tr"),
            text_en=_text_arg(args, "en"),
            by=args.user,
        )
    except (IncidentProblem, NotAllowed, OSError) as problem:
        return _refuse(problem)
    print(
        f"statement {statement['id']} (version {statement['version']}) saved as a draft;"
        " customers see it only after another editor or admin approves it:"
    )
    print(f"  crisisdesk incidents approve {statement['id']} --as NAME")
    return 0


def cli_approve(args: argparse.Namespace) -> int:
    """Approves a draft statement: it goes live (not by its writer)."""
    store = _cli_store(args)
    try:
        check_actor(store, args.user)
        live = approve_statement(store, args.statement, by=args.user)
    except (IncidentProblem, NotAllowed) as problem:
        return _refuse(problem)
    print(
        f"statement {live['id']} (version {live['version']}) of incident"
        f" {live['incident_id']} is live: written by {live['written_by']},"
        f" approved by {live['approved_by']}"
    )
    return 0


def cli_reject(args: argparse.Namespace) -> int:
    """Rejects a draft statement: it never goes live."""
    store = _cli_store(args)
    try:
        check_actor(store, args.user)
        statement = reject_statement(store, args.statement, by=args.user)
    except (IncidentProblem, NotAllowed) as problem:
        return _refuse(problem)
    print(f"statement {statement['id']} (version {statement['version']}) rejected")
    return 0


def cli_close(args: argparse.Namespace) -> int:
    """Closes an incident."""
    store = _cli_store(args)
    try:
        check_actor(store, args.user)
    except NotAllowed as problem:
        return _refuse(problem)
    incident = close_incident(store, args.id, by=args.user)
    print(
        f"incident {incident['id']} is closed (by {incident['closed_by']} at"
        f" {incident['closed_at']}); customers no longer get its statement"
    )
    return 0


def add_commands(groups: Any, command: Callable[..., Any]) -> None:
    """Adds the `incidents` group to the crisisdesk command line."""
    group = groups.add_parser(
        "incidents",
        help="incidents and their official statements (four eyes)",
        description="Incidents: a topic customers write about, with an official statement"
        " that reaches them only after a second editor or admin approved it.",
    )
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    as_help = "who acts (required): an editor or admin of the desk's users"
    p = command(sub, "open", cli_open, "open an incident (an editor or admin)")
    p.add_argument("name")
    p.add_argument("--severity", choices=SEVERITIES, default="", help="required")
    p.add_argument(
        "--keyword",
        action="append",
        default=[],
        help="a topic keyword or phrase (repeat, or comma-separated)",
    )
    p.add_argument(
        "--example-tr", action="append", default=[], help="a Turkish example message (repeat)"
    )
    p.add_argument(
        "--example-en", action="append", default=[], help="an English example message (repeat)"
    )
    p.add_argument("--started-at", help="ISO 8601 start time with zone (default: now)")
    p.add_argument("--as", dest="user", default="", help=as_help)
    p = command(sub, "list", cli_list, "list incidents (active ones; --all for closed too)")
    p.add_argument("--all", action="store_true", help="include closed incidents")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = command(sub, "show", cli_show, "an incident and every version of its statement")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true", help="print JSON")
    p = command(
        sub,
        "topic",
        cli_topic,
        "change an active incident's severity, keywords or examples (the lists given replace"
        " the old ones: with --example-tr or --example-en, give both languages)",
    )
    p.add_argument("id", type=int)
    p.add_argument("--severity", choices=SEVERITIES, default="")
    p.add_argument("--keyword", action="append", default=[], help="a keyword (repeat)")
    p.add_argument("--example-tr", action="append", default=[], help="a Turkish example")
    p.add_argument("--example-en", action="append", default=[], help="an English example")
    p.add_argument("--as", dest="user", default="", help=as_help)
    p = command(
        sub,
        "statement",
        cli_statement,
        "write a new version of an incident's statement (a draft until approved)",
    )
    p.add_argument("id", type=int, help="the incident")
    p.add_argument("--tr", help="the statement in Turkish")
    p.add_argument("--en", help="the statement in English")
    p.add_argument("--tr-file", help="read the Turkish statement from this file")
    p.add_argument("--en-file", help="read the English statement from this file")
    p.add_argument("--as", dest="user", default="", help=as_help)
    p = command(
        sub,
        "approve",
        cli_approve,
        "approve a draft statement: it goes live (refused for its writer)",
    )
    p.add_argument("statement", type=int, help="the statement's id (crisisdesk incidents show)")
    p.add_argument("--as", dest="user", default="", help=as_help)
    p = command(sub, "reject", cli_reject, "reject a draft statement (it never goes live)")
    p.add_argument("statement", type=int, help="the statement's id")
    p.add_argument("--as", dest="user", default="", help=as_help)
    p = command(sub, "close", cli_close, "close an incident: its statement stops at once")
    p.add_argument("id", type=int)
    p.add_argument("--as", dest="user", default="", help=as_help)


__all__ = [
    "IncidentProblem",
    "NotAllowed",
    "NotFound",
    "TopicDetector",
    "TopicMatch",
    "approve_statement",
    "change_topic",
    "check_actor",
    "close_incident",
    "greeting_headline",
    "greeting_statement",
    "handoff_incident",
    "headline",
    "open_incident",
    "raised_priority",
    "reject_statement",
    "statement_text",
    "statement_to_show",
    "summary",
    "write_statement",
]

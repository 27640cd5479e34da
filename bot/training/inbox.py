"""The trainers' review inbox: which customer messages to review, and making examples of them.

Collection (`Collector.collect`, run by the desk's inbox pages, idempotent):

- **unsure**: Rasa's user events, read from its SQL event broker (the table the
  desk's live feed tails, bot/desk/live.py) by id from where the last run
  stopped, never through the tracker API. A message is unsure when its top
  intent's confidence is below the FallbackClassifier `threshold` of
  config.yml, when the top two intents are closer than its
  `ambiguity_threshold`, when it became `nlu_fallback` (which the first two
  cover, the model's own ranking is kept behind it), or when it was predicted
  `out_of_scope`: a new kind of message (the new product, the new scam) is
  exactly what a model trained on yesterday's intents calls off-topic, however
  confident it is. Messages the out-of-domain guard (bot/nlu/ood.py) turned into
  a fallback (emoji, code, links, a number alone, keyboard mash) are left out:
  they are not language a trainer can teach. Button payloads ("/affirm") too.
- **misunderstood**: agents' "bot misunderstood" marks (bot/store/desk.py), with
  the intent ranking taken from the same message's event in the broker.
- **unhelpful**: a customer answered "no" to "was this helpful?" after a fact
  (bot/store/cases.py `feedback`, subject "fact"): the inbox gets the message the
  fact answered (the customer's last message before that "no" that is not a yes,
  a no or a button). A "no" after a handoff is about the person's help, not the
  bot's reading, and is not collected.

Every message is scrubbed (bot/training/scrub.py: e-mail, card, phone and order
numbers become `<email>`, `<card>`, `<phone>`, `<order>`) before it is stored, so
neither a trainer nor the training data ever sees the original. An entity the
rule extractor found is kept when its text is still in the scrubbed message (a
ticket number, a lot code, a topic word), and written in Rasa's `[text](entity)`
syntax when the message becomes an example.

Resolution (`resolve`): confirm the predicted intent, assign another intent that
has training data, propose a new intent name (kept with its examples for
`crisisdesk intents add NAME --examples FILE`, `examples_file`), or discard. A
confirmed or assigned message becomes an example in the `data/nlu/` file that
holds that intent's block for the message's language (a new block, or
`data/nlu/<intent>.yml`, when there is none) unless the intent already has it or
nearly has it (normalised exact match, or `bot.training.intents.near_duplicates`:
character trigrams or the sentence encoder); one that another intent already
has, exactly or nearly, is refused and stays in the inbox, naming that example.
Each write is one recorded change (`training_changes`, and a commit as the
trainer in a git work tree, bot/training/changes.py), each example a row of
`inbox_examples` (who, which conversation, which file). The project folder is
`project_root()` (CRISISDESK_PROJECT) unless the caller names another.

Grouping (`group_items`): messages whose sentence vectors (bot/encoder.py) have a
cosine of at least GROUP_THRESHOLD with a group's first message join that group.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import yaml

from bot.config import PROJECT_ROOT
from bot.store.rasa_events import BATCH, RasaEvents
from bot.training import changes
from bot.training.intents import (
    LANGUAGES,
    NAME,
    Example,
    _project_lock,
    key,
    name_problems,
    near_duplicates,
    project_examples,
    project_root,
    read_domain,
    similarities,
)
from bot.training.scrub import scrub

logger = logging.getLogger(__name__)

FALLBACK_INTENT = "nlu_fallback"
OUT_OF_SCOPE = "out_of_scope"
YES_NO = frozenset({"affirm", "deny"})
# Intents a message can never be assigned to (no training data of their own).
NOT_ASSIGNABLE = frozenset({FALLBACK_INTENT, "rate_handoff", "EXTERNAL_handoff_closed"})
# Cosine of sentence vectors at which a message joins a group: a suggestion the
# trainer still ticks, never an automatic assignment. Measured on the 2,126
# training examples by scripts/inbox_groups.py: of the pairs at 0.70 or more, 80 %
# are of the same intent (0.60: 70 %, 0.80: 88 %), and 23 % of the examples have a
# same-intent partner there (0.80: 11 %). 0.70 also groups a Turkish message with
# its English translation (0.70-0.72 in the tests' examples).
GROUP_THRESHOLD = 0.70
_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


class Refused(ValueError):
    """A resolution that cannot be done; the message says why."""


# -- collection ------------------------------------------------------------------------


def fallback_thresholds(config: Path | None = None) -> Tuple[float, float]:
    """FallbackClassifier's (threshold, ambiguity_threshold) in config.yml (0.3, 0.1 default)."""
    path = config or PROJECT_ROOT / "config.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for component in data.get("pipeline") or []:
        if component.get("name") == "FallbackClassifier":
            return float(component.get("threshold", 0.3)), float(
                component.get("ambiguity_threshold", 0.1)
            )
    return 0.3, 0.1


def ranking(parse: Mapping[str, Any]) -> List[Tuple[str, float]]:
    """The model's intents, likeliest first, without the `nlu_fallback` put in front."""
    found = [
        (str(r.get("name")), float(r.get("confidence") or 0.0))
        for r in parse.get("intent_ranking") or []
        if r.get("name") and r.get("name") != FALLBACK_INTENT
    ]
    if not found:
        intent = parse.get("intent") or {}
        if intent.get("name") and intent["name"] != FALLBACK_INTENT:
            found = [(intent["name"], float(intent.get("confidence") or 0.0))]
    return sorted(found, key=lambda pair: -pair[1])


def unsure_reason(parse: Mapping[str, Any], threshold: float, ambiguity: float) -> str | None:
    """Why a parsed message is unsure ("confidence 0.41 < 0.50", ...), or None."""
    if parse.get("out_of_domain"):
        return None
    ranked = ranking(parse)
    if not ranked:
        return "no intent" if parse.get("intent") else None
    top, confidence = ranked[0]
    reasons = []
    if confidence < threshold:
        reasons.append(f"confidence {confidence:.2f} < {threshold:.2f}")
    if len(ranked) > 1 and confidence - ranked[1][1] < ambiguity:
        reasons.append(f"margin {confidence - ranked[1][1]:.2f} < {ambiguity:.2f}")
    if not reasons and (parse.get("intent") or {}).get("name") == FALLBACK_INTENT:
        reasons.append("fallback")
    if top == OUT_OF_SCOPE:
        reasons.append("out_of_scope")
    return ", ".join(reasons) or None


def scrub_message(
    text: str, entities: Sequence[Mapping[str, Any]] = ()
) -> Tuple[str, List[Dict[str, Any]]]:
    """The message with personal data replaced, and the entities whose text it still has.

    Each kept entity gets its `start`/`end` in the scrubbed text; one whose text is
    gone (an order number became `<order>`) or falls inside a placeholder is dropped.
    """
    clean, _ = scrub(" ".join(text.split()))
    kept: List[Dict[str, Any]] = []
    taken: List[Tuple[int, int]] = []
    placeholders = [m.span() for m in re.finditer(r"<(?:email|card|phone|order)>", clean)]
    for entity in entities:
        start, end = entity.get("start"), entity.get("end")
        if start is None or end is None or not entity.get("entity"):
            continue
        span = text[int(start) : int(end)]
        if not span.strip() or scrub(span)[0] != span:
            continue
        for found in re.finditer(re.escape(span), clean):
            where = found.span()
            inside = any(a < where[1] and where[0] < b for a, b in placeholders + taken)
            if not inside:
                taken.append(where)
                value = entity.get("value")
                kept.append(
                    {
                        "entity": str(entity["entity"]),
                        "start": where[0],
                        "end": where[1],
                        "value": str(value) if value is not None else span,
                    }
                )
                break
    return clean, sorted(kept, key=lambda e: e["start"])


def _unmarked(text: str) -> str:
    """Customer text that Rasa cannot read as entity markup: brackets become parentheses."""
    return text.replace("[", "(").replace("]", ")")


def annotated(text: str, entities: Sequence[Mapping[str, Any]], known: Sequence[str]) -> str:
    """`text` with `entities` (of the domain's `known` entities) in Rasa's markup.

    The customer's own square brackets become parentheses, so that "[see](this)"
    typed by a customer never reads as an annotation of an entity "this".
    """
    out, at = [], 0
    for entity in sorted(entities, key=lambda e: e["start"]):
        if entity["entity"] not in known or entity["start"] < at:
            continue
        span = text[entity["start"] : entity["end"]]
        if "[" in span or "]" in span:
            continue
        out.append(_unmarked(text[at : entity["start"]]))
        if str(entity.get("value", span)) == span:
            out.append(f"[{span}]({entity['entity']})")
        else:
            label = json.dumps(
                {"entity": entity["entity"], "value": entity["value"]}, ensure_ascii=False
            )
            out.append(f"[{span}]{label}")
        at = entity["end"]
    out.append(_unmarked(text[at:]))
    return "".join(out)


def plain(text: str) -> str:
    """An example's text without entity markup."""
    return _ANNOTATION.sub(r"\1", text)


def channel_of(sender_id: str, event: Mapping[str, Any] | None = None) -> str:
    """The customer channel of a conversation ("whatsapp", "telegram", "webchat", "rest")."""
    channel = (event or {}).get("input_channel")
    if channel:
        return str(channel)
    prefix, sep, _ = sender_id.partition(":")
    return prefix if sep else "rest"


def _item_fields(sender_id: str, event: Mapping[str, Any]) -> Dict[str, Any]:
    """What an inbox item keeps of a Rasa user event: scrubbed text, ranking, language."""
    parse = event.get("parse_data") or {}
    ranked = ranking(parse)
    text, entities = scrub_message(str(event.get("text") or ""), parse.get("entities") or [])
    return {
        "sender_id": sender_id,
        "event_time": float(event.get("timestamp") or 0.0),
        "channel": channel_of(sender_id, event),
        "text": text,
        "entities": entities,
        "intent": ranked[0][0] if ranked else None,
        "confidence": ranked[0][1] if ranked else None,
        "runner_up": ranked[1][0] if len(ranked) > 1 else None,
        "runner_up_confidence": ranked[1][1] if len(ranked) > 1 else None,
        "language": parse.get("language"),
    }


def _typed(event: Mapping[str, Any]) -> bool:
    """A user event the customer typed (not a button payload or an empty message)."""
    text = str(event.get("text") or "").strip()
    return bool(text) and not text.startswith("/")


Broker = RasaEvents  # the inbox's name for it (bot/store/rasa_events.py)


def answered_by_feedback(events: Sequence[Mapping[str, Any]], until: float) -> Dict | None:
    """The customer message a "no" (at or before `until`) said was not helpfully answered."""
    last_typed: Dict[str, Any] | None = None
    answered: Dict[str, Any] | None = None
    for event in events:
        if event.get("event") != "user":
            continue
        if float(event.get("timestamp") or 0) > until:
            break
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent == "deny":
            answered = last_typed
        elif intent not in YES_NO and _typed(event):
            last_typed = dict(event)
    return answered


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


class Collector:
    """Brings the inbox up to date from the three sources; safe to run again and again.

    Args:
        store: a `bot.store.Store` (its own connection; the collector runs in a thread).
        broker_db: Rasa's SQL event broker file (None: another broker, no unsure messages).
        config: the config.yml whose FallbackClassifier thresholds apply.
    """

    def __init__(self, store: Any, broker_db: Path | None, config: Path | None = None) -> None:
        self.store = store
        self.broker = Broker(broker_db)
        self.threshold, self.ambiguity = fallback_thresholds(config)
        self._lock = threading.Lock()

    def collect(self) -> int:
        """Reads what is new in every source; returns how many items were added."""
        with self._lock:
            return self._unsure() + self._misunderstood() + self._unhelpful()

    def _unsure(self) -> int:
        added = 0
        last = self.store.inbox_cursor("broker")
        if self.broker.top() < last:  # the broker's file was replaced: read it from the start
            last = 0
        while True:
            rows = self.broker.after(last)
            for row_id, sender_id, event in rows:
                last = row_id
                if event.get("event") != "user" or not _typed(event):
                    continue
                reason = unsure_reason(
                    event.get("parse_data") or {}, self.threshold, self.ambiguity
                )
                if reason:
                    _, new = self.store.add_inbox_item(
                        source="unsure", reason=reason, **_item_fields(sender_id, event)
                    )
                    added += new
            self.store.set_inbox_cursor("broker", last)
            if len(rows) < BATCH:
                return added

    def _misunderstood(self) -> int:
        added = 0
        last = self.store.inbox_cursor("misunderstood")
        for row in self.store.misunderstood_after(last):
            last = int(row["id"])
            event = self.broker.user_event(row["sender_id"], float(row["event_time"]))
            if event is None:  # not in the broker (another broker): what the mark kept
                event = {
                    "text": row["text"],
                    "timestamp": row["event_time"],
                    "parse_data": {
                        "intent": {"name": row["intent"], "confidence": row["confidence"]},
                        "language": row["language"],
                    },
                }
            _, new = self.store.add_inbox_item(
                source="misunderstood",
                reason=f"marked by {row['marked_by']}",
                **_item_fields(row["sender_id"], event),
            )
            added += new
        self.store.set_inbox_cursor("misunderstood", last)
        return added

    def _unhelpful(self) -> int:
        added = 0
        last = self.store.inbox_cursor("feedback")
        for row in self.store.unhelpful_feedback_after(last):
            last = int(row["id"])
            if row["helpful"] or row["subject"] != "fact":
                continue
            until = _seconds(row["created_at"]) + 1  # stored to the second
            event = answered_by_feedback(self.broker.conversation(row["sender_id"]), until)
            if event is None:
                continue
            _, new = self.store.add_inbox_item(
                source="unhelpful",
                reason=f"fact {row['subject_id']}: not helpful",
                **_item_fields(row["sender_id"], event),
            )
            added += new
        self.store.set_inbox_cursor("feedback", last)
        return added

    def close(self) -> None:
        self.broker.close()


# -- grouping --------------------------------------------------------------------------


def group_items(
    items: Sequence[Mapping[str, Any]], threshold: float = GROUP_THRESHOLD
) -> List[List[Mapping[str, Any]]]:
    """Items in groups of the same meaning, in the given order (each group's first leads)."""
    from bot import encoder

    if not items:
        return []
    vectors = encoder.encode([str(item["text"]) for item in items])
    leaders: List[int] = []
    groups: List[List[Mapping[str, Any]]] = []
    for i, item in enumerate(items):
        scores = [float(vectors[i] @ vectors[j]) for j in leaders]
        best = max(range(len(scores)), key=scores.__getitem__, default=None)
        if best is not None and scores[best] >= threshold:
            groups[best].append(item)
        else:
            leaders.append(i)
            groups.append([item])
    return groups


# -- resolving -------------------------------------------------------------------------


def assignable_intents(root: Path) -> List[str]:
    """Intents a message can be assigned to: those with training examples in data/nlu."""
    names = {e.intent for e in project_examples(root) if e.path.startswith("data/nlu/")}
    return sorted(names - NOT_ASSIGNABLE)


@dataclass
class Outcome:
    """What a resolution did: items resolved, examples written, items refused (id -> why)."""

    resolved: List[int] = field(default_factory=list)
    written: List[Dict[str, Any]] = field(default_factory=list)
    already: Dict[int, str] = field(default_factory=dict)
    refused: Dict[int, str] = field(default_factory=dict)
    files: List[str] = field(default_factory=list)
    git_commit: str | None = None


def _language(item: Mapping[str, Any]) -> str:
    from bot.language import detect

    lang = item.get("language") or detect(str(item["text"]))
    return lang if lang in LANGUAGES else "tr"


def _describe(example: Example) -> str:
    if example.hidden:
        return f"an example of intent {example.intent!r} in the evaluation set"
    return f"{plain(example.text)!r} of intent {example.intent!r} ({example.path})"


def check_examples(
    root: Path, intent: str, items: Sequence[Mapping[str, Any]]
) -> Tuple[List[Mapping[str, Any]], Dict[int, str], Dict[int, str]]:
    """(items to write, items the intent already has -> which, items refused -> why)."""
    existing = [
        Example(e.intent, e.language, plain(e.text), e.path) for e in project_examples(root)
    ]
    by_key: Dict[str, Example] = {}
    for example in existing:
        by_key.setdefault(key(example.text), example)
    write: List[Mapping[str, Any]] = []
    already: Dict[int, str] = {}
    refused: Dict[int, str] = {}
    candidates = []
    for item in items:
        same = by_key.get(key(str(item["text"])))
        if same is None:
            candidates.append(item)
        elif same.intent == intent:
            already[item["id"]] = f"already an example: {_describe(same)}"
        else:
            refused[item["id"]] = f"{item['text']!r} is already {_describe(same)}"
    near = near_duplicates([str(i["text"]) for i in candidates], existing)
    kept = []
    for item, (example, chars, meaning) in zip(candidates, near, strict=True):
        if example is None:
            kept.append(item)
        elif example.intent == intent:
            already[item["id"]] = f"nearly the same as {_describe(example)}"
        else:
            refused[item["id"]] = (
                f"{item['text']!r} is nearly the same as {_describe(example)}"
                f" (characters {chars:.2f}, meaning {meaning:.2f})"
            )
    # Within the batch: one of each set of (near) duplicates.
    keys = [key(str(i["text"])) for i in kept]
    chars_m, enc_m = similarities(keys, keys)
    from bot.training.intents import CHAR_THRESHOLD, ENCODER_THRESHOLD, negation_differs

    for i, item in enumerate(kept):
        twin = next(
            (
                j
                for j in range(i)
                if kept[j] in write
                and (chars_m[i][j] >= CHAR_THRESHOLD or enc_m[i][j] >= ENCODER_THRESHOLD)
                and not negation_differs(keys[i], keys[j])
            ),
            None,
        )
        if twin is None:
            write.append(item)
        else:
            already[item["id"]] = f"nearly the same as {kept[twin]['text']!r} (added with it)"
    return write, already, refused


def _blocks(lines: List[str]) -> List[Tuple[int, int, str, str | None]]:
    """(first line, end line, intent, language) of each `- intent:` block of an NLU file."""
    starts = [i for i, line in enumerate(lines) if line.startswith("- ")]
    found = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        match = re.match(r"- intent:\s*(\S+)", lines[start])
        if not match:
            continue
        lang = None
        for line in lines[start:end]:
            found_lang = re.match(r"\s+language:\s*(\S+)", line)
            if found_lang:
                lang = found_lang.group(1).strip("\"'")
        found.append((start, end, match.group(1).strip("\"'"), lang))
    return found


def add_lines(text: str, intent: str, lang: str, examples: Sequence[str]) -> str | None:
    """An NLU file's text with `examples` at the end of the intent's `lang` block.

    A new block for the language is added after the intent's last block; None when
    the file has no block of the intent.
    """
    lines = text.splitlines()
    blocks = [b for b in _blocks(lines) if b[2] == intent]
    if not blocks:
        return None
    new = [f"    - {example}" for example in examples]
    same = [b for b in blocks if b[3] == lang]
    if same:
        start, end, _, _ = same[-1]
        last = max(i for i in range(start, end) if lines[i].startswith("    - "))
        lines[last + 1 : last + 1] = new
    else:
        end = blocks[-1][1]
        while end > 0 and not lines[end - 1].strip():
            end -= 1
        block = [f"- intent: {intent}", "  metadata:", f"    language: {lang}", "  examples: |"]
        lines[end:end] = block + new
    return "\n".join(lines) + "\n"


def new_file(intent: str, lang: str, examples: Sequence[str]) -> str:
    """A new data/nlu file with one block."""
    body = "\n".join(f"    - {example}" for example in examples)
    return (
        f'version: "3.1"\nnlu:\n- intent: {intent}\n  metadata:\n    language: {lang}\n'
        f"  examples: |\n{body}\n"
    )


def write_examples(
    root: Path, intent: str, by_language: Mapping[str, Sequence[str]]
) -> Dict[str, str]:
    """Writes examples into the intent's data/nlu file(s); returns language -> relative path."""
    nlu = root / "data/nlu"
    files = sorted(nlu.glob("*.yml"))
    holder = next((p for p in files if f"- intent: {intent}\n" in p.read_text("utf-8")), None)
    path = holder or nlu / f"{intent}.yml"
    text = path.read_text("utf-8") if path.is_file() else ""
    for lang in LANGUAGES:
        examples = list(by_language.get(lang) or [])
        if not examples:
            continue
        text = add_lines(text, intent, lang, examples) if text else new_file(intent, lang, examples)
        assert text is not None
    parsed = yaml.safe_load(text)  # never leave a file Rasa cannot read
    assert isinstance(parsed, dict) and parsed.get("nlu"), "written NLU file does not parse"
    path.write_text(text, encoding="utf-8")
    relative = str(path.relative_to(root))
    return {lang: relative for lang in by_language if by_language[lang]}


def resolve(
    store: Any,
    item_ids: Sequence[int],
    action: str,
    by: str,
    intent: str | None = None,
    root: Path | None = None,
) -> Outcome:
    """Resolves items: "confirm", "assign" (to `intent`), "new" (intent name) or "discard".

    Raises:
        Refused: an unknown action or intent, a bad new intent name, or a file to
            write has uncommitted changes (the commit would carry them).
    """
    root = Path(root or project_root())
    items = [store.get_inbox_item(int(i)) for i in dict.fromkeys(item_ids)]
    outcome = Outcome()
    fresh = [item for item in items if item["status"] == "new"]
    for item in items:
        if item["status"] != "new":
            outcome.refused[item["id"]] = f"already {item['status']}"
    if action == "discard":
        for item in fresh:
            if store.resolve_inbox_item(item["id"], "discarded", None, by):
                outcome.resolved.append(item["id"])
        return outcome
    if action == "new":
        name = (intent or "").strip()
        if not NAME.fullmatch(name):
            raise Refused(
                f"intent name {name!r}: 3-48 lower-case letters, digits and '_', starting"
                " with a letter"
            )
        # The checks `crisisdesk intents add` makes of the name, so that a proposal
        # it would refuse is refused now (an existing intent: assign instead).
        problems = name_problems(root, name, read_domain(root), project_examples(root))
        if name in assignable_intents(root):
            problems.append(f"assign the message(s) to the existing intent {name!r} instead")
        if problems:
            raise Refused("; ".join(problems))
        for item in fresh:
            if store.resolve_inbox_item(item["id"], "proposed", name, by):
                outcome.resolved.append(item["id"])
        return outcome
    if action not in ("confirm", "assign"):
        raise Refused(f"unknown action {action!r}")
    allowed = assignable_intents(root)
    targets: Dict[str, List[Mapping[str, Any]]] = {}
    for item in fresh:
        target = item["intent"] if action == "confirm" else intent
        if not target or target not in allowed:
            outcome.refused[item["id"]] = f"{target!r} is not an intent with training data"
            continue
        targets.setdefault(target, []).append(item)
    domain = read_domain(root)
    known = [str(e) for e in domain.get("entities") or [] if isinstance(e, str)]
    status = "confirmed" if action == "confirm" else "assigned"
    with _project_lock(root):
        for target, group in targets.items():
            write, already, refused = check_examples(root, target, group)
            outcome.refused.update(refused)
            by_language: Dict[str, List[str]] = {}
            for item in write:
                line = annotated(str(item["text"]), item["entities"], known)
                by_language.setdefault(_language(item), []).append(line)
            if by_language:
                planned = _planned_file(root, target)
                dirty = changes.dirty_problems(root, [planned])
                if dirty:
                    raise Refused("; ".join(dirty))
                paths = write_examples(root, target, by_language)
                files = sorted(set(paths.values()))
                change_id, sha = changes.record(
                    root,
                    store,
                    author=by,
                    action="add_examples",
                    intent=target,
                    files=files,
                    message=f"Inbox: {len(write)} example(s) for intent {target}, by {by}",
                )
                outcome.files.extend(files)
                outcome.git_commit = sha or outcome.git_commit
                for item in write:
                    lang = _language(item)
                    line = annotated(str(item["text"]), item["entities"], known)
                    store.record_inbox_example(
                        item_id=item["id"],
                        intent=target,
                        language=lang,
                        text=line,
                        path=paths[lang],
                        added_by=by,
                        sender_id=item["sender_id"],
                        change_id=change_id,
                    )
                    outcome.written.append({"item": item["id"], "text": line, "path": paths[lang]})
            for item in group:
                if item["id"] in refused:
                    continue
                if item["id"] in already:
                    outcome.already[item["id"]] = already[item["id"]]
                if store.resolve_inbox_item(item["id"], status, target, by):
                    outcome.resolved.append(item["id"])
    return outcome


def _planned_file(root: Path, intent: str) -> str:
    for path in sorted((root / "data/nlu").glob("*.yml")):
        if f"- intent: {intent}\n" in path.read_text("utf-8"):
            return str(path.relative_to(root))
    return f"data/nlu/{intent}.yml"


def examples_file(store: Any, name: str) -> str:
    """A proposed new intent's examples as YAML for `crisisdesk intents add --examples`."""
    for entry in store.proposed_intents():
        if entry["name"] == name:
            data = {lang: entry["examples"].get(lang, []) for lang in LANGUAGES}
            return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    raise Refused(f"no proposed intent {name!r}")

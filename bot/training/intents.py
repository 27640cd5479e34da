"""Adding an intent: training examples, domain entries, a rule and a held-out share.

`crisisdesk intents add NAME --examples FILE` with one of `--response-tr TEXT
--response-en TEXT` (answer with a response), `--handoff` (hand over to a
person, like `request_human`) or `--fact ID` (answer with a published fact)
writes, in the project folder (the current project, or `--project DIR`, or
`CRISISDESK_PROJECT`):

- `data/nlu/<name>.yml`: the training examples, one block per language with
  `metadata: language:` like the other files in `data/nlu/`;
- `heldout/nlu/<name>.yml`: about 20 % of each language's examples (at least 2),
  set aside for `crisisdesk model evaluate` and never trained on (outside
  `data/`, which `rasa train` reads whole). Which ones is decided by a hash of
  the intent name, language and example, so the same file gives the same split;
- `data/rules/<name>.yml`: intent -> `utter_<name>`, `action_handoff` or
  `action_answer_fact`;
- `domain.yml`: the intent, `utter_<name>` in Turkish, English and both (the
  variant without a condition is used before the language is known, as in every
  response; `bot.nlg.BilingualNLG` picks one), and `utter_button_<name>` (the
  rephrase button's title, `--button-tr/--button-en`, by default the first
  example of each language). A fact intent sets the `intent_fact` slot to the
  fact id with a `from_intent` mapping (Rasa applies it when the intent is
  predicted) and `action_answer_fact` (actions/intent_facts.py) answers with that
  fact while it is published. The domain is edited as text, so its comments and
  anchors stay; the result is parsed back and must equal the old domain plus
  exactly the new entries.

The examples FILE is YAML (`.yml`/`.yaml`) with a list per language:

    tr:
      - kuzey kart puanlarim nerede
    en:
      - where are my kuzey card points

or text (any other name), one example a line under a `[tr]` or `[en]` line;
empty lines and lines starting with `#` are skipped.

Every example is scrubbed first (bot/training/scrub.py: e-mail, card, phone and
order numbers become placeholders) and duplicates within the file are dropped.
The add is refused (exit status 2), with every reason at once and nothing
written, when:

- the name is not a lower-case identifier (`[a-z][a-z0-9_]{2,47}`), is an intent
  of the domain or of `data/nlu/`, one of Rasa's own intents or actions, starts
  with `action_` or `utter_`, or one of the files or responses it would write
  already exists;
- a language has fewer than 12 distinct examples: 2 or more are held out, and at
  least 10 must remain to train on (the issue's "10 per language" is counted on
  what the model learns from, which is the stricter reading);
- an example is already an example of another intent (training or held-out),
  compared folded, lower-cased and without punctuation or emoji
  (`bot.language.words`), or nearly the same as one (`near_duplicates`); the
  message names the example and its intent (an example of the evaluation set
  `tests/nlu_heldout.yml` is named by intent only: its text must not leak into
  training).
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Sequence, Tuple

import numpy as np
import yaml

from bot.language import normalize, words
from bot.training.scrub import scrub

LANGUAGES = ("tr", "en")
NAME = re.compile(r"^[a-z][a-z0-9_]{2,47}$")
PROJECT_ENV = "CRISISDESK_PROJECT"
MIN_TRAINING = 10
MIN_HELDOUT = 2
HELDOUT_SHARE = 0.2
MAX_EXAMPLE_CHARS = 300
MAX_RESPONSE_CHARS = 1000
MAX_BUTTON_CHARS = 40
# Near-duplicate thresholds, measured on the training data of the 11 intents
# (2,126 examples) by scripts/near_duplicates.py. Between two examples of
# *different* intents, the highest character trigram cosine is 0.877
# ("definitely" / "definitely not") and the highest encoder cosine 0.938 ("cheers"
# / "cheers bye"). Pairs whose words differ by a negation are never near-duplicates
# (a "not" or a Turkish negative verb turns a yes into a no); without them the
# highest character score is 0.816 ("cheers" / "cheers bye" again). Each threshold
# is the next 0.01 step above the highest cross-intent score, so the existing data
# passes its own check (tests/test_training_intents.py). Of near-duplicates made
# from 400 random examples it flags 88 % with one typo, 100 % with two words
# swapped, 93 % with a filler word added, 95 % with a word dropped, and 70-76 %
# with two of these changes; the thresholds without the negation rule (0.89 and
# 0.95) flagged 79-84 % and 38-47 %. The encoder adds little to these surface
# copies (the characters find them); it catches a rewording only above 0.94.
CHAR_THRESHOLD = 0.82
ENCODER_THRESHOLD = 0.94
NEGATIONS = frozenset(
    """
    not no never nope nothing none nobody neither nor t dont doesnt didnt isnt arent
    wasnt werent cant cannot wont couldnt shouldnt wouldnt havent hasnt hadnt
    degil hayir yok asla hic hicbir olmaz yo yoo
    """.split()
)
# Turkish negative verb forms (folded): gelmedi, istemiyorum, olmaz, bilmem, gelmeyecek.
TR_NEGATIVE = re.compile(
    r"\w(?:m[iu]yor\w*|m[ae]d[iu](?:m|n|k|niz|nuz|lar|ler)?|m[ae]z(?:sin|siniz|lar|ler|di)?"
    r"|m[ae]m|m[ae]y[ae]c[ae]k\w*)$"
)
HIDDEN_HELDOUT = "tests/nlu_heldout.yml"
FACT_ACTION = "action_answer_fact"
FACT_SLOT = "intent_fact"
HANDOFF_ACTION = "action_handoff"


class Refused(ValueError):
    """The add is refused; `problems` says why, one line each."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Example:
    """One NLU example of the project."""

    intent: str
    language: str | None
    text: str
    path: str  # project-relative file

    @property
    def hidden(self) -> bool:
        """True for the evaluation set whose texts must not be shown."""
        return self.path == HIDDEN_HELDOUT


@dataclass
class Plan:
    """What an accepted add writes."""

    name: str
    mode: str  # "response", "handoff" or "fact"
    training: Dict[str, List[str]]
    heldout: Dict[str, List[str]]
    responses: Dict[str, str] = field(default_factory=dict)
    buttons: Dict[str, str] = field(default_factory=dict)
    fact_id: str | None = None
    scrubbed: Dict[str, int] = field(default_factory=dict)  # placeholder kind -> count
    dropped: List[str] = field(default_factory=list)  # duplicates within the file

    def files(self) -> List[str]:
        """The project-relative files the add writes."""
        return [
            f"data/nlu/{self.name}.yml",
            f"heldout/nlu/{self.name}.yml",
            f"data/rules/{self.name}.yml",
            "domain.yml",
        ]


def project_root() -> Path:
    """The project folder: `CRISISDESK_PROJECT`, else this checkout."""
    from bot.config import PROJECT_ROOT

    return Path(os.environ.get(PROJECT_ENV) or PROJECT_ROOT)


def key(text: str) -> str:
    """What two examples are compared by: folded lower-case words, no punctuation."""
    found = words(text)
    return " ".join(found) if found else normalize(text)


# -- reading ---------------------------------------------------------------------


def read_nlu(path: Path, relative: str) -> List[Example]:
    """The examples of one Rasa NLU YAML file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    found = []
    for block in data.get("nlu") or []:
        if not isinstance(block, dict) or "intent" not in block:
            continue
        lang = (block.get("metadata") or {}).get("language")
        for line in str(block.get("examples") or "").splitlines():
            line = line.strip()
            if line.startswith("- "):
                found.append(Example(block["intent"], lang, line[2:].strip(), relative))
    return found


def project_examples(root: Path) -> List[Example]:
    """Every example of the project: training, held-out of new intents, evaluation set."""
    found: List[Example] = []
    for folder in ("data/nlu", "heldout/nlu"):
        for path in sorted((root / folder).glob("*.yml")):
            found.extend(read_nlu(path, f"{folder}/{path.name}"))
    hidden = root / HIDDEN_HELDOUT
    if hidden.is_file():
        found.extend(read_nlu(hidden, HIDDEN_HELDOUT))
    return found


def read_domain(root: Path) -> Dict[str, Any]:
    """domain.yml, parsed."""
    return yaml.safe_load((root / "domain.yml").read_text(encoding="utf-8")) or {}


def _names(entries: Iterable[Any]) -> List[str]:
    """Names of domain list entries that are strings or one-key mappings."""
    names = []
    for entry in entries or []:
        names.extend(entry.keys() if isinstance(entry, dict) else [str(entry)])
    return names


def read_examples_file(path: Path) -> Dict[str, List[str]]:
    """A trainer's examples file: YAML `{tr: [...], en: [...]}`, or `[tr]`/`[en]` text."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise Refused([f"{path}: cannot read the examples file ({problem})"]) from problem
    if path.suffix in (".yml", ".yaml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as problem:
            raise Refused([f"{path}: not valid YAML ({problem})"]) from problem
        if not isinstance(data, dict) or set(data) - set(LANGUAGES):
            raise Refused([f"{path}: expected a mapping with the keys 'tr' and 'en' only"])
        found = {}
        for lang in LANGUAGES:
            items = data.get(lang) or []
            if not isinstance(items, list):
                raise Refused([f"{path}: '{lang}' must be a list of examples"])
            found[lang] = [str(item) for item in items if item is not None]
        return found
    found = {lang: [] for lang in LANGUAGES}
    current = None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        header = re.fullmatch(r"\[(\w+)\]", line)
        if header:
            if header.group(1) not in LANGUAGES:
                raise Refused([f"{path}:{number}: unknown language [{header.group(1)}]"])
            current = header.group(1)
        elif current is None:
            raise Refused([f"{path}:{number}: an example before any [tr] or [en] line"])
        else:
            found[current].append(line)
    return found


# -- checks ----------------------------------------------------------------------


def reserved_names() -> set:
    """Rasa's own intent and action names."""
    from rasa.shared.core.constants import DEFAULT_ACTION_NAMES, DEFAULT_INTENTS

    return set(DEFAULT_INTENTS) | set(DEFAULT_ACTION_NAMES)


def name_problems(root: Path, name: str, domain: Mapping[str, Any], existing: Sequence[Example]):
    """Why `name` cannot be a new intent (empty when it can)."""
    if not NAME.fullmatch(name):
        return [
            f"intent name {name!r}: use 3-48 lower-case letters, digits and '_', "
            "starting with a letter"
        ]
    problems = []
    intents = set(_names(domain.get("intents"))) | {e.intent for e in existing}
    if name in intents:
        problems.append(f"intent {name!r} already exists")
    if name in reserved_names():
        problems.append(f"{name!r} is one of Rasa's own intent or action names")
    if name.startswith(("action_", "utter_")):
        problems.append(f"{name!r}: an intent name must not start with 'action_' or 'utter_'")
    if name in set(_names(domain.get("actions"))) | set(domain.get("slots") or {}):
        problems.append(f"{name!r} is already an action or a slot of the domain")
    for response in (f"utter_{name}", f"utter_button_{name}"):
        if response in (domain.get("responses") or {}):
            problems.append(f"response {response!r} already exists in domain.yml")
    for relative in (f"data/nlu/{name}.yml", f"heldout/nlu/{name}.yml", f"data/rules/{name}.yml"):
        if (root / relative).exists():
            problems.append(f"{relative} already exists")
    return problems


def clean_examples(
    given: Mapping[str, Sequence[str]],
) -> Tuple[Dict[str, List[str]], Dict[str, int], List[str], List[str]]:
    """Scrubbed, de-duplicated examples per language; placeholders, dropped, problems."""
    seen: Dict[str, str] = {}
    cleaned: Dict[str, List[str]] = {lang: [] for lang in LANGUAGES}
    scrubbed: Dict[str, int] = {}
    dropped: List[str] = []
    problems: List[str] = []
    for lang in LANGUAGES:
        for raw in given.get(lang) or []:
            text = " ".join(str(raw).split())
            if text.startswith("- "):
                text = text[2:].strip()
            if not text:
                continue
            if len(text) > MAX_EXAMPLE_CHARS:
                problems.append(f"{lang}: example longer than {MAX_EXAMPLE_CHARS} characters")
                continue
            text, kinds = scrub(text)
            for kind in kinds:
                scrubbed[kind] = scrubbed.get(kind, 0) + 1
            k = key(text)
            if k in seen:
                dropped.append(text)
                continue
            seen[k] = lang
            cleaned[lang].append(text)
    return cleaned, scrubbed, dropped, problems


def heldout_count(n: int) -> int:
    """How many of `n` examples of a language are held out: 20 %, at least 2."""
    return max(MIN_HELDOUT, int(n * HELDOUT_SHARE + 0.5))


def split(name: str, lang: str, examples: Sequence[str]) -> Tuple[List[str], List[str]]:
    """(training, held-out) of one language, the same for the same input."""
    order = sorted(
        examples,
        key=lambda text: hashlib.sha256(f"{name}\0{lang}\0{key(text)}".encode()).hexdigest(),
    )
    held = set(order[: heldout_count(len(examples))])
    return [e for e in examples if e not in held], [e for e in examples if e in held]


_VECTORS: Dict[str, np.ndarray] = {}


def _vectors(texts: Sequence[str]) -> np.ndarray:
    """Sentence vectors of `texts`, remembered across calls (one add encodes ~2,000)."""
    from bot import encoder

    missing = [t for t in dict.fromkeys(texts) if t not in _VECTORS]
    if missing:
        for text, vector in zip(missing, encoder.encode(missing), strict=True):
            _VECTORS[text] = vector
    if not texts:
        return np.zeros((0, encoder.DIMENSIONS), dtype=np.float32)
    return np.stack([_VECTORS[t] for t in texts])


def similarities(new: Sequence[str], old: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
    """(character trigram cosine, sentence encoder cosine) of every new x old key."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.preprocessing import normalize as l2

    if not new or not old:
        return np.zeros((len(new), len(old))), np.zeros((len(new), len(old)))
    grams = CountVectorizer(analyzer="char_wb", ngram_range=(3, 3)).fit([*new, *old])
    chars = (l2(grams.transform(new)) @ l2(grams.transform(old)).T).toarray()
    return chars, _vectors(new) @ _vectors(old).T


def _describe(example: Example) -> str:
    if example.hidden:
        return f"an example of intent {example.intent!r} in the evaluation set {example.path}"
    return f"{example.text!r} of intent {example.intent!r} ({example.path})"


def clash_problems(name: str, examples: Mapping[str, Sequence[str]], existing: Sequence[Example]):
    """Examples that another intent already has, exactly or nearly (empty when none)."""
    others = [e for e in existing if e.intent != name]
    by_key: Dict[str, Example] = {}
    for example in others:
        by_key.setdefault(key(example.text), example)
    problems = []
    near_candidates = []
    for lang in LANGUAGES:
        for text in examples.get(lang) or []:
            same = by_key.get(key(text))
            if same is not None:
                problems.append(f"{lang}: {text!r} is already {_describe(same)}")
            else:
                near_candidates.append((lang, text))
    for (lang, text), (example, char, enc) in zip(
        near_candidates, near_duplicates([t for _, t in near_candidates], others), strict=True
    ):
        if example is not None:
            problems.append(
                f"{lang}: {text!r} is nearly the same as {_describe(example)}"
                f" (characters {char:.2f}, meaning {enc:.2f})"
            )
    return problems


def near_duplicates(
    texts: Sequence[str], others: Sequence[Example]
) -> List[Tuple[Example | None, float, float]]:
    """For each text, the existing example it nearly duplicates (or None), with both scores.

    Near means a character trigram cosine of at least CHAR_THRESHOLD or a sentence
    encoder cosine of at least ENCODER_THRESHOLD, on the compared keys (`key`), unless
    the two differ by a negation (`negation_differs`).
    """
    if not texts:
        return []
    new_keys = [key(t) for t in texts]
    old_keys = [key(e.text) for e in others]
    chars, encs = similarities(new_keys, old_keys)
    found: List[Tuple[Example | None, float, float]] = []
    for i, new_key in enumerate(new_keys):
        flagged = (chars[i] >= CHAR_THRESHOLD) | (encs[i] >= ENCODER_THRESHOLD)
        best: Tuple[Example | None, float, float] = (None, 0.0, 0.0)
        for j in np.flatnonzero(flagged):
            if negation_differs(new_key, old_keys[j]):
                continue
            if max(chars[i][j], encs[i][j]) > max(best[1], best[2]):
                best = (others[j], float(chars[i][j]), float(encs[i][j]))
        found.append(best)
    return found


def _negations(words_: Iterable[str]) -> set:
    return {w for w in words_ if w in NEGATIONS or TR_NEGATIVE.search(w)}


def negation_differs(a: str, b: str) -> bool:
    """True when one key has a negation the other lacks ("that s right" / "that s not right")."""
    wa, wb = set(a.split()), set(b.split())
    return bool(_negations(wa - wb) or _negations(wb - wa))


def response_problems(responses: Mapping[str, str | None], buttons: Mapping[str, str]):
    """Why the response or button texts cannot be used (empty when they can)."""
    problems = []
    for what, texts, limit in (
        ("response", responses, MAX_RESPONSE_CHARS),
        ("button", buttons, MAX_BUTTON_CHARS),
    ):
        for lang, text in texts.items():
            if not text or not text.strip():
                problems.append(f"the {what} in {lang} is empty")
            elif len(text) > limit:
                problems.append(f"the {what} in {lang} is longer than {limit} characters")
            elif "{" in text or "}" in text:
                problems.append(f"the {what} in {lang} has '{{' or '}}' (Rasa reads slot names)")
    return problems


def plan_intent(
    root: Path,
    name: str,
    given: Mapping[str, Sequence[str]],
    *,
    response_tr: str | None = None,
    response_en: str | None = None,
    handoff: bool = False,
    fact_id: str | None = None,
    fact_lookup: Callable[[str], Mapping[str, Any] | None] | None = None,
    button_tr: str | None = None,
    button_en: str | None = None,
) -> Plan:
    """Checks a new intent and says what would be written; raises Refused."""
    domain = read_domain(root)
    existing = project_examples(root)
    problems = name_problems(root, name, domain, existing)
    responses = {"tr": response_tr, "en": response_en}
    given_response = any(v is not None for v in responses.values())
    chosen = (("response", given_response), ("handoff", handoff), ("fact", bool(fact_id)))
    modes = [mode for mode, on in chosen if on]
    if len(modes) != 1:
        problems.append("give exactly one of --response-tr/--response-en, --handoff or --fact ID")
    mode = modes[0] if len(modes) == 1 else "response"
    cleaned, scrubbed, dropped, cleaning = clean_examples(given)
    problems += cleaning
    for lang in LANGUAGES:
        n = len(cleaned[lang])
        if n - heldout_count(n) < MIN_TRAINING:
            problems.append(
                f"{lang}: {n} distinct examples; at least {MIN_TRAINING + MIN_HELDOUT} are needed"
                f" ({MIN_TRAINING} to train on, {MIN_HELDOUT} or more held out for evaluation)"
            )
    buttons = {
        "tr": button_tr or _title(cleaned["tr"]),
        "en": button_en or _title(cleaned["en"]),
    }
    if mode == "response" and given_response:
        problems += response_problems(responses, {})
    problems += response_problems({}, buttons)
    if mode == "fact" and fact_id:
        fact = fact_lookup(fact_id) if fact_lookup else None
        if fact is None:
            problems.append(f"fact {fact_id!r} does not exist")
        elif fact.get("status") != "published":
            problems.append(f"fact {fact_id!r} is {fact.get('status')}, not published")
        if FACT_SLOT in (domain.get("slots") or {}) and not _is_fact_slot(domain):
            problems.append(f"domain.yml has a slot {FACT_SLOT!r} that is not the fact intents'")
    problems += clash_problems(name, cleaned, existing)
    if problems:
        raise Refused(problems)
    training, heldout = {}, {}
    for lang in LANGUAGES:
        training[lang], heldout[lang] = split(name, lang, cleaned[lang])
    return Plan(
        name=name,
        mode=mode,
        training=training,
        heldout=heldout,
        responses={k: v.strip() for k, v in responses.items() if v} if mode == "response" else {},
        buttons={k: v.strip() for k, v in buttons.items()},
        fact_id=fact_id if mode == "fact" else None,
        scrubbed=scrubbed,
        dropped=dropped,
    )


def _title(examples: Sequence[str]) -> str:
    """A default button title: the first example, cut at a word below the limit."""
    if not examples:
        return "-"
    text = examples[0]
    if len(text) <= MAX_BUTTON_CHARS:
        return text
    return text[: MAX_BUTTON_CHARS - 1].rsplit(" ", 1)[0] + "…"


def _is_fact_slot(domain: Mapping[str, Any]) -> bool:
    slot = (domain.get("slots") or {}).get(FACT_SLOT) or {}
    return all(m.get("type") == "from_intent" for m in slot.get("mappings") or [])


# -- writing ---------------------------------------------------------------------


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def nlu_yaml(name: str, examples: Mapping[str, Sequence[str]], comment: str) -> str:
    """A Rasa NLU file: one block per language with `metadata: language:`."""
    lines = ['version: "3.1"', f"# {comment}", "nlu:"]
    for lang in LANGUAGES:
        lines += [f"- intent: {name}", "  metadata:", f"    language: {lang}", "  examples: |"]
        lines += [f"    - {text}" for text in examples[lang]]
    return "\n".join(lines) + "\n"


def rule_yaml(plan: Plan) -> str:
    """The intent's rule: its response, the handoff, or the fact."""
    action = {
        "response": f"utter_{plan.name}",
        "handoff": HANDOFF_ACTION,
        "fact": FACT_ACTION,
    }[plan.mode]
    what = {
        "response": "gets its response",
        "handoff": "goes to a person",
        "fact": f"gets fact {plan.fact_id}",
    }[plan.mode]
    return (
        'version: "3.1"\n'
        "rules:\n"
        f"  - rule: {plan.name} {what}\n"
        "    steps:\n"
        f"      - intent: {plan.name}\n"
        f"      - action: {action}\n"
    )


def _block_end(lines: List[str], top_key: str) -> int:
    """The index after the last content line of the top-level `top_key:` block."""
    start = next(
        (i for i, line in enumerate(lines) if re.match(rf"^{re.escape(top_key)}:\s*(#.*)?$", line)),
        None,
    )
    if start is None:
        raise ValueError(f"domain.yml has no top-level '{top_key}:' block")
    end = start + 1
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if line.strip() and not line.startswith((" ", "\t", "#")):
            break
        if line.strip() and not line.startswith("#"):
            end = i + 1
    return end


def _slot_end(lines: List[str], slot: str) -> int | None:
    """The index after the last line of slot `slot`'s block, None if it is not there."""
    start = _block_end(lines, "slots")
    top = next(i for i, line in enumerate(lines) if re.match(r"^slots:", line))
    for i in range(top + 1, start):
        if re.match(rf"^  {re.escape(slot)}:\s*$", lines[i]):
            end = i + 1
            for j in range(i + 1, start):
                if lines[j].strip() and not lines[j].startswith("    "):
                    break
                if lines[j].strip():
                    end = j + 1
            return end
    return None


def _response_lines(name: str, texts: Mapping[str, str]) -> List[str]:
    lines = [f"  {name}:"]
    for lang in LANGUAGES:
        lines += [
            f"    - condition: [{{type: slot, name: language, value: {lang}}}]",
            f"      text: {_quoted(texts[lang])}",
        ]
    both = texts["tr"] if texts["tr"] == texts["en"] else f"{texts['tr']} / {texts['en']}"
    lines.append(f"    - text: {_quoted(both)}")
    return lines


def domain_text(old: str, plan: Plan) -> Tuple[str, Dict[str, Any]]:
    """domain.yml with the plan's entries added as text, and its parse checked."""
    lines = old.splitlines()
    inserts: List[Tuple[int, List[str]]] = []
    before = yaml.safe_load(old) or {}
    expected = copy.deepcopy(before)
    expected.setdefault("intents", []).append(plan.name)
    inserts.append((_block_end(lines, "intents"), [f"  - {plan.name}"]))
    responses = ["", f"  # intent {plan.name} (crisisdesk intents add)"]
    if plan.mode == "response":
        responses += _response_lines(f"utter_{plan.name}", plan.responses)
        expected["responses"][f"utter_{plan.name}"] = _response_parse(plan.responses)
    responses += _response_lines(f"utter_button_{plan.name}", plan.buttons)
    expected["responses"][f"utter_button_{plan.name}"] = _response_parse(plan.buttons)
    inserts.append((_block_end(lines, "responses"), responses))
    if plan.mode == "fact":
        mapping = {"type": "from_intent", "intent": plan.name, "value": plan.fact_id}
        mapping_lines = [
            "      - type: from_intent",
            f"        intent: {plan.name}",
            f"        value: {_quoted(str(plan.fact_id))}",
        ]
        slots = expected.setdefault("slots", {})
        end = _slot_end(lines, FACT_SLOT)
        if end is None:
            slots[FACT_SLOT] = {
                "type": "text",
                "influence_conversation": False,
                "mappings": [mapping],
            }
            inserts.append(
                (
                    _block_end(lines, "slots"),
                    [
                        "  # The published fact a fact intent answers with (action_answer_fact);",
                        "  # one from_intent mapping per intent (crisisdesk intents add --fact).",
                        f"  {FACT_SLOT}:",
                        "    type: text",
                        "    influence_conversation: false",
                        "    mappings:",
                        *mapping_lines,
                    ],
                )
            )
        else:
            slots[FACT_SLOT]["mappings"].append(mapping)
            inserts.append((end, mapping_lines))
        if FACT_ACTION not in _names(expected.get("actions")):
            expected.setdefault("actions", []).append(FACT_ACTION)
            inserts.append((_block_end(lines, "actions"), [f"  - {FACT_ACTION}"]))
    for index, new_lines in sorted(inserts, key=lambda item: item[0], reverse=True):
        lines[index:index] = new_lines
    text = "\n".join(lines) + "\n"
    after = yaml.safe_load(text)
    if after != expected:
        raise RuntimeError("domain.yml: the edited text does not parse to the expected domain")
    return text, after


def _response_parse(texts: Mapping[str, str]) -> List[Dict[str, Any]]:
    both = texts["tr"] if texts["tr"] == texts["en"] else f"{texts['tr']} / {texts['en']}"
    return [
        *(
            {
                "condition": [{"type": "slot", "name": "language", "value": lang}],
                "text": texts[lang],
            }
            for lang in LANGUAGES
        ),
        {"text": both},
    ]


def write_plan(root: Path, plan: Plan, author: str) -> List[str]:
    """Writes the plan's files (all or none); returns their project-relative paths."""
    comment = f"intent {plan.name}, added by {author} with crisisdesk intents add"
    contents = {
        f"data/nlu/{plan.name}.yml": nlu_yaml(plan.name, plan.training, comment),
        f"heldout/nlu/{plan.name}.yml": nlu_yaml(
            plan.name, plan.heldout, comment + "; held out: never trained on"
        ),
        f"data/rules/{plan.name}.yml": rule_yaml(plan),
    }
    domain_path = root / "domain.yml"
    old_domain = domain_path.read_text(encoding="utf-8")
    contents["domain.yml"], _ = domain_text(old_domain, plan)
    written: List[Path] = []
    try:
        for relative, text in contents.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.tmp")
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, path)
            written.append(path)
    except BaseException:
        for path in written:
            if path == domain_path:
                domain_path.write_text(old_domain, encoding="utf-8")
            else:
                path.unlink(missing_ok=True)
        raise
    return list(contents)


def remove_written(root: Path, files: Sequence[str], old_domain: str) -> None:
    """Undoes `write_plan` (when recording or committing the change failed)."""
    for relative in files:
        if relative == "domain.yml":
            (root / relative).write_text(old_domain, encoding="utf-8")
        else:
            (root / relative).unlink(missing_ok=True)


@dataclass
class Added:
    """An accepted add: the plan, the files written, the change record and commit."""

    plan: Plan
    files: List[str]
    change_id: int
    commit: str | None


def add_intent(
    root: Path,
    store: Any,
    name: str,
    given: Mapping[str, Sequence[str]],
    *,
    author: str,
    **options: Any,
) -> Added:
    """Checks, writes, records and (in a git work tree) commits a new intent.

    One add at a time per project (a lock on the project folder), so two trainers
    never both read the old domain.yml.
    """
    with _project_lock(root):
        return _add_intent(root, store, name, given, author=author, **options)


@contextmanager
def _project_lock(root: Path) -> Iterator[None]:
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _add_intent(
    root: Path,
    store: Any,
    name: str,
    given: Mapping[str, Sequence[str]],
    *,
    author: str,
    **options: Any,
) -> Added:
    from bot.training import changes

    problems = changes.author_problems(author)
    try:
        plan = plan_intent(
            root, name, given, fact_lookup=lambda i: store.get_fact(i, missing_ok=True), **options
        )
    except Refused as refused:
        raise Refused(problems + refused.problems) from None
    problems += changes.dirty_problems(root, plan.files())
    if problems:
        raise Refused(problems)
    old_domain = (root / "domain.yml").read_text(encoding="utf-8")
    files = write_plan(root, plan, author)
    try:
        change_id, commit = changes.record(
            root,
            store,
            author=author,
            action="add_intent",
            intent=name,
            files=files,
            message=_commit_message(plan),
        )
    except BaseException:
        remove_written(root, files, old_domain)
        raise
    return Added(plan, files, change_id, commit)


def _commit_message(plan: Plan) -> str:
    how = {
        "response": "answered with utter_" + plan.name,
        "handoff": "handed over to a person",
        "fact": f"answered with fact {plan.fact_id}",
    }[plan.mode]
    counts = ", ".join(
        f"{lang} {len(plan.training[lang])}+{len(plan.heldout[lang])} held out"
        for lang in LANGUAGES
    )
    return f"Intent {plan.name}: {how}; examples {counts} (crisisdesk intents add)"


# -- listing ---------------------------------------------------------------------


def intent_counts(root: Path) -> List[Dict[str, Any]]:
    """Every intent (domain and data/nlu) with its example counts per language."""
    domain = read_domain(root)
    domain_intents = _names(domain.get("intents"))
    rows: Dict[str, Dict[str, Any]] = {}

    def row(intent: str) -> Dict[str, Any]:
        return rows.setdefault(
            intent,
            {
                "intent": intent,
                "in_domain": intent in domain_intents,
                **{lang: 0 for lang in LANGUAGES},
                **{f"heldout_{lang}": 0 for lang in LANGUAGES},
            },
        )

    for intent in domain_intents:
        row(intent)
    for example in project_examples(root):
        column = example.language if example.language in LANGUAGES else None
        if column is None:
            continue
        held = not example.path.startswith("data/")
        row(example.intent)[f"heldout_{column}" if held else column] += 1
    return list(rows.values())


# -- command line ----------------------------------------------------------------

EXAMPLES_HELP = (
    "FILE: YAML with a list per language ('tr: [...]', 'en: [...]'), or text with one"
    " example a line under a '[tr]' or '[en]' line ('#' starts a comment line)."
    f" Each language needs at least {MIN_TRAINING + MIN_HELDOUT} distinct examples:"
    f" about 20 %% (at least {MIN_HELDOUT}) go to heldout/nlu/NAME.yml for evaluation,"
    f" at least {MIN_TRAINING} stay for training. Phone, e-mail, card and order numbers"
    " become <phone>, <email>, <card>, <order>."
)


def _project(args: Any) -> Path:
    return Path(args.project) if args.project else project_root()


def _store(args: Any) -> Any:
    from bot.config import settings
    from bot.store import Store

    return Store.open(args.db or settings().db_path)


def cli_add(args: Any) -> int:
    """`crisisdesk intents add`."""
    import sys

    root = _project(args)
    try:
        if not args.examples:
            raise Refused(["--examples FILE is required"])
        given = read_examples_file(Path(args.examples))
        store = _store(args)
        try:
            added = add_intent(
                root,
                store,
                args.name,
                given,
                author=args.author,
                response_tr=args.response_tr,
                response_en=args.response_en,
                handoff=args.handoff,
                fact_id=args.fact,
                button_tr=args.button_tr,
                button_en=args.button_en,
            )
        finally:
            store.close()
    except Refused as refused:
        print(f"intent {args.name!r} not added:", file=sys.stderr)
        for problem in refused.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    plan = added.plan
    for lang in LANGUAGES:
        print(
            f"{lang}: {len(plan.training[lang])} training examples,"
            f" {len(plan.heldout[lang])} held out"
        )
    if plan.scrubbed:
        print("scrubbed: " + ", ".join(f"{n} {kind}" for kind, n in sorted(plan.scrubbed.items())))
    if plan.dropped:
        print(f"dropped {len(plan.dropped)} duplicate(s) within the file")
    print("wrote " + ", ".join(added.files))
    print(f"change {added.change_id}" + (f", commit {added.commit}" if added.commit else ""))
    print("next: crisisdesk model train")
    return 0


def cli_list(args: Any) -> int:
    """`crisisdesk intents list`."""
    rows = intent_counts(_project(args))
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    print(f"{'intent':<26} {'tr':>4} {'en':>4} {'held tr':>8} {'held en':>8}  domain")
    for r in rows:
        print(
            f"{r['intent']:<26} {r['tr']:>4} {r['en']:>4} {r['heldout_tr']:>8}"
            f" {r['heldout_en']:>8}  {'yes' if r['in_domain'] else 'NO'}"
        )
    return 0


def cli_changes(args: Any) -> int:
    """`crisisdesk intents changes`."""
    from bot.training import changes

    store = _store(args)
    try:
        rows = changes.list_changes(store, intent=args.intent)
    finally:
        store.close()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("(none)")
    for r in rows:
        print(
            f"{r['id']:>4}  {r['created_at']}  {r['author']:<12} {r['action']:<12}"
            f" {r['intent']:<20} {r['git_commit'][:10] or '-':<10}  {', '.join(r['files'])}"
        )
    return 0


def add_commands(groups: Any, command: Callable[..., Any]) -> None:
    """Adds the `intents` group to the crisisdesk command line."""
    intents = groups.add_parser(
        "intents",
        help="intents and their training examples",
        description="Intents: add one (examples, responses, rule, held-out share), list them.",
    )
    isub = intents.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = command(
        isub,
        "add",
        cli_add,
        "add an intent: data/nlu/NAME.yml, heldout/nlu/NAME.yml, data/rules/NAME.yml and"
        " domain entries; recorded, and committed when the project is a git work tree."
        " Refused (exit status 2, nothing written) for a name that clashes, fewer than"
        " 12 distinct examples in a language, or an example another intent has or nearly"
        " has (the message names it)",
    )
    p.add_argument("name", help="the new intent's name (lower-case letters, digits, '_')")
    p.add_argument("--examples", metavar="FILE", help="required. " + EXAMPLES_HELP)
    p.add_argument("--response-tr", metavar="TEXT", help="the answer in Turkish")
    p.add_argument("--response-en", metavar="TEXT", help="the answer in English")
    p.add_argument(
        "--handoff", action="store_true", help="hand the conversation to a person instead"
    )
    p.add_argument("--fact", metavar="ID", help="answer with this published fact instead")
    p.add_argument("--button-tr", metavar="TEXT", help="rephrase button title in Turkish")
    p.add_argument("--button-en", metavar="TEXT", help="rephrase button title in English")
    p.add_argument("--author", default="cli", help="who made the change (the commit's author)")
    p.add_argument("--project", help=f"project folder (default: ${PROJECT_ENV} or this one)")
    p = command(
        isub,
        "list",
        cli_list,
        "list every intent (domain and data/nlu) with its examples per language and held out",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--project", help=f"project folder (default: ${PROJECT_ENV} or this one)")
    p = command(isub, "changes", cli_changes, "list recorded changes to the training data")
    p.add_argument("--intent", help="only this intent's")
    p.add_argument("--json", action="store_true", help="print JSON")

"""Reading fact and FAQ files: validation with line numbers, then the store.

A bad row is reported with the line it starts on and the rest still import.

Facts state their claim in both languages (`claim_tr`, `claim_en`): every answer
names the claim it judges. A file in the old format, with one `claim` column (in
English) and no `claim_tr`, still imports: `claim` becomes `claim_en` and each row
gets a warning, since Turkish answers then quote the English claim until the fact
is imported again with `claim_tr`. A file that has a `claim_tr` column must fill it.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Sequence, Tuple

from bot.store import FACT_FIELDS, FAQ_FIELDS, VERDICTS, Store

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
MAX_FIELD = 4000


class FileProblem(ValueError):
    """The file as a whole cannot be read (missing, not UTF-8, wrong header)."""


@dataclass
class ImportReport:
    """What an import did: new and updated ids, and rejected rows."""

    created: List[str] = field(default_factory=list)
    updated: List[str] = field(default_factory=list)
    errors: List[Tuple[int, str]] = field(default_factory=list)
    warnings: List[Tuple[int, str]] = field(default_factory=list)


def _rows(
    path: Path, required: Sequence[str], header_out: List[str] | None = None
) -> Iterator[Tuple[int, Dict[str, str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FileProblem(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise FileProblem(f"{path}: not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in required if name not in header]
    if missing:
        raise FileProblem(
            f"{path}: header must have the columns {','.join(required)}"
            f" (missing: {','.join(missing)})"
        )
    reader.fieldnames = header
    if header_out is not None:
        header_out.extend(header)
    start = reader.line_num + 1
    for row in reader:
        yield start, row
        start = reader.line_num + 1


def _clean(row: Dict[str, str], fields: Sequence[str]) -> Dict[str, str]:
    if None in row:
        raise ValueError("more values than columns")
    out = {}
    for name in fields:
        value = row.get(name)
        out[name] = (value or "").strip()
        if len(out[name]) > MAX_FIELD:
            raise ValueError(f"{name} is longer than {MAX_FIELD} characters")
    if not _ID.match(out["id"]):
        raise ValueError(f"id {out['id']!r} must be 1-64 letters, digits, '.', '_' or '-'")
    if out["source_url"] and not _URL.match(out["source_url"]):
        raise ValueError(f"source_url {out['source_url']!r} is not an http(s) link")
    return out


# Columns every facts file has; the claim comes as claim_tr + claim_en, or the old `claim`.
FACT_REQUIRED = ("id", "topic", "verdict", "answer_tr", "answer_en", "source_url")


def validate_fact(row: Dict[str, str], legacy: bool = False) -> Dict[str, str]:
    """A fact row, stripped and checked; raises ValueError saying what is wrong.

    With `legacy` (a file with the old `claim` column and no `claim_tr`), `claim`
    is the English claim and `claim_tr` may be empty.
    """
    if legacy or (not row.get("claim_en") and row.get("claim")):
        row = {**row, "claim_en": row.get("claim_en") or row.get("claim") or ""}
    fact = _clean(row, FACT_FIELDS)
    fact["verdict"] = fact["verdict"].lower()
    if fact["verdict"] not in VERDICTS:
        raise ValueError(f"verdict {fact['verdict']!r} must be one of {', '.join(VERDICTS)}")
    needed = ("claim_en", "answer_tr", "answer_en", "source_url")
    for name in needed if legacy else ("claim_tr",) + needed:
        if not fact[name]:
            raise ValueError(f"{name} is empty")
    return fact


def validate_faq(row: Dict[str, str]) -> Dict[str, str]:
    """An FAQ row, stripped and checked; raises ValueError saying what is wrong."""
    faq = _clean(row, FAQ_FIELDS)
    for name in ("question_tr", "question_en", "answer_tr", "answer_en"):
        if not faq[name]:
            raise ValueError(f"{name} is empty")
    return faq


def import_facts(
    store: Store, path: Path, draft: bool = False, verified_by: str = "import"
) -> ImportReport:
    """Imports a facts CSV; rows come in published unless `draft`."""
    report = ImportReport()
    status = "draft" if draft else "published"
    header: List[str] = []
    rows = _rows(path, FACT_REQUIRED, header)
    first = next(rows, None)
    if "claim_en" not in header and "claim" not in header:
        raise FileProblem(
            f"{path}: header must have the columns {','.join(FACT_FIELDS)}"
            " (missing: claim_tr,claim_en; the old single column `claim` is read as claim_en)"
        )
    legacy = "claim_tr" not in header
    for line, row in ([first] if first else []) + list(rows):
        try:
            fact = validate_fact(row, legacy=legacy)
        except ValueError as problem:
            report.errors.append((line, str(problem)))
            continue
        if legacy:
            report.warnings.append(
                (line, "no claim_tr column: Turkish answers quote the English claim")
            )
        created = store.upsert_fact(fact, status=status, verified_by=verified_by)
        (report.created if created else report.updated).append(fact["id"])
    return report


def import_faqs(store: Store, path: Path, draft: bool = False) -> ImportReport:
    """Imports an FAQ CSV; rows come in published unless `draft`."""
    report = ImportReport()
    for line, row in _rows(path, FAQ_FIELDS):
        try:
            faq = validate_faq(row)
        except ValueError as problem:
            report.errors.append((line, str(problem)))
            continue
        created = store.upsert_faq(faq, status="draft" if draft else "published")
        (report.created if created else report.updated).append(faq["id"])
    return report

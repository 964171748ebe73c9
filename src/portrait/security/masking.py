"""How personal data looks to a role without ``pii:read``: one masking for every surface.

>>> mask_phone("13812344357"), mask_email("alice@qq.com"), mask_name("张三"), mask_name("John")
('138****4357', 'a***@qq.com', '张*', 'J***')
>>> mask_date("1990-05-17")
'1990-**-**'

What is PII: the users table's PII columns (:data:`PII_COLUMNS`, each with how it is masked)
and the catalog's tags flagged ``pii: true`` (masked by their type: a date keeps its year, any
other value its first character). The REST API, the CLI and the Python API call these through
``portrait.security.guard``; nothing else masks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

import pyarrow as pa

MASK = "***"
DATE_MASK = "****-**-**"


def mask_phone(value: Any) -> str | None:
    """Keep the first 3 and the last 4 digits: ``138****4357`` (short numbers: ``****``)."""
    if value is None:
        return None
    digits = re.sub(r"[\s\-()]", "", str(value))
    if len(digits) < 8:
        return "****"
    return f"{digits[:3]}****{digits[-4:]}"


def mask_email(value: Any) -> str | None:
    """Keep the first character and the domain: ``a***@qq.com``."""
    if value is None:
        return None
    local, at, domain = str(value).partition("@")
    if not at:
        return mask_text(value)
    return f"{local[:1]}{MASK}@{domain}"


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def mask_name(value: Any) -> str | None:
    """Keep the first character: ``张*`` (one star per hidden Chinese character), ``J***``."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return text
    if _is_cjk(text[0]):
        return text[0] + "*" * max(1, len(text) - 1)
    return text[0] + MASK


def mask_date(value: Any) -> str | None:
    """Keep the year only: ``1990-**-**`` (``****-**-**`` when no year can be read)."""
    if value is None:
        return None
    if isinstance(value, datetime | date):
        return f"{value.year:04d}-**-**"
    m = re.match(r"\s*(\d{4})-", str(value))
    return f"{m.group(1)}-**-**" if m else DATE_MASK


def mask_text(value: Any) -> str | None:
    """Any other personal value (an address, a free text): its first character, then ``***``."""
    if value is None:
        return None
    text = str(value)
    return f"{text[:1]}{MASK}" if text else text


def mask_address(value: Any) -> str | None:
    """A send address: an e-mail's or a phone's masking, by its look."""
    if value is None:
        return None
    text = str(value)
    if "@" in text:
        return mask_email(text)
    if re.fullmatch(r"\+?[\d\s\-()]{7,}", text):
        return mask_phone(text)
    return mask_text(text)


MASKS: dict[str, Callable[[Any], str | None]] = {
    "phone": mask_phone,
    "email": mask_email,
    "name": mask_name,
    "date": mask_date,
    "text": mask_text,
    "address": mask_address,
}

# The users table's personal columns and how each is masked (see ``portrait.schema.tables``).
PII_COLUMNS: dict[str, str] = {
    "phone": "phone",
    "email": "email",
    "name": "name",
    "birth_date": "date",
    "address": "text",
}


def mask(kind: str, value: Any) -> Any:
    """``value`` masked as a ``kind`` of :data:`MASKS`; a list is masked item by item."""
    if isinstance(value, list):
        return [mask(kind, v) for v in value]
    return MASKS.get(kind, mask_text)(value)


def tag_kind(tag_id: str, tag_type: str) -> str:
    """How a PII tag is masked: like its users column when it has one, else by its type."""
    if tag_id in PII_COLUMNS:
        return PII_COLUMNS[tag_id]
    return "date" if tag_type in ("date", "timestamp") else "text"


def mask_contact(contact: dict[str, Any] | None) -> dict[str, Any] | None:
    """A users row (or a part of it) with its PII columns masked (what a preview renders)."""
    if contact is None:
        return None
    return {k: mask(PII_COLUMNS[k], v) if k in PII_COLUMNS else v for k, v in contact.items()}


def mask_payload(raw: str | None) -> tuple[str | None, bool]:
    """A received record's JSON payload (a quarantined one) with its PII fields masked, and
    whether it could be read: one that is no JSON object is masked whole."""
    if raw is None:
        return None, True
    try:
        fields = json.loads(raw)
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        return mask_text(raw), False
    masked = {k: mask(PII_COLUMNS[k], v) if k in PII_COLUMNS else v for k, v in fields.items()}
    return json.dumps(masked, ensure_ascii=False), True


def mask_table(table: pa.Table, kinds: dict[str, str]) -> pa.Table:
    """``table`` with each column named in ``kinds`` masked (as text) by its kind."""
    for name in table.column_names:
        if name not in kinds:
            continue
        values = [mask(kinds[name], v) for v in table.column(name).to_pylist()]
        masked = pa.array(
            [None if v is None else str(v) if not isinstance(v, list) else v for v in values]
        )
        table = table.set_column(table.schema.get_field_index(name), name, masked)
    return table


def masked_columns(columns: Iterable[str]) -> dict[str, str]:
    """The users-table PII columns among ``columns``, with their kinds."""
    return {c: PII_COLUMNS[c] for c in columns if c in PII_COLUMNS}

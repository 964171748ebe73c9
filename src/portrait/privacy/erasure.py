"""Erasure on request (right to be forgotten), the residue check and compaction.

``forget(user_id)`` finds the person the id resolves to and every identifier tied to them
(:func:`portrait.store.erasure.resolve`), erases them from the warehouse in one transaction
(:func:`portrait.store.erasure.erase`, quarantined records included), then from the files
(:mod:`portrait.privacy.files`), and rewrites the warehouse file so the deleted bytes are gone
(or leaves that to ``compact``).
It answers with the identifiers' keyed pseudonyms only: the tombstones that refuse them at
ingest from then on, and by which ``residue`` finds the identifiers the caller no longer knows
in clear (a merged user id, a device id) from the one they give.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from pathlib import Path

from portrait.errors import ConflictError
from portrait.privacy import files
from portrait.privacy.results import (
    CompactionResult,
    ErasedFile,
    ErasureResult,
    ResidueHit,
    ResidueReport,
)
from portrait.security import erasure_key
from portrait.security.pii import PiiCipher
from portrait.store import erasure as store
from portrait.store import pii as stored_pii
from portrait.store import quarantine
from portrait.store import residue as scan
from portrait.store.exports import exported_files
from portrait.store.warehouse import Warehouse


class UnknownPersonError(LookupError):
    """No user, event or identity has the id, and it was never erased."""


def _known(wh: Warehouse, cipher: PiiCipher, user_id: str) -> store.Erasure | None:
    """The erasure ``user_id`` fell under, if any (its tombstone, by the erasure key)."""
    key = store.tombstone_key(wh, cipher.secret)
    return None if key is None else store.erasure_of(wh, erasure_key.pseudonym(key, user_id))


def _checked(user_id: str) -> str:
    text = (user_id or "").strip()
    if not text:
        raise ValueError("give the user id of the person to erase (it is empty)")
    return text


def forget(
    wh: Warehouse, root: Path | None, cipher: PiiCipher, user_id: str, compact: bool = True
) -> ErasureResult:
    """Erase the person ``user_id`` belongs to (see the module docstring). Under the build
    lock: a build running meanwhile would save a snapshot read before the erasure."""
    user_id = _checked(user_id)
    if not wh.build_lock.acquire(blocking=False):
        raise ConflictError(
            "a profile build is running in this workspace; erase when it is done (the "
            "server's GET /v1/jobs shows it)"
        )
    try:
        return _forget(wh, root, cipher, user_id, compact)
    finally:
        wh.build_lock.release()


def _forget(
    wh: Warehouse, root: Path | None, cipher: PiiCipher, user_id: str, compact: bool
) -> ErasureResult:
    clock = time.perf_counter()
    person = store.resolve(wh, user_id)
    if person is None:
        known = _known(wh, cipher, user_id)
        if known is None:
            raise UnknownPersonError(
                f"no user, event or identity has the id {user_id!r}, and it was never erased; "
                "check the id (`portrait identity ID` shows who an id belongs to)"
            )
        return ErasureResult(erasure_id=known.erasure_id, already_erased=True)
    kinds = {**dict.fromkeys(person.anonymous_ids, "anonymous"), **dict.fromkeys(
        person.user_ids, "user")}  # fmt: skip
    key = store.tombstone_key(wh, cipher.secret, create=True)
    assert key is not None
    pseudonyms = [(erasure_key.pseudonym(key, i), kind) for i, kind in sorted(kinds.items())]
    erasure_id = datetime.now(UTC).strftime("er-%Y%m%dT%H%M%S-") + secrets.token_hex(4)
    # what quarantined records may name them by: ids, and their phones and e-mails
    contacts = stored_pii.user_pii(wh, cipher, person.user_ids)
    mentions = [
        *person.identifiers,
        *(v for c in contacts.values() for k, v in c.items() if k in ("phone", "email") and v),
    ]
    erased = store.erase(
        wh, person, pseudonyms, cipher.key_id, erasure_id,
        inside=lambda: quarantine.erase_mentions(wh, cipher, mentions),
    )  # fmt: skip
    seconds = {"warehouse": time.perf_counter() - clock}
    clock = time.perf_counter()
    changed: list[ErasedFile] = []
    if root is not None:
        ids = set(person.identifiers)
        for path in files.data_files(root, exported_files(wh)):
            dropped = files.scrub_file(path, ids)
            if dropped:
                action = "rewritten" if path.exists() else "deleted"
                changed.append(ErasedFile(path=str(path), action=action, rows_removed=dropped))
        changed += [
            ErasedFile(path=p, action="token") for p in files.scrub_recs(root, person.person_id)
        ]
    seconds["files"] = time.perf_counter() - clock
    clock = time.perf_counter()
    compaction = "in memory" if wh.path is None else "skipped"
    if compact and wh.path is not None:
        wh.compact()
        store.mark_compacted(wh)
        compaction = "rewritten"
    seconds["compaction"] = time.perf_counter() - clock
    return ErasureResult(
        erasure_id=erasure_id,
        identifiers=len(pseudonyms),
        pseudonyms=[p for p, _ in pseudonyms],
        shared_devices=len(person.shared_anonymous),
        removed=erased.removed,
        kept_anonymous={k: v for k, v in erased.tokenized.items() if v},
        bitmaps_updated=erased.bitmaps_updated,
        index_dropped=erased.index_dropped,
        quarantine_removed=erased.quarantine,
        files=changed,
        compaction=compaction,
        seconds={k: round(v, 4) for k, v in seconds.items()},
    )


def compact(wh: Warehouse) -> CompactionResult:
    """Rewrite the warehouse into a fresh file (``portrait privacy compact``): after erasures
    made with ``--no-compact``, one rewrite for all of them."""
    clock = time.perf_counter()
    before = wh.path.stat().st_size if wh.path is not None else 0
    if not wh.build_lock.acquire(blocking=False):
        raise ConflictError("a profile build is running in this workspace; compact when it is done")
    try:
        if wh.compact():
            store.mark_compacted(wh)
    finally:
        wh.build_lock.release()
    return CompactionResult(
        path=None if wh.path is None else str(wh.path),
        bytes_before=before,
        bytes_after=wh.path.stat().st_size if wh.path is not None else 0,
        seconds=round(time.perf_counter() - clock, 4),
    )


def residue(wh: Warehouse, root: Path | None, cipher: PiiCipher, user_id: str) -> ResidueReport:
    """What still mentions the person ``user_id`` belongs to: before an erasure, what
    ``forget`` would remove; after it, nothing (see :mod:`portrait.store.residue`)."""
    user_id = _checked(user_id)
    clock = time.perf_counter()
    key = store.tombstone_key(wh, cipher.secret)
    known = None if key is None else store.erasure_of(wh, erasure_key.pseudonym(key, user_id))
    person = store.resolve(wh, user_id)
    clear = person.identifiers if person is not None else [user_id]
    hashed = store.erasure_pseudonyms(wh, known.erasure_id) if known is not None else []
    pid = person.pid if person is not None else (known.pid if known is not None else None)
    hits = [
        ResidueHit(place=p, kind="table", count=n, found_by="id")
        for p, n in scan.clear_mentions(wh, clear).items()
    ]
    hits += [
        ResidueHit(place=p, kind="table", count=n, found_by="pseudonym")
        for p, n in scan.pseudonym_mentions(wh, key or b"", hashed).items()
    ]
    if pid is not None:
        hits += [
            ResidueHit(place=p, kind="bitmap", count=n, found_by="pid")
            for p, n in scan.bitmap_mentions(wh, pid).items()
        ]
    in_quarantine = quarantine.count_mentions(wh, cipher, clear)
    if in_quarantine:
        hits.append(ResidueHit(place="quarantine", kind="table", count=in_quarantine,
                               found_by="pseudonym"))  # fmt: skip
    if known is not None and not known.compacted and wh.path is not None:
        hits.append(ResidueHit(place=str(wh.path), kind="file", count=1, found_by="freed blocks"))
    if root is not None:
        hits += _file_hits(wh, root, key, clear, set(hashed))
    return ResidueReport(
        erased=known is not None,
        erasure_id=known.erasure_id if known is not None else None,
        searched_in_clear=len(clear),
        searched_by_pseudonym=len(hashed),
        hits=hits,
        seconds=round(time.perf_counter() - clock, 4),
    )


def _file_hits(
    wh: Warehouse, root: Path, key: bytes | None, clear: list[str], hashed: set[str]
) -> list[ResidueHit]:
    hits: list[ResidueHit] = []
    database = {wh.path, wh.path.with_name(wh.path.name + ".wal")} if wh.path else set()
    for path in files.workspace_files(root, exported_files(wh)):
        # the warehouse compresses text (FSST symbols of up to 8 bytes, dictionaries): a short
        # id's bytes turn up there by chance, so only longer ones are searched in its bytes
        # (its content is searched table by table, its freed blocks by the compaction record)
        searched = [i for i in clear if len(i.encode()) > 8] if path in database else clear
        n = files.byte_mentions(path, searched)
        if n:
            hits.append(ResidueHit(place=str(path), kind="file", count=n, found_by="id"))
        if hashed and key is not None:
            found = sum(erasure_key.pseudonym(key, v) in hashed for v in files.id_values(path))
            if found:
                hits.append(
                    ResidueHit(place=str(path), kind="file", count=found, found_by="pseudonym")
                )
    return hits

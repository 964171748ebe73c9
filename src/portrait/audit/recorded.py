"""The facade's audited methods: the one place entries are written from.

``profile = audited("profile", delegate("profiles", ProfileService.profile))`` in
:class:`portrait.workspace.Workspace` records an entry after each successful call (a call that
raises records nothing), whoever calls: the REST routes, the CLI and notebooks all go through
the facade. ``AUDITED`` says, per facade method, what the entry keeps: the action, which
arguments name persons (recorded by pseudonym) or the segment, which parameters are kept, and
what the result adds (the person an identifier resolved to, the rows returned). What no facade
method wraps records from its service through the same table: ``recorder(ws)``, handed to the
campaign service, records a dispatch run and a launch preview; ``ws.privacy`` an erasure.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from portrait.audit.context import AuditCaller, current_caller
from portrait.consent.settings import PURPOSES

if TYPE_CHECKING:
    from portrait.audit.service import AuditService

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Audited:
    """What an audited facade method records."""

    action: str
    persons: tuple[str, ...] = ()  # arguments holding a user id, identifier or person id
    segment: str | None = None  # the argument holding a segment's name
    keep: tuple[str, ...] = ()  # arguments kept as parameters (cleaned: see AuditService)
    found: Callable[[Any], Iterable[str | None]] | None = None  # persons the result names
    rows: Callable[[Any], int | None] | None = None  # rows the result holds
    facts: Callable[[Any], dict[str, Any]] | None = None  # parameters the result adds
    named: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # arguments, renamed


def _person(result: Any) -> list[str | None]:
    return [getattr(result, "person_id", None)]


def _quarantined_ids(records: Any) -> list[str | None]:
    """The user and anonymous ids the quarantined records returned carry (JSON payloads)."""
    ids: list[str | None] = []
    for r in records:
        try:
            fields = json.loads(r.raw) if r.raw else None
        except ValueError:
            continue
        if isinstance(fields, dict):
            ids += [str(fields[k]) for k in ("user_id", "anonymous_id") if fields.get(k)]
    return ids


def _channel_or_purpose(arguments: dict[str, Any]) -> dict[str, Any]:
    """``set_consent``'s ``channel`` may name a purpose instead: recorded as what it is."""
    channel = arguments.get("channel")
    return {"purpose" if channel in PURPOSES else "channel": channel}


AUDITED: dict[str, Audited] = {
    "profile": Audited(
        "profile.read", ("user_id",), keep=("as_of", "lang", "include_empty"),
        found=_person, rows=lambda r: 1,
    ),
    "identity": Audited("identity.read", ("identifier",), found=_person, rows=lambda r: 1),
    "merge_users": Audited("identity.merge", ("user_a", "user_b"), keep=("reason",), found=_person),
    "unmerge": Audited("identity.unmerge", ("user_id",), keep=("reason",), found=_person),
    "create_key": Audited("key.create", keep=("role",), facts=lambda k: {"key_id": k.key_id}),
    "revoke_key": Audited("key.revoke", keep=("key_id",)),
    "rotate_key": Audited(
        "privacy.rotate_key", rows=lambda r: r.users_resealed,
        facts=lambda r: {"old_key_id": r.old_key_id, "new_key_id": r.new_key_id},
    ),
    "forget": Audited(
        "privacy.erase", ("user_id",), keep=("reason", "compact"),
        rows=lambda r: r.rows_removed,
        facts=lambda r: {"erasure_id": r.erasure_id, "identifiers": r.identifiers},
    ),
    "segment_members": Audited(
        "segment.members", segment="name", keep=("as_of", "tags", "purpose"),
        rows=lambda t: t.num_rows,
    ),
    "export_segment": Audited(
        "segment.export", segment="name", keep=("out", "tags", "as_of", "fmt", "purpose"),
        rows=lambda r: r.rows, facts=lambda r: {"build_id": r.build_id},
    ),
    "set_consent": Audited(
        "consent.change", ("user_id",), keep=("granted", "source"), rows=lambda r: 1,
        named=_channel_or_purpose,
    ),
    "import_consents": Audited(
        "consent.import", keep=("path", "source"), rows=lambda r: r.imported
    ),
    "import_consents_csv": Audited(
        "consent.import", keep=("label", "source"), rows=lambda r: r.imported
    ),
    # PII decrypts: quarantined payloads, the profile table's PII tags, contacts a dispatch
    # hands to channels (one entry per run), a launch preview's sample messages
    "quarantine": Audited(
        "quarantine.read", keep=("limit", "reason", "batch_id", "kind"),
        found=_quarantined_ids, rows=len,
    ),
    "profile_table": Audited(
        "profile.table", keep=("as_of", "tags"), rows=lambda t: t.num_rows
    ),
    "campaigns.dispatch": Audited(
        "campaign.dispatch", rows=lambda r: r["handed"],
        facts=lambda r: {k: v for k, v in r.items() if k != "handed"},
    ),
    "campaigns.launch": Audited(  # with dry_run: the preview
        "campaign.preview", keep=("name", "show_pii"), found=list, rows=len,
    ),  # the result: the users whose contact the sample messages were rendered with
}  # fmt: skip

# a service's way to record ``AUDITED[name]``: (name, the call's arguments, its result)
Recorder = Callable[[str, dict[str, Any], Any], None]


def audited(name: str, call: F) -> F:
    """``call`` (a facade method, first argument the Workspace) recording an entry of
    ``AUDITED[name]`` after each call that returns."""
    spec = AUDITED[name]
    signature = inspect.signature(call)

    @functools.wraps(call)
    def run(ws: Any, *args: Any, **kwargs: Any) -> Any:
        result = call(ws, *args, **kwargs)
        bound = signature.bind(ws, *args, **kwargs)
        bound.apply_defaults()
        record(ws.audit, caller_of(ws), name, spec, bound.arguments, result)
        return result

    return run  # type: ignore[return-value]


def recorder(ws: Any) -> Recorder:
    """Records ``AUDITED[name]`` from inside one of ``ws``'s services, for what no facade
    method wraps (a dispatch run, a launch preview), by whoever calls then (``caller_of``)."""

    def run(name: str, arguments: dict[str, Any], result: Any) -> None:
        record(ws.audit, caller_of(ws), name, AUDITED[name], arguments, result)

    return run


def caller_of(ws: Any) -> AuditCaller:
    """Who calls: the REST request's caller, else the one the CLI set on the workspace, else
    this process's user in Python (with the workspace's role)."""
    return (
        current_caller()
        or ws.audit_caller
        or AuditCaller(ws.actor, getattr(ws, "role", None), "python", "python")
    )


def record(
    audit: AuditService,
    caller: AuditCaller,
    name: str,
    spec: Audited,
    arguments: dict[str, Any],
    result: Any,
) -> None:
    persons = [arguments.get(a) for a in spec.persons]
    persons += list(spec.found(result)) if spec.found else []
    params = {k: arguments[k] for k in spec.keep if k in arguments}
    params.update(spec.named(arguments) if spec.named else {})
    params.update(spec.facts(result) if spec.facts else {})
    audit.record(
        spec.action,
        caller,
        command=f"ws.{name}",
        persons=[str(p) for p in persons if p is not None],
        segment=arguments.get(spec.segment) if spec.segment else None,
        rows=spec.rows(result) if spec.rows else None,
        params=params,
    )

"""``settings.change``: the audit log notices when ``portrait.toml`` was edited.

No command changes the settings: the file is edited by hand. So each time a process opens the
audit log (``open_audit``), the settings it parsed are compared with the latest
``settings.change`` entry, and a new entry is appended when they differ (the first open of a
log records them as they are, ``initial``). The entry keeps:

- ``changed``: the dotted names of the settings whose value differs, was added or removed
  (``consent.default``, ``retention.events_days``): names only, never values, since a
  channel's password may be one;
- ``digests``: per setting, an HMAC of its value under the audit key (which the next open
  compares against; without the workspace secret no one can compute one or try guesses
  against it), and ``fingerprint``, one HMAC over them all;
- who: the OS user of the process that noticed (``actor``), and as facts the file's owner and
  its modification time (the editor is not known; they are the best witnesses there are).

Compared in one transaction with the append (``AuditService.record_unless``), so two processes
opening the log at once record a change once.
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portrait.audit.context import AuditCaller

if TYPE_CHECKING:
    from portrait.audit.results import AuditEntry
    from portrait.audit.service import AuditService
    from portrait.config import Settings

ACTION = "settings.change"
KIND = "setting"  # the HMAC kind of a setting's value (see ``AuditService.keyed``)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf of a settings mapping by its dotted name (lists are leaves)."""
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, inner in value.items():
        out.update(flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
    return out


def digests(audit: AuditService, settings: Settings) -> dict[str, str]:
    """Per dotted setting name, the HMAC of its value (canonical JSON) under the audit key.
    An ``h`` leads the hex so that the log's cleaning never mistakes digits for a phone."""
    leaves = flatten(settings.model_dump(mode="json"))
    return {
        name: "h" + audit.keyed(KIND, f"{name}={json.dumps(v, sort_keys=True)}")[:32]
        for name, v in sorted(leaves.items())
    }


def changed_names(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The settings whose digest differs, or that only one side has."""
    return sorted(n for n in before.keys() | after.keys() if before.get(n) != after.get(n))


def file_facts(path: Path) -> dict[str, Any]:
    """The settings file's owner and modification time (UTC), as far as they can be read."""
    try:
        stat = path.stat()
    except OSError:
        return {"file": path.name, "file_owner": None, "file_mtime": None}
    try:
        import pwd

        owner = pwd.getpwuid(stat.st_uid).pw_name
    except (ImportError, KeyError):  # no passwd entry (a container), or not a POSIX system
        owner = str(stat.st_uid)
    mtime = datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(timespec="seconds")
    return {"file": path.name, "file_owner": owner, "file_mtime": mtime}


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "unknown"


def record_settings(audit: AuditService, settings: Settings, path: Path) -> AuditEntry | None:
    """Append a ``settings.change`` entry if ``settings`` differ from the latest one's (or
    the log has none); returns it, or None when nothing changed."""
    now = digests(audit, settings)
    fingerprint = audit.keyed(KIND, json.dumps(sorted(now.items())))

    def params_for(latest: dict[str, Any] | None) -> dict[str, Any] | None:
        if latest is not None and latest.get("fingerprint") == fingerprint:
            return None
        before = None if latest is None else dict(latest.get("digests") or [])
        return {
            "initial": before is None,
            "changed": [] if before is None else changed_names(before, now),
            "fingerprint": fingerprint,
            "digests": [[name, d] for name, d in now.items()],
            **file_facts(path),
        }

    caller = AuditCaller(f"os:{os_user()}", None, "settings", path.name, f"{path.name} read")
    return audit.record_unless(ACTION, caller, params_for)

"""Who may do what: roles are sets of permissions, and every REST route needs one permission.

This is the one place that says it, for every surface. A key has a role; a request is allowed
when the role's permissions include the permission its route is classified under in ``ROUTES``.
A workspace opened with a role (``Workspace.open(path, role="analyst")``) allows a call when the
role holds the permission its operation is classified under in ``OPERATIONS``. To add a role,
add a line to ``ROLES``; to add a route or a service method, classify it (``tests/api/
test_roles.py`` and ``tests/security/test_access.py`` fail for one that is not; a route or an
operation missing here is refused to every role but admin). Roles without ``pii:read`` see
personal data masked (``portrait.security.masking``); docs/privacy.md explains the roles.
"""

from __future__ import annotations

from dataclasses import dataclass

# Every permission, with what it lets a key do.
PERMISSIONS: dict[str, str] = {
    "ingest:write": "send events, users and products (POST /v1/events|users|products)",
    "ingest:read": "read the ingest log, the quarantine (raw payloads) and the summary; "
    "ingest answers then show the full accepted/duplicates breakdown",
    "identity:read": "see who an identifier belongs to and why",
    "identity:write": "merge and unmerge persons; the user phones a key with it sends link "
    "persons (identity.auto_merge = 'trusted')",
    "profiles:read": "read profiles, tags, tag quality and the build log",
    "profiles:build": "build profiles",
    "jobs:read": "follow background jobs (builds, training, clustering) and read their results",
    "segments:read": "count, list, show and overlap segments",
    "segments:write": "create, delete and learn (cluster) segments",
    "segments:export": "export a segment's members with their tags",
    "models:read": "read model cards and the validation report",
    "models:train": "train models",
    "recs:read": "read recommendations and similar products",
    "campaigns:read": "read campaigns, their reports, uplift checks and suggestions",
    "campaigns:write": "create and delete campaign drafts",
    "campaigns:send": "launch, stop and dispatch campaigns, run journeys",
    "consent:read": "read a user's consent",
    "consent:write": "record and import consent",
    "inbox:read": "read a user's in-app inbox",
    "inbox:write": "mark a user's in-app messages read",
    "experiments:run": "experiment calculators (sample size, A/B analysis, bandit simulation)",
    "keys:manage": "create, list and revoke API keys",
    "audit:read": "read the audit log and verify its hash chain",
    "pii:read": "see personal data (phone, e-mail, name, birth date, address, PII tags) in "
    "clear, and export PII tags (with a stated purpose); without it they are masked",
    "privacy:manage": "the PII key (status, migrate, rotate), retention runs",
    "privacy:erase": "erase a person (right to be forgotten) and scan for what mentions one",
    "collect:write": "send browser tracker events (POST /v1/collect of the collection issue, "
    "#11: the route does not exist yet)",
}

# role -> its permissions. admin has every permission, present and future.
ROLES: dict[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "ingest": frozenset({"ingest:write"}),
    # reads profiles, tags, segments and models, makes and counts segments; PII masked; no
    # sends, no builds or training, no keys, no exports with PII
    "analyst": frozenset(
        {
            "profiles:read",
            "identity:read",
            "jobs:read",
            "segments:read",
            "segments:write",
            "segments:export",
            "models:read",
            "recs:read",
            "campaigns:read",
            "experiments:run",
        }
    ),
    # segments and campaigns from draft to report; sends go through the channels, which read
    # the addresses themselves (the marketer never sees one); PII masked
    "marketer": frozenset(
        {
            "profiles:read",
            "jobs:read",
            "segments:read",
            "segments:write",
            "segments:export",
            "recs:read",
            "campaigns:read",
            "campaigns:write",
            "campaigns:send",
            "consent:read",
            "experiments:run",
        }
    ),
    # the public key of the browser tracker (collection issue #11): collect only
    "tracker": frozenset({"collect:write"}),
}

PUBLIC = "public"  # a route anyone may call without a key

# (method, path template as in the OpenAPI document) -> the permission the route needs.
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/v1/health"): PUBLIC,
    # ingest
    ("POST", "/v1/events"): "ingest:write",
    ("POST", "/v1/users"): "ingest:write",
    ("POST", "/v1/products"): "ingest:write",
    ("GET", "/v1/summary"): "ingest:read",
    ("GET", "/v1/batches"): "ingest:read",
    ("GET", "/v1/quarantine"): "ingest:read",
    # identity
    ("GET", "/v1/identity/{identifier}"): "identity:read",
    ("POST", "/v1/identity/merge"): "identity:write",
    ("POST", "/v1/identity/unmerge"): "identity:write",
    # keys
    ("GET", "/v1/keys"): "keys:manage",
    ("POST", "/v1/keys"): "keys:manage",
    ("DELETE", "/v1/keys/{key_id}"): "keys:manage",
    # the audit log
    ("GET", "/v1/audit"): "audit:read",
    ("GET", "/v1/audit/verify"): "audit:read",
    # retention (portrait.privacy.retention)
    ("POST", "/v1/privacy/retain"): "privacy:manage",
    # erasure on request (portrait.privacy.erasure)
    ("DELETE", "/v1/users/{user_id}"): "privacy:erase",
    ("GET", "/v1/privacy/residue/{user_id}"): "privacy:erase",
    ("POST", "/v1/privacy/compact"): "privacy:erase",
    # profiles and tags
    ("POST", "/v1/build"): "profiles:build",
    ("GET", "/v1/jobs"): "jobs:read",
    ("GET", "/v1/jobs/{job_id}"): "jobs:read",
    ("GET", "/v1/builds"): "profiles:read",
    ("GET", "/v1/users/{user_id}/profile"): "profiles:read",
    ("GET", "/v1/tags"): "profiles:read",
    ("GET", "/v1/tags/quality"): "profiles:read",
    ("GET", "/v1/tags/{tag_id}"): "profiles:read",
    # segments
    ("POST", "/v1/segments/count"): "segments:read",
    ("GET", "/v1/segments"): "segments:read",
    ("POST", "/v1/segments"): "segments:write",
    ("POST", "/v1/segments/overlap"): "segments:read",
    ("GET", "/v1/segments/{name}"): "segments:read",
    ("DELETE", "/v1/segments/{name}"): "segments:write",
    ("GET", "/v1/segments/{name}/export"): "segments:export",
    ("POST", "/v1/segments/cluster"): "segments:write",
    # models
    ("GET", "/v1/models"): "models:read",
    ("GET", "/v1/models/{name}"): "models:read",
    ("POST", "/v1/models/{name}/train"): "models:train",
    ("GET", "/v1/validate"): "models:read",
    # recommendations
    ("GET", "/v1/users/{user_id}/recommendations"): "recs:read",
    ("GET", "/v1/products/{product_id}/similar"): "recs:read",
    ("GET", "/v1/products/{product_id}/bought-together"): "recs:read",
    # campaigns
    ("GET", "/v1/campaigns/suggestions"): "campaigns:read",
    ("POST", "/v1/campaigns/suggestions"): "campaigns:write",
    ("POST", "/v1/campaigns/journeys/run"): "campaigns:send",
    ("GET", "/v1/campaigns/{name}/report"): "campaigns:read",
    ("POST", "/v1/campaigns"): "campaigns:write",
    ("GET", "/v1/campaigns"): "campaigns:read",
    ("POST", "/v1/campaigns/dispatch"): "campaigns:send",
    ("GET", "/v1/campaigns/{name}"): "campaigns:read",
    ("DELETE", "/v1/campaigns/{name}"): "campaigns:write",
    ("POST", "/v1/campaigns/{name}/stop"): "campaigns:send",
    ("POST", "/v1/campaigns/{name}/launch"): "campaigns:send",
    ("GET", "/v1/campaigns/{name}/uplift"): "campaigns:read",
    ("PUT", "/v1/users/{user_id}/consent/{channel}"): "consent:write",
    ("PUT", "/v1/users/{user_id}/purposes/{purpose}"): "consent:write",
    ("GET", "/v1/users/{user_id}/consent"): "consent:read",
    ("POST", "/v1/consents/import"): "consent:write",
    ("GET", "/v1/users/{user_id}/inbox"): "inbox:read",
    ("POST", "/v1/users/{user_id}/inbox/read"): "inbox:write",
    # experiments
    ("GET", "/v1/experiments/size"): "experiments:run",
    ("POST", "/v1/experiments/ab"): "experiments:run",
    ("POST", "/v1/experiments/bandit/simulate"): "experiments:run",
}

# The Python API: "<service>.<method>" of the facade's services (``ws.segments.count``; the
# facade's pass-throughs, e.g. ``ws.profile``, are their service's method) and the facade's own
# methods by name -> the permission a workspace opened with a role needs to call them.
_BY_PERMISSION: dict[str, tuple[str, ...]] = {
    "ingest:write": (
        "ingest.file", "ingest.files", "ingest.records", "ingest.json_lines",
        "ingest.dataset", "ingest.simulate", "ingest.load_dataset",
    ),
    "ingest:read": (
        "ingest.summary", "ingest.batches", "ingest.quarantine", "ingest.quarantine_counts",
        "ingest.other_sources", "table",
    ),
    "identity:read": ("identities.report", "identities.example_person"),
    "identity:write": ("identities.merge", "identities.unmerge"),
    "profiles:read": (
        "profiles.profile", "profiles.frame", "profiles.tags", "profiles.tag",
        "profiles.builds", "profiles.quality", "profiles.live_build", "profiles.catalog",
        "profiles.timezone", "tag_quality",
    ),
    "profiles:build": ("build", "profiles.build", "profiles.reload_catalog"),
    "segments:read": (
        "segments.count", "segments.check", "segments.list", "segments.show",
        "segments.overlap", "segments.select", "segments.index",
    ),
    "segments:write": ("segments.create", "segments.delete"),
    "segments:export": ("segments.members", "segments.export", "segments.exports"),
    "models:read": (
        "models.list", "models.show", "models.card", "models.history", "models.resolve",
    ),
    "models:train": (
        "models.train", "models.train_all", "models.build_with_models", "recs.train",
    ),
    "recs:read": (
        "recs.recommend", "recs.similar", "recs.bought_together", "recs.catalogue",
        "recs.live", "recs.trained",
    ),
    "campaigns:read": (
        "campaigns.list", "campaigns.show", "campaigns.get", "campaigns.report",
        "campaigns.outcomes", "campaigns.uplift_check", "campaigns.suggest", "campaigns.sends",
        "campaigns.bandit_state", "campaigns.launch_day", "campaigns.settings", "campaigns.tz",
        "campaigns.audience", "campaigns.audience_with_targeting", "campaigns.profile_table",
    ),
    "campaigns:write": ("campaigns.create", "campaigns.delete", "campaigns.create_suggested"),
    "campaigns:send": (
        "campaigns.launch", "campaigns.stop", "campaigns.dispatch", "campaigns.journeys",
        "campaigns.enroll", "campaigns.channel",
    ),
    "consent:read": ("campaigns.consent",),
    "consent:write": (
        "campaigns.set_consent", "campaigns.import_consents", "campaigns.import_consents_csv",
    ),
    "inbox:read": ("campaigns.inbox",),
    "inbox:write": ("campaigns.mark_read",),
    "privacy:manage": (
        "privacy.status", "privacy.migrate", "privacy.rotate_key", "privacy.retain",
    ),
    "privacy:erase": ("privacy.forget", "privacy.residue", "privacy.compact"),
    "keys:manage": (
        "keystore.create", "keystore.list", "keystore.revoke", "keystore.verify", "keystore.close",
        "verify_key",
    ),
}  # fmt: skip
OPERATIONS: dict[str, str] = {op: p for p, ops in _BY_PERMISSION.items() for op in ops}
# Always allowed: opening and closing, what says who the workspace is, and writing the audit
# entry of a call the role was allowed (``portrait.audit.recorded``): a side effect, no right.
UNGUARDED = frozenset(
    {"close", "root", "settings", "role", "access", "as_role", "actor", "audit.record"}
)

# A route missing from ROUTES needs this: only a role holding every permission (admin) passes.
UNCLASSIFIED = "unclassified route"


def _check_table() -> None:
    unknown = {p for p in ROUTES.values() if p != PUBLIC and p not in PERMISSIONS}
    unknown |= {p for p in _BY_PERMISSION if p not in PERMISSIONS}
    unknown |= {p for perms in ROLES.values() for p in perms if p not in PERMISSIONS}
    if unknown:  # a typo in the table would silently refuse (or allow) the wrong thing
        raise AssertionError(f"unknown permissions in portrait.security.roles: {sorted(unknown)}")


_check_table()


def permissions_of(role: str) -> frozenset[str]:
    """The permissions of ``role`` (none for an unknown role)."""
    return ROLES.get(role, frozenset())


def route_permission(method: str, path: str) -> str:
    """The permission a route needs (``PUBLIC`` for none; ``UNCLASSIFIED`` when missing)."""
    return ROUTES.get((method.upper(), path), UNCLASSIFIED)


def allows(role: str, permission: str) -> bool:
    """Whether ``role`` may do what needs ``permission``."""
    if permission == PUBLIC:
        return True
    perms = permissions_of(role)
    if permission == UNCLASSIFIED:
        return perms == frozenset(PERMISSIONS)
    return permission in perms


def roles_with(permission: str) -> list[str]:
    """The roles allowed ``permission``, for error messages."""
    return [r for r in ROLES if allows(r, permission)]


def operation_permission(operation: str) -> str:
    """The permission a Python API operation needs (``UNCLASSIFIED`` when missing)."""
    if operation in UNGUARDED:
        return PUBLIC
    return OPERATIONS.get(operation, UNCLASSIFIED)


class AccessDenied(PermissionError):
    """A role may not do this: the message names the role, the permission and who has it."""

    def __init__(self, role: str, permission: str, what: str) -> None:
        allowed = ", ".join(roles_with(permission)) or "none"
        needs = (
            "it is not classified in portrait/security/roles.py"
            if permission == UNCLASSIFIED
            else f"it needs {permission!r}"
        )
        super().__init__(f"the role {role!r} may not {what}: {needs} (roles allowed: {allowed})")
        self.role = role
        self.permission = permission


def require(role: str, permission: str, what: str) -> None:
    """Raise :class:`AccessDenied` unless ``role`` holds ``permission``."""
    if not allows(role, permission):
        raise AccessDenied(role, permission, what)


@dataclass(frozen=True)
class Access:
    """What one role may do (an unknown role is refused here, with the roles there are)."""

    role: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; use one of: {', '.join(ROLES)}")

    @property
    def full(self) -> bool:
        """Every permission (admin)."""
        return permissions_of(self.role) == frozenset(PERMISSIONS)

    @property
    def sees_pii(self) -> bool:
        """Personal data in clear (else masked: ``portrait.security.masking``)."""
        return allows(self.role, "pii:read")

    def check(self, operation: str) -> None:
        """Raise :class:`AccessDenied` unless the role may call ``operation``."""
        require(self.role, operation_permission(operation), f"call {operation}")

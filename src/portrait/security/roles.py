"""Who may do what: roles are sets of permissions, and every REST route needs one permission.

This is the one place that says it. A key has a role; a request is allowed when the role's
permissions include the permission its route is classified under in ``ROUTES``. To add a role
(analyst, marketer, tracker, ...) add a line to ``ROLES``; to add a route, classify it in
``ROUTES`` (``tests/api/test_roles.py`` fails for a route that is not classified, and a route
missing here is refused to every key but an admin's).
"""

from __future__ import annotations

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
}

# role -> its permissions. admin has every permission, present and future.
ROLES: dict[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "ingest": frozenset({"ingest:write"}),
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
    ("GET", "/v1/users/{user_id}/consent"): "consent:read",
    ("POST", "/v1/consents/import"): "consent:write",
    ("GET", "/v1/users/{user_id}/inbox"): "inbox:read",
    ("POST", "/v1/users/{user_id}/inbox/read"): "inbox:write",
    # experiments
    ("GET", "/v1/experiments/size"): "experiments:run",
    ("POST", "/v1/experiments/ab"): "experiments:run",
    ("POST", "/v1/experiments/bandit/simulate"): "experiments:run",
}

# A route missing from ROUTES needs this: only a role holding every permission (admin) passes.
UNCLASSIFIED = "unclassified route"


def _check_table() -> None:
    unknown = {p for p in ROUTES.values() if p != PUBLIC and p not in PERMISSIONS}
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

"""Errors of the campaign code (the REST API maps them: not found 404, conflict 409)."""

from __future__ import annotations

from portrait.errors import ConflictError


class CampaignNotFoundError(LookupError):
    """No campaign by that name."""


class CampaignConflictError(ConflictError, ValueError):
    """The name is taken, or the campaign is not in a state that allows it (e.g. launched)."""


__all__ = ["CampaignConflictError", "CampaignNotFoundError"]

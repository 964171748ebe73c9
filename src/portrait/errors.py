"""Errors every layer shares. A domain error says what is wrong and how to fix it; the
surfaces map them: the REST API by type (``portrait.api.errors``: ``LookupError`` 404,
``ValueError`` 422, :class:`ConflictError` 409), the CLI to exit code 2 with one line."""

from __future__ import annotations


class ConflictError(Exception):
    """The request clashes with the current state: a name already taken, a build or job
    already running, a model not trained yet, a campaign already launched."""

"""The ``portrait`` command: thin commands over the Workspace facade."""

from __future__ import annotations

import os

from portrait.cli import clusters, core, data, profiles, retention, validate  # noqa: F401 - registers
from portrait.cli.app import app
from portrait.cli.audit import audit_app
from portrait.cli.campaigns import campaign_app
from portrait.cli.experiments import experiment_app
from portrait.cli.identity import identity_app
from portrait.cli.keys import keys_app
from portrait.cli.models import models_app
from portrait.cli.privacy import privacy_app
from portrait.cli.profiles import tags_app
from portrait.cli.recs import recommend_cmd, recs_app
from portrait.cli.segments import segment_app

app.add_typer(identity_app, name="identity")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(tags_app, name="tags")
app.add_typer(segment_app, name="segment")
app.add_typer(models_app, name="models")
app.add_typer(campaign_app, name="campaign")
app.add_typer(experiment_app, name="experiment")
app.add_typer(recs_app, name="recs")
app.add_typer(privacy_app, name="privacy")
app.command("recommend")(recommend_cmd)


def main() -> None:
    # what this process creates (the warehouse's WAL, which DuckDB makes afresh after each
    # checkpoint; exports) is for its owner only: it can hold the shop's data
    os.umask(0o077)
    app()


__all__ = ["app", "main"]

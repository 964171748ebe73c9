"""The ``portrait`` command: thin commands over the Workspace facade."""

from __future__ import annotations

from portrait.campaigns import cli as _campaign_cli  # noqa: F401 - registers `portrait campaign`
from portrait.campaigns import report_cli as _campaign_reports  # noqa: F401 - report, suggest
from portrait.cli import clusters, core, data, profiles, validate  # noqa: F401 - registers
from portrait.cli.app import app
from portrait.cli.identity import identity_app
from portrait.cli.keys import keys_app
from portrait.cli.models import models_app
from portrait.cli.profiles import tags_app
from portrait.cli.segments import segment_app
from portrait.experiments import cli as _experiment_cli  # noqa: F401 - `portrait experiment`
from portrait.experiments import uplift_cli as _uplift_cli  # noqa: F401 - experiment uplift
from portrait.recs import cli as _recs_cli  # noqa: F401 - registers `portrait recs`
from portrait.recs import workspace_cli as _recs_serve  # noqa: F401 - recs train, recommend

app.add_typer(identity_app, name="identity")
app.add_typer(keys_app, name="keys")
app.add_typer(tags_app, name="tags")
app.add_typer(segment_app, name="segment")
app.add_typer(models_app, name="models")


def main() -> None:
    app()


__all__ = ["app", "main"]

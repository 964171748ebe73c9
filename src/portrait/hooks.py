"""What runs because data arrived or profiles were rebuilt: the one list of such hooks.

The facade calls :func:`run_after_ingest` after every events batch commits and
:func:`run_after_build` after every profile build; nothing else starts work behind a caller's
back. To make something happen after ingest or a build, add a function to
:data:`AFTER_INGEST` or :data:`AFTER_BUILD` here.

The REST server runs the after-ingest hooks off the ingesting thread: it sets
``Workspace.on_events_committed``, which then replaces :func:`run_after_ingest` (its worker,
``campaigns.journeys.IngestJourneys``, runs the cart journeys as of when it wakes).

A hook's failure never fails the ingest or the build that ran it: each hook catches what it
can and reports it (a build warning, a log line).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from portrait.store.loader import BatchResult
    from portrait.tags.build import BuildResult
    from portrait.workspace import Workspace

AfterIngest = Callable[["Workspace", "BatchResult"], object]
AfterBuild = Callable[["Workspace", "BuildResult"], object]


def cart_journeys(ws: Workspace, result: BatchResult) -> object:
    """Launched ``cart_abandonment`` journeys enrol the carts that waited long enough."""
    # imported when first run: a command that never ingests does not load campaigns
    from portrait.campaigns.journeys import after_ingest

    return after_ingest(ws, result)


def triggered_journeys(ws: Workspace, result: BuildResult) -> object:
    """Triggered journeys (win-back, first order, repurchase...) see the new profiles."""
    from portrait.campaigns.journeys import after_build

    return after_build(ws, result)


AFTER_INGEST: list[AfterIngest] = [cart_journeys]
AFTER_BUILD: list[AfterBuild] = [triggered_journeys]


def run_after_ingest(ws: Workspace, result: BatchResult) -> None:
    """Run every after-ingest hook, in order, once an events batch has committed."""
    for hook in AFTER_INGEST:
        hook(ws, result)


def run_after_build(ws: Workspace, result: BuildResult) -> None:
    """Run every after-build hook, in order, once a profile build has been saved."""
    for hook in AFTER_BUILD:
        hook(ws, result)

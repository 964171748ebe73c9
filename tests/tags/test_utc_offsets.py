"""The shop's UTC offsets over a time span, each change found to the second."""

from datetime import UTC, datetime

import pytest

from portrait.tags.sources import utc_offsets


def epoch(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("zone", "changes"),
    [
        ("Asia/Shanghai", []),
        (
            "America/New_York",
            [(epoch(2024, 3, 10, 7), -4 * 3600), (epoch(2024, 11, 3, 6), -5 * 3600)],
        ),
        # Lord Howe Island moves by half an hour, at 2:00 local standard time: 15:30 UTC
        (
            "Australia/Lord_Howe",
            [(epoch(2024, 4, 6, 15), 37_800), (epoch(2024, 10, 5, 15, 30), 39_600)],
        ),
    ],
)
def test_offset_changes_are_found_to_the_second(zone: str, changes: list[tuple[int, int]]) -> None:
    spans = utc_offsets(zone, epoch(2024, 1, 1), epoch(2025, 1, 1))
    assert spans[0][0] < epoch(2023, 1, 1)  # the first stretch covers everything before
    assert spans[1:] == changes
    for (_start, off), before in zip(spans[1:], spans, strict=False):
        assert before[1] != off

"""The repair plan of a file whose bytes failed a check: pure decisions, no event loop."""

from __future__ import annotations

import pytest

from downloader.transfer._repair import Repair, is_span_answer, plan_repair

ETAG = '"v1"'


def plan(**given: object) -> Repair | None:
    facts: dict[str, object] = {
        "size": 10_000,
        "span": (2_000, 5_000),
        "validator": ETAG,
        "ranges_supported": True,
        "used": 0,
        "budget": 3,
    }
    facts.update(given)
    return plan_repair(**facts)  # type: ignore[arg-type]


def test_a_member_span_is_fetched_again_by_range_when_the_server_offers_ranges() -> None:
    repair = plan()
    assert repair == Repair(2_000, 5_000, ranged=True)
    assert repair.range_header() == "bytes=2000-4999"
    assert repair.length == 3_000


@pytest.mark.parametrize(
    "given",
    [
        {"ranges_supported": False},  # the first answer was a 200
        {"validator": None},  # nothing to make If-Range of: a splice could go unseen
        {"span": None},  # a wrong digest or size: nothing says where the fault lies
        {"span": (9_000, 11_000)},  # past the end of the file
        {"span": (0, 10_000)},  # the span is the file
    ],
)
def test_the_whole_file_is_fetched_again_when_no_span_can_be_asked_for(
    given: dict[str, object],
) -> None:
    assert plan(**given) == Repair(0, 10_000, ranged=False)


def test_no_repair_once_the_budget_is_spent() -> None:
    assert plan(used=2) is not None
    assert plan(used=3) is None
    assert plan(budget=0) is None


def test_only_a_206_of_exactly_the_span_of_the_same_object_is_written() -> None:
    repair = Repair(2_000, 5_000, ranged=True)

    def answer(status: int, content_range: str | None, answered: str | None = ETAG) -> bool:
        return is_span_answer(
            repair,
            status=status,
            content_range=content_range,
            size=10_000,
            validator=ETAG,
            answered=answered,
        )

    assert answer(206, "bytes 2000-4999/10000")
    assert answer(206, "bytes 2000-4999/10000", answered=None)
    assert not answer(200, None)  # no ranges, or If-Range saw a changed object
    assert not answer(206, "bytes 2000-4999/10000", answered='"v2"')
    assert not answer(206, "bytes 2000-4998/10000")
    assert not answer(206, "bytes 1000-4999/10000")
    assert not answer(206, "bytes 2000-4999/12000")
    assert not answer(206, "bytes 2000-4999/*")
    assert not answer(206, None)
    assert not answer(416, "bytes */10000")

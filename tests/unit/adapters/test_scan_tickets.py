"""Which seal-on-read passes a read may count on: only one that began after the read asked, and completed."""

from __future__ import annotations

from chalicelib.adapters.audit_store import ScanTickets


def test_a_read_counts_on_a_pass_begun_after_it_asked_once_that_pass_completed() -> None:
    tickets = ScanTickets()
    first = tickets.begin("t")  # a pass under way when the two reads ask
    asked_b, asked_c = tickets.asked("t"), tickets.asked("t")
    tickets.done("t", first)
    assert not tickets.covered("t", asked_b)  # that pass began before b asked: b runs its own
    second = tickets.begin("t")
    assert not tickets.covered("t", asked_c)  # b's pass has not completed yet
    tickets.done("t", second)
    assert tickets.covered("t", asked_c)  # c asked before b's pass began: b's pass sealed what c needs


def test_a_failed_pass_covers_no_one_and_tenants_are_apart() -> None:
    tickets = ScanTickets()
    asked = tickets.asked("t")
    tickets.begin("t")  # raised before done: never counted
    assert not tickets.covered("t", asked)
    tickets.done("u", tickets.begin("u"))
    assert not tickets.covered("t", asked)
    assert tickets.covered("u", 0)

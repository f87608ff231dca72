"""CustomerProfile: one customer across sessions (newest values win, channels counted)."""

from __future__ import annotations

from datetime import timedelta

from supervisor_desk.models.customer_profile import CustomerProfile
from tests.views.chat_samples import T0, summary


def test_newest_values_win_and_channels_are_counted() -> None:
    first = summary(
        "s1",
        channel="web",
        contact={"name": "Dana W.", "email": "old@example.com", "phone": "+49 30 1"},
        parameters={"plan": "Basic", "utm_source": "google"},
        results={"Promise to Pay": "promised"},
    )
    second = summary(
        "s2",
        channel="whatsapp",
        started_at=T0 + timedelta(days=1),
        contact={"name": "Dana Whitfield", "email": "dana@example.com"},
        parameters={"plan": "Premium"},
        results={},
    )
    third = summary(
        "s3",
        channel="web",
        started_at=T0 + timedelta(days=2),
        contact=None,
        parameters={"plan": "Premium"},
        results={},
    )
    profile = CustomerProfile.from_sessions([third, first, second], "user-42")
    assert profile.name == "Dana Whitfield"
    # Each field's newest non-empty value; the phone only the first session knew survives.
    assert profile.contact == [
        ("Name", "Dana Whitfield"),
        ("Email", "dana@example.com"),
        ("Phone", "+49 30 1"),
    ]
    plan = next(c for c in profile.collected if c.key == "plan")
    assert (plan.value, plan.session_id, plan.sessions, plan.values) == ("Premium", "s3", 3, 2)
    promise = next(c for c in profile.collected if c.kind == "result")
    assert (promise.key, promise.value, promise.session_id) == ("Promise to Pay", "promised", "s1")
    assert profile.channels == [("Web", 2), ("WhatsApp", 1)]
    assert profile.channels_text() == "Web 2 · WhatsApp 1"
    assert profile.sessions == 3


def test_no_contact_anywhere_falls_back_to_the_user() -> None:
    profile = CustomerProfile.from_sessions(
        [summary(contact=None, user={"id": "user-7"}, parameters={}, results={})], "user-7"
    )
    assert profile.name == "user-7" and profile.contact == [] and profile.collected == []

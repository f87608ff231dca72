"""Contact edits by supervisors: role check, only changed fields, an audit line in the log."""

from __future__ import annotations

import logging

import pytest

from supervisor_desk.models.wire import HandoverAnswer
from tests.hub.conftest import Api, assert_error
from tests.hub.factories import started


def test_supervisor_edits_the_contact_and_the_log_says_who(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    api.ingest([started("s1", contact={"name": "Dana W.", "email": "old@example.com"})])
    change = {"email": "dana@example.com", "phone": "+49 30 1234567"}
    assert_error(api.request("PATCH", "/sessions/s1/contact", role="viewer", json=change),
                 403, "forbidden")
    assert_error(api.request("PATCH", "/sessions/nope/contact", role="supervisor",
                             json=change), 404, "not_found")
    assert_error(api.request("PATCH", "/sessions/s1/contact", role="supervisor", json={}),
                 422, "invalid_request")
    assert api.request("PATCH", "/sessions/s1/contact", role="supervisor",
                       json={"fax": "1"}).status_code == 422  # unknown fields are refused

    caplog.set_level(logging.INFO, logger="supervisor_desk.hub")
    answer = api.request("PATCH", "/sessions/s1/contact", role="supervisor", json=change)
    assert answer.status_code == 200, answer.text
    session = HandoverAnswer.model_validate(answer.json()).session
    assert session.contact is not None
    assert (session.contact.name, session.contact.email, session.contact.phone) == (
        "Dana W.", "dana@example.com", "+49 30 1234567")
    assert session.version == 2
    entries = api.get("/sessions/s1/logs", params={"kind": "system"}).json()["entries"]
    assert entries[-1]["text"] == (
        'Contact edited by test-supervisor: email "old@example.com" → "dana@example.com"; '
        'phone (empty) → "+49 30 1234567"'
    )
    # The hub's own log has the audit line without the values (no personal data in logs).
    audit = [r.getMessage() for r in caplog.records if r.getMessage().startswith("audit:")]
    assert audit == ["audit: test-supervisor edited the contact of session s1 (email, phone)"]

    # Nothing changed: no new version, no log line. An empty string clears a field.
    same = api.request("PATCH", "/sessions/s1/contact", role="supervisor",
                       json={"email": "dana@example.com"})
    assert HandoverAnswer.model_validate(same.json()).session.version == 2
    cleared = api.request("PATCH", "/sessions/s1/contact", role="admin", json={"phone": ""})
    contact = HandoverAnswer.model_validate(cleared.json()).session.contact
    assert contact is not None and contact.phone is None

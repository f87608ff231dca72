"""Believable ``SessionSummary`` rows for the table benchmarks (deterministic, no hub needed)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from supervisor_desk.models.wire import CHANNELS, SessionSummary, format_timestamp

FIRST = ("Ana", "Ben", "Chloé", "Dmitri", "Eva", "Farid", "Grace", "Hugo", "Ines", "Jonas",
         "Kemal", "Lena", "Marta", "Nils", "Olga", "Pavel", "Quinn", "Rosa", "Sven", "Tariq")
LAST = ("Almeida", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Horvat",
        "Ivanova", "Jensen", "Kowalski", "López", "Müller", "Novak", "Olsen", "Petrov")
AGENTS = ("Billing assistant", "Delivery helper", "Onboarding bot", "Returns desk",
          "Tech support", "Sales concierge", "Claims triage", "Loyalty coach")
OPERATORS = ("Alice Martin", "Bruno Keller", "Carla Rossi", "Deniz Aydin", "Emma Novak")
COUNTRIES = ("DE", "FR", "ES", "PL", "US", "GB", "BR", "TR", "IN", "NL")


def session_dict(rng: random.Random, i: int, now: datetime, *, live: bool,
                 history_days: float = 14.0) -> dict[str, Any]:
    """One session as the wire carries it; live ones started in the last 20 minutes."""
    if live:
        started = now - timedelta(seconds=rng.uniform(30, 1200))
        status = "queued" if rng.random() < 0.15 else "active"
    else:
        started = now - timedelta(seconds=rng.uniform(7200, history_days * 86400))
        status = rng.choice(("completed", "completed", "completed", "failed", "cancelled",
                             "transferred"))
    queued = rng.random() < 0.3 or status == "queued"
    queued_at = started + timedelta(seconds=rng.uniform(1, 20)) if queued else None
    accepted_at = (queued_at + timedelta(seconds=rng.uniform(5, 400))
                   if queued_at is not None and status != "queued" else None)
    human = accepted_at is not None and rng.random() < 0.7
    ended_at = None if live else started + timedelta(seconds=rng.uniform(60, 3600))
    messages = rng.randint(1, 40)
    last_message = (ended_at or now) - timedelta(seconds=rng.uniform(0, 50))
    if last_message < started:
        last_message = started
    operator = rng.choice(OPERATORS) if human else None
    return {
        "id": f"{'live' if live else 'sess'}-{i:07d}-{rng.getrandbits(32):08x}",
        "agent": {"id": f"agent-{i % len(AGENTS)}", "name": AGENTS[i % len(AGENTS)]},
        "channel": CHANNELS[rng.randrange(len(CHANNELS))],
        "modality": "voice" if rng.random() < 0.1 else "chat",
        "status": status,
        "end_reason": None if live else "resolved",
        "responsible": (
            {"kind": "human", "operator": {"id": operator.split()[0].lower(), "name": operator}}
            if operator else {"kind": "ai" if rng.random() < 0.8 else "unassigned",
                              "operator": None}
        ),
        "team": rng.choice((None, "Tier 1", "Billing", "Returns")),
        "user": {"id": f"user-{rng.randrange(30000)}",
                 "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}" if rng.random() < 0.8
                 else None,
                 "external_id": f"ext-{rng.randrange(10**6)}" if rng.random() < 0.3 else None,
                 "is_mobile": rng.random() < 0.5},
        "location": {"ip": f"{rng.randrange(1, 223)}.{rng.randrange(256)}."
                           f"{rng.randrange(256)}.{rng.randrange(1, 255)}",
                     "country_code": rng.choice(COUNTRIES)},
        "started_at": format_timestamp(started),
        "queued_at": format_timestamp(queued_at) if queued_at else None,
        "accepted_at": format_timestamp(accepted_at) if accepted_at else None,
        "ended_at": format_timestamp(ended_at) if ended_at else None,
        "last_message_at": format_timestamp(last_message),
        "message_count": messages,
        "has_attachments": rng.random() < 0.05,
        "metadata": {"plan": rng.choice(("Basic", "Premium", "Business"))},
        "version": 1 + messages,
    }


def summaries(n: int, *, live_fraction: float = 0.1, seed: int = 7,
              now: datetime | None = None) -> list[SessionSummary]:
    """``n`` validated summaries, the last ``live_fraction`` of them live."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    n_live = round(n * live_fraction)
    return [
        SessionSummary.model_validate(session_dict(rng, i, now, live=i >= n - n_live))
        for i in range(n)
    ]

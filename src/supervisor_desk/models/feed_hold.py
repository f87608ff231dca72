"""What a desktop may ask of the hub on its feed socket: to hold events for a while, or to
send what it holds now (a protocol extension; docs/protocol.md, "Held delivery").

A desktop closed to the tray reads the feed for its alert rules alone. Every event woke it
(a read, a parse, a pass of the rules, a second or two of a core's milliseconds per minute at
a floor's pace); held on the hub for up to a second and sent together, the same events cost
one wake-up. An event that could open an alert of the desktop's rules is never held: the hub
judges each one by the rules the desktop sent (:class:`~supervisor_desk.models.alerts.urgency.
UrgentScreen`) and sends it at once, with everything held before it. Rules that become true
with time alone (a wait, a silence, a length) are judged on the desktop, which asks for a
flush first, so what it judges is current.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from supervisor_desk.models.alerts.rules import Rule
from supervisor_desk.models.wire import Id

# The longest a hub holds an event: the ceiling of what a hidden window may be behind.
MAX_HOLD_MS = 5_000
MAX_HOLD_RULES = 500
# Sessions whose events go at once however long the hold (a desktop watches the one it shows).
MAX_WATCHED_SESSIONS = 64
# A control frame larger than this is refused unread (rules are a few kilobytes).
MAX_CONTROL_BYTES = 256 * 1024


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class HoldRequest(_Request):
    """Hold events up to ``ms`` (0: send each at once again), sending at once any event that
    could open an alert of ``rules`` or is of a session in ``watch`` (with it, everything held
    before it). ``rules`` None: no event is sent early for a rule (a client that flushes when it
    needs to). ``align``: what is held goes at each multiple of ``ms`` on the hub's clock (since
    the Unix epoch), a little before it, so a desktop ticking on the wall clock's seconds shows
    it with its tick."""

    type: Literal["hold"] = "hold"
    ms: int = Field(ge=0, le=MAX_HOLD_MS)
    rules: tuple[Rule, ...] | None = Field(default=None, max_length=MAX_HOLD_RULES)
    watch: tuple[Id, ...] = Field(default=(), max_length=MAX_WATCHED_SESSIONS)
    align: bool = False


class FlushRequest(_Request):
    """Send every held event now, then a ``flushed`` frame."""

    type: Literal["flush"] = "flush"


ControlRequest = HoldRequest | FlushRequest

_CONTROL_ADAPTER: TypeAdapter[ControlRequest] = TypeAdapter(
    Annotated[ControlRequest, Field(discriminator="type")]
)


def parse_control(text: str | bytes) -> ControlRequest:
    """One client frame; raises ``ValueError`` (pydantic's ``ValidationError``) on anything
    malformed or unknown."""
    if len(text) > MAX_CONTROL_BYTES:
        raise ValueError(f"control frame over {MAX_CONTROL_BYTES} bytes")
    return _CONTROL_ADAPTER.validate_json(text)


def hold_request_json(ms: int, rules: tuple[Rule, ...] | None,
                      watch: tuple[str, ...] = (), align: bool = False) -> str:
    # Only what is asked: a hold without a watch or alignment reads as it always did.
    unasked = {name for name, value in (("watch", watch), ("align", align)) if not value}
    return HoldRequest(ms=ms, rules=rules, watch=watch, align=align).model_dump_json(
        exclude_none=True, exclude=unasked)


FLUSH_REQUEST_JSON = FlushRequest().model_dump_json()

"""One simulated session, from its first event to its last, as plain ingest-event dicts.

A :class:`SessionStory` is planned up front (who, where, what about, how it ends, how many
messages) and then told event by event. The teller decides *when*: :meth:`SessionStory.advance`
gives the delay before the next event and :meth:`SessionStory.emit` builds that event stamped
with the time it is given. The live simulator uses wall-clock times, the dataset builder a
synthetic clock, and both get the same causal order: ``session.started`` first, nothing after
``session.ended``.

Dicts are built directly (no pydantic here): the dataset path generates millions of events.
Tests validate samples against ``models.wire``.
"""

from __future__ import annotations

import re
import time
import unicodedata
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from random import Random
from typing import Any

from supervisor_desk.simulator import content as sc

Event = dict[str, Any]


_DAYS: dict[int, str] = {}


def format_ts(t: float) -> str:
    """Epoch seconds -> RFC 3339 UTC with milliseconds and ``Z`` (the wire spelling)."""
    # Hot in build_dataset: only the date part goes through strftime, once per day.
    day, ms = divmod(round(t * 1_000_000) // 1000, 86_400_000)
    prefix = _DAYS.get(day)
    if prefix is None:
        prefix = _DAYS[day] = time.strftime("%Y-%m-%dT", time.gmtime(day * 86400))
    sec, ms = divmod(ms, 1000)
    hour, sec = divmod(sec, 3600)
    minute, sec = divmod(sec, 60)
    return f"{prefix}{hour:02d}:{minute:02d}:{sec:02d}.{ms:03d}Z"


def _human_time(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def _date(t: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(t))


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", folded.lower()) or "user"


_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MD_MARKS = re.compile(r"\*\*|\*|`+")


def plain_speech(text: str) -> str:
    """What a voice agent says: the Markdown of a chat answer read out, without markup."""
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_MARKS.sub("", text)
    return re.sub(r"\n+-? ?", " ", text).strip()


@dataclass(slots=True)
class Customer:
    id: str
    first: str
    name: str
    email: str
    phone: str
    telegram: str | None
    linkedin: str | None
    crm_id: str
    place: sc.Place
    ip: str
    is_mobile: bool
    has_profile: bool


class World:
    """The cast shared by all sessions of one simulator: customers come back now and then.

    ``hostile=True`` lets a few customers have markup in their names and smuggle markup into
    their lines (tests of the desktop's plain-text rendering); a demo leaves it off.
    """

    def __init__(self, rng: Random, *, max_customers: int = 2000, hostile: bool = False) -> None:
        self.rng = rng
        self.max_customers = max_customers
        self.hostile = hostile
        self.odd_lines = (*sc.AWKWARD_LINES, *sc.MARKUP_LINES) if hostile else sc.AWKWARD_LINES
        self.customers: list[Customer] = []
        self.topic_weights = [t.weight for t in sc.TOPICS]
        self.channels = [c for c, _ in sc.CHANNEL_WEIGHTS]
        self.channel_weights = [w for _, w in sc.CHANNEL_WEIGHTS]

    def customer(self) -> Customer:
        rng = self.rng
        if self.customers and (
            len(self.customers) >= self.max_customers or rng.random() < 0.3
        ):
            return rng.choice(self.customers)
        first = rng.choice(sc.FIRST_NAMES)
        last = rng.choice(sc.LAST_NAMES)
        name = f"{first} {last}"
        if self.hostile and rng.random() < 0.01:
            name = rng.choice(sc.HOSTILE_NAMES)
        place = rng.choice(sc.PLACES)
        handle = f"{_ascii(first)}.{_ascii(last)}"
        if rng.random() < 0.1:
            ip = f"{sc.IPV6_PREFIX}{rng.randint(0, 0xFFFF):x}::{rng.randint(1, 0xFFFF):x}"
        else:
            ip = f"{rng.choice(sc.IPV4_PREFIXES)}{rng.randint(1, 254)}"
        cust = Customer(
            id=f"cus_{rng.getrandbits(40):010x}",
            first=first,
            name=name,
            email=f"{handle}{rng.randint(1, 99)}@example.com",
            phone=f"{place.phone_prefix} {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
            telegram=f"@{handle.replace('.', '_')}" if rng.random() < 0.6 else None,
            linkedin=f"https://www.linkedin.com/in/{handle.replace('.', '-')}"
            if rng.random() < 0.3
            else None,
            crm_id=f"crm-{rng.randint(100000, 999999)}",
            place=place,
            ip=ip,
            is_mobile=rng.random() < 0.45,
            has_profile=rng.random() < 0.7,
        )
        self.customers.append(cust)
        return cust


# Endings: (status, end_reason, weight) without and with a hand-over to a human.
_AI_ENDINGS: tuple[tuple[str, str, float], ...] = (
    ("completed", "resolved", 44),
    ("cancelled", "user_disconnect", 17),
    ("completed", "system_disconnect", 7),
    ("failed", "system_disconnect", 3),
    ("cancelled", "timeout", 10),
    ("failed", "error", 9),
    ("transferred", "transfer", 10),
)
_HUMAN_ENDINGS: tuple[tuple[str, str, float], ...] = (
    ("completed", "resolved", 62),
    ("cancelled", "user_disconnect", 12),
    ("transferred", "transfer", 10),
    ("cancelled", "timeout", 10),
    ("failed", "error", 6),
)
_OTHER_TEAMS = ("Tier 2 Support", "Billing", "Complaints", "Fraud & Risk", "Sales")


@dataclass(slots=True)
class _Beat:
    """One planned step of the conversation; most beats become one message."""

    kind: str
    text: str = ""
    exchange: sc.Exchange | None = None
    file: bool = False


class _Deck[T]:
    """Canned lines drawn round a shuffled order: never the same line twice in a row."""

    def __init__(self, rng: Random, lines: tuple[T, ...]) -> None:
        self._lines = rng.sample(lines, len(lines))
        self._next = 0

    def draw(self) -> T:
        line = self._lines[self._next % len(self._lines)]
        self._next += 1
        return line


_MESSAGE_BEATS = frozenset(
    {"start", "template", "customer", "ai", "transfer", "assigned", "human", "draft", "note",
     "recording", "end_marker"}
)


class SessionStory:
    """A planned session told event by event (see module docstring)."""

    def __init__(
        self,
        world: World,
        rng: Random,
        *,
        n_messages: int | None = None,
        queued: bool | None = None,
        id_salt: int = 0,
    ) -> None:
        self.rng = rng
        self.world = world
        # The salt namespaces ids per run without changing the story the seed tells.
        self.id = str(uuid.UUID(int=rng.getrandbits(128) ^ id_salt, version=4))
        self._k = 0
        self._m = 0
        self._t = 0.0
        self._ts = ""
        self.ended = False
        self.closing = False  # true once the story tells its ending (markers, session.ended)
        self.last_message_id = ""
        self._plan(n_messages, queued)
        self._gen: Generator[float | Event, None, None] = self._tell()

    # ---------------------------------------------------------------------- driving

    @property
    def event_count(self) -> int:
        """Events told so far."""
        return self._k

    def advance(self) -> float | None:
        """Delay in seconds before the next event, or ``None`` once the story is over."""
        item = next(self._gen, None)
        if item is None:
            return None
        assert isinstance(item, float)
        return item

    def emit(self, t: float) -> Event:
        """The next event, stamped ``t`` (epoch seconds); call after :meth:`advance`."""
        self._t = t
        self._ts = format_ts(t)
        item = next(self._gen)
        assert isinstance(item, dict)
        return item

    def abort(self, t: float) -> list[Event]:
        """End the session now, as a platform shutting down would: a system disconnect."""
        if self.ended:
            return []
        self._t = t
        self._ts = format_ts(t)
        self.ended = self.closing = True
        self._gen.close()
        return [
            self._marker(f"System disconnected the session at {_human_time(t)}"),
            self._system_log("warning", "Platform shutting down: session closed"),
            self._event("session.ended", {
                "status": "failed", "end_reason": "system_disconnect", "ended_at": self._ts}),
        ]

    def take_over(self, operator_name: str) -> bool:
        """A supervisor handed the session to a human (the hub's webhook said so): the AI says
        nothing more, the operator joins and finishes the conversation. An empty name means
        the next available operator: the platform's own, who is assigned on joining.
        ``False`` when the session is already ending. Call only while the story waits to
        emit (it is scheduled).
        """
        if self.ended or self.closing:
            return False
        self._gen.close()
        self.handover = True
        assign = not operator_name
        if operator_name:
            self.operator = {"id": f"op-{_ascii(operator_name).lower().replace(' ', '-')}",
                             "name": operator_name}
        self.status_end, self.end_reason = "completed", "resolved"
        self._gen = self._taken_over(assign=assign)
        return True

    def _taken_over(self, *, assign: bool = False) -> Generator[float | Event, None, None]:
        # The story was waiting to emit: the first item is an event, then delay/event pairs.
        rng = self.rng
        name = self.operator["name"]
        yield self._system_log(
            "info", f"Hand-over from the supervisor desk: AI replies stopped, {name} joins")
        if assign:  # the hub left it Unassigned: the next available operator picks it up
            yield rng.uniform(2, 8)
            yield self._update(responsible={"kind": "human", "operator": self.operator})
            yield rng.uniform(0.05, 0.2)
            yield self._marker(f"Human agent {name} assigned at {_human_time(self._t)}")
        yield rng.uniform(2, 6)
        yield self._message("human", name, f"Hi, this is {name}. I'm taking over from here; "
                                           "give me a moment to read the conversation.")
        yield rng.uniform(4, 15)
        yield self._message("customer", self.customer.name, "Thanks, that would be great.")
        yield rng.uniform(10, 30)
        yield self._message("human", name, "All sorted on my side. Anything else I can do?")
        yield rng.uniform(4, 15)
        yield self._message("customer", self.customer.name, "No, that's all. Thank you!")
        self.closing = True
        yield from self._ending()

    # ---------------------------------------------------------------------- planning

    def _plan(self, n_messages: int | None, queued: bool | None) -> None:
        rng = self.rng
        topic = rng.choices(sc.TOPICS, weights=self.world.topic_weights)[0]
        self.topic = topic
        if topic.key == "collections":
            channel = rng.choice(("whatsapp", "whatsapp", "phone", "twilio", "sip", "infobip"))
        else:
            channel = rng.choices(self.world.channels, weights=self.world.channel_weights)[0]
        self.channel = channel
        if channel in sc.VOICE_CHANNELS or (channel == "twilio" and rng.random() < 0.5):
            self.modality = "voice"
        elif channel == "web" and rng.random() < 0.03:
            self.modality = "video"
        else:
            self.modality = "chat"
        self.voice = self.modality != "chat"
        agent = topic.agent
        if self.voice and topic.key in ("billing", "delivery", "password") and rng.random() < 0.5:
            agent = sc.ECHO
        self.agent = agent
        self.team = agent.team
        self.customer = self.world.customer()
        self.web = channel in sc.WEB_CHANNELS
        self.receipts = channel in sc.RECEIPT_CHANNELS
        self.anonymous = self.web and rng.random() < 0.3
        self.visitor_id = f"visitor-{rng.getrandbits(32):08x}"
        self.outbound = (
            channel == "whatsapp" and topic.key in sc.TEMPLATES
            and rng.random() < (0.75 if topic.key == "collections" else 0.25)
        ) or (topic.key == "collections" and self.voice and rng.random() < 0.6)
        self.queued = (not self.outbound and rng.random() < 0.25) if queued is None else queued
        self.abandon_queue = self.queued and rng.random() < 0.15
        self.accept_by_human = self.queued and not self.abandon_queue and rng.random() < 0.3
        self.handover = (
            not self.abandon_queue and not self.accept_by_human and rng.random() < 0.27
        )
        self.never_assigned = self.handover and rng.random() < 0.1
        if self.never_assigned:
            self.status_end, self.end_reason = "cancelled", "timeout"
        elif self.abandon_queue:
            self.status_end, self.end_reason = "cancelled", "user_disconnect"
        else:
            table = _HUMAN_ENDINGS if (self.handover or self.accept_by_human) else _AI_ENDINGS
            end = rng.choices(table, weights=[w for _, _, w in table])[0]
            self.status_end, self.end_reason = end[0], end[1]
        op_id, op_name = rng.choice(sc.OPERATORS)
        self.operator = {"id": op_id, "name": op_name}
        assigner = rng.choice([o for o in sc.OPERATORS if o[0] != op_id])
        self.assigner = assigner[1] if rng.random() < 0.4 else None
        budget = n_messages if n_messages is not None else rng.randint(6, 20)
        self.vars = self._vars()
        self.beats = self._beats(max(budget, 0))

    def _vars(self) -> dict[str, str]:
        rng = self.rng
        c = self.customer
        local, _, domain = c.email.partition("@")
        amount = rng.choice((19.99, 42.50, 89.00, 120.75, 249.00, 310.40, 59.90))
        return {
            "first": c.first,
            "name": c.name,
            "email": c.email,
            "email_masked": f"{local[0]}***@{domain}",
            "phone": c.phone,
            "order": str(rng.randint(100000, 999999)),
            "tracking": f"1Z{rng.getrandbits(40):010X}",
            "amount": f"{amount:.2f}",
            "ref": f"{rng.getrandbits(24):06X}",
            "inv": f"INV-{rng.randint(2026000, 2026999)}",
            "code": f"{rng.randint(0, 999999):06d}",
            "customer_id": c.crm_id,
            "plan": rng.choice(sc.PLANS),
            "team": self.team,
            "op_first": self.operator["name"].split()[0],
            "date": "",  # these two are filled from the start time when the story begins
            "due": "",
        }

    def _beats(self, budget: int) -> list[_Beat]:
        """Plan the messages so that exactly ``budget`` are created over the whole story."""
        rng = self.rng
        head = [_Beat("start")]
        if self.outbound and self.channel == "whatsapp":
            # WhatsApp only lets a business open a conversation with an approved template.
            head.append(_Beat("template"))
        if self.accept_by_human:
            head.append(_Beat("assigned"))
        handover: list[_Beat] = []
        if self.handover:
            ask = rng.choice(sc.HANDOVER_ASKS)
            handover = [_Beat("customer", ask), _Beat("ai", sc.HANDOVER_AI), _Beat("transfer")]
            if not self.never_assigned:
                handover.append(_Beat("assigned"))
        tail: list[_Beat] = []
        if self.end_reason == "resolved" and not self.handover and not self.accept_by_human:
            tail.append(_Beat("ai", rng.choice(sc.AI_GOODBYES)))
        if self.voice and self.end_reason != "error":
            tail.append(_Beat("recording"))
        tail.append(_Beat("end_marker"))

        def fixed() -> int:
            return len(head) + len(handover) + len(tail)

        # Too small a budget for the whole plan: drop the optional parts, then trim.
        if budget - fixed() < 2 and handover:
            handover = []
            self.handover = self.never_assigned = False
        while budget - fixed() < 2 and len(tail) > 1:
            tail.pop(0)
        while budget - fixed() < 0 and len(head) > 1:
            head.pop()
        if budget - fixed() < 0:
            # One or two messages in all: a start marker and perhaps an end marker.
            return ([_Beat("start")] if budget >= 1 else []) + (
                [_Beat("end_marker")] if budget >= 2 else []
            )
        if self.channel == "whatsapp":
            self.outbound = any(b.kind == "template" for b in head)
        self.accept_by_human = any(b.kind == "assigned" for b in head)
        free = budget - fixed()
        if self.abandon_queue:
            waiting = ["Hello?", "is anyone there", "I've been waiting for ages..."]
            middle = [_Beat("customer", waiting[i % 3]) for i in range(free)]
            return head + middle + tail
        human_part = 0
        if self.handover:
            human_part = 0 if self.never_assigned else free // 2
        elif self.accept_by_human:
            human_part = free
        ai_part = free - human_part
        middle = self._ai_conversation(ai_part)
        human = self._human_conversation(human_part)
        return head + middle + handover + human + tail

    def _ai_conversation(self, n: int) -> list[_Beat]:
        rng = self.rng
        topic = self.topic
        beats: list[_Beat] = []
        # Small talk goes round one shuffled deck, so no line comes twice in a row.
        fillers = _Deck(rng, sc.FILLERS)
        last = ""
        i = 0
        while len(beats) < n:
            ex = topic.exchanges[i] if i < len(topic.exchanges) else None
            filler = fillers.draw() if ex is None else ("", "")
            if i == 0:
                text = rng.choice(topic.opening)
            elif ex is not None:
                text = (ex.voice_customer if self.voice else None) or ex.customer
            else:
                text = filler[0]
            if not self.voice and rng.random() < 0.025:
                odd = rng.choice(self.world.odd_lines)
                text = odd if odd != last else text
            last = text
            file = ex is not None and ex.customer_file and not self.voice
            beats.append(_Beat("customer", text, file=file))
            if len(beats) >= n:
                break
            if ex is not None:
                answer = (ex.voice_ai if self.voice else None) or ex.ai
                beats.append(_Beat("ai", answer, exchange=ex))
            else:
                beats.append(_Beat("ai", filler[1]))
            i += 1
        return beats

    def _human_conversation(self, n: int) -> list[_Beat]:
        rng = self.rng
        topic = self.topic
        beats: list[_Beat] = []
        if n <= 0:
            return beats
        order = [_Beat("human", rng.choice(sc.HUMAN_GREETINGS))]
        if n >= 4:
            order.append(_Beat("note", topic.note))
        replies = _Deck(rng, sc.CUSTOMER_TO_HUMAN)
        closings = _Deck(rng, sc.HUMAN_CLOSINGS)
        j = 0
        while len(order) < n:
            if j % 3 == 0:
                order.append(_Beat("customer", replies.draw()))
            elif j % 3 == 1:
                idx = (j // 3) % len(topic.human_lines)
                line = topic.human_lines[idx] if j < 6 else closings.draw()
                order.append(_Beat("draft", line))
            else:
                prev = order[-1].text
                edited = prev if rng.random() < 0.6 else prev.replace("I've", "I have")
                order.append(_Beat("human", edited))
            j += 1
        return order[:n]

    # ---------------------------------------------------------------------- telling

    def _event(self, type_: str, data: dict[str, Any]) -> Event:
        self._k += 1
        return {
            "id": f"{self.id}:{self._k}",
            "type": type_,
            "session_id": self.id,
            "at": self._ts,
            "data": data,
        }

    def _fmt(self, text: str) -> str:
        try:
            return text.format(**self.vars)
        except (KeyError, IndexError, ValueError):
            return text

    def _message(
        self,
        role: str,
        name: str | None,
        text: str,
        *,
        kind: str = "text",
        attachments: list[dict[str, Any]] | None = None,
        quick_replies: list[str] | None = None,
        receipt: bool = False,
    ) -> Event:
        self._m += 1
        mid = f"{self.id}-m{self._m}"
        data: dict[str, Any] = {
            "id": mid,
            "at": self._ts,
            "author": {"role": role, "name": name},
            "kind": kind,
            "text": text,
            "attachments": attachments or [],
            "quick_replies": quick_replies or [],
        }
        if receipt:
            data["delivery"] = {"status": "sent", "at": self._ts, "note": None}
        self.last_message_id = mid
        return self._event("message.created", data)

    def _system_log(self, level: str, text: str) -> Event:
        return self._event(
            "log.appended",
            {"kind": "system", "entries": [{"at": self._ts, "level": level, "text": text}]},
        )

    def _update(self, **fields: Any) -> Event:
        return self._event("session.updated", fields)

    def _marker(self, text: str) -> Event:
        return self._message("system", None, text, kind="marker")

    def _started_data(self) -> dict[str, Any]:
        c = self.customer
        rng = self.rng
        ch = self.channel
        if self.anonymous:
            user = {"id": self.visitor_id, "name": None,
                    "external_id": None, "is_mobile": c.is_mobile}
        else:
            external = {
                "whatsapp": c.phone.replace(" ", "").lstrip("+"),
                "telegram": c.telegram or c.crm_id,
                "email": c.email,
                "phone": c.phone,
                "sip": f"sip:{c.phone.replace(' ', '')}@pbx.example.net",
            }.get(ch, c.crm_id)
            is_mobile: bool | None = None
            if ch == "mobile_sdk":
                is_mobile = True
            elif self.web:
                is_mobile = c.is_mobile
            user = {"id": c.id, "name": c.name, "external_id": external, "is_mobile": is_mobile}
        location: dict[str, Any] = {}
        if self.web:
            p = c.place
            location = {"ip": c.ip, "country_code": p.country_code, "country": p.country,
                        "city": p.city}
        elif self.voice:
            location = {"ip": None, "country_code": c.place.country_code,
                        "country": c.place.country, "city": None}
        language = sc.LANGUAGES.get(c.place.country_code, "en")
        if rng.random() < 0.2:
            language = "en"
        params: dict[str, str] = {"language": language}
        if self.web:
            params["page"] = rng.choice(sc.PAGES)
            if rng.random() < 0.6:
                params["utm_source"] = rng.choice(sc.UTM_SOURCES)
                params["utm_medium"] = "cpc" if rng.random() < 0.5 else "email"
                params["utm_campaign"] = rng.choice(sc.UTM_CAMPAIGNS)
        if not self.anonymous:
            params["customer_id"] = c.crm_id
            params["plan"] = self.vars["plan"]
        if self.outbound:
            params["campaign"] = f"{self.topic.key}_{_date(self._t)[:7]}"
            params["campaign_id"] = f"cmp-{self.vars['ref'].lower()}"
            if self.topic.key == "collections":
                params["debt_amount"] = self.vars["amount"]
        metadata: dict[str, str] = {
            "locale": f"{params['language']}-{c.place.country_code}",
            "flow": self.topic.key,
            "flow_version": f"v{rng.randint(12, 31)}",
        }
        if self.web:
            metadata["widget_version"] = rng.choice(("3.4.1", "3.5.0", "3.5.2"))
        if ch == "mobile_sdk":
            metadata["sdk"] = rng.choice(("ios-2.8.0", "android-2.7.4"))
        data: dict[str, Any] = {
            "agent": {"id": self.agent.id, "name": self.agent.name},
            "channel": ch,
            "modality": self.modality,
            "status": "queued" if self.queued else "active",
            "responsible": {"kind": "unassigned" if self.queued else "ai", "operator": None},
            "team": self.team,
            "stage": "DEV" if rng.random() < 0.06 else "PROD",
            "user": user,
            "location": location,
            "started_at": self._ts,
            "parameters": params,
            "metadata": metadata,
        }
        if self.queued:
            data["queued_at"] = self._ts
            data["metadata"]["queue_position"] = str(rng.randint(1, 9))
        else:
            data["accepted_at"] = self._ts
        if c.has_profile and not self.anonymous:
            data["contact"] = self._contact()
        return data

    def _contact(self) -> dict[str, Any]:
        c = self.customer
        return {
            "name": c.name,
            "email": c.email,
            "phone": c.phone,
            "telegram": c.telegram,
            "whatsapp": c.phone if self.channel == "whatsapp" else None,
            "linkedin": c.linkedin,
        }

    def _file(self, what: str) -> dict[str, Any]:
        rng = self.rng
        v = self.vars
        if what == "screenshot":
            ext, mime = rng.choice((("png", "image/png"), ("jpg", "image/jpeg"),
                                    ("heic", "image/heic")))
            name = f"IMG_{rng.randint(1000, 9999)}.{ext}"
            size = rng.randint(80_000, 4_500_000)
        elif what == "invoice":
            name, mime, size = f"{v['inv']}.pdf", "application/pdf", rng.randint(40_000, 300_000)
        elif what == "label":
            name, mime, size = f"label-{v['order']}.pdf", "application/pdf", 58_210
        else:  # recording
            ext, mime = rng.choice((("wav", "audio/wav"), ("mp3", "audio/mpeg"),
                                    ("ogg", "audio/ogg")))
            name = f"call-{self.id[:8]}.{ext}"
            size = rng.randint(300_000, 12_000_000)
        url: str | None = None
        if rng.random() < 0.8:
            url = f"https://files.example.com/{self.id}/{name}"
        return {"name": name, "mime": mime, "size": size, "url": url}

    def _trace(self, agent: str, history: str, action: str, action_input: str) -> Event:
        v = self.vars
        prompt = (
            f"## Task\nYou are {self.agent.name}, the {self.team} assistant of Example Ltd. "
            f"Be brief and friendly; never promise what tools did not confirm.\n"
            f"## Context\nchannel={self.channel} modality={self.modality} plan={v['plan']} "
            f"customer={v['customer_id']}\n"
            f"## Chat history\n{history[-400:]}\n"
            f"## Tools\n{sc.TRACE_TOOLS}\n"
            f"## System\nCurrent date: {self._ts[:10]}"
        )
        return {"at": self._ts, "agent": agent, "prompt": prompt,
                "generation": {"action": action, "action_input": action_input}}

    def _tell(self) -> Generator[float | Event, None, None]:
        rng = self.rng
        v = self.vars
        agent_name = self.agent.name
        op = self.operator
        last_customer = ""
        history: list[str] = []
        # A customer with a profile has contact info from the start; others give it in chat.
        contact_sent = self.customer.has_profile and not self.anonymous
        user_named = not self.anonymous
        fast = 0.3 if self.voice else 1.0

        yield 0.0
        v["date"] = _date(self._t + 86400 * rng.randint(2, 10))
        v["due"] = _date(self._t - 86400 * rng.randint(5, 40))
        yield self._event("session.started", self._started_data())
        yield rng.uniform(0.05, 0.3)
        yield self._system_log(
            "info",
            f"Session opened on {self.channel} ({self.modality}); agent {self.agent.id} "
            f"initialised with model gpt-4o-mini, flow {self.topic.key}",
        )
        queued_pending = self.queued
        receipt = self.receipts

        for beat in self.beats:
            kind = beat.kind
            if kind == "start":
                yield rng.uniform(0.05, 0.5)
                if self.outbound:
                    who = f"AI agent {agent_name}"
                elif self.queued or rng.random() < 0.9:
                    who = "Client"
                else:
                    who = op["name"]
                yield self._marker(f"{who} started the session at {_human_time(self._t)}")
                continue
            if kind in ("customer", "ai", "human", "draft", "note", "assigned") and (
                queued_pending and not self.abandon_queue and kind != "customer"
            ):
                # The queue is left only when someone accepts the conversation.
                queued_pending = False
                yield rng.uniform(15, 180)
                responsible = (
                    {"kind": "human", "operator": op} if self.accept_by_human
                    else {"kind": "ai", "operator": None}
                )
                yield self._update(
                    status="active", accepted_at=self._ts, responsible=responsible,
                    metadata={"queue_position": None},
                )
                yield rng.uniform(0.05, 0.2)
                yield self._system_log(
                    "info",
                    f"Accepted from the {self.team} queue by "
                    + (op["name"] if self.accept_by_human else agent_name),
                )
            if kind == "template":
                yield rng.uniform(0.2, 1.0)
                yield self._message(
                    "ai", agent_name, self._fmt(sc.TEMPLATES[self.topic.key]), kind="template",
                    quick_replies=list(sc.TEMPLATE_REPLIES[self.topic.key]), receipt=receipt,
                )
                if receipt:
                    yield from self._receipts(final_read=True)
            elif kind == "customer":
                yield rng.uniform(4, 25) * fast
                text = self._fmt(beat.text)
                files = [self._file("screenshot")] if beat.file else []
                last_customer = text
                history.append(f"customer: {text}")
                yield self._message("customer", None if not user_named else self.customer.name,
                                    text, attachments=files)
                if text in sc.MARKUP_LINES and ("<" in text or "](" in text):
                    yield rng.uniform(0.05, 0.2)
                    yield self._system_log("warning", sc.SYSTEM_LOG_WARNINGS[2])
            elif kind == "ai":
                ex = beat.exchange
                if ex is not None and ex.tool:
                    yield rng.uniform(0.3, 1.2)
                    tool = self._fmt(ex.tool)
                    yield self._system_log(
                        "info", f"Tool call: {tool} → ok ({rng.randint(80, 900)} ms)"
                    )
                    if rng.random() < 0.05:
                        yield rng.uniform(0.05, 0.2)
                        yield self._system_log("warning", rng.choice(sc.SYSTEM_LOG_WARNINGS[:2]))
                yield rng.uniform(1.2, 4.0) * fast
                text = self._fmt(beat.text)
                if self.voice:
                    text = plain_speech(text)
                files = []
                if ex is not None and ex.ai_file and not self.voice:
                    files = [self._file(ex.ai_file)]
                qr = list(ex.quick_replies) if ex is not None and not self.voice else []
                history.append(f"assistant: {text}")
                yield self._message("ai", agent_name, text, attachments=files,
                                    quick_replies=qr, receipt=receipt)
                mid = self.last_message_id
                yield rng.uniform(0.05, 0.3)
                entries = [self._trace("main-agent", "\n".join(history[-4:]), "reply", text)]
                if ex is not None and ex.results:
                    new = {k: self._fmt(val) for k, val in ex.results.items()}
                    entries.append(self._trace(
                        "form-agent", last_customer, "save_result",
                        ", ".join(f"{k}={val}" for k, val in new.items()),
                    ))
                yield self._event("log.appended", {"kind": "trace", "entries": entries})
                if ex is not None and ex.results:
                    new = {k: self._fmt(val) for k, val in ex.results.items()}
                    yield rng.uniform(0.1, 0.6)
                    yield self._update(results=new)
                    if not user_named and ("Name" in new or "Human Name" in new):
                        user_named = True
                        yield rng.uniform(0.1, 0.4)
                        yield self._update(user={
                            "id": self.visitor_id, "name": self.customer.name,
                            "external_id": None, "is_mobile": self.customer.is_mobile,
                        })
                    if not contact_sent and ("Email" in new or "Phone" in new):
                        contact_sent = True
                        yield rng.uniform(0.1, 0.4)
                        yield self._update(contact={
                            "name": self.customer.name if user_named else None,
                            "email": new.get("Email"), "phone": new.get("Phone"),
                            "telegram": None, "whatsapp": None, "linkedin": None,
                        })
                if receipt:
                    yield from self._receipts(final_read=True)
                elif self.web and rng.random() < 0.15:
                    yield rng.uniform(2, 8)
                    yield self._event("message.updated", {
                        "id": mid, "reaction": "up" if rng.random() < 0.75 else "down"})
            elif kind == "transfer":
                yield rng.uniform(0.3, 1.0)
                yield self._system_log(
                    "info", "Tool call: handover_to_human(reason=customer_request) → ok")
                yield rng.uniform(0.05, 0.2)
                yield self._update(
                    responsible={"kind": "unassigned", "operator": None},
                    metadata={"sentiment": "negative", "handover": "customer_request"},
                )
                yield rng.uniform(0.05, 0.2)
                yield self._marker(f"Transfer to human agent at {_human_time(self._t)}")
            elif kind == "assigned":
                if self.handover:
                    yield rng.uniform(20, 120)
                    yield self._update(responsible={"kind": "human", "operator": op})
                yield rng.uniform(0.05, 0.2)
                if self.assigner:
                    text = f"{op['name']} was assigned by {self.assigner} at "
                else:
                    text = f"Human agent {op['name']} assigned at "
                yield self._marker(text + _human_time(self._t))
            elif kind == "draft":
                yield rng.uniform(2, 6)
                text = self._fmt(beat.text)
                yield self._message("ai", "Copilot", text, kind="draft")
                yield rng.uniform(0.05, 0.2)
                yield self._event("log.appended", {"kind": "trace", "entries": [
                    self._trace("copilot", "\n".join(history[-4:]), "suggest_reply", text)]})
            elif kind == "human":
                yield rng.uniform(10, 45)
                text = self._fmt(beat.text)
                history.append(f"{op['name']}: {text}")
                yield self._message("human", op["name"], text, receipt=receipt)
                if receipt:
                    yield from self._receipts(final_read=True)
            elif kind == "note":
                yield rng.uniform(5, 30)
                yield self._message("human", op["name"], self._fmt(beat.text), kind="note")
            elif kind == "recording":
                yield rng.uniform(0.5, 2.0)
                yield self._message("system", None, "Call recording",
                                    attachments=[self._file("recording")])
            elif kind == "end_marker":
                self.closing = True
                yield from self._ending()

        if not self.closing:  # a budget of zero or one message: still end properly
            self.closing = True
            yield from self._ending(with_marker=False)

    def _receipts(self, *, final_read: bool) -> Iterator[float | Event]:
        rng = self.rng
        mid = self.last_message_id
        yield rng.uniform(0.5, 3.0)
        if rng.random() < 0.04:
            note = rng.choice(sc.DELIVERY_FAILURES.get(self.channel, ("Rejected by provider",)))
            yield self._event("message.updated", {
                "id": mid, "delivery": {"status": "failed", "at": self._ts, "note": note}})
            yield rng.uniform(0.05, 0.2)
            yield self._system_log("error", f"Delivery failed for {mid}: {note}")
            return
        yield self._event("message.updated", {
            "id": mid, "delivery": {"status": "delivered", "at": self._ts, "note": None}})
        if final_read and rng.random() < 0.85:
            yield rng.uniform(1.0, 10.0)
            yield self._event("message.updated", {
                "id": mid, "delivery": {"status": "read", "at": self._ts, "note": None}})

    def _ending(self, *, with_marker: bool = True) -> Iterator[float | Event]:
        rng = self.rng
        status, reason = self.status_end, self.end_reason
        human = self.handover or self.accept_by_human
        op_name = self.operator["name"]
        if reason == "timeout":
            yield rng.uniform(60, 600) if not self.never_assigned else rng.uniform(120, 900)
        else:
            yield rng.uniform(1, 8)
        if reason == "error":
            yield self._system_log("error", rng.choice(sc.ERROR_LOGS))
            yield rng.uniform(0.05, 0.3)
        resolution = {
            "resolved": self.topic.resolution,
            "user_disconnect": "customer left",
            "system_disconnect": "ended by flow",
            "timeout": "no reply",
            "error": "technical error",
            "transfer": "transferred",
        }[reason]
        yield self._update(results={"Resolution": resolution})
        yield rng.uniform(0.05, 0.3)
        if with_marker:
            when = _human_time(self._t)
            if reason == "resolved":
                by = op_name if human else self.agent.name
                text = f"The session was resolved by {by} at {when}"
            elif reason == "user_disconnect":
                text = (f"User left the queue at {when}" if self.abandon_queue
                        else f"User disconnected at {when}")
            elif reason == "system_disconnect":
                text = f"System disconnected the session at {when}"
            elif reason == "timeout":
                text = f"Session timed out without a reply at {when}"
            elif reason == "error":
                text = f"Session ended with an error at {when}"
            else:
                other = rng.choice([t for t in _OTHER_TEAMS if t != self.team])
                text = f"Transferred to the {other} queue at {when}"
            yield self._marker(text)
            yield rng.uniform(0.05, 0.3)
        yield self._system_log("info", f"Session saved and closed: {status}/{reason}")
        yield rng.uniform(0.01, 0.1)
        self.ended = True
        yield self._event("session.ended", {
            "status": status, "end_reason": reason, "ended_at": self._ts})

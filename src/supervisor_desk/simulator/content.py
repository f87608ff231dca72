"""The cast and the lines of the traffic simulator's contact centre.

Plain data only: who works there (AI agents, teams, human operators), who calls in (names,
places), and what people say, per conversation topic. ``story`` turns it into sessions.
Texts use ``str.format`` placeholders filled per session (``{first}``, ``{order}``...).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class AgentDef:
    id: str
    name: str
    team: str


@dataclass(frozen=True, slots=True)
class Place:
    country_code: str
    country: str
    city: str
    phone_prefix: str


@dataclass(frozen=True, slots=True)
class Exchange:
    """One customer line and the AI's answer, with what the answer does on the side."""

    customer: str
    ai: str
    results: dict[str, str] = field(default_factory=dict)
    tool: str | None = None  # a tool call the agent makes before answering (system log + trace)
    quick_replies: tuple[str, ...] = ()
    customer_file: bool = False  # the customer sends a screenshot/photo with this line
    ai_file: str | None = None  # "invoice" / "label": the AI answers with a document
    # What is said instead on a call, where nobody sends or receives files.
    voice_customer: str | None = None
    voice_ai: str | None = None


@dataclass(frozen=True, slots=True)
class Topic:
    key: str
    agent: AgentDef
    weight: float
    opening: tuple[str, ...]  # possible first customer lines (ai answers exchanges[0].ai)
    exchanges: tuple[Exchange, ...]
    resolution: str
    note: str  # a private note the human operator writes after the hand-over
    human_lines: tuple[str, ...]


AVA = AgentDef("agt-ava", "Ava · Billing Assistant", "Billing")
MAX = AgentDef("agt-max", "Max · Delivery Desk", "Deliveries")
LEO = AgentDef("agt-leo", "Leo · Tech Support", "Accounts & Security")
SOL = AgentDef("agt-sol", "Sol · Retention", "Retention")
NOVA = AgentDef("agt-nova", "Nova · Collections", "Collections")
IRIS = AgentDef("agt-iris", "Iris · Sales", "Sales")
ECHO = AgentDef("agt-echo", "Echo · Voice Concierge", "Front Desk")

AGENTS: tuple[AgentDef, ...] = (AVA, MAX, LEO, SOL, NOVA, IRIS, ECHO)

OPERATORS: tuple[tuple[str, str], ...] = (
    ("op-maria", "Maria López"),
    ("op-tom", "Tom Becker"),
    ("op-priya", "Priya Nair"),
    ("op-jonas", "Jonas Berg"),
    ("op-aisha", "Aisha Khan"),
    ("op-luca", "Luca Romano"),
    ("op-emma", "Emma Wilson"),
    ("op-kenji", "Kenji Sato"),
)

FIRST_NAMES: tuple[str, ...] = (
    "Olivia", "Liam", "Emma", "Noah", "Sofia", "Lucas", "Mia", "Elias", "Chloé", "Mateo",
    "Zoë", "Björn", "Amélie", "José", "Aoife", "Łukasz", "Søren", "Ana", "Yusuf", "Fatima",
    "Hiroshi", "Mei", "Priyanka", "Kwame", "Ngozi", "Isabella", "Jakub", "Léa", "Oscar",
    "Hannah", "Mohammed", "Sara", "David", "Laura", "Tomás", "Ingrid", "Raphaël", "Nina",
    "Ethan", "Grace", "Carlos", "Julia", "Andrei", "Elena", "Marek", "Anja", "Pedro", "Lena",
)
LAST_NAMES: tuple[str, ...] = (
    "Smith", "Müller", "García", "Rossi", "Dubois", "Novák", "Kowalski", "Johansson",
    "O'Brien", "Fernández", "Nguyen", "Tanaka", "Okafor", "Mensah", "Silva", "Jansen",
    "Petrov", "Hansen", "Brown", "Martin", "Schneider", "Lefèvre", "Costa", "Yilmaz",
    "Andersen", "Kim", "Patel", "Cohen", "Wójcik", "Moreau", "Byrne", "Svensson",
)

PLACES: tuple[Place, ...] = (
    Place("GB", "United Kingdom", "London", "+44 20"),
    Place("GB", "United Kingdom", "Manchester", "+44 161"),
    Place("DE", "Germany", "Berlin", "+49 30"),
    Place("DE", "Germany", "München", "+49 89"),
    Place("FR", "France", "Paris", "+33 1"),
    Place("FR", "France", "Lyon", "+33 4"),
    Place("ES", "Spain", "Madrid", "+34 91"),
    Place("ES", "Spain", "Barcelona", "+34 93"),
    Place("IT", "Italy", "Milano", "+39 02"),
    Place("NL", "Netherlands", "Amsterdam", "+31 20"),
    Place("PL", "Poland", "Kraków", "+48 12"),
    Place("SE", "Sweden", "Göteborg", "+46 31"),
    Place("IE", "Ireland", "Dublin", "+353 1"),
    Place("PT", "Portugal", "Lisboa", "+351 21"),
    Place("US", "United States", "New York", "+1 212"),
    Place("US", "United States", "Austin", "+1 512"),
    Place("CA", "Canada", "Montréal", "+1 514"),
    Place("BR", "Brazil", "São Paulo", "+55 11"),
    Place("IN", "India", "Bengaluru", "+91 80"),
    Place("JP", "Japan", "Tokyo", "+81 3"),
    Place("NG", "Nigeria", "Lagos", "+234 1"),
    Place("AU", "Australia", "Sydney", "+61 2"),
)

# RFC 5737 / RFC 3849 documentation ranges: realistic-looking, never anyone's real address.
IPV4_PREFIXES: tuple[str, ...] = ("203.0.113.", "198.51.100.", "192.0.2.")
IPV6_PREFIX = "2001:db8:"

CHANNEL_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("web", 24), ("whatsapp", 12), ("phone", 9), ("telegram", 6), ("sip", 5), ("email", 5),
    ("facebook", 4), ("instagram", 4), ("intercom", 4), ("chatwoot", 3), ("twilio", 4),
    ("infobip", 3), ("bird", 3), ("mobile_sdk", 6), ("api", 3), ("other", 3),
)
# Web widgets and SDKs see the customer's IP; messengers and phone lines do not.
WEB_CHANNELS = frozenset({"web", "mobile_sdk", "intercom", "chatwoot"})
# Channels whose provider reports delivery receipts for outgoing messages.
RECEIPT_CHANNELS = frozenset(
    {"whatsapp", "telegram", "facebook", "instagram", "twilio", "infobip", "bird", "email"}
)
VOICE_CHANNELS = frozenset({"phone", "sip"})

DELIVERY_FAILURES: dict[str, tuple[str, ...]] = {
    "whatsapp": (
        "131047: Re-engagement message — more than 24 hours since the customer last replied",
        "131026: Message undeliverable — recipient is not a WhatsApp user",
    ),
    "telegram": ("403 Forbidden: bot was blocked by the user",),
    "email": ("550 5.1.1 Mailbox unavailable", "Soft bounce: mailbox full"),
    "twilio": ("30003: Unreachable destination handset",),
    "infobip": ("EC_ABSENT_SUBSCRIBER: handset switched off",),
    "bird": ("Rejected by carrier: spam filter",),
    "facebook": ("(#10) Outside of allowed messaging window",),
    "instagram": ("(#551) This person isn't available right now",),
}

UTM_SOURCES = ("google", "facebook", "newsletter", "linkedin", "direct", "bing")
UTM_CAMPAIGNS = ("spring_promo", "winter_sale", "retention_q4", "brand", "black_friday")
PLANS = ("Basic", "Premium", "Business", "Family")
# The language a customer from a country most likely writes in (else English).
LANGUAGES: dict[str, str] = {
    "DE": "de", "FR": "fr", "ES": "es", "IT": "it", "NL": "nl", "PL": "pl", "SE": "sv",
    "PT": "pt", "BR": "pt", "JP": "ja", "CA": "fr",
}
PAGES = ("/pricing", "/account/billing", "/help/delivery", "/login", "/account/plan", "/")

# Customer lines that try to smuggle markup, and names that do. Only a simulator built with
# ``hostile=True`` (tests of the desktop's plain-text rendering) says them: a demo of a real
# contact centre has none.
MARKUP_LINES: tuple[str, ...] = (
    "<b>not bold</b> and <i>not italic</i>, right?",
    "[click here for a refund](javascript:alert(1))",
    "<script>alert('hello')</script> is this chat safe?",
    "my screenshot: <img src=x onerror=alert(1)>",
    "Robert'); DROP TABLE sessions;-- lol",
    'see <a href="https://evil.example/phish">this page</a>',
    "![pixel](http://198.51.100.66/track.gif) weird image",
    "&lt;escaped&gt; &amp; <unclosed tag",
)
HOSTILE_NAMES: tuple[str, ...] = ("<b>Eve</b>", "Mallory <script>x</script>", "Trudy &amp; co")
# Not hostile, just awkward for a renderer, and what real customers do write: right-to-left
# text, one very long link, a zero-width-joiner emoji sequence. Chat sessions only.
AWKWARD_LINES: tuple[str, ...] = (
    "مرحبا، أحتاج مساعدة في فاتورتي (hello, I need help with my invoice)",
    "https://example.com/" + "x" * 400 + "?q=1",
    "family plan for 👨‍👩‍👧‍👦 please",
)

# Small talk after the scripted part of a topic: a customer line and the answer it gets.
FILLERS: tuple[tuple[str, str], ...] = (
    ("How long will that take?",
     "Usually within **24 hours**. You'll get a confirmation as soon as it's done."),
    ("Can you send me that by email too?",
     "Of course — I've sent a copy to the email on your account."),
    ("And is there any fee for that?",
     "There's **no fee** for this. Anything else I can do for you today?"),
    ("Sorry, I was away for a minute", "No problem, take your time. I'm still here."),
    ("Is that everything you need from me?", "That's all I need, thanks {first}! 👍"),
    ("Is your system down? The app was slow this morning",
     "We had a short slowdown earlier, all fixed now. You can follow updates at "
     "https://status.example.com"),
    ("Thanks!", "You're welcome! Is there anything else I can help you with?"),
    ("ok", "Great. I'll stay here in case you have more questions."),
    ("Where can I read your terms?",
     "Here you go: [Terms of service](https://example.com/terms) — section 4 covers "
     "refunds and cancellations."),
)
HANDOVER_ASKS: tuple[str, ...] = (
    "Can I talk to a real person please?",
    "This is not helping. I want a human.",
    "I'd rather speak to someone from your team.",
    "Agent. AGENT. operator please",
)
HANDOVER_AI = (
    "Of course — I'm transferring you to a colleague from the **{team}** team. "
    "Please stay in the chat, it usually takes less than 2 minutes."
)
HUMAN_GREETINGS: tuple[str, ...] = (
    "Hi {first}, this is {op_first} from the {team} team. I've read the conversation — "
    "give me a moment to look into this.",
    "Hello {first}! {op_first} here. Thanks for your patience, I'm taking it from here.",
)
HUMAN_CLOSINGS: tuple[str, ...] = (
    "All sorted, {first}. Is there anything else I can do for you?",
    "Done ✅ You'll receive a confirmation email shortly. Have a great day!",
)
CUSTOMER_TO_HUMAN: tuple[str, ...] = (
    "Thank you, finally a human 😅", "ok thanks", "Great, that works for me.",
    "Thanks {op_first}, appreciate it.", "No, that's all. Bye!",
)
AI_GOODBYES: tuple[str, ...] = (
    "Glad I could help, {first}! Have a great day. 👋",
    "Thanks for contacting us. If anything else comes up, just write here.",
)
SYSTEM_LOG_WARNINGS: tuple[str, ...] = (
    "Slow LLM response: 4.8 s (threshold 3 s)",
    "Tool lookup_order retried after HTTP 502 from orders-api",
    "Customer message contained markup; stored as plain text",
)
ERROR_LOGS: tuple[str, ...] = (
    "LLM provider error: 503 Service Unavailable after 3 retries",
    "Tool create_refund failed: payments-api timeout after 30 s",
    "Speech-to-text stream closed unexpectedly (code 1011)",
)

TOPICS: tuple[Topic, ...] = (
    Topic(
        key="billing",
        agent=AVA,
        weight=22,
        opening=(
            "Hi, I was charged twice for my subscription this month",
            "Hello, why is my bill higher than usual?",
            "I need an invoice for last month please",
        ),
        exchanges=(
            Exchange(
                "",
                "I'm sorry about that, {first}! Let me check your account. "
                "Could you confirm the **email address** on the account?",
                quick_replies=("Use my login email", "I'll type it"),
            ),
            Exchange(
                "It's {email}",
                "Thanks. I can see two charges of **€{amount}** on {date}:\n\n"
                "- Charge 1: *settled*\n- Charge 2: *pending authorisation*\n\n"
                "The pending one drops off within 3 to 5 business days.",
                results={"Email": "{email}", "Name": "{name}"},
                tool="lookup_invoices(customer_id={customer_id})",
            ),
            Exchange(
                "Can you refund it right away instead?",
                "I've requested a refund of **€{amount}** (reference `RF-{ref}`). "
                "Here is your invoice: [Invoice {inv}](https://billing.example.com/invoices/{inv})",
                results={"Refund": "€{amount}", "Invoice": "{inv}"},
                tool="create_refund(amount={amount}, reason=duplicate_charge)",
                ai_file="invoice",
                voice_ai="I've requested a refund of €{amount}, reference RF-{ref}. "
                "The invoice {inv} is on its way to your email.",
            ),
            Exchange(
                "Will I get an email confirmation?",
                "Yes — a confirmation goes to {email} within the hour. "
                "You can also check **Account → Billing** at https://example.com/account/billing",
            ),
        ),
        resolution="refund issued",
        note="Double charge confirmed in Stripe; refund RF-{ref} approved manually. "
        "Customer on {plan}, be gentle — second time this quarter.",
        human_lines=(
            "I've double-checked: the refund of €{amount} is approved and on its way.",
            "I also added a €5 credit to your account for the trouble.",
        ),
    ),
    Topic(
        key="delivery",
        agent=MAX,
        weight=20,
        opening=(
            "Where is my order #{order}?",
            "My parcel says delivered but I don't have it",
            "Can I change the delivery address for order {order}?",
        ),
        exchanges=(
            Exchange(
                "",
                "Let me look that up for you. Could you confirm your **order number**? "
                "It starts with `#` and is in your confirmation email.",
            ),
            Exchange(
                "#{order}",
                "Found it! Your parcel is with the courier. Track it here: "
                "https://track.example.com/{tracking}\n\nEstimated delivery: **{date}**.",
                results={"Order": "#{order}", "Delivery status": "in transit"},
                tool="lookup_order(order_id={order})",
            ),
            Exchange(
                "The tracking page hasn't changed in 3 days, here's a screenshot",
                "Thanks for the screenshot. The depot scanned it yesterday at 18:40, so the "
                "page is just behind. I've opened a trace with the courier "
                "(case `TR-{ref}`).",
                results={"Courier case": "TR-{ref}"},
                tool="open_courier_trace(order_id={order})",
                customer_file=True,
                voice_customer="The tracking page hasn't changed in 3 days, I'm looking at "
                "it right now",
                voice_ai="I see the same. The depot scanned it yesterday at 18:40, so the page "
                "is just behind. I've opened a trace with the courier, case TR-{ref}.",
            ),
            Exchange(
                "Can it be left with a neighbour?",
                "Sure. I've added a delivery note:\n\n1. Leave with neighbour at no. 12\n"
                "2. Otherwise, safe place: *porch*\n\nHere's your updated label.",
                results={"Delivery note": "neighbour no. 12"},
                ai_file="label",
                voice_ai="Sure. I've added a delivery note: leave it with the neighbour at "
                "number 12, otherwise in the porch. The updated label is in your email.",
            ),
        ),
        resolution="courier trace opened",
        note="Courier trace TR-{ref} opened; promised call-back within 48 h. "
        "If lost, reship with express — approved by team lead.",
        human_lines=(
            "I called the depot: the parcel is on the van today, before 18:00.",
            "If it doesn't arrive I'll reship it by express at no cost, I've noted that.",
        ),
    ),
    Topic(
        key="password",
        agent=LEO,
        weight=16,
        opening=(
            "I can't log in to my account",
            "Password reset link doesn't work",
            "locked out after too many attempts??",
        ),
        exchanges=(
            Exchange(
                "",
                "I can help with that. For security, what's the **email** on the account?",
            ),
            Exchange(
                "{email}",
                "Thanks! I've sent a reset link to **{email_masked}**. Steps:\n\n"
                "1. Open the email from *no-reply@example.com*\n2. Click `Reset password`\n"
                "3. Choose a new password (at least **12 characters**)",
                results={"Email": "{email}", "Reset link sent": "yes"},
                tool="send_password_reset(email={email_masked})",
                quick_replies=("Got it", "No email yet"),
            ),
            Exchange(
                "I didn't get the email",
                "Please check your spam folder. If it's not there, you can use this one-time "
                "code on the login page instead: `{code}` (valid for 10 minutes).",
                tool="issue_otp(customer_id={customer_id})",
            ),
            Exchange(
                "The page shows an error, screenshot attached",
                "That error means the old link expired. Use the code above at "
                "https://example.com/login?otp=1 — it bypasses the link entirely.",
                customer_file=True,
                voice_customer="The page shows an error when I open the link",
            ),
        ),
        resolution="access restored",
        note="Account was locked by fraud rules (3 failed logins from new device). "
        "Unlocked after ID check. Recommend 2FA.",
        human_lines=(
            "I've unlocked the account after checking your details — you can log in now.",
            "I'd recommend turning on two-factor authentication under **Security**.",
        ),
    ),
    Topic(
        key="cancellation",
        agent=SOL,
        weight=12,
        opening=(
            "I want to cancel my subscription",
            "How do I close my account?",
            "cancel my plan please",
        ),
        exchanges=(
            Exchange(
                "",
                "Sorry to hear you want to leave, {first}. May I ask what's the main reason?",
                quick_replies=("Too expensive", "Not using it", "Moving to a competitor"),
            ),
            Exchange(
                "Too expensive for what I use",
                "I understand. I can offer you **3 months at 50% off** on your {plan} plan, "
                "or a switch to *Basic* at €4.99/month. Would either work?",
                results={"Cancellation reason": "price"},
                tool="get_retention_offers(plan={plan})",
                quick_replies=("Take the discount", "Switch to Basic", "Cancel anyway"),
            ),
            Exchange(
                "No thanks, please just cancel",
                "Done. Your plan stays active until **{date}**, and you won't be charged "
                "again. Confirmation number: `CN-{ref}`.",
                results={"Cancellation": "CN-{ref}", "Retention offer": "declined"},
                tool="cancel_subscription(customer_id={customer_id})",
            ),
        ),
        resolution="cancelled",
        note="Customer declined 50% offer. Flag for win-back campaign in 60 days.",
        human_lines=(
            "I can see the cancellation went through, effective {date}.",
            "If you change your mind, your data stays available for 90 days.",
        ),
    ),
    Topic(
        key="collections",
        agent=NOVA,
        weight=12,
        opening=(
            "I can pay on Friday",
            "Why do I owe you money??",
            "I lost my job, can I pay in instalments?",
        ),
        exchanges=(
            Exchange(
                "",
                "Thank you for getting back to us, {first}. Shall I note a **promise to pay** "
                "of €{amount} on {date}?",
                quick_replies=("Yes", "Choose another date", "Talk to an agent"),
            ),
            Exchange(
                "Yes",
                "Noted ✅ Promise to pay **€{amount}** on **{date}**. You'll get a payment "
                "link by SMS the day before.",
                results={
                    "Human Name": "{name}",
                    "Phone Number": "{phone}",
                    "Promise to Pay": "promised",
                    "Payment Date": "{date}",
                },
                tool="record_promise_to_pay(amount={amount}, date={date})",
            ),
            Exchange(
                "What's the link?",
                "Here it is: https://pay.example.com/p/{ref}\n\nYou can pay by card or "
                "bank transfer. Reference: `{inv}`.",
            ),
        ),
        resolution="promise to pay",
        note="Hardship case — agreed 3 instalments of €{amount}. Do not send reminders "
        "before {date}.",
        human_lines=(
            "I've set up a plan: 3 monthly instalments, the first on {date}.",
            "No late fees will be added while the plan is active.",
        ),
    ),
    Topic(
        key="sales",
        agent=IRIS,
        weight=10,
        opening=(
            "What's the difference between Basic and Premium?",
            "Do you have a plan for teams?",
            "Is there a free trial?",
        ),
        exchanges=(
            Exchange(
                "",
                "Great question! In short:\n\n- **Basic**: 1 user, email support\n"
                "- **Premium**: 5 users, priority chat, analytics\n- **Business**: unlimited "
                "users, SSO, dedicated manager\n\nFull comparison: https://example.com/pricing",
                quick_replies=("Premium", "Business", "Start a trial"),
            ),
            Exchange(
                "Premium sounds good. How much for a year?",
                "Premium is **€{amount}/year** (2 months free vs monthly). Can I have your "
                "name and phone number so a specialist can send you an offer?",
            ),
            Exchange(
                "{name}, {phone}",
                "Thanks {first}! A specialist will call you within one business day. "
                "Meanwhile, your 14-day trial is active: https://app.example.com/trial/{ref}",
                results={"Name": "{name}", "Phone": "{phone}", "Interest": "Premium yearly"},
                tool="create_lead(plan=Premium, phone={phone})",
            ),
        ),
        resolution="lead created",
        note="Warm lead, 12 seats possible. Offer Business trial if they mention SSO.",
        human_lines=(
            "I've prepared an offer for Premium yearly with 10% off — sent to your email.",
            "Happy to set up a call with our onboarding team whenever suits you.",
        ),
    ),
    Topic(
        key="tech",
        agent=LEO,
        weight=8,
        opening=(
            "The app crashes when I upload a photo",
            "Sync stopped working on my phone",
            "I get an error when exporting to CSV",
        ),
        exchanges=(
            Exchange(
                "",
                "Sorry about that! Which **app version** are you on? You'll find it under "
                "*Settings → About*.",
            ),
            Exchange(
                "4.2.1 I think. It shows this:\n\nError: upload failed (code 413)",
                "Thanks, that helps. Code 413 means the file is too large. Try this:\n\n"
                "```\nSettings → Uploads → Compress photos: ON\n```\n\n"
                "and update to **4.3.0** from the store.",
                results={"App version": "4.2.1", "Error code": "413"},
                tool="search_known_issues(code=413)",
                customer_file=True,
                voice_customer="4.2.1 I think. It says upload failed, code 413",
            ),
            Exchange(
                "Updated, still the same",
                "Then let's clear the upload cache: open `Settings → Storage` and tap "
                "**Clear cache**. Known issue KB-{ref}: https://help.example.com/kb/{ref}",
            ),
        ),
        resolution="workaround given",
        note="Repro on Android 14 + app 4.3.0 with HEIC photos. Filed BUG-{ref} for mobile "
        "team.",
        human_lines=(
            "Our mobile team confirmed the bug; a fix ships in 4.3.1 this week.",
            "Until then, sharing the photo from the gallery as JPEG works.",
        ),
    ),
)

TEMPLATES: dict[str, str] = {
    "collections": (
        "Hello {first}, this is Northwind Energy. Your balance of **€{amount}** is overdue "
        "since {due}. Reply to this message to arrange a payment."
    ),
    "sales": (
        "Hi {first} 👋 Your {plan} trial ends in 3 days. Want a quick call to see which plan "
        "fits you best?"
    ),
    "delivery": "Hi {first}, your order #{order} is out for delivery today. Reply to reschedule.",
}
TEMPLATE_REPLIES: dict[str, tuple[str, ...]] = {
    "collections": ("Pay now", "Arrange a plan", "Talk to an agent"),
    "sales": ("Yes, call me", "Not now"),
    "delivery": ("Reschedule", "OK"),
}

TRACE_TOOLS = "lookup_order, lookup_invoices, create_refund, send_password_reset, " \
    "record_promise_to_pay, create_lead, save_result, handover_to_human"

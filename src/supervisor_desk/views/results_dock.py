"""Parameters & results dock: contact info, user, session parameters, results, metadata
and facts.

Every value shown here comes from a platform (untrusted), so every label is plain text.
Each block collapses by clicking its title; the dock itself can be closed or floated. Values
are reachable by keyboard (Tab moves through them, arrows select, Ctrl+C copies): what the
table shows only on hover (country, city, IP, device) is written out in "User".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from supervisor_desk.models.customer_profile import CONTACT_FIELDS
from supervisor_desk.models.markers import (
    BREAK_RUN,
    CHANNEL_LABELS,
    ZWSP,
    breakable,
    format_duration,
    format_utc,
    resolve_time_zone,
)
from supervisor_desk.models.wire import SessionSummary
from supervisor_desk.views.clock import screen_clock

EMPTY_VALUE = "---"
NO_CONTACT = "No contact info found"
NO_PARAMETERS = "No parameters found"
NO_RESULTS = "No results found"
NO_METADATA = "No metadata"
NO_SELECTION_TIP = "Select a session to open its customer's view"
DOCK_MIN_WIDTH = 200
# Characters between break points in the dock's values: at its narrowest the value column is
# ~90 px, and the feed's 16-character ids ("cus_899d09cc1234abcd") were cut there.
DOCK_BREAK_RUN = 10


def value_label(text: str, parent: QWidget | None = None) -> QLabel:
    label = focusable_label(breakable(text, DOCK_BREAK_RUN), parent)
    if len(text) > BREAK_RUN:
        label.setToolTip(text)
    return label


def shown_text(label: QLabel) -> str:
    return label.text().replace(ZWSP, "")


def plain_label(text: str = "", parent: QWidget | None = None) -> QLabel:
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def focusable_label(text: str = "", parent: QWidget | None = None) -> QLabel:
    """A value the keyboard reaches: Tab focuses it, arrows select, Ctrl+C copies."""
    label = plain_label(text, parent)
    label.setTextInteractionFlags(
        Qt.TextInteractionFlag.TextSelectableByMouse
        | Qt.TextInteractionFlag.TextSelectableByKeyboard
    )
    label.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    return label


def responsible_text(summary: SessionSummary) -> str:
    responsible = summary.responsible
    if responsible.kind == "human":
        return responsible.operator.name if responsible.operator else "Operator"
    if responsible.kind == "unassigned":
        return "Unassigned"
    return "AI"


def user_rows(summary: SessionSummary) -> list[tuple[str, str]]:
    """Who the customer is and where from: the table's hover tooltips, written out."""
    user, where = summary.user, summary.location
    device = EMPTY_VALUE
    if user.is_mobile is not None:
        device = "Mobile" if user.is_mobile else "Desktop"
    country = where.country or where.country_code or EMPTY_VALUE
    if where.country and where.country_code:
        country = f"{where.country} ({where.country_code.upper()})"
    return [
        ("Name", user.name or EMPTY_VALUE),
        ("User ID", user.id),
        ("External ID", user.external_id or EMPTY_VALUE),
        ("Device", device),
        ("Country", country),
        ("City", where.city or EMPTY_VALUE),
        ("IP", where.ip or EMPTY_VALUE),
    ]


def contact_rows(summary: SessionSummary) -> list[tuple[str, str]] | None:
    """Contact lines with ``---`` for empty fields; None when the session has no contact."""
    contact = summary.contact
    if contact is None:
        return None
    values = [(label, (getattr(contact, attr) or "").strip()) for label, attr in CONTACT_FIELDS]
    if not any(value for _, value in values):
        return None
    return [(label, value or EMPTY_VALUE) for label, value in values]


class Section(QWidget):
    """A titled block that collapses when its title is clicked."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title_button = QToolButton(self)
        self.title_button.setText(title)
        self.title_button.setCheckable(True)
        self.title_button.setChecked(True)
        self.title_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.title_button.setArrowType(Qt.ArrowType.DownArrow)
        self.title_button.setAutoRaise(True)
        self.title_button.setStyleSheet("QToolButton { font-weight: bold; border: none; }")
        self.title_button.toggled.connect(self._on_title_toggled)
        self.header = QHBoxLayout()
        self.header.setContentsMargins(0, 0, 0, 0)
        self.header.addWidget(self.title_button)
        self.header.addStretch(1)
        self.body = QWidget(self)
        # Keys in one column, values beside them wrapping in the other (see breakable()).
        # A grid, not a QFormLayout: the form computed its rows' heights for other column
        # widths than it then gave its wrapped labels, and kept the previous session's
        # heights after a switch, so values were cut.
        self.grid = QGridLayout(self.body)
        self.grid.setContentsMargins(18, 2, 4, 6)
        self.grid.setColumnStretch(1, 1)
        self._rows: list[tuple[QLabel, QLabel | None]] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(self.header)
        layout.addWidget(self.body)
        self._shown: object = None
        self.empty_label: QLabel | None = None

    @property
    def collapsed(self) -> bool:
        return not self.title_button.isChecked()

    def _on_title_toggled(self, expanded: bool) -> None:
        self.title_button.setArrowType(
            Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow
        )
        self.body.setVisible(expanded)

    def set_rows(self, rows: Sequence[tuple[str, str]] | None, empty_text: str) -> None:
        """Key/value lines, or ``empty_text`` when there are none; rebuilt only on change."""
        shown = (tuple(rows) if rows else None, empty_text)
        if shown == self._shown:
            return
        self._shown = shown
        for old_key, old_value in self._rows:
            for label in (old_key, old_value):
                if label is not None:
                    self.grid.removeWidget(label)
                    label.setParent(None)  # gone now (the last reference is dropped below)
        self._rows = []
        self.empty_label = None
        if not rows:
            self.empty_label = plain_label(empty_text, self.body)
            self.empty_label.setProperty("tone", "muted")
            self.grid.addWidget(self.empty_label, 0, 0, 1, 2)
            self._rows.append((self.empty_label, None))
            return
        top = Qt.AlignmentFlag.AlignTop
        for row, (key, value) in enumerate(rows):
            # Keys break too (queue_position, widget_version): a narrow dock cut the values.
            name = plain_label(breakable(f"{key}:", DOCK_BREAK_RUN), self.body)
            name.setProperty("tone", "secondary")
            shown_value = value_label(value, self.body)
            self.grid.addWidget(name, row, 0, top)
            self.grid.addWidget(shown_value, row, 1, top)
            self._rows.append((name, shown_value))

    def values(self) -> dict[str, str]:
        """What the block shows, as {key: value} (the empty text under "")."""
        out: dict[str, str] = {}
        for key_label, value in self._rows:
            if value is None:
                out[""] = key_label.text()
            else:
                out[shown_text(key_label).removesuffix(":")] = shown_text(value)
        return out


class ResultsDock(QDockWidget):
    """Right-hand dock of the session detail (title "Parameters & results")."""

    customer_view_requested = Signal(object)  # SessionSummary
    uuid_copied = Signal(str)

    def __init__(
        self, parent: QWidget | None = None, *, time_zone: str | tzinfo | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__("Parameters && results", parent)  # && : not a mnemonic
        # "Now" for a live session's duration (offline review: the moment of the export).
        self._clock = clock or (lambda: datetime.now(UTC))
        self.setObjectName("ResultsDock")
        self.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self._tz = resolve_time_zone(time_zone)
        self._summary: SessionSummary | None = None

        content = QWidget(self)
        # As wide as the scroll area: rows wrap to fit. Only a value with a run wider than the
        # value column (ten wide letters at the dock's narrowest) makes it wider, and then it
        # scrolls instead of being cut at the dock's edge.
        content.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        layout = QVBoxLayout(content)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.setSpacing(6)

        self.empty_label = plain_label(
            "Select a session to see its parameters and results", content
        )
        self.empty_label.setProperty("tone", "muted")
        layout.addWidget(self.empty_label)

        self.contact_section = Section("Contact info", content)
        self.customer_button = QPushButton("Open customer view", self.contact_section)
        self.customer_button.setToolTip("Every session of this customer, chats one after another")
        self.customer_button.clicked.connect(self._on_customer_button_clicked)
        self.user_section = Section("User", content)
        self.parameters_section = Section("Session parameters", content)
        self.results_section = Section("Session results", content)
        self.metadata_section = Section("Metadata", content)
        self.facts_section = Section("Session facts", content)
        self.uuid_row = QWidget(self.facts_section)
        uuid_layout = QVBoxLayout(self.uuid_row)
        uuid_layout.setContentsMargins(18, 0, 4, 2)
        uuid_layout.setSpacing(0)
        uuid_head = QHBoxLayout()
        uuid_title = plain_label("UUID:", self.uuid_row)
        uuid_title.setProperty("tone", "secondary")
        self.copy_uuid_button = QToolButton(self.uuid_row)
        self.copy_uuid_button.setText("Copy")
        self.copy_uuid_button.setToolTip("Copy the session UUID")
        self.copy_uuid_button.clicked.connect(self._on_copy_uuid_clicked)
        uuid_head.addWidget(uuid_title)
        uuid_head.addStretch(1)
        uuid_head.addWidget(self.copy_uuid_button)
        # Wrapped at invisible break points: the whole UUID stays readable in a narrow dock.
        self.uuid_label = focusable_label("", self.uuid_row)
        mono = self.uuid_label.font()
        mono.setFamily("Monospace")
        mono.setPointSizeF(max(6.0, mono.pointSizeF() - 1))
        self.uuid_label.setFont(mono)
        uuid_layout.addLayout(uuid_head)
        uuid_layout.addWidget(self.uuid_label)
        facts_layout = self.facts_section.layout()
        assert isinstance(facts_layout, QVBoxLayout)
        facts_layout.insertWidget(1, self.uuid_row)

        for section in self.sections:
            layout.addWidget(section)
            line = QFrame(content)
            line.setFrameShape(QFrame.Shape.HLine)
            line.setProperty("tone", "separator")
            layout.addWidget(line)
        layout.addWidget(self.customer_button)
        layout.addStretch(1)

        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        self.setWidget(scroll)
        # Values wrap, so the dock narrows to about 200 px: more of a small screen for table
        # and chat (tests/views/test_results_dock.py checks no wrapped value is cut there).
        self._layout_margins = layout.contentsMargins()
        self.setMinimumWidth(self.narrowest_width())

        # A live session's duration moves on the app's one clock, while the facts show.
        screen_clock().subscribe(self.facts_section, self._on_clock_tick)
        self.set_session(None)

    # --- public API ---------------------------------------------------------------------
    @property
    def sections(self) -> tuple[Section, ...]:
        return (
            self.contact_section,
            self.user_section,
            self.parameters_section,
            self.results_section,
            self.metadata_section,
            self.facts_section,
        )

    def narrowest_width(self) -> int:
        """The longest fixed key ("Responsible:") beside a value's longest unbroken run, with
        the margins and the vertical scroll bar: narrower, "Unassigned" or a customer id no
        longer fits beside its key. The font decides, so it holds at any scale and size."""
        metrics = self.fontMetrics()
        grid = self.user_section.grid
        spacing = grid.horizontalSpacing()
        if spacing < 0:
            spacing = self.style().pixelMetric(QStyle.PixelMetric.PM_LayoutHorizontalSpacing)
        margins = grid.contentsMargins()
        needed = (
            self._layout_margins.left() + self._layout_margins.right()
            + margins.left() + margins.right() + spacing
            + metrics.horizontalAdvance("Responsible:")
            + metrics.horizontalAdvance("0" * DOCK_BREAK_RUN)
            + self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
            + 2 * self.style().pixelMetric(QStyle.PixelMetric.PM_DockWidgetFrameWidth)
        )
        return max(DOCK_MIN_WIDTH, needed)

    @property
    def summary(self) -> SessionSummary | None:
        return self._summary

    def set_time_zone(self, time_zone: str | tzinfo | None) -> None:
        self._tz = resolve_time_zone(time_zone)
        self._update_facts()

    def set_session(self, summary: SessionSummary | None) -> None:
        """Show this session (None: nothing selected); call again on each live update."""
        self._summary = summary
        for section in self.sections:
            section.setVisible(summary is not None)
        self.empty_label.setVisible(summary is None)
        self.customer_button.setEnabled(summary is not None and bool(summary.user.id))
        self.customer_button.setToolTip(
            NO_SELECTION_TIP
            if summary is None
            else "Every session of this customer, chats one after another"
        )
        if summary is None:
            return
        self.contact_section.set_rows(contact_rows(summary), NO_CONTACT)
        self.user_section.set_rows(user_rows(summary), "")
        self.parameters_section.set_rows(sorted(summary.parameters.items()), NO_PARAMETERS)
        self.results_section.set_rows(sorted(summary.results.items()), NO_RESULTS)
        self.metadata_section.set_rows(sorted(summary.metadata.items()), NO_METADATA)
        if shown_text(self.uuid_label) != summary.id:
            self.uuid_label.setText(breakable(summary.id, DOCK_BREAK_RUN))
        self._update_facts()

    def _on_clock_tick(self) -> None:
        if self._summary is not None and self._summary.is_live:
            self._update_facts()

    def facts(self) -> dict[str, str]:
        values = self.facts_section.values()
        values["UUID"] = shown_text(self.uuid_label)
        return values

    # --- internals ----------------------------------------------------------------------
    def _fmt(self, at: datetime | None) -> str:
        if at is None:
            return EMPTY_VALUE
        return at.astimezone(self._tz).strftime("%Y-%m-%d %H:%M:%S")

    def _update_facts(self) -> None:
        summary = self._summary
        if summary is None:
            return
        end = summary.ended_at or self._clock()
        channel = CHANNEL_LABELS.get(summary.channel, summary.channel)
        if summary.modality != "chat":
            channel = f"{channel} ({summary.modality})"
        status = (
            summary.status
            if summary.end_reason is None
            else (f"{summary.status} ({summary.end_reason.replace('_', ' ')})")
        )
        rows = [
            ("Channel", channel),
            ("Agent", summary.agent.name),
            ("Status", status),
            ("Stage", summary.stage or EMPTY_VALUE),
            ("Start", self._fmt(summary.started_at)),
            ("End", self._fmt(summary.ended_at)),
            ("Duration", format_duration((end - summary.started_at).total_seconds())),
            ("Team", summary.team or EMPTY_VALUE),
            ("Responsible", responsible_text(summary)),
            ("User", summary.user.name or summary.user.id),
        ]
        self.facts_section.set_rows(rows, "")
        self.facts_section.setToolTip(
            f"Times in {self._tz}; start {format_utc(summary.started_at)}"
        )

    def _on_copy_uuid_clicked(self) -> None:
        if self._summary is None:
            return
        QGuiApplication.clipboard().setText(self._summary.id)
        self.uuid_copied.emit(self._summary.id)

    def _on_customer_button_clicked(self) -> None:
        if self._summary is not None:
            self.customer_view_requested.emit(self._summary)

"""The main window: header, metric cards, sessions table | chat splitter, results dock.

The window is a view: it shows what the view-models say and turns user actions into signals;
the composition root (``app.py``) wires them. Closing the window hides it when a tray icon
exists (the app keeps alerting); otherwise closing asks the app to quit.
"""

from __future__ import annotations

import contextlib
from datetime import tzinfo
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QByteArray,
    QEvent,
    QSettings,
    QSignalBlocker,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QKeySequence,
    QResizeEvent,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from supervisor_desk.client import autostart
from supervisor_desk.client.paths import ui_state_path
from supervisor_desk.models.live_order import (
    LIVE_ORDER_SHORT_TITLES,
    LIVE_ORDER_TITLES,
    LIVE_ORDERS,
    LiveOrder,
)
from supervisor_desk.models.markers import resolve_time_zone
from supervisor_desk.views.chat import ChatView
from supervisor_desk.views.clock import OnScreenWatch
from supervisor_desk.views.file_drop import ExportFileDrop
from supervisor_desk.views.help_dialogs import ShortcutsDialog
from supervisor_desk.views.icons import app_icon
from supervisor_desk.views.live_options import LiveListOptions
from supervisor_desk.views.live_viewmodel import LiveMetrics
from supervisor_desk.views.metric_cards import MetricCards
from supervisor_desk.views.notifications import NotificationArea
from supervisor_desk.views.results_dock import ResultsDock
from supervisor_desk.views.session_table_model import SessionTableModel
from supervisor_desk.views.session_table_view import SessionTableView
from supervisor_desk.views.steady_labels import SteadyLabel
from supervisor_desk.views.theme import build_theme_menu

APP_TITLE = "Supervisor Desk"
USER_BUTTON_MAX_WIDTH = 200

# The pill's look per connection state; the colours are the theme's (resources/style.qss).
_STATE_TONES = {
    "connected": "ok",
    "connecting": "busy",
    "reconnecting": "busy",
    "unreachable": "error",
}


def open_ui_settings() -> QSettings:
    """QSettings (IniFormat) for window and table layout, beside the preferences."""
    path = ui_state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return QSettings(str(path), QSettings.Format.IniFormat)


class ConnectionPill(QFrame):
    """A coloured pill: dot + words ("Connected", "Reconnecting in 4 s", "Signed out")."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("connectionPill")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 3, 12, 3)
        layout.setSpacing(6)
        self.dot = QLabel("●", self)
        self.dot.setTextFormat(Qt.TextFormat.PlainText)
        self.label = QLabel("Not connected", self)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setObjectName("connectionText")
        layout.addWidget(self.dot)
        layout.addWidget(self.label)
        self.state = ""
        self.set_state("", "Not connected")

    def set_state(self, state: str, text: str, detail: str = "") -> None:
        self.state = state
        self.label.setText(text)
        self.setToolTip(detail or text)
        tone = _STATE_TONES.get(state, "idle")
        if self.property("connection") == tone:
            return
        self.setProperty("connection", tone)
        # A dynamic property is matched at polish time: the pill and its labels again.
        for widget in (self, self.dot, self.label):
            widget.style().unpolish(widget)
            widget.style().polish(widget)

    def text(self) -> str:
        return self.label.text()


class HeaderBar(QFrame):
    """The window's top bar. On a narrow window its big title goes first (the window title
    says the same), then the live order box (View → Live order has it too), so the other
    controls keep their room and the window fits small screens."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.optional: list[QWidget] = []  # what may go, the first to go first
        self._wanted: dict[QWidget, bool] = {}  # the page's choice, before folding

    def set_wanted(self, widget: QWidget, wanted: bool) -> None:
        """Show ``widget`` when there is room (an optional one) or always (the others)."""
        self._wanted[widget] = wanted
        if widget in self.optional:
            self._fold(self.width())
        else:
            widget.setVisible(wanted)

    def _spacing(self) -> int:
        layout = self.layout()
        return layout.spacing() if layout is not None else 0

    def _needs(self, widget: QWidget) -> int:
        return widget.sizeHint().width() + self._spacing()

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        shown = [w for w in self.optional if not w.isHidden()]
        hint.setWidth(hint.width() - sum(self._needs(w) for w in shown))
        return hint

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fold(event.size().width())

    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        # A control changed its size (the pill says "Connected", the account button a name):
        # fold again, or what was decided at the last resize holds (the order box stayed
        # hidden on Live at 125 % once sign-in widened the account button, or the reverse).
        if event.type() == QEvent.Type.LayoutRequest:
            self._fold(self.width())
        return handled

    def _fold(self, width: int) -> None:
        room = width - self.minimumSizeHint().width()
        for widget in reversed(self.optional):  # the last to go gets room first
            fits = self._wanted.get(widget, True) and self._needs(widget) <= room
            if fits:
                room -= self._needs(widget)
            widget.setVisible(fits)


class MainWindow(QMainWindow):
    refresh_requested = Signal()
    # The window came on screen (shown, restored) or left it (closed to the tray, minimised).
    on_screen_changed = Signal(bool)
    sign_in_requested = Signal()
    sign_out_requested = Signal()
    quit_requested = Signal()
    live_order_requested = Signal(str)
    session_selected = Signal(object)  # SessionSummary | None
    page_changed = Signal(int)
    open_file_requested = Signal()
    recent_file_requested = Signal(str)  # a path from File → Open recent
    recent_cleared = Signal()
    time_zone_requested = Signal()
    preferences_requested = Signal()
    handover_requested = Signal()
    customer_view_requested = Signal()
    search_requested = Signal()
    about_requested = Signal()
    files_dropped = Signal(list)  # [Path] of export files dropped on the window
    export_requested = Signal()
    import_audio_requested = Signal()
    filters_requested = Signal()

    def __init__(
        self,
        live_model: SessionTableModel,
        *,
        settings: QSettings | None = None,
        time_zone: Any = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(APP_TITLE)
        self.setWindowIcon(app_icon())
        self.setObjectName("MainWindow")
        self._file_drop = ExportFileDrop(self)
        self._file_drop.files_dropped.connect(self.files_dropped)
        self._settings = settings
        self._allow_close = False
        self._split_ratio = 0.67
        self._splitter_initialized = False
        self.close_to_tray = False
        self._screen_watch = OnScreenWatch(self)
        self._screen_watch.changed.connect(self._on_screen_watch_changed)
        self.live_model = live_model
        self.sign_out_question: QMessageBox | None = None
        self._server: str | None = None
        self.shortcuts_dialog: ShortcutsDialog | None = None

        header = self._build_header()
        self.header = header
        body = self._build_body(time_zone)
        central = QWidget(self)
        central_layout = QVBoxLayout(central)
        central_layout.setContentsMargins(0, 0, 0, 0)
        central_layout.setSpacing(0)
        central_layout.addWidget(header)
        central_layout.addWidget(body, 1)
        self.setCentralWidget(central)
        self.notification_area.float_over(central, beside=self.pages)
        self.add_page("Live", self.live_page)
        self._build_results_dock(time_zone)
        self._build_actions()
        self._build_file_menu()
        self._build_view_menu()
        self._build_session_menu()
        self._build_help_menu()
        self._build_user_menu()
        self._build_status_bar()

        self._apply_default_size()
        self.set_live_order(LiveOrder.LONGEST_WAIT)
        self.restore_state()

    # ---------------------------------------------------------------- building

    def _build_header(self) -> HeaderBar:
        """Title, the Live/History switch, connection pill, live order, Refresh, account."""
        header = HeaderBar(self)
        header.setObjectName("headerBar")
        header_layout = QHBoxLayout(header)
        header_layout.setContentsMargins(14, 8, 14, 8)
        header_layout.setSpacing(10)
        title = QLabel("Sessions", header)
        title.setObjectName("pageTitle")
        title.setTextFormat(Qt.TextFormat.PlainText)
        header_layout.addWidget(title)
        self.page_switch = QWidget(header)
        self.page_switch.setObjectName("pageSwitch")
        self._page_switch_layout = QHBoxLayout(self.page_switch)
        self._page_switch_layout.setContentsMargins(0, 0, 0, 0)
        self._page_switch_layout.setSpacing(0)
        self._page_buttons = QButtonGroup(self)
        self._page_buttons.setExclusive(True)
        self._page_buttons.idClicked.connect(self._on_page_buttons_id_clicked)
        self.page_switch.hide()  # shown once a second page (History) is plugged in
        header_layout.addWidget(self.page_switch)
        self.connection_pill = ConnectionPill(header)
        header_layout.addWidget(self.connection_pill)
        header_layout.addStretch(1)
        self.header_actions = QHBoxLayout()
        self.header_actions.setSpacing(6)
        header_layout.addLayout(self.header_actions)
        self.order_combo = QComboBox(header)
        self.order_combo.setObjectName("liveOrderCombo")
        for order in LIVE_ORDERS:
            self.order_combo.addItem(LIVE_ORDER_SHORT_TITLES[order], order.value)
            self.order_combo.setItemData(self.order_combo.count() - 1, LIVE_ORDER_TITLES[order],
                                         Qt.ItemDataRole.ToolTipRole)
        # As wide as its longest title in the font shown (a fixed count of characters cut
        # the title at 125 %); a window too narrow for it folds the combo away (HeaderBar)
        # and View → Live order stays.
        self.order_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.order_combo.setToolTip("Order of live sessions when no column sort is active")
        self.order_combo.activated.connect(self._on_order_combo_activated)
        header_layout.addWidget(self.order_combo)
        header.optional = [title, self.order_combo]
        self.refresh_button = QPushButton("Refresh", header)
        self.refresh_button.setObjectName("refreshButton")
        self.refresh_button.setToolTip("Remove ended sessions from the list (F5)")
        self.refresh_button.clicked.connect(self.refresh_requested)
        header_layout.addWidget(self.refresh_button)
        self.user_button = QToolButton(header)
        self.user_button.setObjectName("userButton")
        self.user_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.user_button.setText("Not signed in")
        self.user_button.setMaximumWidth(USER_BUTTON_MAX_WIDTH)
        self.user_menu = QMenu(self.user_button)
        self.user_button.setMenu(self.user_menu)
        header_layout.addWidget(self.user_button)
        return header

    def _build_body(self, time_zone: Any) -> QWidget:
        """Metric cards over the pages (Live, History) | chat splitter."""
        self.notification_area = NotificationArea(self)
        self.metric_cards = MetricCards(self)
        self.table = SessionTableView(settings=self._settings)
        self.table.setObjectName("liveTable")
        self.table.setModel(self.live_model)
        self.table.session_selected.connect(self.session_selected)
        self.table.selection_left.connect(self.mark_left_list)
        self.table.live_order_requested.connect(self.live_order_requested)
        self.live_options = LiveListOptions(self.live_model, self)
        self.chat = ChatView(self, time_zone=time_zone)
        self.chat.setObjectName("chatView")
        # Pages (Live, History) share the chat on the right of the splitter: selecting a row
        # on either page opens its transcript in the same place.
        self.pages = QStackedWidget(self)
        self.pages.setObjectName("pages")
        self.pages.currentChanged.connect(self._on_pages_current_changed)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("liveSplitter")
        self.splitter.addWidget(self.pages)
        self.splitter.addWidget(self.chat)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        live_page = QWidget(self)
        live_layout = QVBoxLayout(live_page)
        live_layout.setContentsMargins(0, 0, 0, 0)
        live_layout.setSpacing(0)
        live_layout.addWidget(self.live_options.banner)  # shown while paused
        live_layout.addWidget(self.table, 1)
        self.signed_out_panel = self._build_signed_out_panel(live_page)
        live_layout.addWidget(self.signed_out_panel, 1)
        self.live_page = live_page
        body = QWidget(self)
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(12, 10, 12, 8)
        body_layout.setSpacing(10)
        body_layout.addWidget(self.metric_cards)  # the live figures; History has its own
        body_layout.addWidget(self.splitter, 1)
        return body

    def _build_signed_out_panel(self, parent: QWidget) -> QFrame:
        """What the Live page shows while nobody is signed in: why, and a Sign in… button."""
        panel = QFrame(parent)
        panel.setObjectName("signedOutPanel")
        layout = QVBoxLayout(panel)
        layout.addStretch(1)
        self.signed_out_label = QLabel("You are signed out.", panel)
        self.signed_out_label.setObjectName("signedOutText")
        self.signed_out_label.setTextFormat(Qt.TextFormat.PlainText)
        self.signed_out_label.setWordWrap(True)
        self.signed_out_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.signed_out_label)
        self.sign_in_button = QPushButton("Sign in…", panel)
        self.sign_in_button.setObjectName("signInButton")
        self.sign_in_button.clicked.connect(self.sign_in_requested)
        layout.addWidget(self.sign_in_button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)
        panel.hide()
        return panel

    def _build_results_dock(self, time_zone: Any) -> None:
        self.results_dock = ResultsDock(self, time_zone=time_zone)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.results_dock)

    def _build_actions(self) -> None:
        """Window-wide actions (their shortcuts work from any page)."""
        self.refresh_action = QAction("Refresh", self)
        self.refresh_action.setShortcut(QKeySequence(Qt.Key.Key_F5))
        self.refresh_action.setToolTip("Remove ended sessions from the list")
        self.refresh_action.triggered.connect(self.refresh_requested)
        self.sign_out_action = QAction("Sign out…", self)
        self.sign_out_action.triggered.connect(self._on_sign_out_action_triggered)
        self.sign_out_action.setEnabled(False)
        # Shown instead of Sign out while nobody is signed in (after a cancelled sign-in).
        self.sign_in_action = QAction("Sign in…", self)
        self.sign_in_action.triggered.connect(self.sign_in_requested)
        self.sign_in_action.setVisible(False)
        self.quit_action = QAction("Quit", self)
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        self.quit_action.triggered.connect(self.quit_requested)
        self.addAction(self.refresh_action)
        self.addAction(self.quit_action)
        self.open_action = QAction("Open file…", self)
        self.open_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_action.setToolTip("Review an exported .json, .jsonl or .csv file offline")
        self.open_action.triggered.connect(self.open_file_requested)
        self.addAction(self.open_action)
        self.export_action = QAction("Export…", self)
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_action.setToolTip("Export the sessions shown (filters applied) to a file")
        self.export_action.triggered.connect(self.export_requested)
        self.addAction(self.export_action)
        self.import_audio_action = QAction("Import session from audio…", self)
        self.import_audio_action.setToolTip(
            "Make a voice session from a call recording (WAV, FLAC, OGG/Opus, MP3); the hub "
            "transcribes it")
        self.import_audio_action.triggered.connect(self.import_audio_requested)
        self.filters_action = QAction("Filters…", self)
        self.filters_action.setShortcut(QKeySequence("Ctrl+F"))
        self.filters_action.setToolTip("Session Filters (History)")
        self.filters_action.triggered.connect(self.filters_requested)
        self.addAction(self.filters_action)
        self.time_zone_action = QAction("Time zone…", self)
        self.time_zone_action.triggered.connect(self.time_zone_requested)
        self.preferences_action = QAction("Preferences…", self)
        self.preferences_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.preferences_action.triggered.connect(self.preferences_requested)
        self.autostart_action = QAction("Start at login", self)
        self.autostart_action.setCheckable(True)
        self.autostart_action.setToolTip("Start Supervisor Desk (in the tray) when you log in")
        self.autostart_action.setVisible(autostart.supported())
        self.autostart_action.setChecked(autostart.supported() and autostart.is_enabled())
        self.autostart_action.toggled.connect(self._on_autostart_action_toggled)

    def _build_file_menu(self) -> None:
        self.file_menu = self.menuBar().addMenu("&File")
        # Sign out is the first visible item while signed in (the e2e test relies on it).
        self.file_menu.addAction(self.sign_in_action)
        self.file_menu.addAction(self.sign_out_action)
        self.file_menu.addAction(self.open_action)
        self.file_menu.addAction(self.export_action)
        self.file_menu.addAction(self.import_audio_action)
        self.recent_menu = QMenu("Open recent", self)
        self.file_menu.insertMenu(self.export_action, self.recent_menu)
        self.set_recent_files([])
        self.file_menu.addSeparator()
        self.file_menu.addAction(self.preferences_action)
        self.file_menu.addAction(self.autostart_action)
        self.file_menu.addSeparator()
        self.file_menu.addAction(self.quit_action)

    def _build_view_menu(self) -> None:
        self.view_menu = self.menuBar().addMenu("&View")
        self.view_menu.addAction(self.refresh_action)
        self.view_menu.addAction(self.filters_action)
        self.view_menu.addAction(self.time_zone_action)
        dock_action = self.results_dock.toggleViewAction()
        dock_action.setText("Parameters && results")
        self.view_menu.addAction(dock_action)
        self._build_live_order_menu(self.view_menu.addMenu("Live order"))
        columns_action = QAction("Columns…", self)
        columns_action.triggered.connect(self._on_columns_action_triggered)
        self.view_menu.addAction(columns_action)
        self.live_options.add_to_menu(self.view_menu)
        # Light, dark, high contrast, or the desktop's scheme (saved in the preferences).
        self.theme_menu = self.view_menu.addMenu("Theme")
        self.theme_actions = build_theme_menu(self.theme_menu)

    def _build_live_order_menu(self, order_menu: QMenu) -> None:
        self._order_group = QActionGroup(self)
        self.order_actions: dict[str, QAction] = {}
        for order in LIVE_ORDERS:
            action = QAction(LIVE_ORDER_TITLES[order], self)
            action.setCheckable(True)
            action.triggered.connect(
                lambda _=False, o=order: self.live_order_requested.emit(o.value)
            )
            self._order_group.addAction(action)
            order_menu.addAction(action)
            self.order_actions[order.value] = action

    def _build_session_menu(self) -> None:
        """Acting on sessions from the keyboard: the next queued one, hand-over, customer."""
        self.session_menu = self.menuBar().addMenu("&Session")
        self.next_queued_action = QAction("Next queued session", self)
        self.next_queued_action.setShortcut(QKeySequence("Ctrl+J"))
        self.next_queued_action.setToolTip("Select the next waiting session on the Live page")
        self.next_queued_action.triggered.connect(self._on_next_queued_action_triggered)
        self.handover_action = QAction("Hand over to an operator…", self)
        self.handover_action.setShortcut(QKeySequence("Ctrl+Shift+H"))
        self.handover_action.triggered.connect(self.handover_requested)
        self.customer_view_action = QAction("Customer view…", self)
        self.customer_view_action.setShortcut(QKeySequence("Ctrl+U"))
        self.customer_view_action.triggered.connect(self.customer_view_requested)
        self.search_action = QAction("Search sessions", self)
        self.search_action.setShortcut(QKeySequence("Ctrl+K"))
        self.search_action.setToolTip("Go to History's search box")
        self.search_action.triggered.connect(self.search_requested)
        for action in (self.next_queued_action, self.handover_action,
                       self.customer_view_action, self.search_action):
            self.addAction(action)
            self.session_menu.addAction(action)

    def _build_help_menu(self) -> None:
        # Window → Wall sits before Help; the app opens the Wall window (views/wall/).
        self.window_menu = self.menuBar().addMenu("&Window")
        self.wall_action = QAction("Wall", self)
        self.wall_action.setShortcut(QKeySequence("Ctrl+Shift+W"))
        self.wall_action.setToolTip("Many live transcripts at once")
        self.addAction(self.wall_action)
        self.window_menu.addAction(self.wall_action)
        self.help_menu = self.menuBar().addMenu("&Help")
        self.shortcuts_action = QAction("Keyboard shortcuts", self)
        self.shortcuts_action.setShortcut(QKeySequence("Ctrl+/"))
        self.shortcuts_action.triggered.connect(self.show_shortcuts)
        self.addAction(self.shortcuts_action)
        self.help_menu.addAction(self.shortcuts_action)
        self.about_action = QAction("About Supervisor Desk", self)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.about_action.triggered.connect(self.about_requested)
        self.help_menu.addAction(self.about_action)

    def show_shortcuts(self) -> ShortcutsDialog:
        """Help → Keyboard shortcuts: every shortcut of this window, from its actions."""
        if self.shortcuts_dialog is not None:
            self.shortcuts_dialog.raise_()
            return self.shortcuts_dialog
        dialog = ShortcutsDialog(self.findChildren(QAction), self)
        dialog.finished.connect(self._on_shortcuts_dialog_finished)
        self.shortcuts_dialog = dialog
        dialog.open()
        return dialog

    def _on_shortcuts_dialog_finished(self, _result: int) -> None:
        dialog, self.shortcuts_dialog = self.shortcuts_dialog, None
        if dialog is not None:
            dialog.deleteLater()

    def _on_next_queued_action_triggered(self) -> None:
        if not self.select_next_queued():
            self.set_status("Nobody is waiting in the queue.")

    def select_next_queued(self) -> bool:
        """Select the queued session after the selected one (in the Live order), wrapping."""
        sessions = self.live_model.sessions()
        queued = [s.id for s in sessions if s.status == "queued"]
        if not queued:
            return False
        selected = self.table.selected_session()
        after = queued[0]
        if selected is not None and selected.id in queued:
            after = queued[(queued.index(selected.id) + 1) % len(queued)]
        return self.reveal_session(after)

    def _build_user_menu(self) -> None:
        """The account button's menu."""
        self.user_menu.addAction(self.sign_in_action)
        self.user_menu.addAction(self.sign_out_action)
        self.user_menu.addAction(self.quit_action)

    def _build_status_bar(self) -> None:
        # Steady: a new count of sessions (every start and end) repaints the label, not the
        # window's layout. The right one hugs its text at the bar's end: right-aligned in a
        # steady label its glyphs land a fraction of a pixel apart, so it stays a QLabel.
        self.status_left = SteadyLabel("", self)
        self.status_left.setTextFormat(Qt.TextFormat.PlainText)
        self.status_left.set_steady(True)
        self.status_left.fill_with()  # in the bar's colour: repainted alone
        self.statusBar().addWidget(self.status_left, 1)
        self.status_right = QLabel("", self)
        self.status_right.setTextFormat(Qt.TextFormat.PlainText)
        self.statusBar().addPermanentWidget(self.status_right)

    def _apply_default_size(self) -> None:
        """First run: nearly the whole screen up to 1560x940 (the table has many columns)."""
        screen = self.screen()
        if screen is None:
            self.resize(1480, 880)
            return
        available = screen.availableGeometry()
        self.resize(min(1560, available.width() - 40), min(940, available.height() - 60))

    # ---------------------------------------------------------------- pages

    def add_page(self, title: str, widget: QWidget, *, shortcut: str | None = None) -> int:
        """Plug a page into the Live/History switch (the switch shows with two or more)."""
        index = self.pages.addWidget(widget)
        button = QPushButton(title, self.page_switch)
        button.setCheckable(True)
        button.setObjectName(f"page_{title.lower()}")
        button.setProperty("segment", True)
        if shortcut:
            button.setShortcut(QKeySequence(shortcut))
        self._page_buttons.addButton(button, index)
        self._page_switch_layout.addWidget(button)
        if index == 0:
            button.setChecked(True)
        self.page_switch.setVisible(self.pages.count() > 1)
        self._size_pages_by_current()
        return index

    def _size_pages_by_current(self) -> None:
        # A stack is as wide as its widest page; hidden pages (History's filter bar) must not
        # squeeze the chat while Live is shown.
        current = self.pages.currentWidget()
        for i in range(self.pages.count()):
            page = self.pages.widget(i)
            if page is None:
                continue
            policy = QSizePolicy.Policy.Preferred if page is current else QSizePolicy.Policy.Ignored
            page.setSizePolicy(policy, policy)
        self.pages.updateGeometry()

    def show_page(self, index: int) -> None:
        self.pages.setCurrentIndex(index)
        button = self._page_buttons.button(index)
        if button is not None:
            button.setChecked(True)

    def _on_page_buttons_id_clicked(self, index: int) -> None:
        self.pages.setCurrentIndex(index)

    def _on_pages_current_changed(self, index: int) -> None:
        self._size_pages_by_current()
        self.metric_cards.setVisible(index == 0)
        self.header.set_wanted(self.order_combo, index == 0)
        self.header.set_wanted(self.refresh_button, index == 0)
        self.page_changed.emit(index)

    # ---------------------------------------------------------------- state from the app

    def set_connection(self, state: str, text: str, detail: str = "") -> None:
        self.connection_pill.set_state(state, text, detail)

    def set_user(
        self, name: str | None, role: str | None = None, server: str | None = None
    ) -> None:
        self._server = server if name else None
        if name:
            label = f"{name} ({role})" if role else name
            # Long names and roles elide (arrow included); the tooltip says it in full.
            metrics = self.user_button.fontMetrics()
            self.user_button.setText(metrics.elidedText(
                label, Qt.TextElideMode.ElideRight, USER_BUTTON_MAX_WIDTH - 40))
            self.user_button.setToolTip(
                f"{label}\nSigned in to {server}" if server else label)
        else:
            self.user_button.setText("Not signed in")
            self.user_button.setToolTip("")
        self.sign_out_action.setEnabled(bool(name))
        self.sign_out_action.setVisible(bool(name))

    def _on_sign_out_action_triggered(self) -> None:
        """Signing out ends the live view and revokes the token: ask first (non-modal)."""
        if self.sign_out_question is not None:
            self.sign_out_question.raise_()
            return
        question = QMessageBox(QMessageBox.Icon.Question, "Sign out — Supervisor Desk",
                               "Sign out of Supervisor Desk?", parent=self)
        question.setTextFormat(Qt.TextFormat.PlainText)
        where = self._server
        question.setInformativeText(
            "Live sessions stop updating and your sign-in is removed from this computer"
            + (f" and revoked on {where}." if where else ".")
        )
        confirm = question.addButton("Sign out", QMessageBox.ButtonRole.AcceptRole)
        question.addButton(QMessageBox.StandardButton.Cancel)
        question.setDefaultButton(confirm)
        question.finished.connect(self._on_sign_out_question_finished)
        self.sign_out_question = question
        question.open()

    def _on_sign_out_question_finished(self, _result: int) -> None:
        question, self.sign_out_question = self.sign_out_question, None
        if question is None:
            return
        clicked = question.clickedButton()
        confirmed = clicked is not None and \
            question.buttonRole(clicked) == QMessageBox.ButtonRole.AcceptRole
        question.deleteLater()
        if confirmed:
            self.sign_out_requested.emit()

    def set_signed_out(self, reason: str = "") -> None:
        """Nobody is signed in: empty cards and table, and a visible way to sign in."""
        self.set_user(None)
        self.sign_in_action.setVisible(True)
        self.signed_out_label.setText(
            f"{reason or 'You are signed out.'}\nSign in to watch live sessions again.")
        self.table.hide()
        self.signed_out_panel.show()
        for card in self.metric_cards.cards.values():
            card.set_value("—", "signed out")

    def set_signed_in(self) -> None:
        """Back from :meth:`set_signed_out` (the live figures follow from the feed)."""
        self.sign_in_action.setVisible(False)
        self.signed_out_panel.hide()
        self.table.show()
        for card in self.metric_cards.cards.values():
            card.set_value("…", "")

    def mark_left_list(self, session: Any) -> None:
        """The session the chat shows left the table it was chosen in: keep it, say so."""
        self.chat.set_list_note("No longer in this list")

    def set_metrics(self, metrics: LiveMetrics) -> None:
        self.metric_cards.set_metrics(metrics)

    def set_status(self, left: str, right: str = "") -> None:
        self.status_left.set_text(left)
        if self.status_right.text() != right:
            self.status_right.setText(right)

    def set_live_order(self, order: LiveOrder | str) -> None:
        value = LiveOrder(order).value
        index = self.order_combo.findData(value)
        if index >= 0:
            self.order_combo.setCurrentIndex(index)
        action = self.order_actions.get(value)
        if action is not None:
            action.setChecked(True)
        self.table.set_live_order(value)

    def _on_order_combo_activated(self, index: int) -> None:
        self.live_order_requested.emit(str(self.order_combo.itemData(index)))

    def _on_columns_action_triggered(self) -> None:
        menu = self.table.build_header_menu()
        header = self.table.horizontalHeader()
        menu.exec(header.mapToGlobal(header.rect().bottomLeft()))

    def reveal_session(self, session_id: str) -> bool:
        """Raise the window on the Live page with ``session_id`` selected (tray clicks)."""
        self.show_page(0)
        self.bring_to_front()
        return self.table.select_session(session_id)

    def set_time_zone(self, time_zone: str | tzinfo | None) -> None:
        """Show every time of this window (table, chat, dock) in ``time_zone``."""
        tz = resolve_time_zone(time_zone)
        self.live_model.set_time_zone(tz)
        self.chat.set_time_zone(tz)
        self.results_dock.set_time_zone(tz)

    def set_recent_files(self, paths: list[str]) -> None:
        """Rebuild File → Open recent; files that are gone are listed greyed out."""
        self.recent_menu.clear()
        for name in paths:
            path = Path(name)
            action = self.recent_menu.addAction(f"{path.name}  —  {path.parent}")
            action.setToolTip(name)
            if path.is_file():
                action.triggered.connect(lambda _=False, n=name: self.recent_file_requested.emit(n))
            else:
                action.setText(f"{path.name} (missing)  —  {path.parent}")
                action.setEnabled(False)
        if not paths:
            self.recent_menu.addAction("No recent files").setEnabled(False)
            return
        self.recent_menu.addSeparator()
        self.recent_menu.addAction("Clear recent").triggered.connect(self.recent_cleared)

    def _on_autostart_action_toggled(self, checked: bool) -> None:
        # A few hundred bytes in the user's autostart folder: cheap enough for the Qt thread.
        try:
            if checked:
                autostart.enable()
            else:
                autostart.disable()
        except OSError as error:
            self.statusBar().showMessage(f"Could not change start at login: {error}", 10_000)
            with QSignalBlocker(self.autostart_action):
                self.autostart_action.setChecked(autostart.is_enabled())

    def toggle_visible(self) -> None:
        """The tray icon's click: hide a window that is on screen, else bring it back."""
        if self.isVisible() and not self.isMinimized():
            self.hide()
        else:
            self.bring_to_front()

    def bring_to_front(self) -> None:
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    # ---------------------------------------------------------------- persistence and close

    def restore_state(self) -> None:
        if self._settings is None:
            return
        geometry = self._settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        state = self._settings.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)
        ratio = self._settings.value("window/split_ratio")
        with contextlib.suppress(TypeError, ValueError):
            if ratio is not None:
                self._split_ratio = min(0.9, max(0.1, float(str(ratio))))

    @property
    def on_screen(self) -> bool:
        """Shown and not minimised (closed to the tray or minimised: not)."""
        return self._screen_watch.on_screen

    def _on_screen_watch_changed(self, on_screen: bool) -> None:
        self.notification_area.set_on_screen(on_screen)
        self.on_screen_changed.emit(on_screen)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._splitter_initialized:
            self._splitter_initialized = True
            # Once laid out: before that the splitter has no real width, and a saved pixel
            # split would be stretched by factor instead of kept.
            QTimer.singleShot(0, self, self._apply_split_ratio)

    def _apply_split_ratio(self) -> None:
        total = max(1, sum(self.splitter.sizes()))
        first = round(total * self._split_ratio)
        self.splitter.setSizes([first, total - first])

    def split_ratio(self) -> float:
        sizes = self.splitter.sizes()
        total = sum(sizes)
        return sizes[0] / total if total > 0 else self._split_ratio

    def save_state(self) -> None:
        if self._settings is None:
            return
        self._settings.setValue("window/geometry", self.saveGeometry())
        self._settings.setValue("window/state", self.saveState())
        if self._splitter_initialized:
            self._settings.setValue("window/split_ratio", round(self.split_ratio(), 4))
        self.table.save_layout()
        self._settings.sync()

    def allow_close(self) -> None:
        """The app is quitting: let the next close() through."""
        self._allow_close = True

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_state()
        if self._allow_close:
            event.accept()
            return
        event.ignore()
        if self.close_to_tray:
            self.hide()
        else:
            self.quit_requested.emit()

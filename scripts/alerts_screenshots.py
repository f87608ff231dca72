#!/usr/bin/env python3
"""Screenshots of the alert rules UI in the light and dark themes, into docs/screenshots/.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/alerts_screenshots.py

Made from the real widgets with sample sessions (no hub): the Alerts panel with open alerts,
the rule editor (list and one rule), and the live table with highlighted rows.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication

from supervisor_desk.models.alerts.defaults import default_rules
from supervisor_desk.models.alerts.rules import (
    AllCondition,
    AnyCondition,
    FilterCondition,
    MetadataCondition,
    WaitCondition,
)
from supervisor_desk.models.filters import SessionFilter
from supervisor_desk.models.state import SessionChange
from supervisor_desk.models.wire import Message, SessionSummary
from supervisor_desk.views.alerts.editor import AlertRulesDialog, RuleDialog
from supervisor_desk.views.alerts.panel import AlertsPanel
from supervisor_desk.views.alerts.viewmodel import AlertsViewModel
from supervisor_desk.views.session_table_model import SessionTableModel
from supervisor_desk.views.session_table_view import SessionTableView
from supervisor_desk.views.theme import apply_theme

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
NAMES = ["Amelia Hart", "Bruno Díaz", "Chen Wei", "Dana Okafor", "Elif Şahin", "Farah Nasser",
         "Gustav Berg", "Hana Sato"]


def sessions(now: datetime) -> list[SessionSummary]:
    out = []
    for i, name in enumerate(NAMES):
        waited = [250, 95, 20, 5, 0, 0, 0, 0][i]
        status = "queued" if waited else "active"
        started = now - timedelta(seconds=waited or 300 + i * 40)
        out.append(SessionSummary.model_validate({
            "id": f"ses-{4711 + i}", "agent": {"id": "a1", "name": "Billing assistant"},
            "channel": ["web", "whatsapp", "telegram", "phone", "web", "email", "web", "web"][i],
            "status": status, "user": {"id": f"u{i}", "name": name},
            "location": {"country_code": ["DE", "ES", "CN", "NG", "TR", "AE", "SE", "JP"][i]},
            "started_at": started, "queued_at": started if status == "queued" else None,
            "accepted_at": None if status == "queued" else started + timedelta(seconds=4),
            "message_count": 3 + i,
            "metadata": {"sentiment": "negative"} if i == 5 else {},
        }))
    return out


def main() -> None:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    OUT.mkdir(parents=True, exist_ok=True)
    for theme in ("light", "dark"):
        apply_theme(app, theme)  # type: ignore[arg-type]
        now = datetime.now(UTC)
        live = sessions(now)
        vm = AlertsViewModel(default_rules(), user="Sam Supervisor")
        vm.reset(live)
        said = Message.model_validate({
            "id": "m1", "session_id": live[6].id, "seq": 1, "at": now,
            "author": {"role": "customer"}, "text": "This is a complaint. Cancel my account!"})
        vm.apply_batch([(SessionChange("message", live[6], said), False)])
        failed = live[4].model_copy(update={"status": "failed", "end_reason": "error",
                                            "ended_at": now, "version": 2})
        vm.apply_batch([(SessionChange("ended", failed), False)])
        live[4] = failed
        vm.acknowledge(vm.alerts()[-1].id)
        panel = AlertsPanel(vm)
        panel.resize(760, 300)
        panel.show()
        app.processEvents()
        panel.grab().save(str(OUT / f"alerts-panel-{theme}.png"))
        model = SessionTableModel()
        model.set_sessions(live)
        model.set_alerts(vm.highlight, list(vm.rules.wait_thresholds()))
        table = SessionTableView()
        table.setModel(model)
        table.resize(1200, 330)
        table.show()
        app.processEvents()
        table.grab().save(str(OUT / f"alerts-highlighted-rows-{theme}.png"))
        dialog = AlertRulesDialog(
            vm.rules, test=lambda rule, vm=vm, live=live: vm.matching(rule, live))
        dialog.list.setCurrentRow(0)
        dialog.test_selected()
        dialog.show()
        app.processEvents()
        dialog.grab().save(str(OUT / f"alerts-rule-editor-{theme}.png"))
        # A rule with a nested group: the editor's condition tree.
        nested = vm.rules.rules[1].model_copy(update={
            "name": "VIP waiting over 3 minutes",
            "condition": AllCondition(conditions=(
                WaitCondition(seconds=180),
                AnyCondition(conditions=(
                    MetadataCondition(key="tier", value="gold"),
                    FilterCondition(filter=SessionFilter(channel=("phone", "whatsapp")))))))})
        rule = RuleDialog(nested)
        rule.show()
        app.processEvents()
        rule.grab().save(str(OUT / f"alerts-rule-{theme}.png"))
        for widget in (panel, table, dialog, rule):
            widget.close()
            widget.deleteLater()
        app.processEvents()
    print("saved to", OUT)


if __name__ == "__main__":
    main()

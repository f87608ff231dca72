"""ObservableProperty: a view-model attribute that signals each real change once."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QObject, Signal

from supervisor_desk.views.properties import ObservableProperty


class _ViewModel(QObject):
    loading_changed = Signal(bool)
    error_changed = Signal(str)
    loading = ObservableProperty(False)
    error = ObservableProperty("")


def test_emits_on_change_only(qapp: object) -> None:
    vm = _ViewModel()
    seen: list[object] = []
    vm.loading_changed.connect(seen.append)
    vm.error_changed.connect(seen.append)
    assert vm.loading is False and vm.error == ""
    vm.loading = True
    vm.loading = True
    vm.error = "hub unreachable"
    vm.error = "hub unreachable"
    vm.loading = False
    assert seen == [True, "hub unreachable", False]


def test_each_instance_has_its_own_value(qapp: object) -> None:
    a, b = _ViewModel(), _ViewModel()
    a.loading = True
    assert a.loading is True and b.loading is False


def test_a_property_without_its_signal_is_refused() -> None:
    with pytest.raises(TypeError, match="needs a signal busy_changed"):

        class _Broken(QObject):
            busy = ObservableProperty(False)

"""Observable view-model properties: assigning a new value emits ``<name>_changed(value)``.

Replaces the hand-written trio of a private attribute, a ``_set_x`` that compares and a
``x_changed.emit``. The class declares the signal (Qt needs it in the class body) and the
property beside it::

    class HistoryViewModel(QObject):
        loading_changed = Signal(bool)
        loading = ObservableProperty(False)

    vm.loading = True   # emits loading_changed(True); assigning True again emits nothing
"""

from __future__ import annotations

from typing import Any, Self, overload


class ObservableProperty[T]:
    """A descriptor that stores a value per instance and emits its ``_changed`` signal."""

    def __init__(self, default: T) -> None:
        self._default = default
        self._attr = ""
        self._signal = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._attr = f"_observable_{name}"
        self._signal = f"{name}_changed"
        if not hasattr(owner, self._signal):
            raise TypeError(f"{owner.__name__}.{name} needs a signal {self._signal}")

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> Self: ...

    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> T: ...

    def __get__(self, obj: object | None, objtype: type | None = None) -> Self | T:
        if obj is None:
            return self
        value: T = obj.__dict__.get(self._attr, self._default)
        return value

    def __set__(self, obj: object, value: T) -> None:
        current: Any = obj.__dict__.get(self._attr, self._default)
        if type(current) is type(value) and current == value:
            return
        obj.__dict__[self._attr] = value
        getattr(obj, self._signal).emit(value)

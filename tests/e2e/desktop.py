"""A throw-away real desktop for end-to-end tests: Xvfb, a private D-Bus session bus, an XEmbed
tray host (trayer), a notification server the tests own and, optionally, an unlocked
gnome-keyring (a real SecretService keyring).

Used by the ``virtual_desktop`` fixture in ``conftest.py``; importable on its own so a person
can start the same desktop from a shell to look at the app::

    .venv/bin/python -c "from tests.e2e.desktop import VirtualDesktop; ..."

Everything runs in a private temp dir with its own HOME/XDG dirs; nothing touches the user's
real session, bus or keyring. ``stop()`` ends every process it started (by pid) and is safe to
call twice.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NOTIFICATION_SERVICE = HERE / "notification_service.py"
KEYRING_PASSWORD = "e2e-keyring-password"

# Every external program the bench runs, with the Debian package that provides it.
TOOLS = {
    "Xvfb": "xvfb",
    "dbus-daemon": "dbus",
    "trayer": "trayer",
    "xdotool": "xdotool",
    "xwininfo": "x11-utils",
    "import": "imagemagick",
    "gnome-keyring-daemon": "gnome-keyring",
}

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <!-- No <servicedir>: nothing is D-Bus-activated behind the tests' back (the system's dunst
       or a locked gnome-keyring would otherwise start on first use). -->
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class DesktopError(RuntimeError):
    """The virtual desktop could not be started."""


def missing_tools(keyring: bool = True) -> list[str]:
    """Names of required programs not on PATH, as 'program (debian-package)'."""
    wanted = dict(TOOLS)
    if not keyring:
        wanted.pop("gnome-keyring-daemon")
    return [f"{tool} ({pkg})" for tool, pkg in wanted.items() if shutil.which(tool) is None]


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str,
              proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise DesktopError(f"{what}: process exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise DesktopError(f"{what}: not ready within {timeout} s")
        time.sleep(0.05)


class _XClientMessageEvent(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", ctypes.c_ulong),
                ("message_type", ctypes.c_ulong), ("format", ctypes.c_int),
                ("data", ctypes.c_long * 5)]


class _XEvent(ctypes.Structure):
    _fields_ = [("pad", ctypes.c_long * 24)]  # XEvent is a union padded to 24 longs


class _X11:
    """Just enough Xlib through ctypes to ask who owns a selection (no python-xlib needed)."""

    def __init__(self, display: str) -> None:
        path = ctypes.util.find_library("X11") or "libX11.so.6"
        self.lib = ctypes.CDLL(path)
        self.lib.XOpenDisplay.restype = ctypes.c_void_p
        self.lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
        self.lib.XInternAtom.restype = ctypes.c_ulong
        self.lib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        self.lib.XGetSelectionOwner.restype = ctypes.c_ulong
        self.lib.XGetSelectionOwner.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        self.lib.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self.display = display

    def send_delete_window(self, window: int) -> None:
        """What a window manager's close button does: a WM_DELETE_WINDOW client message."""
        dpy = self.lib.XOpenDisplay(self.display.encode())
        if not dpy:
            raise DesktopError(f"cannot open X display {self.display}")
        try:
            protocols = self.lib.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
            delete = self.lib.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
            event = _XClientMessageEvent(type=33, serial=0, send_event=1, display=dpy,
                                         window=window, message_type=protocols, format=32)
            event.data[0] = delete
            buf = _XEvent()
            ctypes.memmove(ctypes.byref(buf), ctypes.byref(event), ctypes.sizeof(event))
            self.lib.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int,
                                            ctypes.c_long, ctypes.c_void_p]
            if not self.lib.XSendEvent(dpy, window, 0, 0, ctypes.byref(buf)):
                raise DesktopError("XSendEvent failed")
            self.lib.XFlush.argtypes = [ctypes.c_void_p]
            self.lib.XFlush(dpy)
        finally:
            self.lib.XCloseDisplay(dpy)

    def selection_owner(self, selection: str) -> int:
        dpy = self.lib.XOpenDisplay(self.display.encode())
        if not dpy:
            raise DesktopError(f"cannot open X display {self.display}")
        try:
            atom = self.lib.XInternAtom(dpy, selection.encode(), 0)
            return int(self.lib.XGetSelectionOwner(dpy, atom))
        finally:
            self.lib.XCloseDisplay(dpy)


class VirtualDesktop:
    """Xvfb + session bus + tray host + notification capture (+ gnome-keyring)."""

    def __init__(self, *, size: tuple[int, int] = (1600, 1000), keyring: bool = True,
                 tray: bool = True, workdir: Path | None = None) -> None:
        self.size = size
        self.with_keyring = keyring
        self.with_tray = tray
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="sd-desktop-"))
        self.display = ""
        self.bus_address = ""
        self.notifications_file = self.workdir / "notifications.jsonl"
        self.logs = self.workdir / "logs"
        self._procs: list[tuple[str, subprocess.Popen[Any]]] = []
        self._x11: _X11 | None = None
        self._base_env: dict[str, str] = {}

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> VirtualDesktop:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        home = self.workdir / "home"
        runtime = self.workdir / "runtime"
        for d in (home, runtime):
            d.mkdir(exist_ok=True)
        runtime.chmod(0o700)
        self._base_env = {
            "HOME": str(home),
            "XDG_RUNTIME_DIR": str(runtime),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local/share"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_STATE_HOME": str(home / ".local/state"),
            "XDG_CURRENT_DESKTOP": "X-SupervisorDeskTest",
            "QT_QPA_PLATFORM": "xcb",
            "NO_AT_BRIDGE": "1",  # GTK (trayer) would look for an accessibility bus otherwise
        }
        self._start_xvfb()
        self._start_bus()
        self._start_notifications()
        if self.with_keyring:
            self._start_keyring()
        if self.with_tray:
            self._start_tray()

    def stop(self) -> None:
        """Terminate everything in reverse start order; kill what does not exit in 3 s."""
        while self._procs:
            _name, proc = self._procs.pop()
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    proc.wait(timeout=3)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> VirtualDesktop:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- pieces
    def _spawn(self, name: str, argv: Sequence[str], **kw: Any) -> subprocess.Popen[Any]:
        log = (self.logs / f"{name}.log").open("ab")
        kw.setdefault("stdout", log)
        kw.setdefault("stderr", log)
        kw.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(list(argv), env=kw.pop("env", self.env), **kw)
        log.close()  # the child holds its own descriptor
        self._procs.append((name, proc))
        return proc

    def _start_xvfb(self) -> None:
        # -displayfd lets the server pick a free display itself: no racing on lock files.
        read_fd, write_fd = os.pipe()
        try:
            w, h = self.size
            self._spawn("xvfb", ["Xvfb", "-displayfd", str(write_fd), "-screen", "0",
                                 f"{w}x{h}x24", "-nolisten", "tcp", "-noreset"],
                        pass_fds=(write_fd,), env={**os.environ, **self._base_env})
            os.close(write_fd)
            write_fd = -1
            data = b""
            deadline = time.monotonic() + 15
            while not data.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([read_fd], [], [], left)[0]:
                    raise DesktopError("Xvfb did not report a display within 15 s")
                chunk = os.read(read_fd, 64)
                if not chunk:
                    raise DesktopError("Xvfb exited before reporting its display")
                data += chunk
        finally:
            os.close(read_fd)
            if write_fd >= 0:
                os.close(write_fd)
        self.display = f":{data.decode().strip()}"
        self._x11 = _X11(self.display)

    def _start_bus(self) -> None:
        socket = self.workdir / "bus"
        config = self.workdir / "session.conf"
        config.write_text(_BUS_CONFIG.format(socket=socket))
        proc = self._spawn("dbus", ["dbus-daemon", f"--config-file={config}", "--nofork",
                                    "--print-address=1"],
                           stdout=subprocess.PIPE, env={**os.environ, **self._base_env})
        assert proc.stdout is not None
        ready = select.select([proc.stdout], [], [], 10)[0]
        line = proc.stdout.readline().decode().strip() if ready else ""
        if not line:
            raise DesktopError("dbus-daemon did not print its address")
        self.bus_address = line

    def bus_name_has_owner(self, name: str) -> bool:
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection

        dbus = DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus",
                           interface="org.freedesktop.DBus")
        with open_dbus_connection(bus=self.bus_address) as conn:
            reply = conn.send_and_get_reply(new_method_call(dbus, "NameHasOwner", "s", (name,)))
            return bool(reply.body[0])

    def _start_notifications(self) -> None:
        self.notifications_file.touch()
        proc = self._spawn("notifications", [sys.executable, str(NOTIFICATION_SERVICE),
                                             str(self.notifications_file)])
        _wait_for(lambda: self.bus_name_has_owner("org.freedesktop.Notifications"), 10,
                  "notification service", proc)

    def _start_keyring(self) -> None:
        # --unlock reads the password on stdin and creates/unlocks the "login" collection,
        # which becomes the default one keyring's SecretService backend writes to.
        proc = self._spawn("gnome-keyring", ["gnome-keyring-daemon", "--foreground",
                                             "--unlock", "--components=secrets"],
                           stdin=subprocess.PIPE)
        assert proc.stdin is not None
        proc.stdin.write(KEYRING_PASSWORD.encode())
        proc.stdin.close()
        _wait_for(lambda: self.bus_name_has_owner("org.freedesktop.secrets"), 15,
                  "gnome-keyring-daemon", proc)

    def _start_tray(self) -> None:
        proc = self._spawn("trayer", ["trayer", "--edge", "top", "--align", "right",
                                      "--widthtype", "request", "--height", "24",
                                      "--SetDockType", "true", "--transparent", "false",
                                      "--tint", "0x303030", "--expand", "true"])
        _wait_for(lambda: self.tray_owner() != 0, 15, "trayer (_NET_SYSTEM_TRAY_S0)", proc)

    # ----------------------------------------------------------------- queries
    @property
    def env(self) -> dict[str, str]:
        """Environment for a program on this desktop.

        Built from the *current* ``os.environ`` (so a test's isolated profile variables such as
        SUPERVISOR_DESK_HOME are kept), minus the offscreen platform the unit tests use.
        """
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("QT_QPA_", "WAYLAND_", "PYTEST_", "SESSION_MANAGER",
                                    "PYTHON_KEYRING_BACKEND", "SUPERVISOR_DESK_STATE_FILE"))}
        keep_profile = {k: os.environ[k] for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME",
                                                   "XDG_CACHE_HOME", "XDG_STATE_HOME")
                        if k in os.environ}
        env.update(self._base_env)
        env.update(keep_profile)  # the test's own profile wins over the desktop's defaults
        env["DISPLAY"] = self.display
        env["DBUS_SESSION_BUS_ADDRESS"] = self.bus_address
        return env

    def tray_owner(self) -> int:
        """X window id owning the system tray selection (0 = no tray)."""
        assert self._x11 is not None
        return self._x11.selection_owner("_NET_SYSTEM_TRAY_S0")

    def run(self, argv: Sequence[str], timeout: float = 20, check: bool = True,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(argv), env=dict(env or self.env), capture_output=True,
                              text=True, timeout=timeout, check=check)

    def screenshot(self, path: Path | str) -> Path:
        """PNG of the whole screen (tray included), for a person to look at."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.run(["import", "-display", self.display, "-window", "root", str(path)], timeout=30)
        return path

    def notifications(self) -> list[dict[str, Any]]:
        """Every Notify call received so far, oldest first (see notification_service.py)."""
        text = self.notifications_file.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def clear_notifications(self) -> None:
        self.notifications_file.write_text("")

    def wait_for_notification(self, predicate: Callable[[dict[str, Any]], bool],
                              timeout: float = 20) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        def check() -> bool:
            found[:] = [n for n in self.notifications() if predicate(n)]
            return bool(found)

        _wait_for(check, timeout, "matching notification")
        return found[0]

    def invoke_notification(self, notification_id: int, action: str = "default") -> None:
        """Play the user clicking a notification (ActionInvoked + NotificationClosed)."""
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection

        addr = DBusAddress("/org/freedesktop/Notifications",
                           bus_name="org.freedesktop.Notifications",
                           interface="io.github.supervisordesk.TestNotifications")
        with open_dbus_connection(bus=self.bus_address) as conn:
            conn.send_and_get_reply(new_method_call(addr, "Invoke", "us",
                                                    (notification_id, action)))

    def window_tree(self) -> str:
        return self.run(["xwininfo", "-root", "-tree"]).stdout

    def tray_embedded_windows(self) -> list[int]:
        """Icons embedded in the tray host: X windows the host reparented into its panel.

        trayer wraps each XEmbed client in a GtkSocket inside its own toplevel; the clients
        are the windows below that toplevel which belong to another program. We ask the tray
        host's toplevel for its descendants and keep the ones xdotool can map to a pid other
        than trayer's.
        """
        trayer_pids = {p.pid for name, p in self._procs if name == "trayer"}
        ids: list[int] = []
        for wid in self._descendants_of_tray():
            pid = self._window_pid(wid)
            if pid is not None and pid not in trayer_pids:
                ids.append(wid)
        return ids

    def _descendants_of_tray(self) -> list[int]:
        trayer_pids = {p.pid for name, p in self._procs if name == "trayer"}
        roots = [w for w in self._toplevels() if self._window_pid(w) in trayer_pids]
        out: list[int] = []
        for root in roots:
            tree = self.run(["xwininfo", "-id", hex(root), "-tree"]).stdout
            for line in tree.splitlines():
                token = line.strip().split(" ", 1)[0]
                if token.startswith("0x"):
                    wid = int(token, 16)
                    if wid != root:
                        out.append(wid)
        return out

    def _toplevels(self) -> list[int]:
        out = []
        for line in self.run(["xwininfo", "-root", "-children"]).stdout.splitlines():
            token = line.strip().split(" ", 1)[0]
            if token.startswith("0x"):
                out.append(int(token, 16))
        return out

    def _window_pid(self, wid: int) -> int | None:
        res = self.run(["xdotool", "getwindowpid", str(wid)], check=False)
        try:
            return int(res.stdout.strip())
        except ValueError:
            return None

    def visible_windows(self, name: str | None = None, pid: int | None = None) -> list[int]:
        """Mapped top-level windows matching a title regex and/or a pid (xdotool search)."""
        argv = ["xdotool", "search", "--all", "--onlyvisible"]
        if pid is not None:
            argv += ["--pid", str(pid)]
        argv += ["--name", name or "."]
        res = self.run(argv, check=False)
        return [int(x) for x in res.stdout.split()]

    def close_window(self, window: int) -> None:
        """Ask a window to close as a window manager's close button would."""
        assert self._x11 is not None
        self._x11.send_delete_window(window)

    def is_viewable(self, window: int) -> bool:
        res = self.run(["xwininfo", "-id", str(window)], check=False)
        return "Map State: IsViewable" in res.stdout

    def focus(self, window: int) -> None:
        """Give a window the keyboard focus (there is no window manager to do it)."""
        self.run(["xdotool", "windowraise", str(window)], check=False)
        self.run(["xdotool", "windowfocus", "--sync", str(window)])

    def type_text(self, text: str) -> None:
        self.run(["xdotool", "type", "--delay", "15", "--", text], timeout=60)

    def key(self, *keys: str) -> None:
        self.run(["xdotool", "key", "--delay", "60", *keys])

    def click(self, window: int, button: int = 1) -> None:
        """Click the middle of an X window (e.g. the tray icon) with the pointer."""
        geo = self.run(["xdotool", "getwindowgeometry", "--shell", str(window)]).stdout
        vals = dict(line.split("=", 1) for line in geo.splitlines() if "=" in line)
        x = int(vals["X"]) + int(vals["WIDTH"]) // 2
        y = int(vals["Y"]) + int(vals["HEIGHT"]) // 2
        self.run(["xdotool", "mousemove", "--sync", str(x), str(y), "click", str(button)])

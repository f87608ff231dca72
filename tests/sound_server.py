"""A throw-away PulseAudio server with a null sink, for tests that check sound really plays.

``PulseNullSink`` starts ``pulseaudio`` in a temp dir (own runtime dir and socket, no user
session, works as root), points ``PULSE_SERVER`` at it, and records the sink's monitor with
``parec`` so a test can ask whether non-silent samples reached it. ``stop()`` ends what it
started, by pid.
"""

from __future__ import annotations

import array
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

SINK = "alerts_null"


class PulseNullSink:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pulse-"))
        self.socket = self.dir / "native"
        self.recording = self.dir / "monitor.raw"
        self._server: subprocess.Popen[bytes] | None = None
        self._recorder: subprocess.Popen[bytes] | None = None
        self._old_env: str | None = None

    @staticmethod
    def available() -> bool:
        return all(shutil.which(tool) for tool in ("pulseaudio", "parec", "pactl"))

    @property
    def server(self) -> str:
        return f"unix:{self.socket}"

    def env(self) -> dict[str, str]:
        return {"PULSE_SERVER": self.server}

    def start(self, timeout: float = 10.0) -> None:
        config = self.dir / "default.pa"
        config.write_text(
            f"load-module module-null-sink sink_name={SINK}\n"
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={self.socket}\n"
            f"set-default-sink {SINK}\n"
        )
        env = {**os.environ, "PULSE_RUNTIME_PATH": str(self.dir), "HOME": str(self.dir)}
        self._server = subprocess.Popen(
            ["pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "-n", "-F", str(config),
             "--use-pid-file=no", "--disable-shm=yes", "--log-target=stderr"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self._server.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("pulseaudio did not start")
            time.sleep(0.05)
        self._old_env = os.environ.get("PULSE_SERVER")
        os.environ["PULSE_SERVER"] = self.server
        self._recorder = subprocess.Popen(
            ["parec", "-d", f"{SINK}.monitor", "--format=s16le", "--channels=1",
             "--rate=44100", "--raw", "--latency-msec=20"],
            env={**os.environ, "PULSE_SERVER": self.server},
            stdout=self.recording.open("wb"), stderr=subprocess.DEVNULL,
        )

    def _ready(self) -> bool:
        if not self.socket.exists():
            return False
        result = subprocess.run(["pactl", "--server", self.server, "info"],
                                capture_output=True, check=False)
        return result.returncode == 0

    def recorded(self) -> int:
        """How many bytes of the sink's monitor are recorded so far (a mark for ``peak``)."""
        return self.recording.stat().st_size if self.recording.exists() else 0

    def peak(self, since: int = 0) -> int:
        """The loudest sample the null sink has played so far, or after the mark ``since``
        (0: silence)."""
        data = self.recording.read_bytes()[since - since % 2:]
        samples = array.array("h")
        samples.frombytes(data[: len(data) // 2 * 2])
        return max((abs(s) for s in samples), default=0)

    def sink_inputs(self) -> str:
        return subprocess.run(["pactl", "--server", self.server, "list", "sink-inputs"],
                              capture_output=True, text=True, check=False).stdout

    def stop(self) -> None:
        for proc in (self._recorder, self._server):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._recorder = self._server = None
        if self._old_env is None:
            os.environ.pop("PULSE_SERVER", None)
        else:
            os.environ["PULSE_SERVER"] = self._old_env
        shutil.rmtree(self.dir, ignore_errors=True)


def null_sink_or_skip() -> Iterator[PulseNullSink]:
    """Body of a ``pulse`` fixture: a started null sink, stopped afterwards (skip without
    pulseaudio)."""
    import pytest

    if not PulseNullSink.available():
        pytest.skip("pulseaudio/pulseaudio-utils not installed (scripts/system-deps.sh)")
    server = PulseNullSink()
    server.start()
    yield server
    server.stop()

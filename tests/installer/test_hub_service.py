"""The supervisor-hub package's systemd unit, options file and maintainer scripts.

The built package itself is installed, run, upgraded and purged by installer/check-hub-deb.sh
in CI (.ci/run); these catch mistakes in its inputs without a build.
"""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from supervisor_desk.hub.cli import _parser

HUB = Path(__file__).resolve().parents[2] / "installer" / "hub"
UNIT = HUB / "supervisor-hub.service"
CONF = HUB / "supervisor-hub.conf"
STATE = "/var/lib/supervisor-hub"

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")


def _unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    unit.read_string(UNIT.read_text(encoding="utf-8"))
    return unit


def _options_file() -> dict[str, str]:
    values = {}
    for line in CONF.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key] = shlex.split(value)[0]
    return values


def _serve_args(extra: list[str]) -> object:
    return _parser().parse_args(["serve", "--db", f"{STATE}/hub.db", *extra])


@needs_systemd_analyze
def test_unit_verifies_without_a_single_warning(tmp_path: Path) -> None:
    program = tmp_path / "supervisor-hub"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    unit = tmp_path / "supervisor-hub.service"
    unit.write_text(UNIT.read_text().replace("/usr/bin/supervisor-hub", str(program)))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stderr


@needs_systemd_analyze
def test_unit_is_rated_well_hardened_by_systemd(tmp_path: Path) -> None:
    result = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(UNIT)],
                            capture_output=True, text=True, check=False)
    found = re.search(r"Overall exposure level for supervisor-hub.service: ([\d.]+)",
                      result.stdout + result.stderr)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) < 2.0  # systemd's "OK" band; a stock service scores 9.6


def test_service_runs_as_its_own_user_with_state_and_hardening() -> None:
    service = _unit()["Service"]
    assert service["User"] == service["Group"] == "supervisor-hub"
    assert service["StateDirectory"] == "supervisor-hub"
    assert service["EnvironmentFile"] == "/etc/supervisor-hub/supervisor-hub.conf"
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "ProtectKernelTunables",
                "ProtectKernelModules", "ProtectControlGroups", "RestrictSUIDSGID"):
        assert service[key] == "yes", key
    assert service["ProtectSystem"] == "strict"
    assert service["RestrictAddressFamilies"].split() == ["AF_INET", "AF_INET6", "AF_UNIX"]
    assert service["CapabilityBoundingSet"] == ""
    # No StandardOutput=file:…: the hub logs to stderr, which systemd sends to the journal.
    assert "StandardOutput" not in service and "StandardError" not in service


def test_start_migrates_then_serves_the_database_in_the_state_directory() -> None:
    service = _unit()["Service"]
    pre = shlex.split(service["ExecStartPre"])
    start = shlex.split(service["ExecStart"])
    assert pre == ["/usr/bin/supervisor-hub", "init", "--db", f"{STATE}/hub.db"]
    assert start[:4] == ["/usr/bin/supervisor-hub", "serve", "--db", f"{STATE}/hub.db"]
    assert start[4:] == ["$SUPERVISOR_HUB_OPTIONS"]  # unquoted: systemd splits it into words


def test_shipped_options_are_valid_serve_options_on_loopback() -> None:
    options = _options_file()
    assert set(options) == {"SUPERVISOR_HUB_OPTIONS"}
    args = _serve_args(shlex.split(options["SUPERVISOR_HUB_OPTIONS"]))
    assert args.host == "127.0.0.1"  # type: ignore[attr-defined]  # network only on purpose
    assert args.port == 8765  # type: ignore[attr-defined]


def test_commented_network_example_is_valid_too() -> None:
    example = next(line for line in CONF.read_text().splitlines()
                   if line.startswith("#   SUPERVISOR_HUB_OPTIONS="))
    args = _serve_args(shlex.split(shlex.split(example.partition("=")[2])[0]))
    assert str(args.tls_key) == "/etc/supervisor-hub/hub.key"  # type: ignore[attr-defined]


@pytest.mark.parametrize("script", ["postinst", "prerm", "postrm"])
def test_maintainer_scripts_are_posix_sh_and_executable(script: str) -> None:
    path = HUB / script
    assert path.stat().st_mode & 0o111
    assert path.read_text().startswith("#!/bin/sh\n")
    result = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    if shutil.which("checkbashisms"):
        assert subprocess.run(["checkbashisms", str(path)], check=False).returncode == 0


def test_purge_deletes_state_and_user_but_remove_keeps_them() -> None:
    postrm = (HUB / "postrm").read_text()
    purge = postrm[postrm.index('if [ "$1" = "purge" ]'):]
    assert f"rm -rf {STATE}" in purge and "deluser --system" in purge
    assert postrm.count(f"rm -rf {STATE}") == 1  # only under purge

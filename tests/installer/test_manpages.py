"""installer/manpages.py: the manual pages follow the programs' argparse definitions."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("manpages", ROOT / "installer" / "manpages.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("man")
    assert _generator().main([str(out), "9.8.7"]) == 0
    return {p.stem: p.read_text(encoding="utf-8") for p in out.glob("*.1")}


def test_a_page_per_program_with_the_version(pages: dict[str, str]) -> None:
    assert set(pages) == {"supervisor-desk", "supervisor-hub"}
    for name, text in pages.items():
        assert text.startswith(f'.TH "{name.upper()}" "1"')
        assert f"{name} 9.8.7" in text


def test_hub_page_lists_every_command_and_serve_option(pages: dict[str, str]) -> None:
    from supervisor_desk.hub.cli import _parser

    text = pages["supervisor-hub"]
    for command in ("init", "user add", "token create", "webhook add", "import\\-audio",
                    "serve"):
        assert f".SS supervisor\\-hub {command}" in text
    serve = next(a for a in _parser()._actions if a.dest == "command").choices["serve"]
    for action in serve._actions:
        for option in action.option_strings:
            assert f"\\fB{option.replace('-', chr(92) + '-')}\\fR" in text
    assert "/etc/supervisor\\-hub/supervisor\\-hub.conf" in text


def test_desk_page_shows_public_options_only(pages: dict[str, str]) -> None:
    text = pages["supervisor-desk"]
    for option in ("\\-\\-server", "\\-\\-ca\\-file", "\\-\\-demo", "\\-\\-version"):
        assert f"\\fB{option}\\fR" in text
    assert ".SS supervisor\\-desk open" in text
    assert "demo\\-rate" not in text  # argparse.SUPPRESS: hidden from --help, so from the page


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")
def test_pages_render_without_roff_warnings(pages: dict[str, str], tmp_path: Path) -> None:
    for name, text in pages.items():
        page = tmp_path / f"{name}.1"
        page.write_text(text, encoding="utf-8")
        result = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(page)],
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0 and result.stderr == "", (name, result.stderr)


def test_command_line_writes_the_pages(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "installer" / "manpages.py"),
                             str(tmp_path), "1.0"], capture_output=True, text=True,
                            check=False, env={"PYTHONPATH": str(ROOT / "src"),
                                              "SOURCE_DATE_EPOCH": "1700000000"})
    assert result.returncode == 0, result.stderr
    assert '"2023-11-14"' in (tmp_path / "supervisor-hub.1").read_text(encoding="utf-8")

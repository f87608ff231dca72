"""Files of a session on a real hub: upload, sniffed types, Range and ETag, limits, cut uploads."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from supervisor_desk.hub.embedded import EmbeddedHub
from supervisor_desk.hub.files import sniff
from tests.hub.conftest import Api, assert_error
from tests.hub.factories import started

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


def _session(api: Api, session_id: str = "s1") -> str:
    assert api.ingest([started(session_id)]).status_code == 200
    return session_id


def _upload(api: Api, session_id: str, body: bytes, name: str = "f.bin",
            content_type: str = "audio/wav") -> dict[str, object]:
    answer = api.post(f"/sessions/{session_id}/files", role="ingest", content=body,
                      params={"name": name}, headers={"Content-Type": content_type})
    assert answer.status_code in (200, 201), answer.text
    result: dict[str, object] = answer.json()
    return result


def _blobs(hub: EmbeddedHub) -> list[Path]:
    root = hub.storage.blob_dir
    return [p for p in root.rglob("*") if p.is_file()]


def test_sniffing_reads_the_bytes_not_the_name() -> None:
    assert sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ") == "audio/wav"
    assert sniff(b"fLaC\x00\x00") == "audio/flac"
    assert sniff(b"OggS\x00\x02" + b"\x00" * 22 + b"OpusHead") == "audio/ogg; codecs=opus"
    assert sniff(b"OggS\x00\x02" + b"\x00" * 22 + b"\x01vorbis") == "audio/ogg"
    assert sniff(b"ID3\x04\x00") == "audio/mpeg"
    assert sniff(b"\xff\xfb\x90\x64") == "audio/mpeg"
    assert sniff(PNG) == "image/png"
    assert sniff(b"\xff\xd8\xff\xe0") == "image/jpeg"
    assert sniff(b"GIF89a") == "image/gif"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff(b"%PDF-1.7") == "application/pdf"
    assert sniff(b"<html><script>") == "application/octet-stream"


def test_upload_then_download_whole_ranges_and_etag(api: Api) -> None:
    sid = _session(api)
    info = _upload(api, sid, PNG, name="shot é.png", content_type="text/html")
    digest = hashlib.sha256(PNG).hexdigest()
    assert info["id"] == digest and info["url"] == f"hub:{digest}"
    assert info["mime"] == "image/png" and info["size"] == len(PNG)  # the client's type ignored
    again = api.post(f"/sessions/{sid}/files", role="ingest", content=PNG)
    assert again.status_code == 200 and again.json()["id"] == digest  # same bytes: one file
    url = f"/sessions/{sid}/files/{digest}"

    whole = api.get(url)
    assert whole.status_code == 200 and whole.content == PNG
    assert whole.headers["etag"] == f'"{digest}"'
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "image/png"
    assert whole.headers["x-content-type-options"] == "nosniff"
    assert "filename*=UTF-8''shot%20%C3%A9.png" in whole.headers["content-disposition"]

    size = len(PNG)
    for header, first, last in (("bytes=0-99", 0, 99), ("bytes=100-", 100, size - 1),
                                ("bytes=-10", size - 10, size - 1),
                                (f"bytes=5-{size + 50}", 5, size - 1)):
        part = api.get(url, headers={"Range": header})
        assert part.status_code == 206, header
        assert part.headers["content-range"] == f"bytes {first}-{last}/{size}"
        assert part.content == PNG[first : last + 1]
    for header in (f"bytes={size}-", "bytes=-0"):
        refused = api.get(url, headers={"Range": header})
        assert_error(refused, 416, "range_not_satisfiable")
        assert refused.headers["content-range"] == f"bytes */{size}"
    # Several ranges, other units, nonsense: ignored, the whole file.
    for header in ("bytes=0-1,5-6", "items=0-1", "bytes=9-3"):
        assert api.get(url, headers={"Range": header}).content == PNG

    cached = api.get(url, headers={"If-None-Match": f'"{digest}"'})
    assert cached.status_code == 304 and cached.content == b""
    assert api.get(url, headers={"If-None-Match": '"other"'}).status_code == 200

    listed = api.get(f"/sessions/{sid}/files").json()["items"]
    assert [item["id"] for item in listed] == [digest]


def test_unknown_sessions_files_and_roles_get_the_error_model(api: Api) -> None:
    sid = _session(api)
    assert_error(api.post("/sessions/nobody/files", role="ingest", content=b"x"), 404, "not_found")
    assert_error(api.get(f"/sessions/{sid}/files/{'0' * 64}"), 404, "not_found")
    assert_error(api.get(f"/sessions/{sid}/files/not-a-hash"), 404, "not_found")
    assert_error(api.get(f"/sessions/nobody/files/{'0' * 64}"), 404, "not_found")
    assert_error(api.post(f"/sessions/{sid}/files", role="viewer", content=b"x"), 403)
    assert_error(api.post(f"/sessions/{sid}/files", role="ingest", content=b""), 422,
                 "empty_file")
    digest = str(_upload(api, sid, PNG)["id"])
    assert_error(api.get(f"/sessions/{sid}/files/{digest}", role="ingest"), 403)
    # Another session does not see this session's file.
    other = _session(api, "s2")
    assert_error(api.get(f"/sessions/{other}/files/{digest}"), 404, "not_found")


def test_over_the_limit_is_413_and_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, hub_backend: str
) -> None:
    monkeypatch.setenv("SUPERVISOR_HUB_MAX_FILE_MB", "0.5")
    api: Api = request.getfixturevalue("api")  # the hub starts after the variable is set
    hub = api.hub
    sid = _session(api)
    big = b"\x00" * (600 * 1024)
    body = assert_error(api.post(f"/sessions/{sid}/files", role="ingest", content=big), 413,
                        "payload_too_large")
    assert "524288 bytes" in body["message"]

    def chunks() -> object:  # no Content-Length: counted while read
        for _ in range(6):
            yield b"\x01" * (100 * 1024)

    assert_error(api.post(f"/sessions/{sid}/files", role="ingest", content=chunks()), 413,
                 "payload_too_large")
    assert _blobs(hub) == []
    assert api.get(f"/sessions/{sid}/files").json()["items"] == []


def test_an_upload_cut_off_half_way_leaves_nothing(api: Api) -> None:
    hub = api.hub
    sid = _session(api)
    address = urlsplit(hub.url)
    with socket.create_connection((address.hostname, address.port)) as raw:
        raw.sendall(
            f"POST /api/v1/sessions/{sid}/files?name=cut.wav HTTP/1.1\r\n"
            f"Host: {address.netloc}\r\nAuthorization: Bearer {api.token('ingest')}\r\n"
            "Content-Length: 200000\r\n\r\n".encode() + b"RIFF" + b"\x00" * 50_000
        )
        deadline = time.monotonic() + 10
        root = hub.storage.blob_dir / "tmp"
        while not list(root.glob("*.part")) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert list(root.glob("*.part")), "the hub should be receiving the upload"
    deadline = time.monotonic() + 10
    while _blobs(hub) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _blobs(hub) == []
    assert api.get(f"/sessions/{sid}/files").json()["items"] == []


def test_a_starting_hub_clears_only_stale_upload_parts(tmp_path: Path) -> None:
    """A part file left by a hub killed mid-upload goes; one another replica sharing the
    folder is writing right now stays."""
    from supervisor_desk.hub.files import STALE_UPLOAD_S, LocalBlobStore

    (tmp_path / "tmp").mkdir()
    stale, running = tmp_path / "tmp" / "upload-old.part", tmp_path / "tmp" / "upload-new.part"
    stale.write_bytes(b"left behind")
    running.write_bytes(b"arriving")
    long_ago = time.time() - STALE_UPLOAD_S - 60
    os.utime(stale, (long_ago, long_ago))
    LocalBlobStore(tmp_path)
    assert not stale.exists() and running.exists()


def test_serve_flags_set_the_file_limit_and_transcription_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from supervisor_desk.hub.cli import _parser
    from supervisor_desk.hub.transcribe.jobs import VoiceSettings

    monkeypatch.setenv("SUPERVISOR_HUB_MAX_FILE_MB", "3")
    monkeypatch.setenv("SUPERVISOR_HUB_TRANSCRIBE_WORKERS", "4")
    monkeypatch.setenv("SUPERVISOR_HUB_TRANSCRIBE_DUTY", "0.5")
    args = _parser().parse_args(["serve", "--max-file-mb", "0.5", "--transcribe-workers", "2",
                                 "--transcribe-duty", "1"])
    flags = VoiceSettings.from_env().override(max_file_mb=args.max_file_mb,
                                              workers=args.transcribe_workers,
                                              duty=args.transcribe_duty)
    assert flags == VoiceSettings(max_file_bytes=512 * 1024, workers=2, duty=1.0)
    # Without the flags, the environment; without either, 200 MiB, one worker, duty 0.3.
    unset = _parser().parse_args(["serve"])
    assert VoiceSettings.from_env().override(
        max_file_mb=unset.max_file_mb, workers=unset.transcribe_workers,
        duty=unset.transcribe_duty,
    ) == VoiceSettings(max_file_bytes=3 * 1024 * 1024, workers=4, duty=0.5)
    for name in ("MAX_FILE_MB", "TRANSCRIBE_WORKERS", "TRANSCRIBE_DUTY"):
        monkeypatch.delenv(f"SUPERVISOR_HUB_{name}")
    assert VoiceSettings.from_env() == VoiceSettings(max_file_bytes=200 * 1024 * 1024,
                                                     workers=1, duty=0.3)
    with pytest.raises(SystemExit):
        _parser().parse_args(["serve", "--transcribe-workers", "0"])

"""Recordings that travel with an export, for offline review. Qt-free, no network.

Layout: beside ``calls.jsonl`` a folder ``calls.jsonl.recordings/`` holds each voice
session's recording as ``<session id>/<file id><suffix>``. A bundle ``calls.zip`` holds the
export and that folder under the same names, so unpacking it gives the "beside" layout back.
Only recordings the hub itself holds (``hub:<file id>`` in the session's metadata) are
collected; nothing else is ever fetched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from supervisor_desk.models.export.reader import iter_records
from supervisor_desk.models.filenames import safe_filename
from supervisor_desk.models.wire import Message, SessionSummary

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


class BundleError(Exception):
    """A bundle that cannot be opened (not a zip, no export inside, unsafe member names)."""


@dataclass(frozen=True, slots=True)
class RecordingRef:
    session_id: str
    file_id: str
    name: str

    @property
    def relpath(self) -> str:
        suffix = Path(safe_filename(self.name, "recording")).suffix.lower()
        if not suffix or any(c not in _SAFE for c in suffix):
            suffix = ""
        return f"{safe_filename(self.session_id, 'session')}/{self.file_id}{suffix}"


def hub_file_of(url: str, session_id: str) -> str | None:
    """The hub file id a link points at: ``hub:<id>`` or the hub-relative path
    ``/api/v1/sessions/<session>/files/<id>`` of the same session; None for anything else
    (third-party URLs are never fetched without a click)."""
    if url.startswith("hub:"):
        file_id = url[4:]
    else:
        prefix = f"/api/v1/sessions/{session_id}/files/"
        if not url.startswith(prefix):
            return None
        file_id = url[len(prefix):]
    if not file_id or any(c not in _SAFE for c in file_id) or file_id.strip(".") == "":
        return None
    return file_id


def recording_of(session: SessionSummary, messages: Iterable[Message] = ()) -> RecordingRef | None:
    """The session's recording: metadata ``recording`` (an imported call), else the first
    audio attachment of its messages that is a file of the hub."""
    metadata = session.metadata or {}
    file_id = hub_file_of(metadata.get("recording", ""), session.id)
    if file_id is not None:
        return RecordingRef(session.id, file_id, metadata.get("recording_name") or "recording")
    for message in sorted(messages, key=lambda m: m.seq):
        for attachment in message.attachments:
            file_id = hub_file_of(attachment.url or "", session.id)
            if file_id is not None and attachment.mime.startswith("audio/"):
                return RecordingRef(session.id, file_id, attachment.name)
    return None


def recordings_dir(export: Path) -> Path:
    return export.with_name(export.name + ".recordings")


def recordings_in(export: Path) -> list[RecordingRef]:
    """The hub recordings the sessions of an export file point at (one per session)."""
    found = (recording_of(record.session, record.messages) for record in iter_records(export))
    return [ref for ref in found if ref is not None]


def bundled_recording(export: Path, ref: RecordingRef) -> Path | None:
    """The recording shipped beside ``export``, or taken out of the bundle it came from
    (see :func:`open_bundle`) on first use; None when the export has none.

    Reads and writes files: call it from a worker thread, never the UI's.
    """
    path = recordings_dir(export) / ref.relpath
    if path.is_file():
        return path
    source = _bundle_source(export)
    if source is None:
        return None
    member = f"{recordings_dir(export).name}/{ref.relpath}"
    try:
        with zipfile.ZipFile(source) as archive:
            try:
                info = archive.getinfo(member)
            except KeyError:
                return None
            _extract(archive, info, path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"cannot read the recording from {source.name}: {exc}") from None
    return path


def _bundle_marker(export: Path) -> Path:
    return export.with_name(export.name + ".bundle")


def _bundle_source(export: Path) -> Path | None:
    marker = _bundle_marker(export)
    if not marker.is_file():
        return None
    return Path(marker.read_text(encoding="utf-8"))


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    """One member to ``target``, whole or not at all (a hidden part renamed when complete)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with archive.open(info) as source, os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out, 1024 * 1024)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _members(export: Path) -> Iterator[tuple[Path, str]]:
    yield export, export.name
    folder = recordings_dir(export)
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                yield path, f"{folder.name}/{path.relative_to(folder).as_posix()}"


def write_bundle(export: Path, dest: Path) -> int:
    """Zip the export and its recordings folder into ``dest`` (atomically); its size."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w") as bundle:
            for path, member in _members(export):
                # Audio is compressed already; the transcript text shrinks well.
                compress = zipfile.ZIP_DEFLATED if path == export else zipfile.ZIP_STORED
                bundle.write(path, member, compress_type=compress)
        with open(tmp, "rb+") as out:
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return dest.stat().st_size


def open_bundle(bundle: Path, into: Path) -> Path:
    """Take the export out of a bundle into the folder ``into``; returns that export file.

    Only the export is unpacked here (member names are all checked first): each recording
    stays in the bundle until :func:`bundled_recording` is asked for it, on a worker thread,
    so opening a bundle of many recordings costs no more than opening its export.
    """
    try:
        with zipfile.ZipFile(bundle) as archive:
            names = archive.namelist()
            exports = [n for n in names if "/" not in n]
            if len(exports) != 1:
                raise BundleError(f"{bundle.name} holds no single export file")
            recordings = f"{exports[0]}.recordings/"
            for name in names:
                parts = PurePosixPath(name).parts
                if (name not in exports and not name.startswith(recordings)) or \
                        ".." in parts or name.startswith("/") or "\\" in name:
                    raise BundleError(f"{bundle.name} holds an unexpected entry: {name!r}")
            into.mkdir(parents=True, exist_ok=True)
            export = into / exports[0]
            _extract(archive, archive.getinfo(exports[0]), export)
            if len(names) > 1:
                _bundle_marker(export).write_text(str(bundle.resolve()), encoding="utf-8")
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"cannot open {bundle.name}: {exc}") from None
    return export

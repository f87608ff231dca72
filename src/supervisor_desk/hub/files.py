"""Files a session holds: the content-addressed blob store and the table that names them.

Bytes live in a :class:`BlobStore` under their SHA-256; the ``files`` table says which session
holds which blob under which name (``FileStore`` of the store). The local store keeps blobs
in the store's ``blob_dir`` (SQLite: a folder next to the database; PostgreSQL: in
``--files-dir``, one folder shared by every replica); another deployment (an S3-compatible
store) implements the same small interface.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

DEFAULT_MAX_FILE_MB = 200
# An unfinished upload's part file not written to for this long was left by a dead hub.
STALE_UPLOAD_S = 3600
_HASH = re.compile(r"[0-9a-f]{64}")


def sniff(head: bytes) -> str:
    """The MIME type of a file from its first bytes (at least 64 of them when the file has)."""
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"OggS"):
        return "audio/ogg; codecs=opus" if b"OpusHead" in head[:64] else "audio/ogg"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
                                   and head[1] & 0x06 != 0):
        return "audio/mpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return "application/octet-stream"


def is_file_id(text: str) -> bool:
    return _HASH.fullmatch(text) is not None


class TooLargeError(Exception):
    """The bytes went past the size limit; nothing was kept."""


@dataclass(frozen=True, slots=True)
class StoredBlob:
    sha256: str
    size: int
    mime: str


class PendingBlob(Protocol):
    """A blob being written: ``write`` chunks, then ``commit`` (durable) or ``abort``."""

    def write(self, chunk: bytes) -> None: ...
    def commit(self) -> StoredBlob: ...
    def abort(self) -> None: ...


class BlobStore(Protocol):
    """Where file bytes live, by SHA-256. Durable once ``commit`` returns."""

    def begin(self, limit: int) -> PendingBlob: ...
    def exists(self, sha256: str) -> bool: ...
    def size(self, sha256: str) -> int: ...
    def open(self, sha256: str) -> BinaryIO: ...
    def path(self, sha256: str) -> Path | None:
        """A local path to the bytes, for a worker process to read; None if not local."""
        ...
    def delete(self, sha256: str) -> None: ...


class _LocalPending:
    def __init__(self, store: LocalBlobStore, limit: int) -> None:
        self._store = store
        self._limit = limit
        fd, name = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=store.tmp)
        self._file = os.fdopen(fd, "wb")
        self._tmp = Path(name)
        self._hash = hashlib.sha256()
        self._size = 0
        self._head = b""

    def write(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self._limit:
            self.abort()
            raise TooLargeError
        if len(self._head) < 64:
            self._head += chunk[: 64 - len(self._head)]
        self._hash.update(chunk)
        self._file.write(chunk)

    def commit(self) -> StoredBlob:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        digest = self._hash.hexdigest()
        final = self._store.blob_path(digest)
        final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.replace(self._tmp, final)  # same bytes under the same name: replacing is harmless
        _fsync_dir(final.parent)
        return StoredBlob(digest, self._size, sniff(self._head))

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        self._tmp.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore:
    """Blobs as ``<root>/ab/cd/<sha256>`` files (0600 in 0700 directories)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Left by a hub killed in the middle of an upload: never committed, never answered.
        # Only old ones: the folder may be shared with replicas whose uploads are running.
        cutoff = time.time() - STALE_UPLOAD_S
        for stale in self.tmp.glob("upload-*.part"):
            with contextlib.suppress(OSError):
                if stale.stat().st_mtime < cutoff:
                    stale.unlink()

    def blob_path(self, sha256: str) -> Path:
        if not is_file_id(sha256):
            raise ValueError("not a file id")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def begin(self, limit: int) -> _LocalPending:
        return _LocalPending(self, limit)

    def exists(self, sha256: str) -> bool:
        return self.blob_path(sha256).is_file()

    def size(self, sha256: str) -> int:
        return self.blob_path(sha256).stat().st_size

    def open(self, sha256: str) -> BinaryIO:
        return self.blob_path(sha256).open("rb")

    def path(self, sha256: str) -> Path | None:
        return self.blob_path(sha256)

    def delete(self, sha256: str) -> None:
        self.blob_path(sha256).unlink(missing_ok=True)


def read_range(store: BlobStore, sha256: str, start: int, end: int,
               chunk: int = 256 * 1024) -> Iterator[bytes]:
    """Bytes ``start..end`` (inclusive) of a blob, in chunks."""
    with store.open(sha256) as stream:
        stream.seek(start)
        left = end - start + 1
        while left > 0:
            data = stream.read(min(chunk, left))
            if not data:
                return
            left -= len(data)
            yield data

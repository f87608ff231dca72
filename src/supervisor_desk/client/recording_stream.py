"""A remote recording read like a local file: fetched in ``Range`` chunks as the decoder reads.

Qt-free. :class:`RangeCache` keeps the chunks fetched so far in a local sparse file (private
temporary folder of the player) and fetches a missing one when a reader reaches it, so
playback starts once the first chunk is in and a seek fetches from its offset instead of the
whole file first. ``fetch(start, end)`` is blocking and called from decoder threads only (the
player hands them the hub client's coroutine run on its loop).
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHUNK = 256 * 1024

RangeFetch = Callable[[int, int], bytes]  # (first, last) inclusive -> exactly those bytes


class RangeCache:
    """The bytes of one remote file of ``size`` bytes, chunk by chunk, in ``path``."""

    def __init__(self, size: int, fetch: RangeFetch, path: Path, *, chunk: int = CHUNK) -> None:
        self.size = size
        self.path = path
        self.chunk = chunk
        self._fetch = fetch
        self._have: set[int] = set()
        self._lock = threading.Lock()  # one fetch at a time; readers share what it brought
        with path.open("wb") as out:
            out.truncate(size)  # sparse: the disk holds only what was fetched
        self.requests: list[tuple[int, int]] = []  # every range asked of the hub (tests)

    @property
    def complete(self) -> bool:
        return len(self._have) * self.chunk >= self.size

    def ensure(self, first: int, last: int) -> None:
        """Fetch whatever of bytes ``first..last`` is not here yet (whole chunks)."""
        last = min(last, self.size - 1)
        for index in range(first // self.chunk, last // self.chunk + 1):
            if index in self._have:
                continue
            with self._lock:
                if index in self._have:
                    continue
                start = index * self.chunk
                end = min(self.size, start + self.chunk) - 1
                self.requests.append((start, end))
                data = self._fetch(start, end)
                if len(data) != end - start + 1:
                    raise OSError(f"the hub sent {len(data)} bytes for {end - start + 1}")
                with self.path.open("r+b") as out:
                    out.seek(start)
                    out.write(data)
                self._have.add(index)

    def put(self, start: int, data: bytes) -> None:
        """Bytes already fetched (the first chunk, which told the file's size)."""
        if start % self.chunk or len(data) != min(self.chunk, self.size - start):
            raise ValueError("not one whole chunk")
        with self._lock:
            with self.path.open("r+b") as out:
                out.seek(start)
                out.write(data)
            self._have.add(start // self.chunk)

    def fill(self) -> Path:
        """Fetch every missing chunk (Save as…); the complete local copy."""
        if self.size:
            self.ensure(0, self.size - 1)
        return self.path

    def reader(self) -> RangeReader:
        return RangeReader(self)


class RangeReader(io.RawIOBase):
    """A seekable read-only file over a :class:`RangeCache` (one per decoder)."""

    def __init__(self, cache: RangeCache) -> None:
        super().__init__()
        self._cache = cache
        self._file = cache.path.open("rb")
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            self._pos = offset
        elif whence == os.SEEK_CUR:
            self._pos += offset
        else:
            self._pos = self._cache.size + offset
        self._pos = max(0, self._pos)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self._cache.size - self._pos)
        if wanted <= 0:
            return 0
        self._cache.ensure(self._pos, self._pos + wanted - 1)
        self._file.seek(self._pos)
        count = self._file.readinto(memoryview(buffer)[:wanted])
        self._pos += count
        return count

    def close(self) -> None:
        self._file.close()
        super().close()


@dataclass(frozen=True, slots=True)
class RecordingSource:
    """How the player gets a recording: ``fetch(dest)`` copies it whole; ``read_range(first,
    last)`` (when the source is the hub) returns those bytes and the file's size, so the
    player streams it through a :class:`RangeCache` instead."""

    fetch: Callable[[Path], Awaitable[Any]]
    read_range: Callable[[int, int], Coroutine[Any, Any, tuple[bytes, int]]] | None = None

    async def __call__(self, dest: Path) -> Any:
        return await self.fetch(dest)

"""The hub's side of transcription: the job table, the worker processes, the events they make.

A job is a row of ``transcriptions`` (schema 4). Every event it makes has an id derived from the
session and the segment number, and every ``at`` derives from the recording (never the clock),
so a job resumed after a crash re-sends what it had sent with identical content: the ingest
counts those as duplicates and nothing appears twice.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from supervisor_desk.hub.files import DEFAULT_MAX_FILE_MB, LocalBlobStore
from supervisor_desk.hub.service import HubService
from supervisor_desk.hub.store.interface import (
    EventIdConflictError,
    FileStore,
    IngestRejectedError,
)
from supervisor_desk.hub.transcribe.pressure import hub_load, tell_worker
from supervisor_desk.hub.transcribe.whisper import engine_name
from supervisor_desk.hub.transcribe.worker import ENGINE
from supervisor_desk.models.wire import (
    Agent,
    Attachment,
    Author,
    EventData,
    EventType,
    IngestEvent,
    LogAppendedData,
    MessageBody,
    SessionEndedData,
    SessionStartedData,
    SessionUpdatedData,
    Transcription,
    UserInfo,
    parse_timestamp,
)

log = logging.getLogger("supervisor_desk.hub.transcribe")

FINISHED = ("done", "failed", "cancelled")
# A running job's progress row is written at most this often (and when it finishes): each
# write is a durable commit on the hub's database beside the ingest writer's. A restart
# resumes from the last one written; segments heard again are stored already (same ids).
PERSIST_PROGRESS_S = 5.0
# A replica holds each job it runs for this long and renews it every third of it; a replica
# that dies loses its jobs to another one after at most this long (store.interface.JobStore).
JOB_LEASE_S = 30.0


@dataclass(frozen=True)
class VoiceSettings:
    max_file_bytes: int = DEFAULT_MAX_FILE_MB * 1024 * 1024
    workers: int = 1
    # Share of a core a worker uses at most: after each segment it rests in proportion to
    # the CPU time it used. Measured on 2 cores (docs/performance.md, "Voice"): at 1.0 the
    # feed's p99 grew 96 % and ingest fell 25 % while transcribing, at 0.3 +38 % and -8.5 %
    # (in the hub's session); in its own autogroup at nice 19, at 1.0 still +105 %.
    duty: float = 0.3
    lease_s: float = JOB_LEASE_S
    # A faster-whisper model directory (serve --whisper-model): recognised with it instead of
    # pocketsphinx. Checked when the hub starts (transcribe.whisper.load).
    whisper_model: Path | None = None

    @property
    def engine(self) -> str:
        return engine_name(self.whisper_model) if self.whisper_model is not None else ENGINE

    @classmethod
    def from_env(cls) -> VoiceSettings:
        mb = os.environ.get("SUPERVISOR_HUB_MAX_FILE_MB")
        workers = os.environ.get("SUPERVISOR_HUB_TRANSCRIBE_WORKERS")
        duty = os.environ.get("SUPERVISOR_HUB_TRANSCRIBE_DUTY")
        lease = os.environ.get("SUPERVISOR_HUB_JOB_LEASE_S")
        whisper = os.environ.get("SUPERVISOR_HUB_WHISPER_MODEL")
        return cls(
            max_file_bytes=int(float(mb) * 1024 * 1024) if mb else cls.max_file_bytes,
            workers=max(1, int(workers)) if workers else cls.workers,
            duty=min(1.0, max(0.01, float(duty))) if duty else cls.duty,
            lease_s=max(0.5, float(lease)) if lease else cls.lease_s,
            whisper_model=Path(whisper) if whisper else None,
        )

    def override(self, *, max_file_mb: float | None = None, workers: int | None = None,
                 duty: float | None = None,
                 whisper_model: Path | None = None) -> VoiceSettings:
        """These settings with the ``serve`` flags given (None: keep)."""
        return VoiceSettings(
            max_file_bytes=int(max_file_mb * 1024 * 1024) if max_file_mb is not None
            else self.max_file_bytes,
            workers=workers if workers is not None else self.workers,
            duty=min(1.0, duty) if duty is not None else self.duty,
            lease_s=self.lease_s,
            whisper_model=whisper_model if whisper_model is not None else self.whisper_model,
        )


@dataclass(frozen=True)
class ImportParams:
    """What a job needs to make its events; stored with the job as JSON."""

    session_id: str
    file_id: str
    file_name: str
    mime: str
    size: int
    agent: str
    agent_role: str
    customer: str
    channel: str
    started_at: str  # RFC 3339: the import time minus the recording's duration
    duration_ms: int
    layout: str

    def at(self, offset_ms: int) -> datetime:
        return parse_timestamp(self.started_at) + timedelta(milliseconds=offset_ms)


class JobTable:
    """The store's jobs as :class:`ImportParams` and :class:`Transcription` (the store keeps
    the parameters as JSON text); new jobs are leased to ``owner``."""

    def __init__(self, files: FileStore, owner: str, lease_ms: int,
                 engine: str = ENGINE) -> None:
        self._files = files
        self._engine = engine
        self._owner = owner
        self._lease_ms = lease_ms

    def create(self, params: ImportParams) -> None:
        self._files.create_job(params.session_id, params.file_id, json.dumps(params.__dict__),
                               owner=self._owner, lease_ms=self._lease_ms)

    def update(self, session_id: str, **fields: Any) -> None:
        self._files.update_job(session_id, **fields)

    def get(self, session_id: str) -> tuple[Transcription, ImportParams] | None:
        row = self._files.job(session_id)
        if row is None:
            return None
        return (Transcription(session_id=row.session_id, file_id=row.file_id, state=row.state,
                              percent=row.percent, segments=row.segments, engine=self._engine,
                              error=row.error),
                ImportParams(**json.loads(row.params)))

    def claim(self) -> list[str]:
        return self._files.claim_jobs(self._owner, self._lease_ms)

    def renew(self, session_ids: list[str]) -> list[str]:
        return self._files.renew_jobs(self._owner, session_ids, self._lease_ms)


def _event(event_id: str, event_type: EventType, session_id: str, at: datetime,
           data: EventData) -> tuple[IngestEvent, EventData]:
    envelope = IngestEvent.model_construct(
        id=event_id, type=event_type, session_id=session_id, at=at, data={}
    )
    return envelope, data


def opening_events(params: ImportParams) -> list[tuple[IngestEvent, EventData]]:
    """The session as it appears at once: started, with the recording attached."""
    sid = params.session_id
    at = params.at(0)
    started = SessionStartedData(
        agent=Agent(id=params.agent, name=params.agent),
        channel=params.channel,  # checked by the route (pydantic validates it again)
        modality="voice",
        status="active",
        user=UserInfo(id=f"{sid}:customer", name=params.customer),
        started_at=at,
        has_attachments=True,
        metadata={
            "source": "audio-import",
            "recording": f"hub:{params.file_id}",
            "recording_name": params.file_name,
            "recording_mime": params.mime,
            "recording_duration_ms": str(params.duration_ms),
            "recording_layout": params.layout,
            "transcription_state": "queued",
            "transcription_percent": "0",
        },
    )
    recording = MessageBody(
        id="recording", at=at, author=Author(role="system", name="Recording"), text="",
        attachments=[Attachment(name=params.file_name, mime=params.mime, size=params.size,
                                url=f"hub:{params.file_id}")],
        offset_ms=0, end_ms=params.duration_ms,
    )
    return [
        _event(f"{sid}:started", "session.started", sid, at, started),
        _event(f"{sid}:recording", "message.created", sid, at, recording),
    ]


def _progress(params: ImportParams, state: str, percent: int, offset_ms: int,
              key: str) -> tuple[IngestEvent, EventData]:
    sid = params.session_id
    data = SessionUpdatedData(metadata={"transcription_state": state,
                                        "transcription_percent": str(percent)})
    return _event(f"{sid}:{key}", "session.updated", sid, params.at(offset_ms), data)


class TranscriptionQueue:
    """Runs jobs in worker processes, at most ``settings.workers`` at once."""

    def __init__(self, service: HubService, settings: VoiceSettings) -> None:
        self.service = service
        self.settings = settings
        self.store = LocalBlobStore(service.storage.blob_dir)
        self._records: FileStore | None = None  # opened by start(), closed by stop()
        self._owner = uuid.uuid4().hex  # this queue's name on the jobs it leases
        self._leases: asyncio.Task[None] | None = None
        self._slots: asyncio.Semaphore | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cancelled: set[str] = set()
        self._live: dict[str, tuple[int, int]] = {}  # running jobs: (segments, percent)
        self._persisted_at: dict[str, float] = {}
        self._told_priority = False  # a worker's fallback to the hub's session: logged once

    @property
    def records(self) -> FileStore:
        if self._records is None:
            raise RuntimeError("the transcription queue has not started")
        return self._records

    @property
    def jobs(self) -> JobTable:
        return JobTable(self.records, self._owner, int(self.settings.lease_s * 1000),
                        self.settings.engine)

    async def start(self) -> None:
        self._records = await self.service.read(self.service.storage.open_files)
        self._slots = asyncio.Semaphore(self.settings.workers)
        await self._claim()
        self._leases = asyncio.get_running_loop().create_task(self._keep_leases())

    async def _claim(self) -> None:
        for session_id in await self.service.read(self.jobs.claim):
            self.schedule(session_id)

    async def _renew(self, running: list[str]) -> None:
        """Extend the leases of the jobs running here; stop a job whose lease ran out and
        which another replica took over meanwhile (this one was paused or cut off longer than
        a lease), so it is not recognised twice."""
        held = set(await self.service.read(self.jobs.renew, running))
        for session_id in running:
            if session_id in held or session_id not in self._tasks:
                continue
            found = await self.service.read(self.jobs.get, session_id)
            if found is not None and found[0].state not in FINISHED:
                log.warning("transcription of %s was taken over by another replica",
                            session_id)
                self._tasks[session_id].cancel()

    async def _keep_leases(self) -> None:
        """Renew the leases of the jobs running here and take over the jobs of replicas that
        died (their leases ran out), every third of a lease."""
        while True:
            await asyncio.sleep(self.settings.lease_s / 3)
            try:
                if self._tasks:
                    await self._renew(list(self._tasks))
                await self._claim()
            except Exception:  # the database away for a moment: try again next round
                log.warning("could not renew or claim transcription jobs", exc_info=True)

    async def stop(self) -> None:
        """Stop every worker; their jobs stay queued/running and resume at the next start."""
        if self._leases is not None:
            self._leases.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._leases
            self._leases = None
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._records is not None:
            self._records.close()
            self._records = None

    def with_live_progress(self, job: Transcription) -> Transcription:
        """``job`` as stored, with the progress of its run here if it is running."""
        live = self._live.get(job.session_id)
        if live is None or job.state != "running":
            return job
        segments, percent = live
        return job.model_copy(update={"segments": max(job.segments, segments),
                                      "percent": max(job.percent, percent)})

    def schedule(self, session_id: str) -> None:
        if session_id in self._tasks:
            return
        task = asyncio.get_running_loop().create_task(self._run(session_id))
        self._tasks[session_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(session_id, None))

    async def cancel(self, session_id: str) -> bool:
        """Stop a queued or running job; False when it was not running here."""
        task = self._tasks.get(session_id)
        if task is None:
            return False
        self._cancelled.add(session_id)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        return True

    async def _update(self, session_id: str, **fields: Any) -> None:
        await self.service.read(functools.partial(self.jobs.update, session_id, **fields))

    async def _ingest(self, events: Sequence[tuple[IngestEvent, EventData]]) -> None:
        await self.service.ingest(events)

    async def _run(self, session_id: str) -> None:
        found = await self.service.read(self.jobs.get, session_id)
        if found is None:
            return
        job, params = found
        assert self._slots is not None
        try:
            # Idempotent: after a crash between creating the job and its first events.
            await self._ingest(opening_events(params))
            async with self._slots:
                await self._transcribe(job, params)
        except asyncio.CancelledError:
            if session_id in self._cancelled:
                self._cancelled.discard(session_id)
                await asyncio.shield(self._finish(params, "cancelled", "transcription cancelled"))
            raise
        except IngestRejectedError as exc:
            # The session ended meanwhile (e.g. finished by a hub that crashed right after):
            # nothing more can be added to it.
            log.warning("transcription of %s stopped: %s", session_id, exc.details[0]["message"])
            self._live.pop(session_id, None)
            await self._update(session_id, state="failed",
                                    error=str(exc.details[0]["message"]))
        except Exception as exc:  # a worker or storage fault: keep what was transcribed
            log.exception("transcription of %s failed", session_id)
            await self._finish(params, "failed", f"{type(exc).__name__}: {exc}")

    async def _transcribe(self, job: Transcription, params: ImportParams) -> None:
        sid = params.session_id
        path = self.store.path(params.file_id)
        if path is None or not path.is_file():
            await self._finish(params, "failed", "the recording is missing from the file store")
            return
        await self._update(sid, state="running")
        # Keyed by where the run starts: a resumed run says "running" again as a new event.
        await self._ingest([_progress(params, "running", job.percent, 0,
                                      f"running:{job.segments}")])
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "supervisor_desk.hub.transcribe", str(path),
            "--skip", str(job.segments), "--duty", str(self.settings.duty),
            # The worker leaves this process's session (its own CPU weight): the kernel
            # kills it when this process dies; stop() and cancel() kill it themselves.
            "--hub-pid", str(os.getpid()),
            # While the hub is busy (ingest saturated, feed busy) it says so on stdin: the
            # worker rests longer.
            "--pressure-stdin",
            *(("--whisper-model", str(self.settings.whisper_model))
              if self.settings.whisper_model is not None else ()),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        errors: collections.deque[str] = collections.deque(maxlen=20)
        loop = asyncio.get_running_loop()
        stderr_task = loop.create_task(_drain(process, errors))
        assert process.stdin is not None
        pressure_task = loop.create_task(tell_worker(
            functools.partial(hub_load, self.service), process.stdin,
            told=functools.partial(self._told_pressure, sid)))
        failure: str | None = None
        done = False
        try:
            assert process.stdout is not None
            async for raw in process.stdout:
                line = json.loads(raw)
                kind = line.get("type")
                if kind == "segment":
                    await self._segment(params, line)
                elif kind == "done":
                    done = True
                elif kind == "error":
                    failure = str(line.get("message"))
                elif kind == "priority":
                    self._priority(sid, line)
            status = await process.wait()
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
            for task in (stderr_task, pressure_task):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if done and status == 0:
            await self._finish(params, "done", None)
            return
        reason = failure or (errors[-1] if errors else None) or (
            f"the recognition worker stopped (exit status {status})")
        await self._finish(params, "failed", reason)

    def _priority(self, session_id: str, line: dict[str, Any]) -> None:
        if line.get("mode") == "session":
            if not self._told_priority:
                self._told_priority = True
                log.info("transcription workers share the hub's session at idle priority "
                         "(%s): they may slow the hub's feed while they run",
                         line.get("reason"))
        elif "error" in line:
            log.warning("transcription of %s keeps autogroup nice %s: %s", session_id,
                        line.get("nice"), line["error"])
        elif "speed" in line:
            log.debug("transcription of %s: autogroup nice %s (it could go %s x real time)",
                      session_id, line.get("nice"), line["speed"])
        elif "duty" in line:
            log.debug("transcription of %s: duty %s (the hub is %s)", session_id,
                      line["duty"], "busy" if line.get("pressure") else "no longer busy")

    @staticmethod
    def _told_pressure(session_id: str, pressed: bool, cause: str) -> None:
        log.debug("transcription of %s: told the worker the hub is %s (%s)", session_id,
                  "busy" if pressed else "calm", cause)

    async def _segment(self, params: ImportParams, line: dict[str, Any]) -> None:
        sid = params.session_id
        n = int(line["n"])
        percent = int(line["percent"])
        events: list[tuple[IngestEvent, EventData]] = []
        text = str(line["text"]).strip()
        if text:
            channel = int(line["channel"])
            if channel == 0:
                author = Author(role="customer", name=params.customer)
            elif channel == 1:
                author = Author(role=params.agent_role, name=params.agent)
            else:
                author = Author(role="unknown", name="Unknown speaker")
            start, end = int(line["start_ms"]), int(line["end_ms"])
            message = MessageBody(id=f"seg-{n}", at=params.at(start), author=author,
                                  text=text, offset_ms=start, end_ms=end)
            events.append(_event(f"{sid}:seg:{n}", "message.created", sid, params.at(start),
                                 message))
        events.append(_progress(params, "running", percent, int(line["end_ms"]),
                                f"progress:{n}"))
        try:
            await self._ingest(events)
        except EventIdConflictError:
            # Stored before a crash, then recognised again after it with slightly different
            # words (the recogniser had not heard the earlier segments this time): the stored
            # version stands.
            log.info("segment %d of %s was already stored", n, sid)
        self._live[sid] = (n, percent)
        now = time.monotonic()
        if now - self._persisted_at.get(sid, 0.0) >= PERSIST_PROGRESS_S:
            self._persisted_at[sid] = now
            await self._update(sid, segments=n, percent=percent)

    async def _finish(self, params: ImportParams, state: str, error: str | None) -> None:
        sid = params.session_id
        found = await self.service.read(self.jobs.get, sid)
        job = self.with_live_progress(found[0]) if found else None
        percent = 100 if state == "done" else (job.percent if job else 0)
        events: list[tuple[IngestEvent, EventData]] = []
        end_at = params.at(params.duration_ms)
        if error is not None:
            done_ms = params.duration_ms * percent // 100
            level = "info" if state == "cancelled" else "error"
            text = (f"transcription {'cancelled' if state == 'cancelled' else 'failed'} at "
                    f"{percent} % ({done_ms / 1000:.1f} s of {params.duration_ms / 1000:.1f} s)"
                    + ("" if state == "cancelled" else f": {error}"))
            events.append(_event(f"{sid}:{state}:log", "log.appended", sid, end_at,
                                 LogAppendedData(kind="system", entries=[
                                     {"at": end_at, "level": level, "text": text}])))
        metadata: dict[str, str | None] = {"transcription_state": state,
                                           "transcription_percent": str(percent)}
        if error is not None and state == "failed":
            metadata["transcription_error"] = error[:1000]
        events.append(_event(f"{sid}:{state}", "session.updated", sid, end_at,
                             SessionUpdatedData(metadata=metadata)))
        events.append(_event(f"{sid}:ended", "session.ended", sid, end_at,
                             SessionEndedData(status="completed", end_reason="resolved",
                                              ended_at=end_at)))
        try:
            await self._ingest(events)
        except IngestRejectedError as exc:
            log.warning("could not close %s: %s", sid, exc.details[0]["message"])
        live = self._live.pop(sid, None)
        self._persisted_at.pop(sid, None)
        fields: dict[str, Any] = {"state": state, "percent": percent, "error": error}
        if live is not None:
            fields["segments"] = live[0]
        await self._update(sid, **fields)


async def _drain(process: asyncio.subprocess.Process, into: collections.deque[str]) -> None:
    assert process.stderr is not None
    async for raw in process.stderr:
        text = raw.decode("utf-8", "replace").strip()
        if text:
            into.append(text[:500])


def new_session_id() -> str:
    return "audio-" + os.urandom(6).hex()


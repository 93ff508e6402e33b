"""Video jobs: one background worker, a bounded queue, limits, progress and deletion after a TTL.

A job is a folder ``<jobs root>/<uuid4>/`` made by the server. The upload is
saved there as ``input<suffix>``, the suffix taken from the content's container
signature (:func:`posekit.io.sniff_video`); the client's file name is
never used. Job ids are random UUIDs, looked up in a dict: a client-given id is
never turned into a path.

One worker thread with its own estimator processes the jobs in order, with the
video modules' streaming loop (:func:`posekit.video.stream.stream_frames`:
detection every ``detect_every`` frames, tracking) and writers
(:class:`posekit.video.writers.JsonlWriter` for ``results.jsonl``); the
rendered video (tracked people with their ids, :func:`posekit.draw.draw_poses`)
is VP8 in WebM, which browsers play (:class:`posekit.video.writers.VideoRenderer`
with :data:`~posekit.video.writers.BROWSER_CODECS`). The input is
deleted when its job ends; a finished job's folder is deleted ``job_ttl``
seconds later by a janitor thread (and when the job is looked up), and beyond
``max_finished_jobs`` the oldest finished job goes first.

Admission works as for images (:class:`posekit.serve.pool.Slots`): ``job_queue + 1``
slots, one taken before the upload is read and held until the job ends, so at
most that many uploads are on disk at once.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


from posekit.serve.errors import ApiError
from posekit.serve.pool import PoolFull, PoolNotReady, Slots, Ticket, take_slot
from posekit.serve.settings import ServeSettings

__all__ = ["Job", "JobManager", "probe_video", "JOB_STATES", "FINISHED_STATES"]

log = logging.getLogger("posekit.serve")

#: Every status a job can have, in order.
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
#: Statuses of a job that has ended (its files are complete and stay until the TTL).
FINISHED_STATES = frozenset({"done", "failed", "cancelled"})


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")


@dataclass
class Job:
    """One video job; read by the request handlers, written by the job worker.

    Attributes:
        id: random UUID (str).
        folder: the job's server-made folder.
        input_path: the saved upload (``input.mp4``, ``input.avi``, ...; deleted when the job ends).
        info: the probed video: ``width``, ``height``, ``fps``, ``frames`` (None if unknown), ``duration_s``.
        detect_every: detector period (frames).
        max_frames: frames processed at most (``max_video_seconds`` * fps).
        status: one of :data:`JOB_STATES`.
        frames_done: frames written so far.
        truncated: the video was cut at ``max_frames``.
        results_path / video_path: output files once written; ``video_type`` the rendered video's MIME type.
    """

    id: str
    folder: Path
    input_path: Path
    info: dict[str, Any]
    detect_every: int
    max_frames: int
    ticket: Ticket | None = None
    status: str = "queued"
    frames_done: int = 0
    truncated: bool = False
    error: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    results_path: Path | None = None
    video_path: Path | None = None
    video_type: str = "video/webm"
    deleted: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def frames_total(self) -> int | None:
        frames = self.info.get("frames")
        return min(frames, self.max_frames) if frames else None

    def to_dict(self, ttl: float, prefix: str = "/v1/jobs") -> dict[str, Any]:
        """The job's status document (``GET /v1/jobs/{id}``)."""
        total = self.frames_total
        if self.status == "done":
            fraction = 1.0
        else:
            fraction = round(min(1.0, self.frames_done / total), 4) if total else 0.0
        finished = self.status in FINISHED_STATES
        links = {"self": f"{prefix}/{self.id}"}
        if finished and self.results_path is not None:
            links["results"] = f"{prefix}/{self.id}/results.jsonl"
        if finished and self.video_path is not None:
            links["video"] = f"{prefix}/{self.id}/video"
        return {
            "id": self.id,
            "status": self.status,
            "progress": {"frames_done": self.frames_done, "frames_total": total, "fraction": fraction},
            "video": dict(self.info),
            "detect_every": self.detect_every,
            "truncated": self.truncated,
            "error": self.error,
            "created_at": _iso(self.created),
            "started_at": _iso(self.started),
            "finished_at": _iso(self.finished),
            "expires_at": _iso(self.finished + ttl) if self.finished is not None else None,
            "links": links,
        }


def probe_video(path: Path, settings: ServeSettings) -> dict[str, Any]:
    """Open a saved upload, decode its first frame and check the limits; returns the job's ``info``.

    Raises:
        ApiError: 415 when OpenCV cannot open or decode it, 413 when its frames have
            more than ``max_pixels`` or it lasts longer than ``max_video_seconds``.
    """
    from posekit.video.sources import open_source

    try:
        source = open_source(str(path))
    except (OSError, ValueError) as exc:
        raise ApiError(415, f"cannot open the video: {exc.__class__.__name__} (unsupported codec or corrupt file)",
                       "bad_video") from None
    with source:
        info = source.info
        first = next(iter(source), None)
    if first is None:
        raise ApiError(415, "cannot decode any frame of the video (unsupported codec or corrupt file)", "bad_video")
    height, width = first.image.shape[:2]
    if width * height > settings.max_pixels:
        raise ApiError(413, f"video frames are {width}x{height} = {width * height / 1e6:.1f} MP, above the limit of "
                            f"{settings.max_pixels / 1e6:.3g} MP", "video_too_large")
    fps = float(info.fps)
    duration = info.frame_count / fps if info.frame_count and fps > 0 else None
    if duration is not None and duration > settings.max_video_seconds:
        raise ApiError(413, f"the video lasts {duration:.1f} s ({info.frame_count} frames at {fps:g} fps), above the "
                            f"limit of {settings.max_video_seconds:g} s", "video_too_long")
    return {"width": width, "height": height, "fps": round(fps, 3), "frames": info.frame_count,
            "duration_s": None if duration is None else round(duration, 3)}


class JobManager:
    """The video jobs of one app: admission, the worker thread, lookup, deletion and expiry.

    Args:
        settings: limits (``job_queue``, ``max_video_*``, ``job_timeout``, ``job_ttl``, ...).
        factory: builds the worker's estimator (called once, in the worker thread).
        on_frames: called with the number of frames processed (metrics), from the worker thread.
    """

    def __init__(self, settings: ServeSettings, factory: Callable[[], Any],
                 on_frames: Callable[[int], None] | None = None) -> None:
        self.settings = settings
        self.slots = Slots(settings.job_queue + 1)
        self._factory = factory
        self._on_frames = on_frames or (lambda n: None)
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=self.slots.capacity + 1)
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._settled = threading.Event()
        self.error: str | None = None
        self._threads: list[threading.Thread] = []
        self._owns_root = settings.jobs_dir is None
        self.root: Path | None = None  # made by start()
        self._service_s = 30.0  # moving average of a job's duration (Retry-After)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Make the jobs folder, start the job worker (which builds its estimator) and the janitor (once)."""
        if self._threads:
            return
        if self.settings.jobs_dir:
            self.root = Path(self.settings.jobs_dir)
            self.root.mkdir(parents=True, exist_ok=True)
        else:
            self.root = Path(tempfile.mkdtemp(prefix="posekit-jobs-"))
        for target, name in ((self._work, "posekit-jobs"), (self._janitor, "posekit-jobs-janitor")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        self._settled.wait(timeout)
        return self.ready

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel the running job, end the threads and delete every job folder."""
        self._stop.set()
        self._ready.clear()
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            jobs = list(self._jobs.values())
            self._jobs.clear()
        for job in jobs:
            shutil.rmtree(job.folder, ignore_errors=True)
        if self._owns_root and self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    # ------------------------------------------------------------------ requests

    def admit(self) -> Ticket:
        """A slot for one upload + job, without waiting (:class:`PoolNotReady` / :class:`PoolFull`)."""
        return take_slot(self.slots, stopping=self._stop.is_set(), ready=self.ready, error=self.error,
                         retry_after=self.retry_after)

    def retry_after(self) -> int:
        """Seconds until a job slot is likely free (10..3600): the queued jobs' measured time."""
        return int(min(3600, max(10, math.ceil(self._service_s * max(1, self._queue.qsize())))))

    def new_folder(self) -> tuple[str, Path]:
        """A fresh random job id and its (created) folder."""
        if self.root is None:
            raise PoolNotReady("the job manager is not started")
        job_id = str(uuid.uuid4())
        folder = self.root / job_id
        folder.mkdir()
        return job_id, folder

    def submit(self, job: Job) -> None:
        """Queue a job whose input is saved and probed; it holds its ticket until it ends."""
        self.expire()
        with self._lock:
            self._jobs[job.id] = job
        try:
            self._queue.put_nowait(job)
        except queue.Full:  # tickets bound the jobs, so this does not happen; refuse rather than block
            with self._lock:
                self._jobs.pop(job.id, None)
            raise PoolFull(self.retry_after()) from None

    def get(self, job_id: str) -> Job | None:
        """The job with this id (a UUID string), or None when unknown or expired."""
        self.expire()
        try:
            key = str(uuid.UUID(job_id))
        except (ValueError, AttributeError, TypeError):
            return None
        with self._lock:
            return self._jobs.get(key)

    def delete(self, job: Job) -> None:
        """Forget a job: a queued one is skipped, a running one stops; its folder is removed."""
        with self._lock:
            self._jobs.pop(job.id, None)
            job.deleted = True
            running = job.status == "running"
        job.cancel.set()
        if not running:  # the worker removes a running job's folder when it stops
            shutil.rmtree(job.folder, ignore_errors=True)

    def counts(self) -> dict[str, int]:
        """Jobs known now, by status (every status present)."""
        counts = dict.fromkeys(JOB_STATES, 0)
        with self._lock:
            for job in self._jobs.values():
                counts[job.status] += 1
        return counts

    def expire(self) -> int:
        """Delete finished jobs older than the TTL, and the oldest beyond ``max_finished_jobs``; returns how many."""
        now = time.time()
        with self._lock:
            finished = sorted((j for j in self._jobs.values() if j.status in FINISHED_STATES and j.finished),
                              key=lambda j: j.finished or 0.0)
            excess = max(0, len(finished) - self.settings.max_finished_jobs)
            gone = [j for k, j in enumerate(finished)
                    if k < excess or (j.finished or now) + self.settings.job_ttl <= now]
            for job in gone:
                self._jobs.pop(job.id, None)
        for job in gone:
            shutil.rmtree(job.folder, ignore_errors=True)
            log.info("job %s deleted (%s)", job.id, "expired" if (job.finished or now) + self.settings.job_ttl <= now
                     else "too many finished jobs")
        return len(gone)

    # ------------------------------------------------------------------ threads

    def _janitor(self) -> None:
        interval = min(60.0, max(0.5, self.settings.job_ttl / 10))
        while not self._stop.wait(interval):
            try:
                self.expire()
            except Exception:  # keep cleaning whatever one failure was
                log.exception("job cleanup failed")

    def _work(self) -> None:
        try:
            estimator = self._factory()
        except BaseException as exc:
            log.error("video job worker could not load its models: %s", exc)
            self.error = f"model loading failed: {type(exc).__name__}: {exc}"
            self._settled.set()
            return
        self._ready.set()
        self._settled.set()
        while not self._stop.is_set():
            job = self._queue.get()
            if job is None:
                return
            try:
                if not job.deleted and not self._stop.is_set():  # shutting down: queued jobs are cancelled
                    self._run(estimator, job)
            except Exception as exc:  # the worker survives any job
                log.exception("job %s failed", job.id)
                job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"
            finally:
                job.finished = job.finished or time.time()
                if job.status not in FINISHED_STATES:
                    job.status = "cancelled"
                with contextlib.suppress(OSError):
                    job.input_path.unlink()
                if job.ticket is not None:
                    job.ticket.release()
                if job.deleted:
                    shutil.rmtree(job.folder, ignore_errors=True)
                if job.started is not None:
                    self._service_s = 0.7 * self._service_s + 0.3 * (job.finished - job.started)

    def _run(self, estimator: Any, job: Job) -> None:
        """Process one job: results.jsonl line by line, the rendered video, progress on ``job``."""
        from posekit.draw import draw_poses
        from posekit.video.stream import FramePoseProcessor, stream_frames
        from posekit.video.writers import BROWSER_CODECS, JsonlWriter, VideoRenderer

        job.status, job.started = "running", time.time()
        deadline = time.monotonic() + self.settings.job_timeout
        processor = FramePoseProcessor(estimator, detect_every=job.detect_every)
        renderer: Any = None  # a VideoRenderer, opened with the first frame's size
        log.info("job %s: %s", job.id, job.info)
        with contextlib.ExitStack() as stack:
            jsonl = stack.enter_context(JsonlWriter(job.folder / "results.jsonl"))
            job.results_path = jsonl.path
            items = stack.enter_context(contextlib.closing(
                # one worker: the server's own pool is its parallelism (this estimator is one of its workers)
                stream_frames(processor, job.input_path, prefetch=4, max_frames=job.max_frames, workers=1)))
            for frame, poses in items:
                if job.cancel.is_set():
                    job.status = "cancelled"
                    job.error = "cancelled (deleted, or the server is shutting down)"
                    break
                if time.monotonic() > deadline:
                    job.status = "failed"
                    job.error = f"timeout: processing took longer than {self.settings.job_timeout:g} s; " \
                                f"results up to frame {frame.index - 1} are kept"
                    break
                jsonl.write(frame.index, frame.time, poses)
                if renderer is None:
                    h, w = frame.image.shape[:2]
                    renderer = stack.enter_context(VideoRenderer(
                        job.folder / "rendered.webm", job.info["fps"], (w, h), draw_poses, codecs=BROWSER_CODECS))
                    job.video_path, job.video_type = renderer.path, renderer.media_type
                # Tracked people only, as posekit predict --save-video draws them; all poses are in the JSON.
                renderer.write(frame.image, poses[poses.track_ids >= 0])
                job.frames_done += 1
                self._on_frames(1)
        if job.status == "running":
            job.truncated = job.frames_done >= job.max_frames
            job.status = "done"
        job.finished = time.time()
        log.info("job %s %s: %d frames in %.1f s", job.id, job.status, job.frames_done, job.finished - job.started)


def max_frames_for(info: dict[str, Any], settings: ServeSettings) -> int:
    """Frames a job processes at most: ``max_video_seconds`` at the video's fps."""
    return max(1, math.ceil(settings.max_video_seconds * (info.get("fps") or 25.0)))


def remove_folder(folder: Path) -> None:
    """Delete a job folder that never became a job (upload refused)."""
    shutil.rmtree(folder, ignore_errors=True)


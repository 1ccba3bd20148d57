"""The API's jobs: at most `capacity` at once, each run in its own thread, with A1111's progress, interrupt and skip.

A generation waits for the engine's device lock like any run of the studio's pages, so API jobs and
the pages take turns on the device. The job's thread blocks; the event loop stays free, so /progress
and /interrupt answer while a job runs. A client that hangs up interrupts its job.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime

from pipelines import CancelToken, png_of

from .pictures import base64_text

DISCONNECT_POLL = 0.5  # seconds between checks that the client is still there


class QueueFull(Exception):
    status = 503


class Unavailable(Exception):
    """This studio cannot run device work for the API (on ZeroGPU hardware: see context.py)."""

    status = 503


class Job:
    """One request's work, as /progress reports it: batch `iteration` of `iterations`, step of steps."""

    def __init__(self, kind: str, iterations: int = 1):
        self.kind = kind
        self.iterations = iterations
        self.timestamp = datetime.now().strftime("%Y%m%d%H%M%S")
        self.started = time.monotonic()
        self.iteration = 0
        self.step, self.steps = 0, 0
        self.preview = None  # the latest live preview (a PIL image)
        self.text = "waiting for the device"
        self.interrupted = self.skipped = False
        self.active = False  # the engine is working on it (loading or denoising), not waiting for the device
        self._token = CancelToken()
        self._lock = threading.Lock()

    def begin(self, iteration: int) -> CancelToken:
        """A fresh cancel token for the next batch; an interrupt carries over, a skip does not."""
        with self._lock:
            self.iteration, self.step, self.steps, self.skipped = iteration, 0, 0, False
            self._token = CancelToken()
            if self.interrupted:
                self._token.cancel()
            return self._token

    def interrupt(self) -> None:
        with self._lock:
            self.interrupted = True
            self._token.cancel()

    def skip(self) -> None:
        with self._lock:
            self.skipped = True
            self._token.cancel()

    def on_step(self, info) -> None:
        self.active, self.step, self.steps = True, info.step, info.total
        self.text = f"step {info.step}/{info.total}"

    def on_preview(self, picture) -> None:
        self.preview = picture

    def on_status(self, text: str) -> None:
        self.active, self.text = True, text

    def progress(self) -> dict:
        """GET /sdapi/v1/progress, as A1111 computes it."""
        done = (self.iteration + (self.step / self.steps if self.steps else 0)) / max(self.iterations, 1)
        fraction = min(0.01 + done, 1.0) if self.active else 0.0
        elapsed = time.monotonic() - self.started
        return {
            "progress": fraction,
            "eta_relative": max(elapsed / fraction - elapsed, 0.0) if fraction else 0.0,
            "state": {"skipped": self.skipped, "interrupted": self.interrupted, "stopping_generation": False,
                      "job": self.kind, "job_count": self.iterations, "job_timestamp": self.timestamp,
                      "job_no": self.iteration, "sampling_step": self.step, "sampling_steps": self.steps},
            "current_image": None,
            "textinfo": self.text,
        }


def idle() -> dict:
    """/progress with no API job running or waiting: what webuiapi's util_wait_for_ready waits for."""
    return {"progress": 0.0, "eta_relative": 0.0,
            "state": {"skipped": False, "interrupted": False, "stopping_generation": False, "job": "", "job_count": 0,
                      "job_timestamp": "0", "job_no": 0, "sampling_step": 0, "sampling_steps": 0},
            "current_image": None, "textinfo": None}


class JobQueue:
    def __init__(self, capacity: int, refused: str | None = None):
        self.capacity = max(1, capacity)
        self.refused = refused  # why no job may run here at all, if none may
        self._jobs: list[Job] = []
        self._lock = threading.Lock()

    async def run(self, job: Job, work, request=None):
        """Run `work()` in a thread of its own and return what it returns; QueueFull when `capacity` jobs are
        already running or waiting; Unavailable when this studio runs none."""
        if self.refused:
            raise Unavailable(self.refused)
        with self._lock:
            if len(self._jobs) >= self.capacity:
                raise QueueFull(f"queue full: {len(self._jobs)} API requests are running or waiting (the studio's "
                                f"queue size is {self.capacity}); try again later")
            self._jobs.append(job)
        try:
            loop = asyncio.get_running_loop()
            future = loop.create_future()

            def thread():
                try:
                    outcome = (work(), None)
                except BaseException as error:  # noqa: BLE001 - handed to the request below
                    outcome = (None, error)
                loop.call_soon_threadsafe(_settle, future, *outcome)

            # A daemon thread: a studio shutting down does not wait for an API client's pictures.
            threading.Thread(target=thread, name=f"a1111-{job.kind}", daemon=True).start()
            while True:
                done, _ = await asyncio.wait({future}, timeout=DISCONNECT_POLL)
                if done:
                    return future.result()
                if request is not None and not job.interrupted and await request.is_disconnected():
                    job.interrupt()  # nobody will read the pictures: free the device
        except asyncio.CancelledError:  # the server is stopping
            job.interrupt()
            raise
        finally:
            with self._lock:
                self._jobs.remove(job)

    def current(self) -> Job | None:
        """The job the engine is working on, else the oldest waiting one."""
        with self._lock:
            jobs = list(self._jobs)
        return next((job for job in jobs if job.active), jobs[0] if jobs else None)

    def progress(self, with_image: bool) -> dict:
        job = self.current()
        if job is None:
            return idle()
        report = job.progress()
        if with_image and job.preview is not None:
            report["current_image"] = base64_text(png_of(job.preview, ""))
        return report


def _settle(future: asyncio.Future, result, error) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


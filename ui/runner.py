"""Runs a request on the engine for a browser session: progress, live previews, Stop, saved outputs, errors.

Every tab's handler builds a GenerationRequest and hands it to `Runner.run`, a generator that yields
(gallery, info, status, history) while the engine works in a thread, so the page shows the progress bar, the
latent preview and the ETA.

Stop names the runs it means by the ids the page gave them at their Generate clicks (common.wire), and
`stop` sets those runs' cancel tokens, whether they have started yet or not; Gradio's own cancel of the
event also closes the run's generator, whose `finally` sets the token too. Either is enough. The id matters:
a Stop that looked up "this session's run" could reach a busy server after the next run had started and
stop that one, while the one the user meant went on to the end. And Gradio's cancel alone was seen to be
lost on a loaded machine: the page sent none for a run whose start it had not yet heard of.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import queue
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from pipelines import SHARED_BY_NAME, SUFFIXES, CancelToken, Engine, GenerationCancelled, GenerationRequest, InvalidRequest, \
    picture_bytes, pillow_format, write_png
from server.outputs import picture_name
from server.picture_store import PictureStore, store_for

from .common import STOPPED, format_bytes
from .disk import TempFiles
from .errors import label_of, user_error

log = logging.getLogger(__name__)
HISTORY_LIMIT = 100  # pictures kept in a session's history
UPDATE_PERIOD = 0.25  # seconds between updates to the page (progress, preview) while a run goes on
EARLY_STOPS_KEPT = 1000  # ids of runs stopped before they started, remembered until they start
STOP_IDS_LIMIT = 16  # the page sends a tab's few latest run ids; more than this is not the page
RUN_ID_LENGTH = 64  # the page's run ids are UUIDs (36 characters); anything longer is not one of them
MAX_BATCH_COUNT = int(SHARED_BY_NAME["batch_count"].widget.maximum)  # A1111's batch count, as the slider allows


@dataclass
class Output:
    path: str
    infotext: str


class Runner:
    def __init__(self, manager: Engine, outputs_dir: str | None, save_format: str = "png",
                 files: TempFiles | None = None, store: PictureStore | None = None):
        self.manager = manager
        self.outputs_dir = Path(outputs_dir) if outputs_dir else None
        self.save_format = save_format  # of the outputs folder's copies; the page always gets PNG (lossless)
        self._save_failure_reported = False
        # the gallery's record of each picture kept in the outputs folder (server/picture_store.py)
        self.store = store if store is not None or self.outputs_dir is None else store_for(self.outputs_dir)
        self.files = files or TempFiles()  # the pictures handed to the pages: the newest, none too old (disk.py)
        self._runs: dict[str, CancelToken] = {}  # run id -> cancel token, while the run's generator lives
        self._early_stops: OrderedDict[str, None] = OrderedDict()  # stopped while still waiting to start
        self._runs_lock = threading.Lock()

    def stop(self, run_ids: str | None) -> None:
        """Stop the runs the page named (ids separated by spaces): at once if they run, at their start if they
        still wait."""
        for run_id in (run_ids.split()[:STOP_IDS_LIMIT] if isinstance(run_ids, str) else []):
            run_id = _valid_run_id(run_id)
            if run_id is None:
                continue
            with self._runs_lock:
                token = self._runs.get(run_id)
                if token is not None:
                    token.cancel()
                    continue
                self._early_stops[run_id] = None
                while len(self._early_stops) > EARLY_STOPS_KEPT:
                    self._early_stops.popitem(last=False)

    def run(self, generation: GenerationRequest, history: list | None, progress: gr.Progress,
            run_id: str | None = None, owner: str | None = None, count=None):
        """Yield (gallery, info, status, history) updates until the run ends; raise gr.Error on failure.

        `count` is A1111's batch count: that many runs of the request one after the other, each starting at the
        seed (and variation seed) after the last one's pictures, the gallery growing as each ends."""
        token = CancelToken()  # this run's own: only its Stop (by run id) or closing this generator end it
        run_id = _valid_run_id(run_id)
        if run_id:
            with self._runs_lock:
                self._runs[run_id] = token
                if run_id in self._early_stops:  # its Stop came while it waited in the queue
                    del self._early_stops[run_id]
                    token.cancel()
        count = _batch_count(count)
        shown_pictures: list = []
        history = list(history or [])
        try:
            for batch in range(count):
                label = f"batch {batch + 1}/{count}: " if count > 1 else ""
                outcome = yield from self._run_once(generation, progress, token, label)
                if isinstance(outcome.get("error"), GenerationCancelled):  # Stop: said once, where the status goes
                    yield gr.skip(), gr.skip(), STOPPED, gr.skip()
                    return
                if isinstance(outcome.get("error"), InvalidRequest) and run_id:
                    # a value the page sent cannot be used: said in the field's words, and the tab keeps its
                    # pictures (an error would cover them); API callers, who send no run id, get the error itself
                    error = outcome["error"]
                    gr.Warning(f"{label_of(error.field)}: {error.detail}", title=label_of(error.field))
                    yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
                    return
                if "error" in outcome:
                    raise user_error(outcome["error"])
                result = outcome["result"]
                for warning in result.warnings:
                    gr.Warning(warning)
                outputs = [self._write(result, index, owner) for index in range(len(result.images))]
                self.files.written([o.path for o in outputs])  # and the oldest pictures go
                # History shows the pictures still kept: an entry whose file went is dropped, not shown broken.
                kept = [entry for entry in history if self.files.holds(entry[0])]
                history = ([(o.path, o.infotext) for o in outputs] + kept)[:HISTORY_LIMIT]
                shown_pictures += [(o.path, f"seed {s}") for o, s in zip(outputs, result.seeds)]
                status = _status_line(result, self.manager) + (f" · batch {batch + 1} of {count}" if count > 1 else "")
                yield list(shown_pictures), outputs[0].infotext if batch == 0 else gr.skip(), status, history
                generation = _next_batch(generation, result)
        finally:
            # Closed by Gradio: Stop was pressed (its cancel names this run's event), the page was closed, or an
            # API client cancelled. The run ends within a step.
            token.cancel()
            if run_id:
                with self._runs_lock:
                    self._runs.pop(run_id, None)

    def _run_once(self, generation: GenerationRequest, progress: gr.Progress, token: CancelToken, label: str):
        """One engine run in a thread, yielding progress and previews; returns {"result"} or {"error"}."""
        events: queue.Queue = queue.Queue()
        outcome: dict = {}

        def work():
            try:
                outcome["result"] = self.manager.generate(
                    generation, on_step=lambda info: events.put(("step", info)),
                    on_preview=lambda picture: events.put(("preview", picture)), cancel=token,
                    on_status=lambda text: events.put(("status", text)))
            except BaseException as error:  # noqa: BLE001 - handed to the page by run(), never lost
                outcome["error"] = error
            finally:
                events.put(("done", None))

        shown = {"progress": 0, "desc": label + "waiting for the device"}  # what the page's progress bar says
        thread = threading.Thread(target=work, name=f"generate-{generation.task}", daemon=True)
        preview, last_update = None, time.monotonic()
        try:
            # Yield once before the engine starts: only from its first yield on does Gradio hold this
            # generator where its cancel (an API client's, a vanished page's) can close it. A cancel that
            # comes earlier finds a generator that never started the engine.
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            progress(**shown)
            thread.start()
            while True:
                try:
                    kind, value = events.get(timeout=UPDATE_PERIOD)
                except queue.Empty:  # waiting for the device or loading a model: nothing to show, but yield
                    kind, value = "idle", None
                if kind == "done":
                    break
                if kind == "status":
                    shown = {"progress": 0, "desc": label + value}
                elif kind == "preview":
                    preview = value  # the engine makes them only as often as they are shown
                elif kind == "step":
                    shown = {"progress": (value.step, value.total), "unit": "steps",
                             "desc": f"{label}step {value.step}/{value.total}, ETA {value.eta:.0f} s"}
                if time.monotonic() - last_update >= UPDATE_PERIOD:
                    last_update = time.monotonic()
                    # Yield even with nothing new: only at a yield does Gradio notice a client that left or
                    # cancelled, and close this generator, which stops the run (run's finally).
                    update, preview = ([self.files.preview(preview)] if preview is not None else gr.skip()), None
                    yield update, gr.skip(), gr.skip(), gr.skip()
                    # Each yield's message clears the page's progress bar. Gradio resumes this generator after
                    # queueing that message, so saying the progress again now keeps the bar up.
                    progress(**shown)
        finally:
            if thread.is_alive():
                token.cancel()
        return outcome

    def keep(self, result, name: str, owner: str | None = None) -> Output:
        """Write a result that is not a generation (an Extras picture) as the tabs' pictures are written: shown from
        Gradio's cache, copied to the outputs folder and the gallery."""
        output = self._write(result, 0, owner, name)
        self.files.written([output.path])
        return output

    def _write(self, result, index: int, owner: str | None = None, name: str | None = None) -> Output:
        """Save picture `index` as PNG with its parameters and labels, and keep a copy in the outputs folder.

        The page gets the copy in Gradio's cache (disk.py: in a folder named by a random token, kept a while):
        the outputs folder is never served over HTTP, so a stranger on a shared link cannot fetch other users'
        pictures by guessing names there. The outputs folder's copy goes through the picture store, which writes
        it whole before the gallery's row names it.
        """
        name = name or picture_name(result.seeds[index])
        path = self.files.path(name)
        write_png(result, index, path)
        if self.outputs_dir is not None:
            try:
                kind = pillow_format(self.save_format)
                data = path.read_bytes() if kind == "PNG" else picture_bytes(result, index, self.save_format)
                record = result.records[index] if result.records else {}
                self.store.save(data, Path(name).stem + SUFFIXES[kind], record, owner, result.infotexts[index])
            except OSError as error:
                if not self._save_failure_reported:  # say it once, keep serving the pictures
                    self._save_failure_reported = True
                    gr.Warning(f"Could not save to the outputs folder ({error.strerror or error}); "
                               "pictures are still shown here: download them from the gallery.")
                log.warning("saving to %s failed: %s", self.outputs_dir, error.strerror or type(error).__name__)
        return Output(str(path), result.infotexts[index])


def _status_line(result, manager) -> str:
    t = result.timings
    memory = manager.status()
    mode = "" if result.offload_mode == "none" else f" · offload: {result.offload_mode}"
    fallback = f" · {'; '.join(result.fallbacks)}" if result.fallbacks else ""
    # what could not be honoured stays next to the picture, not only in a toast that fades
    # (escaped: a LoRA tag such as <lora:x:1> would otherwise be read as HTML and vanish)
    warnings = "".join(f"\n\n⚠ {html.escape(warning, quote=False)}" for warning in result.warnings)
    # the passes after the first one, when there were any (hires_upscale, detailer)
    steps = "".join(f" · {name.replace('_', ' ')} {t[name]:.2f} s" for name in ("hires_upscale", "detailer") if name in t)
    return (f"load {t['load']:.2f} s · denoise {t.get('denoise', 0):.2f} s · decode {t.get('decode', 0):.2f} s{steps}"
            f" · total {t['total']:.2f} s · {format_bytes(memory['on_device_bytes'])} of weights on {memory['device']}"
            f"{mode}{fallback}{warnings}")


def _valid_run_id(run_id) -> str | None:
    return run_id if isinstance(run_id, str) and 0 < len(run_id) <= RUN_ID_LENGTH else None


def _batch_count(count) -> int:
    """The batch count a handler was given: a whole number from 1 (left out: 1); the engine's limits bound each
    batch, and the tab's slider bounds the count."""
    try:
        number = int(float(count)) if count not in (None, "") else 1
    except (TypeError, ValueError):
        raise InvalidRequest("batch_count", f"must be a whole number from 1 to {MAX_BATCH_COUNT}, got {count!r}") from None
    if not 1 <= number <= MAX_BATCH_COUNT or number != float(count or 1):
        raise InvalidRequest("batch_count", f"must be a whole number from 1 to {MAX_BATCH_COUNT}, got {count!r}")
    return number


def _next_batch(generation: GenerationRequest, result) -> GenerationRequest:
    """The next batch's request: its seeds (and variation seeds) after the pictures of this one, as A1111 counts."""
    made = len(result.seeds)
    subseed = result.parameters.get("subseed", generation.subseed)
    return dataclasses.replace(generation, seed=result.seeds[-1] + 1,
                               subseed=subseed + made if subseed is not None and subseed >= 0 else subseed)

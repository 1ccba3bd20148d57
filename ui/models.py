"""The Models panel: the device and memory, what is loaded where with bytes, the library (available, from where,
its size, loaded or not) before anything loads, and buttons to preload or unload."""

from __future__ import annotations

import gradio as gr

from pipelines import Engine

from .common import format_bytes as _size
from . import zerogpu
from .errors import guard


def report(manager: Engine) -> str:
    """The device and memory at a glance, what is loaded where, then the whole library, loaded or not."""
    if not getattr(manager, "started", True):  # a LazyManager whose engine is still being imported
        return "**Engine starting**: models load on first use.\n\n" + library_table(manager.library, set())
    status = manager.status()
    loaded = {row["model"] for row in status["components"]}
    return engine_report(status) + "\n\n" + library_table(manager.library, loaded)


def library_table(library, loaded: set) -> str:
    lines = ["**Library**", "", "| model | from | size here | loaded |", "|---|---|---|---|"]
    for row in library.describe_models():
        size = _size(row["bytes"]) if row["bytes"] is not None else "not downloaded yet"
        # the file or folder's own name: a studio open to others does not show where the user keeps things
        shown = row["source"] if row["where"] == "Hugging Face hub" else row["source"].rstrip("/").rsplit("/", 1)[-1]
        source = f"{row['where']}: `{shown}`"
        lines.append(f"| {row['label']} | {source} | {size} | {'yes' if row['name'] in loaded else ''} |")
    return "\n".join(lines)


def engine_report(status: dict) -> str:
    lines = [
        f"**Device** {status['device']} ({status['dtype']}) · weights on it {_size(status['on_device_bytes'])} of a "
        f"budget of {_size(status['budget_bytes'])} · offload {status['offload']} · evictions {status['evictions']}",
        "",
        f"**Precision** {status['dtype']}: {status.get('dtype_reason', '')} · **compiling** "
        f"{status.get('compile', 'off')}",
        "",
        f"**RAM** models {_size(sum(m['bytes'] for m in status['ram_cache']))} of {_size(status['ram_budget_bytes'])}"
        + (" · busy generating" if status["busy"] else ""),
        "",
        "| model | component | where | size | weights |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {r['model']} | {r['component']} | {r['where']} | {_size(r['bytes'])} | {r.get('format', '')} |"
              for r in status["components"]]
    if not status["components"]:
        lines.append("| nothing loaded yet: models load on first use | | | | |")
    return "\n".join(lines)


def create(studio):
    manager = studio.manager
    table = gr.Markdown(report(manager), elem_id="models-report")
    movable = not zerogpu.active()  # on ZeroGPU weights are placed at start and in each GPU call, not by hand
    with gr.Row():
        model = gr.Dropdown(studio.info.model_choices, value=studio.info.default_model, label="Model")
        preload = gr.Button("Preload", interactive=movable)
        unload = gr.Button("Unload", interactive=movable)
        unload_all = gr.Button("Unload everything", interactive=movable)
        refresh = gr.Button("Refresh")
    if not movable:
        gr.Markdown(f"Preload and Unload are {zerogpu.REFUSED}", elem_id="models-zerogpu")

    def do_preload(name, progress=gr.Progress()):
        zerogpu.refuse("Preload")
        progress(0, desc=f"loading {name}")
        manager.preload(name)
        return report(manager)

    def do_unload(name):
        zerogpu.refuse("Unload")
        manager.unload(name)
        return report(manager)

    preload.click(guard(do_preload), model, table, api_visibility="private", concurrency_id="device")
    unload.click(guard(do_unload), model, table, api_visibility="private", concurrency_id="device")
    unload_all.click(guard(lambda: do_unload(None)), None, table, api_visibility="private", concurrency_id="device")
    def rescan():
        manager.library.refresh()  # the model folders again, and the sizes of what was downloaded meanwhile
        return report(manager)

    refresh.click(rescan, None, table, api_visibility="private", queue=False)
    gr.Timer(5).tick(lambda: report(manager), None, table, api_visibility="private", queue=False)
    return table

"""The Gallery tab: every picture kept in the outputs folder, found again across reloads and restarts.

It reads the picture store (server/picture_store.py, SQLite beside the pictures): newest first, a page at a
time, searched by the words of the prompts, filtered by model, date and favourite. A picture's parameters,
favourite, delete and "send to" act on the one selected. Who sees what: with --auth each user their own
pictures; on an exposed studio without auth each browser its own; on one's own machine, everything there.
Without an outputs folder (--outputs off) nothing is kept: the tab shows this session's pictures only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import gradio as gr
from PIL import Image

from .errors import guard

PER_PAGE = 24
THUMBNAIL = 320  # pixels: the grid shows small copies, the full picture is read only to send it
BROWSER_COOKIE = "easel_browser"  # set by assets/page.js: the browser's own id, kept across reloads
PERIODS = {"Any time": None, "Today": 1, "Last 7 days": 7, "Last 30 days": 30}
ALL_MODELS = "All models"
SEND_TARGETS = ("txt2img", "img2img", "inpaint", "controlnet")


def owner_of(request: gr.Request | None) -> str | None:
    """Whose picture a run makes: the signed-in user, else this browser (its cookie), else this session."""
    if request is None:
        return None
    if getattr(request, "username", None):
        return f"user:{request.username}"
    browser = (getattr(request, "cookies", None) or {}).get(BROWSER_COOKIE, "")
    if 8 <= len(browser) <= 64 and all(c.isalnum() or c == "-" for c in browser):
        return f"browser:{browser}"
    return f"session:{request.session_hash}" if getattr(request, "session_hash", None) else None


@dataclass
class GalleryPanel:
    parameters: gr.Textbox
    picture: gr.State  # the selected picture's path on the server, for "send to"
    send: dict  # tab name -> "send to" button
    opened: object = None  # opened(tab): show the gallery as it is whenever its tab is opened


def create(studio, store, private: bool) -> GalleryPanel:
    """`private`: each owner sees only their own pictures (an exposed studio, or one with --auth)."""
    if store is None:
        return _session_only(studio)

    def who(request: gr.Request) -> str | None:
        return owner_of(request) if private else None

    with gr.Row():
        text = gr.Textbox(label="Search the prompts", placeholder="words from a prompt", scale=3,
                          elem_id="gallery-search")
        model = gr.Dropdown([ALL_MODELS], value=ALL_MODELS, label="Model", scale=2, elem_id="gallery-model")
        period = gr.Dropdown(list(PERIODS), value="Any time", label="Made", scale=1)
        favourites = gr.Checkbox(False, label="Favourites only", scale=1)
    summary = gr.Markdown("", elem_id="gallery-summary")
    grid = gr.Gallery(label="Pictures", columns=6, height=560, allow_preview=False, interactive=False,
                      fit_columns=False, elem_id="gallery-grid")
    with gr.Row():
        previous = gr.Button("← Newer", size="sm")
        following = gr.Button("Older →", size="sm")
    ids, page, selected, picture = gr.State([]), gr.State(0), gr.State(None), gr.State(None)
    parameters = gr.Textbox(label="Parameters", lines=3, interactive=False, buttons=["copy"],
                            elem_id="gallery-parameters")
    with gr.Row():
        favourite = gr.Button("★ Favourite", size="sm", elem_id="gallery-favourite")
        delete = gr.Button("Delete", size="sm", variant="stop", elem_id="gallery-delete")
        send = {target: gr.Button(f"Send to {target}", size="sm", elem_id=f"gallery-send-{target}")
                for target in SEND_TARGETS}
    with gr.Accordion("Import pictures", open=False):
        gr.Markdown("Pictures already in the outputs folder that the gallery lacks, and, on your own machine, "
                    "a folder of pictures made elsewhere (A1111's outputs folder): their parameters are read "
                    "as PNG Info reads them.")
        with gr.Row():
            import_outputs = gr.Button("Import the outputs folder", size="sm", elem_id="gallery-import")
            folder = gr.Textbox(label="Another folder", visible=not private, scale=3)
            import_folder = gr.Button("Import that folder", size="sm", visible=not private)

    def show(text, model, period, favourites, page, request: gr.Request):
        owner = who(request)
        days = PERIODS.get(period)
        since = time.time() - days * 86400 if days else None
        entries, total = store.search(owner, text or "", None if model in (None, ALL_MODELS) else model, since,
                                      favourites_only=bool(favourites), page=page, per_page=PER_PAGE)
        pages = max(1, -(-total // PER_PAGE))
        said = [f"{total} picture{'s' if total != 1 else ''}" + (f" · page {page + 1} of {pages}" if pages > 1 else "")]
        if store.error:
            said.append(f"⚠ {store.error}")
        thumbnails = [(_thumbnail(entry.path), ("★ " if entry.favourite else "") + (entry.prompt or "")[:80])
                      for entry in entries]
        models = [ALL_MODELS, *store.models(owner)]
        return (thumbnails, " · ".join(said), [entry.id for entry in entries],
                gr.update(choices=models), None, "", None)

    def pick(ids, event: gr.SelectData, request: gr.Request):
        entry = store.get(ids[event.index], who(request)) if ids and event.index < len(ids) else None
        if entry is None:
            return None, "", None
        return entry.id, entry.infotext or entry.prompt or "", str(entry.path)

    listing = [text, model, period, favourites, page]
    shown = [grid, summary, ids, model, selected, parameters, picture]

    def turn(step):
        return lambda current: max(0, current + step)

    for trigger in (text.submit, model.input, period.input, favourites.input):
        trigger(lambda: 0, None, page, api_visibility="private", queue=False).then(
            guard(show), listing, shown, api_visibility="private", queue=False)
    for button, step in ((previous, -1), (following, 1)):
        button.click(turn(step), page, page, api_visibility="private", queue=False).then(
            guard(show), listing, shown, api_visibility="private", queue=False)
    grid.select(guard(pick), ids, [selected, parameters, picture], api_visibility="private", queue=False)

    def toggle_favourite(selected, request: gr.Request):
        entry = store.get(selected, who(request)) if selected is not None else None
        if entry is None:
            raise gr.Error("Pick a picture in the gallery first.", title="Nothing selected")
        store.set_favourite(entry.id, who(request), not entry.favourite)

    def remove(selected, request: gr.Request):
        if selected is None or not store.delete(selected, who(request)):
            raise gr.Error("Pick a picture in the gallery first.", title="Nothing selected")
        gr.Info("Deleted: the picture and its entry are gone.")

    def import_pictures(path=None):
        added = store.import_folder(path) if path else (store.repair() or store.import_folder(store.outputs_dir))
        gr.Info(f"Imported {added} picture{'s' if added != 1 else ''}.")

    for button, action, inputs in ((favourite, toggle_favourite, [selected]), (delete, remove, [selected]),
                                   (import_outputs, lambda: import_pictures(), [])):
        button.click(guard(action), inputs, None, api_visibility="private", queue=False).success(
            guard(show), listing, shown, api_visibility="private", queue=False)
    import_folder.click(guard(lambda path: import_pictures(_folder(path))), folder, None, api_visibility="private",
                        queue=False).success(guard(show), listing, shown, api_visibility="private", queue=False)
    # the gallery as it is whenever its tab is opened (not after every run: reading thumbnails costs the server)
    return GalleryPanel(parameters, picture, send, opened=lambda tab: tab.select(
        guard(show), listing, shown, api_visibility="private", queue=False))


def _session_only(studio) -> GalleryPanel:
    """With --outputs off nothing is kept: this session's pictures, newest first, gone with the page."""
    gr.Markdown("The studio keeps no pictures (started with `--outputs off`): these are this session's only.")
    grid = gr.Gallery(label="This session's pictures", format="png", columns=6, height=520, elem_id="history",
                      interactive=False)
    parameters = gr.Textbox(label="Parameters", lines=3, interactive=False, elem_id="gallery-parameters")
    picture = gr.State(None)
    with gr.Row():
        send = {target: gr.Button(f"Send to {target}", size="sm", elem_id=f"gallery-send-{target}")
                for target in SEND_TARGETS}

    def show(history):
        return [path for path, _ in (history or [])]

    def pick(history, event: gr.SelectData):
        if not history or event.index >= len(history):
            return "", None
        path, infotext = history[event.index]
        return infotext, path

    studio.history.change(show, studio.history, grid, api_visibility="private", queue=False)
    grid.select(pick, studio.history, [parameters, picture], api_visibility="private", queue=False)
    return GalleryPanel(parameters, picture, send, opened=lambda tab: None)


def _thumbnail(path) -> Image.Image | None:
    try:
        with Image.open(path) as picture:
            picture.thumbnail((THUMBNAIL, THUMBNAIL))
            return picture.convert("RGB")
    except OSError:  # removed by hand meanwhile: the next page load drops its row (the store's repair)
        return Image.new("RGB", (THUMBNAIL, THUMBNAIL), "#888")


def _folder(path: str | None):
    from pathlib import Path

    folder = Path((path or "").strip()).expanduser()
    if not path or not folder.is_dir():
        raise gr.Error(f"Another folder: {path or '(empty)'} is not a folder here.", title="No such folder")
    return folder

"""This session's pictures, newest first. Each browser session has its own: users never see each other's."""

from __future__ import annotations

import gradio as gr


def create(studio):
    gallery = gr.Gallery(label="This session's pictures", format="png", columns=6, height=520, elem_id="history")
    info = gr.Textbox(label="Parameters", lines=3, interactive=False)
    picked = gr.State(0)

    def show(history):
        return [path for path, _ in (history or [])]

    def pick(history, event: gr.SelectData):
        return (history[event.index][1] if history and event.index < len(history) else ""), event.index

    studio.history.change(show, studio.history, gallery, api_visibility="private", queue=False)
    gallery.select(pick, studio.history, [info, picked], api_visibility="private", queue=False)
    return gallery

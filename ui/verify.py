"""Verify: does a picture carry Easel's watermark and labels, and what does its metadata say?"""

from __future__ import annotations

import gradio as gr

from pipelines import verify_picture

from .errors import guard
from .uploads import uploaded


def create(studio):
    gr.Markdown("Upload any picture: Easel looks for its invisible watermark, C2PA Content Credentials, the label "
                "that says a picture was generated (IPTC digital source type), and the record of how it was made.")
    with gr.Row():
        with gr.Column():
            image = gr.Image(label="Picture", type="filepath", format="png", sources=["upload", "clipboard"],
                             elem_id="verify-image")
        with gr.Column():
            summary = gr.Markdown("", elem_id="verify-summary")
            details = gr.JSON(label="Everything that was read", elem_id="verify-details")

    def check(payload):
        if payload is None:
            return "", None
        report = verify_picture(uploaded(payload, "image"), studio.manager.settings.limits, studio.manager.credentials)
        return report.summary.replace("\n", "  \n"), report.as_dict()

    # preprocess=False: the file as uploaded; Gradio's re-encoding would drop the metadata being checked
    image.change(guard(check), image, [summary, details], api_name="verify", preprocess=False,
                 concurrency_limit=2)

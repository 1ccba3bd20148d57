"""What the page (ui/) and the AUTOMATIC1111-compatible API (api/) both stand on, and neither owns.

`settings` (the flags, each with an EASEL_* twin, into AppSettings), `hosting` (a Space, ZeroGPU, persistent
storage), `access` (the login on every route), `body_limit` and `same_origin` (the API routes' guards),
`outputs` (how saved pictures are named, whichever door made them). app.py puts them together.

No Gradio, no torch here, and nothing from ui/ or api/; the engine only through the `pipelines` package top.
"""

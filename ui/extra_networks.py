"""LoRA cards, embeddings and styles on every tab: pick one and its tag goes into the prompt, as in A1111.

Clicking a LoRA card adds `<lora:name:1>` to the prompt, and clicking it again takes it out (A1111's
extra-networks cards do the same). An embedding is added by name, to the prompt or the negative prompt; a
wildcard as `__name__`, drawn afresh for each picture (sd-dynamic-prompts' syntax, pipelines/wildcards.py).
"Save as style" writes the current prompts into styles.csv; Refresh rescans the model folders.
"""

from __future__ import annotations

import re

import gradio as gr
from PIL import Image

from pipelines import Library, Style, wildcard_names

NO_PREVIEW = Image.new("RGB", (96, 96), (120, 120, 128))  # a card without a preview image beside its file


def lora_cards(library: Library) -> list[tuple]:
    cards = []
    for name, found in sorted(library.loras().items()):
        preview = str(found.preview) if getattr(found, "preview", None) else NO_PREVIEW
        cards.append((preview, name))
    return cards


def toggle_lora(prompt: str, name: str, weight: float = 1.0) -> str:
    """The prompt with the LoRA's tag added at the end, or taken out if it is there already."""
    tag = re.compile(rf"\s*<lora:{re.escape(name)}(:[^>]*)?>")
    if tag.search(prompt or ""):
        return tag.sub("", prompt).strip()
    return f"{(prompt or '').rstrip()} <lora:{name}:{weight:g}>".strip()


def add_word(prompt: str, word: str) -> str:
    prompt = (prompt or "").rstrip()
    return f"{prompt}, {word}" if prompt else word


def panel(tab: str, library: Library, prompt: gr.Textbox, negative: gr.Textbox, styles: gr.Dropdown,
          extra_outputs: list) -> None:
    """The accordion under the settings. `extra_outputs`: (component, choices function) pairs a Refresh updates."""
    with gr.Accordion("LoRA, embeddings, wildcards and styles", open=False, elem_id=f"{tab}-extra-networks"):
        cards = gr.Gallery(lora_cards(library), label="LoRA: click to add to the prompt, again to take it out",
                           columns=6, height=180, allow_preview=False, elem_id=f"{tab}-loras")
        with gr.Row():
            embedding = gr.Dropdown(sorted(library.embeddings()), value=None, label="Embedding", filterable=True,
                                    elem_id=f"{tab}-embedding", info="adds its name; negative embeddings belong "
                                    "in the negative prompt")
            into_negative = gr.Checkbox(False, label="into the negative prompt", elem_id=f"{tab}-embedding-negative")
            wildcard = gr.Dropdown(wildcard_names(library.wildcards_folder()), value=None, label="Wildcard",
                                   filterable=True, elem_id=f"{tab}-wildcard",
                                   info="adds it to the prompt: each picture draws a line of its file; {a|b} in a prompt draws a or b")
        with gr.Row():
            style_name = gr.Textbox(label="Save the prompts as a style named", elem_id=f"{tab}-style-name", scale=3)
            save = gr.Button("Save style", size="sm", elem_id=f"{tab}-save-style", scale=1)
            refresh = gr.Button("Refresh", size="sm", elem_id=f"{tab}-refresh", scale=1)
        note = gr.Markdown("", elem_id=f"{tab}-extra-note")

    def pick_lora(current: str, event: gr.SelectData) -> str:
        return toggle_lora(current, event.value["caption"])

    def pick_embedding(name, to_negative, current_prompt, current_negative):
        if not name:
            return gr.skip(), gr.skip(), gr.skip()
        if to_negative:
            return gr.skip(), add_word(current_negative, name), None
        return add_word(current_prompt, name), gr.skip(), None

    def pick_wildcard(name, current_prompt):
        if not name:
            return gr.skip(), gr.skip()
        return add_word(current_prompt, f"__{name}__"), None

    def save_style(name, current_prompt, current_negative, chosen):
        try:
            library.save_style(Style(name=(name or "").strip(), prompt=current_prompt or "",
                                     negative_prompt=current_negative or ""))
        except ValueError as error:
            return gr.skip(), f"Style not saved: {error}"
        return gr.update(choices=sorted(library.styles())), f"Saved the style **{name.strip()}**."

    def rescan():
        warnings = library.refresh()
        updates = [gr.update(value=lora_cards(library)), gr.update(choices=sorted(library.embeddings())),
                   gr.update(choices=sorted(library.styles())),
                   gr.update(choices=wildcard_names(library.wildcards_folder()))]
        updates += [gr.update(choices=choices()) for _, choices in extra_outputs]
        found = library.found
        text = (f"Found {len(found.checkpoints)} checkpoints, {len(found.loras)} LoRAs, {len(found.embeddings)} "
                f"embeddings, {len(found.vaes)} VAEs, {len(wildcard_names(library.wildcards_folder()))} wildcards.")
        return *updates, text + "".join(f"\n- {w}" for w in warnings)

    cards.select(pick_lora, prompt, prompt, api_visibility="private", queue=False)
    embedding.input(pick_embedding, [embedding, into_negative, prompt, negative], [prompt, negative, embedding],
                    api_visibility="private", queue=False)
    wildcard.input(pick_wildcard, [wildcard, prompt], [prompt, wildcard], api_visibility="private", queue=False)
    save.click(save_style, [style_name, prompt, negative, styles], [styles, note], api_visibility="private",
               queue=False)
    refresh.click(rescan, None, [cards, embedding, styles, wildcard, *(c for c, _ in extra_outputs), note],
                  api_visibility="private", queue=False)

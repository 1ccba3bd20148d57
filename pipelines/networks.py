"""The seam for extra networks: a run's LoRA tags and embedding names, found, read, applied and removed again.

The manager calls `prepare` once the base model is loaded and runs under `applied(...)`; everything
about LoRA files is in lora.py and about embeddings in embeddings.py. What cannot be honoured (an unknown
name, a file that is not a LoRA, a LoRA of another family, an unsupported kind of tag) is left out with a
warning for the user, and the picture is still made. The infotext gets A1111's `Lora hashes` and
`TI hashes`, with the tags left in the prompt as written, so PNG Info and A1111 readers round-trip it.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

from . import embeddings, flow_families, lora, model_folders, prompt_syntax


@dataclass
class RunNetworks:
    prompt: str  # the prompt without its tags: what the text encoder reads
    negative: str
    loras: list = field(default_factory=list)  # (LoraFile, te weight, unet weight)
    new_embeddings: list = field(default_factory=list)  # embeddings to add to the base model before the run
    infotext: dict = field(default_factory=dict)  # "Lora hashes", "TI hashes"
    warnings: list[str] = field(default_factory=list)
    image_prompts: object = None  # the run's IP-Adapters, loaded (ip_adapter.RunImagePrompts), or None


def prepare(prompt: str, negative: str, library, base, read_lora: Callable, read_embedding: Callable,
            steps: int = 1) -> RunNetworks:
    """Find the run's LoRAs and embeddings. `read_lora(name, path)` and `read_embedding(name, path)` return the
    file read (cached by the caller); `base.embeddings` holds the names already added to the base model."""
    text, tags = prompt_syntax.extract_networks(prompt, field="prompt")
    negative_text, negative_tags = prompt_syntax.extract_networks(negative, field="negative_prompt")
    run = RunNetworks(text, negative_text)
    run.warnings += [f"negative prompt: {t.text} left out: A1111 applies extra networks from the prompt only"
                     for t in negative_tags]
    hashes = []
    for tag in tags:
        if tag.kind not in prompt_syntax.LORA_KINDS:  # A1111 reads <lyco:...> as a LoRA too
            run.warnings.append(f"prompt: {tag.text} left out: Easel does not support {tag.kind} networks")
            continue
        found = library.loras().get(tag.name)
        if found is None:
            run.warnings.append(f"prompt: {tag.text} left out: no LoRA named {tag.name!r} "
                                f"(known: {', '.join(sorted(library.loras())) or 'none'})")
            continue
        try:
            lora_file = read_lora(tag.name, found.path)
            lora.check_fits(lora_file, base.pipeline, base.name, base.family)
        except lora.LoraError as error:
            run.warnings.append(f"prompt: {tag.text} left out: {error}")
            continue
        if tag.ignored:
            run.warnings.append(f"prompt: {tag.text}: Easel does not use {', '.join(tag.ignored)}; "
                                "the text-encoder and UNet weights are applied")
        run.loras.append((lora_file, tag.te_weight, tag.unet_weight))
        hashes.append(f"{_hash_name(tag.name)}: {model_folders.addnet_hash(found.path)[:12]}")
    if hashes:
        run.infotext["Lora hashes"] = ", ".join(hashes)
    run.infotext.update(_embeddings(run, library, base, read_embedding))
    run.warnings += flow_families.prompt_notes(base, run.prompt, run.negative, steps)  # what T5 models do not read
    return run


def _embeddings(run: RunNetworks, library, base, read_embedding: Callable) -> dict:
    known = library.embeddings()
    used = embeddings.named_in(run.prompt + "\n" + run.negative, known)
    hashes = []
    for name in used:
        found = known[name]
        if name not in base.embeddings:
            try:
                embedding = read_embedding(name, found.path)
            except embeddings.EmbeddingError as error:
                run.warnings.append(f"embedding {name} left out: {error}")
                continue
            reason = embeddings.why_not(embedding, base.pipeline, base.family)
            if reason:
                run.warnings.append(f"embedding {name} left out: it cannot be used with {base.name}: {reason}")
                continue
            run.new_embeddings.append(embedding)
        hashes.append(f"{_hash_name(name)}: {model_folders.full_hash(found.path)[:12]}")
    return {"TI hashes": ", ".join(hashes)} if hashes else {}


def _hash_name(name: str) -> str:
    return name.replace(":", "").replace(",", "")  # as A1111 writes names in its hash lists


@contextmanager
def applied(base, run: RunNetworks):
    """The run's networks in the base model's modules for the duration of the run, and then out again."""
    for embedding in run.new_embeddings:
        embeddings.load_into(base.pipeline, base.family, embedding)
        base.embeddings.add(embedding.name)
    lora.apply(base.pipeline, run.loras)
    try:
        yield
    finally:
        lora.remove(base.pipeline)

"""Textual-inversion embeddings, used by name in a prompt as A1111 does (EasyNegative and the like).

The formats A1111 reads (modules/textual_inversion/textual_inversion.py): its own (`string_to_param`, or
`emb_params`), diffusers' concept files (one token: one tensor), and SDXL's pairs (`clip_l`, `clip_g`).
`.pt` and `.bin` files are read with torch's weights-only loader, which refuses to run code, so they need
no --allow-pickle. An embedding is loaded into a base model's tokenizer and text encoder with diffusers'
`load_textual_inversion` the first time a prompt names it, and stays there, as in A1111 where every
embedding of the folder is loaded: it only acts where its name is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch


class EmbeddingError(Exception):
    """An embedding that cannot be used with this model: the message says why."""


@dataclass
class Embedding:
    name: str
    vectors: dict  # encoder key ("clip_l", "clip_g", or "" for a single-encoder model) -> (n, width) tensor
    nbytes: int
    step: int | None = None  # what an A1111 file says of its training, which A1111's /embeddings lists
    checkpoint: str | None = None
    checkpoint_name: str | None = None

    @property
    def count(self) -> int:
        return int(next(iter(self.vectors.values())).shape[0])

    @property
    def width(self) -> int:
        return int(next(iter(self.vectors.values())).shape[-1])


def read(name: str, path: Path) -> Embedding:
    """Read an embedding file. Raises EmbeddingError naming the file when it is not one."""
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            data = load_file(str(path))
        else:
            data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - truncated, not a tensor file, or a pickle that needs code
        raise EmbeddingError(f"{path.name} could not be read ({type(error).__name__}: {error})") from None
    vectors = _vectors(data)
    if vectors is None:
        raise EmbeddingError(f"{path.name} is not a textual-inversion embedding A1111 or diffusers would read")
    vectors = {k: (v.unsqueeze(0) if v.dim() == 1 else v).detach().float() for k, v in vectors.items()}
    return Embedding(name, vectors, sum(v.numel() * 4 for v in vectors.values()), _plain(data.get("step")),
                     _plain(data.get("sd_checkpoint")), _plain(data.get("sd_checkpoint_name")))


def _plain(value):
    return value if isinstance(value, (int, str)) else None


def _vectors(data) -> dict | None:
    if not isinstance(data, dict):
        return None
    if "string_to_param" in data:  # A1111's own format
        params = data["string_to_param"]
        return {"": next(iter(params.values()))} if len(params) else None
    if "emb_params" in data:
        return {"": data["emb_params"]}
    if "clip_l" in data and "clip_g" in data:  # SDXL: one set of vectors per text encoder
        return {"clip_l": data["clip_l"], "clip_g": data["clip_g"]}
    tensors = [v for v in data.values() if isinstance(v, torch.Tensor)]
    if len(data) == 1 and len(tensors) == 1:  # diffusers' learned_embeds: {token: vector}
        return {"": tensors[0]}
    return None


def _targets(pipeline, family: str) -> dict:
    if family == "sdxl":
        return {"clip_l": (pipeline.tokenizer, pipeline.text_encoder),
                "clip_g": (pipeline.tokenizer_2, pipeline.text_encoder_2)}
    return {"": (pipeline.tokenizer, pipeline.text_encoder)}


def why_not(embedding: Embedding, pipeline, family: str) -> str | None:
    """Why the embedding cannot be used with this model (A1111 lists such ones as skipped), or None."""
    from .catalog import FAMILIES

    if family in FAMILIES and not FAMILIES[family].unet:
        return f"textual-inversion embeddings are made for SD 1.x, SD 2.x and SDXL, not {FAMILIES[family].label}"
    targets = _targets(pipeline, family)
    if set(embedding.vectors) != set(targets):
        made_for = "SDXL" if "clip_g" in embedding.vectors else "a one-encoder model (SD 1.x or 2.x)"
        return f"it is made for {made_for}"
    for key, (_, encoder) in targets.items():
        width = encoder.get_input_embeddings().weight.shape[1]
        if embedding.vectors[key].shape[-1] != width:
            return f"its vectors are {embedding.vectors[key].shape[-1]} wide, the model's text encoder takes {width}"
    return None


def load_into(pipeline, family: str, embedding: Embedding) -> None:
    """Add the embedding's token(s) to the model. Raises EmbeddingError when it does not fit."""
    reason = why_not(embedding, pipeline, family)
    if reason:
        raise EmbeddingError(f"the embedding {embedding.name} cannot be used with this model: {reason}")
    for key, (tokenizer, encoder) in _targets(pipeline, family).items():
        vectors = embedding.vectors[key].to(encoder.get_input_embeddings().weight.dtype)
        # lower case: CLIP's tokenizer lowers the prompt, so the token must be lower case to be found
        token = embedding.name.lower()
        pipeline.load_textual_inversion({token: vectors}, token=token, tokenizer=tokenizer, text_encoder=encoder)


def describe(embedding: Embedding) -> dict:
    """An embedding as A1111's /sdapi/v1/embeddings lists it."""
    return {"step": embedding.step, "sd_checkpoint": embedding.checkpoint,
            "sd_checkpoint_name": embedding.checkpoint_name, "shape": embedding.width, "vectors": embedding.count}


def named_in(text: str, names) -> list[str]:
    """The embedding names a prompt uses: as whole words, ignoring case as CLIP's tokenizer does."""
    lowered = text.lower()
    return [name for name in names if re.search(rf"(?<![\w]){re.escape(name.lower())}(?![\w])", lowered)]

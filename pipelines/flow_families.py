"""SD 3.x and FLUX.1: the diffusion-transformer families, as the engine meets them.

They run through the same views, residency and tabs as the UNet families (diffusers' AutoPipelines know their
text-to-image, image-to-image and inpaint pipelines); what differs is gathered here:
- which family a transformer is, read from its config or its tensor names (BFL's and Stability's original
  layouts, and diffusers'), never from a file name;
- the sampler: flow-matching Euler from the model's own scheduler config, which carries the family's shift
  (SD 3's fixed 3.0, FLUX's resolution-dependent one);
- the prompt: T5 reads plain text, so A1111's weights and prompt editing are taken out and said so; FLUX.1
  reads no negative prompt; T5 reads at most `max_sequence_length` tokens and the rest is said to be cut;
- FLUX.1-dev's guidance is distilled (a number the transformer reads, Forge's "Distilled CFG Scale");
  schnell's transformer has no guidance input and is a few-step model.
"""

from __future__ import annotations

from . import prompt_syntax

FLOW_FAMILIES = ("sd3", "flux")
SAMPLER = "Euler"  # Forge's and ComfyUI's name for flow-matching Euler

# Tensors that only one family's transformer has, in the layouts single files come in: BFL's / Stability's
# original (with or without the `model.diffusion_model.` prefix of full checkpoints) and diffusers'.
_FLUX_KEYS = ("double_blocks.0.img_attn.qkv.weight", "single_transformer_blocks.0.attn.to_q.weight")
_FLUX_GUIDANCE_KEYS = ("guidance_in.in_layer.weight", "time_text_embed.guidance_embedder.linear_1.weight")
_SD3_KEYS = ("joint_blocks.0.context_block.attn.qkv.weight", "transformer_blocks.0.attn.add_q_proj.weight")
_SD3_POSITION_KEYS = ("pos_embed", "pos_embed.pos_embed")  # beside the joint blocks: not a FLUX double block
_PREFIXES = ("", "model.diffusion_model.")
# Parts of a full checkpoint beside the transformer: a file without them needs the rest of the model from elsewhere
_OTHER_PARTS = ("vae.", "first_stage_model.", "text_encoders.", "conditioner.", "cond_stage_model.")

# The official repos whose other parts (text encoders, VAE, scheduler) a transformer file is completed with
DEFAULT_REPOS = {("flux", True): "black-forest-labs/FLUX.1-dev", ("flux", False): "black-forest-labs/FLUX.1-schnell",
                 ("sd3", True): "stabilityai/stable-diffusion-3.5-large",
                 ("sd3", False): "stabilityai/stable-diffusion-3.5-medium"}

TRANSFORMER_CLASSES = {"flux": "FluxTransformer2DModel", "sd3": "SD3Transformer2DModel"}
CONTROLNET_CLASSES = {"FluxControlNetModel": "flux", "SD3ControlNetModel": "sd3"}
# ControlNet tasks diffusers has pipelines for: FLUX's on every task, SD 3's on text to image
CONTROLNET_TASKS = {"flux": ("txt2img", "img2img", "inpaint"), "sd3": ("txt2img",)}


def family_from_transformer_config(config: dict) -> str | None:
    name = config.get("_class_name", "")
    if name == TRANSFORMER_CLASSES["flux"] or "guidance_embeds" in config:
        return "flux"
    if name == TRANSFORMER_CLASSES["sd3"] or "pos_embed_max_size" in config:
        return "sd3"
    return None


def _has(keys: set[str], names: tuple[str, ...]) -> bool:
    return any(prefix + name in keys for prefix in _PREFIXES for name in names)


def family_from_keys(keys: set[str]) -> str | None:
    """"flux" or "sd3" from a single file's tensor names, or None if it holds neither transformer."""
    if _has(keys, _FLUX_KEYS):
        return "flux"
    if _has(keys, _SD3_KEYS[:1]) or (_has(keys, _SD3_KEYS[1:]) and _has(keys, _SD3_POSITION_KEYS)):
        return "sd3"
    return None


def transformer_only(keys: set[str]) -> bool:
    """A file with the transformer alone (Forge's and ComfyUI's `diffusion_models/`): the rest comes from a repo."""
    return not any(key.startswith(part) for key in keys for part in _OTHER_PARTS)


def variant_from_keys(family: str, keys: set[str]) -> bool:
    """FLUX: whether it reads distilled guidance (dev) or not (schnell); SD 3: whether it is a Large model
    (no MMDiT-X second attention, which 3.5 Medium has)."""
    if family == "flux":
        return _has(keys, _FLUX_GUIDANCE_KEYS)
    return not any(".attn2." in key or "x_block.attn2" in key for key in keys)


def few_step(family: str, transformer_config: dict) -> bool:
    """FLUX.1 schnell is timestep-distilled: its transformer has no guidance input, and it paints in 1-4 steps."""
    return family == "flux" and not transformer_config.get("guidance_embeds", True)


def scheduler(model_config: dict):
    """A fresh flow-matching Euler scheduler from the model's own config (its shift, FLUX's dynamic shifting)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler.from_config(model_config)


def family_note(family: str) -> str:
    """What the page says beside a transformer model: what it reads and what it cannot do ("" for UNet families)."""
    from .catalog import FAMILIES

    if family not in FLOW_FAMILIES:
        return ""
    f = FAMILIES[family]
    guidance = (f"its guidance is distilled ({f.guidance_label}, 0 to {f.max_guidance:g}), it reads no negative prompt"
                if not f.negative_prompt else f"{f.guidance_label} 0 to {f.max_guidance:g}")
    return (f"{f.label} is a diffusion transformer: sampler {SAMPLER} (flow matching), {guidance}; prompts are read as "
            "plain text (no weights); LoRAs made for it only. Tiling, FreeU, IP-Adapter image prompts, embeddings "
            "and the Latent hires upscalers need a UNet and are not offered.")


def labels(request, base) -> dict:
    """Forge's infotext for FLUX.1-dev: "Distilled CFG Scale" (the infotext then writes its true CFG, off, as 1);
    nothing for schnell, whose transformer reads no guidance (Forge writes none either)."""
    if base.family != "flux" or few_step("flux", dict(base.pipeline.transformer.config)):
        return {}
    return {"Distilled CFG Scale": request.guidance_scale}


# --- prompts -------------------------------------------------------------------------------------


def plain_text(prompt: str, steps: int) -> str:
    """What T5 and CLIP read of an A1111 prompt: its first stretch's text, weights and brackets taken out."""
    text = prompt_syntax.schedules(prompt, steps)[0][1]
    return "".join(fragment for fragment, _ in prompt_syntax.parse_attention(text) if fragment != "BREAK")


def prompt_notes(base, prompt: str, negative: str, steps: int) -> list[str]:
    """What a transformer model does not read of the prompts, each note naming its field (empty for UNet families)."""
    from .catalog import FAMILIES

    if base.family not in FLOW_FAMILIES:
        return []
    label = FAMILIES[base.family].label
    notes = []
    for field, text in (("prompt", prompt), ("negative_prompt", negative)):
        if not text:
            continue
        if field == "negative_prompt" and not FAMILIES[base.family].negative_prompt:
            notes.append(f"negative_prompt: {label} reads no negative prompt (its guidance is distilled); it was not used")
            continue
        schedule = prompt_syntax.schedules(text, steps)
        if len(schedule) > 1:
            notes.append(f"{field}: prompt editing and alternation are not applied on {label}; the text of the "
                         "first steps was used throughout")
        fragments = prompt_syntax.parse_attention(schedule[0][1])
        if any(weight != 1.0 for _, weight in fragments):  # BREAK is a fragment of weight -1
            notes.append(f"{field}: weights, brackets and BREAK are not applied on {label} (its T5 encoder reads "
                         "plain text); the words were used at weight 1")
        plain = "".join(fragment for fragment, _ in fragments if fragment != "BREAK")
        cut = _t5_overflow(base.pipeline, plain, max_sequence_length(base.family, base.pipeline))
        if cut:
            notes.append(f"{field}: {cut[0]} T5 tokens, {label} reads {cut[1]}; the rest was cut off")
    return notes


def max_sequence_length(family: str, pipeline) -> int:
    """How many T5 tokens the model reads: FLUX.1-dev 512, schnell 256 (as trained), SD 3 256 (diffusers' default)."""
    return 512 if family == "flux" and not few_step("flux", dict(pipeline.transformer.config)) else 256


def _t5_overflow(pipeline, text: str, limit: int) -> tuple[int, int] | None:
    tokenizer = getattr(pipeline, "tokenizer_3", None) or getattr(pipeline, "tokenizer_2", None)
    if tokenizer is None:
        return None
    count = len(tokenizer(text).input_ids)
    return (count, limit) if count > limit else None


class PlainConditioning:
    """The conditioning of a transformer model's run: plain text for the pipeline's own encoders (CLIP and T5),
    the same for every step (prompt_encoding.Conditioning's face)."""

    changes = False

    def __init__(self, pipe, family: str, prompt: str, negative: str, steps: int):
        from .catalog import FAMILIES

        self._arguments = {"prompt": plain_text(prompt, steps), "max_sequence_length": max_sequence_length(family, pipe)}
        if FAMILIES[family].negative_prompt:
            self._arguments["negative_prompt"] = plain_text(negative, steps)

    def arguments(self) -> dict:
        return dict(self._arguments)


# --- latents -------------------------------------------------------------------------------------


def unpacked(latents, family: str, width: int, height: int):
    """FLUX's latents as the step callback sees them are packed 2x2 into a sequence: (batch, 16, h, w) again."""
    if family != "flux" or latents.ndim != 3:
        return latents
    from diffusers import FluxPipeline

    return FluxPipeline._unpack_latents(latents, height, width, vae_scale_factor=8)

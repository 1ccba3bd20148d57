"""IP-Adapter image prompts (diffusers' IP-Adapter attention): one or more reference pictures steer the picture,
each with its weight and a mode: full, or InstantStyle's style only / composition only (the weight on one
attention layer, the others at 0).

An adapter's weights are read once into host memory (the RAM cache) and put into the shared UNet for one call
only, as LoRAs are: the UNet's own attention processors are put back after it, so the other views of the same
weights stay plain. The CLIP image encoder that reads the reference pictures is a residency component of its own,
shared by every adapter made for it.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .request import IMAGE_PROMPT_MODES as MODES  # noqa: F401 - the modes, declared with the request
# the image encoders the published adapters read pictures with, by the width of the embedding they project:
# OpenCLIP ViT-H/14 (1024) for the SD 1.5 and SDXL "vit-h" adapters, bigG (1280) for ip-adapter_sdxl
HUB_ENCODERS = {1024: ("h94/IP-Adapter", "models/image_encoder"), 1280: ("h94/IP-Adapter", "sdxl_models/image_encoder")}


# their configs, for an encoder kept as one weights file (ComfyUI's clip_vision/): OpenCLIP ViT-H/14 and bigG/14
_SINGLE_FILE_CONFIGS = {
    (1024, 1280): dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=16,
                       patch_size=14, image_size=224, projection_dim=1024, hidden_act="gelu"),
    (1280, 1664): dict(hidden_size=1664, intermediate_size=8192, num_hidden_layers=48, num_attention_heads=16,
                       patch_size=14, image_size=224, projection_dim=1280, hidden_act="gelu"),
}


@dataclass
class Adapter:
    name: str
    state: dict  # {"image_proj": {...}, "ip_adapter": {...}}, as diffusers' loader takes it
    cross_attention_dim: int  # the text features it was trained beside: tells the family it is for
    embedding_width: int  # what it reads of a picture: the encoder's projection (plain) or hidden states (plus)
    kind: str = "plain"  # "plain" (the pooled embedding) or "plus" (the hidden states, resampled)


@dataclass
class RunImagePrompts:
    """A run's IP-Adapters, loaded, with their pictures, weights and modes, in the request's order."""

    adapters: list[Adapter]
    names: list[str]
    encoder: object  # the CLIP vision model they all read pictures with
    pictures: list
    weights: list[float]
    modes: list[str]


def read(name: str, path: Path) -> Adapter:
    """An adapter file: h94's .safetensors (image_proj.* / ip_adapter.* keys) or .bin (two dicts)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        flat = load_file(str(path))
        state = {"image_proj": {}, "ip_adapter": {}}
        for key, tensor in flat.items():
            group, _, rest = key.partition(".")
            if group in state:
                state[group][rest] = tensor
    else:
        import torch

        state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not {"image_proj", "ip_adapter"} <= set(state):
        raise ValueError(f"{path.name} is not an IP-Adapter: it has no image_proj and ip_adapter weights")
    first_key = next((k for k in state["ip_adapter"] if k.endswith("to_k_ip.weight")), None)
    if first_key is None:
        raise ValueError(f"{path.name} has no cross-attention weights (to_k_ip)")
    projection = state["image_proj"]
    if "proj.weight" in projection:  # a plain adapter: the pooled embedding, projected
        width, kind = projection["proj.weight"].shape[-1], "plain"
    elif "proj_in.weight" in projection:  # a "plus" adapter: the encoder's hidden states, resampled
        width, kind = projection["proj_in.weight"].shape[-1], "plus"
    else:
        raise ValueError(f"{path.name}: Easel reads plain and plus IP-Adapters; this one's image projection is another")
    return Adapter(name, state, state["ip_adapter"][first_key].shape[1], width, kind)


def encoder_widths(path: Path) -> tuple[int, int] | None:
    """(projection width, hidden width) of a CLIP vision encoder: a folder's config, or a file's header."""
    import json

    path = Path(path)
    try:
        if path.is_dir():
            config = json.loads((path / "config.json").read_text())
            config = config.get("vision_config", config)
            return config["projection_dim"], config["hidden_size"]
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as weights:
            return tuple(weights.get_slice("visual_projection.weight").get_shape())
    except (OSError, KeyError, ValueError, TypeError):
        return None


def encoder_for(adapter: Adapter, found: dict) -> tuple[str, object]:
    """(a name for it, where to load it from) of the image encoder the adapter reads pictures with: one of the
    model folders' that has its width, else h94/IP-Adapter's on the hub."""
    for name, file in sorted(found.items()):
        widths = encoder_widths(file.path)
        if widths and widths[0 if adapter.kind == "plain" else 1] == adapter.embedding_width:
            return name, file.path
    projection = adapter.embedding_width if adapter.kind == "plain" else {1280: 1024, 1664: 1280}.get(
        adapter.embedding_width)
    if projection in HUB_ENCODERS:
        repo, subfolder = HUB_ENCODERS[projection]
        return f"{repo}/{subfolder}", (repo, subfolder)
    raise ValueError(f"no image encoder of width {adapter.embedding_width} for {adapter.name}: put its CLIP vision "
                     "model in the models folder's clip_vision/")


def load_encoder(source, dtype):
    """The CLIP vision encoder: a folder, a single weights file (ViT-H or bigG by its width), or the hub's."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    if isinstance(source, tuple):
        repo, subfolder = source
        return CLIPVisionModelWithProjection.from_pretrained(repo, subfolder=subfolder, dtype=dtype)
    source = Path(source)
    if source.is_dir():
        return CLIPVisionModelWithProjection.from_pretrained(source, dtype=dtype)
    from safetensors.torch import load_file

    widths = encoder_widths(source)
    if widths not in _SINGLE_FILE_CONFIGS:
        raise ValueError(f"{source.name}: an image encoder of widths {widths}; Easel knows ViT-H and bigG as files "
                         "(other encoders: a folder with their config.json)")
    model = CLIPVisionModelWithProjection(CLIPVisionConfig(**_SINGLE_FILE_CONFIGS[widths]))
    model.load_state_dict(load_file(str(source)), strict=False)
    return model.to(dtype)


def nbytes(adapter: Adapter) -> int:
    return sum(t.numel() * t.element_size() for group in adapter.state.values() for t in group.values())


def block_scales(unet, mode: str, weight: float):
    """diffusers' per-block scales for a mode: InstantStyle's layers found in this UNet's own structure (the first
    up block with attentions, its middle one, for style; the last down block with attentions, its last one, for
    composition), so SD 1.x, SDXL and the tiny test models each get theirs."""
    if mode == "full":
        return weight
    if mode == "style":
        blocks, side = unet.up_blocks, "up"
        index = next(i for i, block in enumerate(blocks) if getattr(block, "attentions", None))
        count = len(blocks[index].attentions)
        layer = count // 2
    else:
        blocks, side = unet.down_blocks, "down"
        index = max(i for i, block in enumerate(blocks) if getattr(block, "attentions", None))
        count = len(blocks[index].attentions)
        layer = count - 1
    return {side: {f"block_{index}": [weight if i == layer else 0.0 for i in range(count)]}}


def header_cross_width(path: Path) -> int | None:
    """The text-feature width an adapter file was trained beside, from its header alone (no tensor is read)."""
    if Path(path).suffix != ".safetensors":
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as weights:
            key = next((k for k in weights.keys() if k.endswith("to_k_ip.weight")), None)
            return weights.get_slice(key).get_shape()[1] if key else None
    except (OSError, ValueError):
        return None


def default_adapter(choices: dict, cross_width: int, family: str) -> str | None:
    """The first adapter made for the model: a file whose weights fit its text features, else h94's for the family."""
    for name, source in choices.items():
        if not isinstance(source, tuple) and header_cross_width(source) == cross_width:
            return name
    for name, source in choices.items():
        if isinstance(source, tuple) and family in ("sd1", "sdxl") and ("sdxl" in name) == (family == "sdxl"):
            return name
    return None


@contextmanager
def applied(view, run: RunImagePrompts | None):
    """The view with the run's adapters in its UNet and their image encoder beside it, for one call; the call's
    arguments (the pictures) are yielded. Everything is put back after, whatever happens."""
    if run is None:
        yield {}
        return
    from transformers import CLIPImageProcessor

    unet, encoder = view.unet, run.encoder
    saved_processors = dict(unet.attn_processors)
    saved = {name: getattr(view, name, None) for name in ("image_encoder", "feature_extractor")}
    device, dtype = unet.device, unet.dtype
    # under an offload mode the encoder computes where the pipeline does; it goes back after the call
    encoder_was = encoder.device
    states = [{group: {k: t.to(device=device, dtype=dtype) for k, t in tensors.items()}
               for group, tensors in adapter.state.items()} for adapter in run.adapters]
    try:
        unet._load_ip_adapter_weights(states)
        encoder.to(view._execution_device)
        size = encoder.config.image_size
        view.register_modules(image_encoder=encoder, feature_extractor=CLIPImageProcessor(size=size, crop_size=size))
        view.set_ip_adapter_scale([block_scales(unet, mode, weight) for weight, mode in zip(run.weights, run.modes)])
        yield {"ip_adapter_image": list(run.pictures)}
    finally:
        unet.encoder_hid_proj = None
        unet.config.encoder_hid_dim_type = None
        unet.set_attn_processor(saved_processors)
        view.register_modules(**saved)
        encoder.to(encoder_was)


def labels(run: RunImagePrompts | None) -> dict:
    """Easel's infotext for each reference: `IP-Adapter 0: "Model: ..., Weight: 0.8, Mode: style, Image hash: ..."`
    (the picture's pixel hash, as the record has it)."""
    if run is None:
        return {}
    from .provenance import pixel_sha256

    return {f"IP-Adapter {i}": f"Model: {name}, Weight: {weight:g}, Mode: {mode}, Image hash: {pixel_sha256(picture)[:10]}"
            for i, (name, weight, mode, picture) in enumerate(zip(run.names, run.weights, run.modes, run.pictures))}

"""TAESD: a tiny autoencoder that turns latents into pictures about a hundred times cheaper than the model's VAE.

Live previews use it whenever its weights are on this machine, so a preview looks like the picture it becomes
(A1111's "TAESD" live previews, ComfyUI's high-quality previews); otherwise the linear approximation in
preview.py stands in. For final pictures it is a choice (`--decode fast`, or a request's `decode`): in a
few-step run on a CPU the full VAE decode costs as much as several denoising steps, TAESD a fraction of one,
at the price of softer detail. The tiny autoencoder then stands in for the VAE for that run (its encoder too,
for a starting picture), as A1111's TAESD decode/encode methods do.

The weights are madebyollin's, one per latent space, in diffusers' `AutoencoderTiny` layout; a library may point
a family at another folder or hub id (`fast_decoders:` in models.yaml; catalog.FAST_DECODERS are the built-in ones).
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

LABEL = "TAESD"
RESIDENCY_ROLE = "fast_decoder"


def owner(family: str) -> str:
    """The tiny autoencoder's name where the Models tab lists it: "TAESD for SD 1.x"."""
    from .catalog import FAMILIES

    return f"{LABEL} for {FAMILIES[family].label}"


def on_disk(source: str, base_dir: Path | None = None) -> bool:
    """True where loading costs no download: a folder, or a hub repo already in the Hugging Face cache."""
    from .model_sources import locate

    where = locate(source, base_dir)
    if where.kind == "folder":
        return (Path(where.where) / "config.json").is_file()
    if where.kind != "hub":
        return False
    from huggingface_hub import try_to_load_from_cache

    return all(isinstance(try_to_load_from_cache(source, name), str)
               for name in ("config.json", "diffusion_pytorch_model.safetensors"))


def load(name: str, source: str, base_dir: Path | None, dtype: torch.dtype, progress=None):
    """The tiny autoencoder, from its folder or the hub (downloaded into the Hugging Face cache, with progress)."""
    from diffusers import AutoencoderTiny

    from .loader import download
    from .model_sources import locate

    where = locate(source, base_dir)
    folder = where.where if where.kind == "folder" else download(name, source, None, None, progress, controlnet=True)
    module = AutoencoderTiny.from_pretrained(folder, torch_dtype=dtype, local_files_only=True)
    return module.requires_grad_(False).eval()


@torch.no_grad()
def preview(decoder, latents: torch.Tensor, family: str, size: tuple[int, int]) -> Image.Image:
    """The first latent of a batch as the tiny autoencoder paints it, at the picture's size."""
    from .flow_families import unpacked

    latent = unpacked(latents[:1], family, *size)
    parameter = next(decoder.parameters())
    latent = latent.to(parameter.device, parameter.dtype)
    # what the pipelines do before decoding (each family's scaling and shift, as the tiny model's config gives them)
    latent = latent / decoder.config.scaling_factor + getattr(decoder.config, "shift_factor", 0.0)
    pixels = decoder.decode(latent).sample[0].float().clamp(-1, 1)
    array = ((pixels + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array)


def labels(request) -> dict:
    """The picture's parameters say when TAESD made it (softer than the VAE's picture of the same seed), under
    A1111's names for its sd_vae_decode_method and sd_vae_encode_method."""
    if request.decode != "fast":
        return {}
    return {"VAE Decoder": LABEL, **({"VAE Encoder": LABEL} if request.image is not None else {})}

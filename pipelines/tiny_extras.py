"""Extra networks for the tiny SD 1.x model, laid out as an AUTOMATIC1111 folder, for tests and the demo.

    a1111/models/Lora/tiny-lora.safetensors        kohya/A1111 layout (lora_unet_..., lora_te_...)
    a1111/models/Lora/styles/tiny-lora-peft.safetensors   diffusers/peft layout, in a subfolder
    a1111/models/Lora/tiny-lora-sdxl.safetensors   a LoRA for the tiny SDXL model (wrong family for SD 1.x)
    a1111/models/VAE/tiny-vae.safetensors          a VAE in the original (LDM) layout, as A1111's VAE files
    a1111/models/ESRGAN/tiny-esrgan.safetensors    a 4x ESRGAN upscaler (8 filters, one block), as spandrel reads them
    a1111/models/RealESRGAN/tiny-realesr-compact.pth   a 4x Real-ESRGAN compact, as Real-ESRGAN ships its .pth
    a1111/models/GFPGAN/GFPGANv1.4.pth             GFPGAN v1.4, random weights at its one full size (174 MB, half precision)
    a1111/embeddings/tinyemb.pt                    an A1111-format embedding (string_to_param), 2 vectors
    a1111/models/ipadapter/ip-adapter_tiny-sd15.safetensors   an IP-Adapter for the tiny SD 1.x model (ComfyUI's folder)
    a1111/models/ControlNet/ip-adapter_tiny-sdxl.safetensors  one for the tiny SDXL model (where A1111 keeps them)
    a1111/models/clip_vision/tiny-clip-vision/     the image encoder both read pictures with (tiny_ip_adapter.py)
    a1111/styles.csv                               A1111's styles file
    a1111/extensions/sd-dynamic-prompts/wildcards/colors.txt, animals/pets.txt   wildcards, where that extension keeps them

Weights are random but large enough that each one visibly changes the tiny model's pictures.
"""

from __future__ import annotations

from pathlib import Path

A1111_DIR = "a1111"
_ATTENTION = ("to_q", "to_k", "to_v", "to_out.0")
_TEXT_ATTENTION = ("q_proj", "k_proj", "v_proj", "out_proj")
STYLES_CSV = """name,prompt,negative_prompt
Cinematic,"cinematic still of {prompt}, shallow depth of field","cartoon, drawing"
Vivid,"vivid colours","dull"
"""
WILDCARDS = {  # the second names the first, as wildcard collections do
    "colors.txt": "red\ngreen\nblue\n",
    "animals/pets.txt": "a {small|large} cat\na __colors__ dog\n",
}
WILDCARDS_DIR = "extensions/sd-dynamic-prompts/wildcards"


def write_extras(root: Path, sd15_folder: Path, sdxl_folder: Path) -> Path:
    """Write the extras under root/a1111 (skipping files already there) and return its `models` folder."""
    import torch
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    from .face_restoration import write_random_gfpgan
    from .tiny_ip_adapter import write_image_encoder, write_ip_adapter
    from .upscalers import write_tiny_compact_upscaler, write_tiny_upscaler

    base = root / A1111_DIR
    models = base / "models"
    targets = {
        models / "Lora" / "tiny-lora.safetensors": lambda p: write_kohya_lora(_pipeline(StableDiffusionPipeline, sd15_folder), p, 1),
        models / "Lora" / "styles" / "tiny-lora-peft.safetensors":
            lambda p: _peft_lora(_pipeline(StableDiffusionPipeline, sd15_folder), p, 2),
        models / "Lora" / "tiny-lora-sdxl.safetensors":
            lambda p: write_kohya_lora(_pipeline(StableDiffusionXLPipeline, sdxl_folder), p, 3),
        models / "VAE" / "tiny-vae.safetensors": lambda p: _vae(sd15_folder, p),
        base / "embeddings" / "tinyemb.pt": lambda p: _embedding(p),
        models / "ESRGAN" / "tiny-esrgan.safetensors": lambda p: write_tiny_upscaler(p),
        models / "RealESRGAN" / "tiny-realesr-compact.pth": lambda p: write_tiny_compact_upscaler(p),
        models / "GFPGAN" / "GFPGANv1.4.pth": lambda p: write_random_gfpgan(p),
        models / "ipadapter" / "ip-adapter_tiny-sd15.safetensors": lambda p: write_ip_adapter(sd15_folder / "unet", p, 4),
        models / "ControlNet" / "ip-adapter_tiny-sdxl.safetensors": lambda p: write_ip_adapter(sdxl_folder / "unet", p, 5),
        models / "clip_vision" / "tiny-clip-vision": lambda p: write_image_encoder(p),
    }
    for path, write in targets.items():
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.manual_seed(0)
            write(path)
    for name, lines in WILDCARDS.items():
        path = base / WILDCARDS_DIR / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(lines, encoding="utf-8")
    styles = base / "styles.csv"
    if not styles.exists():
        styles.write_text(STYLES_CSV, encoding="utf-8")
    return models


_loaded: dict = {}


def _pipeline(cls, folder: Path):
    if folder not in _loaded:
        _loaded[folder] = cls.from_pretrained(folder)
    return _loaded[folder]


def _pairs(pipeline, seed: int, rank: int = 4):
    """(module path, in, out, down, up) for every attention projection of the UNet and the first text encoder."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    for prefix, model, names in (("unet", pipeline.unet, _ATTENTION), ("text_encoder", pipeline.text_encoder, _TEXT_ATTENTION)):
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear) and any(name.endswith(n) for n in names):
                down = torch.randn(rank, module.in_features, generator=generator) * 0.5
                up = torch.randn(module.out_features, rank, generator=generator) * 0.5
                yield prefix, name, down, up


def write_kohya_lora(pipeline, path: Path, seed: int, rank: int = 4) -> None:
    """A random LoRA for the pipeline's attention layers, in kohya/A1111's layout."""
    import torch
    from safetensors.torch import save_file

    tensors = {}
    for prefix, name, down, up in _pairs(pipeline, seed, rank):
        key = ("lora_unet_" if prefix == "unet" else "lora_te_") + name.replace(".", "_")
        tensors[f"{key}.lora_down.weight"] = down.contiguous()
        tensors[f"{key}.lora_up.weight"] = up.contiguous()
        tensors[f"{key}.alpha"] = torch.tensor(float(down.shape[0]))
    save_file(tensors, str(path), metadata={"ss_network_module": "networks.lora", "ss_output_name": path.stem})


def _peft_lora(pipeline, path: Path, seed: int) -> None:
    from safetensors.torch import save_file

    tensors = {}
    for prefix, name, down, up in _pairs(pipeline, seed):
        tensors[f"{prefix}.{name}.lora_A.weight"] = down.contiguous()
        tensors[f"{prefix}.{name}.lora_B.weight"] = up.contiguous()
    save_file(tensors, str(path))


def _vae(sd15_folder: Path, path: Path) -> None:
    import json

    import torch
    from safetensors.torch import save_file

    from .single_file_export import VAE_PREFIX, _convert_vae

    config = json.loads((sd15_folder / "vae" / "config.json").read_text())
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_config(config)  # new random weights: a VAE that decodes differently
    with torch.no_grad():
        for parameter in vae.decoder.parameters():
            parameter.mul_(1.5)
    ldm = _convert_vae(vae.state_dict(), config)
    save_file({k.removeprefix(VAE_PREFIX): v.contiguous() for k, v in ldm.items()}, str(path))


def _embedding(path: Path) -> None:
    import torch

    vectors = torch.randn(2, 32) * 2.0  # two vectors as wide as the tiny text encoder's
    torch.save({"string_to_token": {"*": 265}, "string_to_param": {"*": vectors}, "name": path.stem, "step": 0}, path)

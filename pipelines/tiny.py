"""Tiny random-weight models of every family, in the standard layouts, for tests, CI and offline demos.

    python -m pipelines.tiny DIR

writes, under DIR:

    sd15-tiny/                  an SD 1.x-like base (diffusers folder)
    sd15-tiny-inpaint/          an SD 1.x-like inpainting base (9-channel UNet)
    sd15-tiny.safetensors       the SD 1.x base again as one original-layout checkpoint
    sdxl-tiny/                  an SDXL-like base (two text encoders, micro-conditioning)
    sdxl-tiny-refiner/          an SDXL-refiner-like model (the second text encoder, an aesthetic score, sdxl-tiny's VAE)
    sd3-tiny/ flux-tiny/        SD 3- and FLUX.1-like models, and the FLUX transformer alone as a single file and as
                                GGUF (tiny_transformers.py)
    controlnet-sd15-canny-tiny/ controlnet-sd15-tile-tiny/ controlnet-sdxl-canny-tiny/
    models.yaml                 a model library naming all of the above
    a1111/                      an A1111 folder with LoRAs, an embedding, a VAE, upscalers, GFPGAN, styles.csv, wildcards
                                (tiny_extras.py)

The pictures they make are noise, but every file is what a real model ships, so the app loads them
through exactly the code path of real models (folder, single file, library file). The structure is
kept real where it matters to the code: a VAE that scales by 8, 4 latent channels, a CLIP tokenizer,
ControlNets whose conditioning embedding also scales by 8.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

LIBRARY_FILE = "models.yaml"
TINY_SIZE = 64  # default picture size of the tiny models: big enough for every code path, fast on CPU

# Byte-level BPE without merges: every character is a token. Real CLIP vocabularies cannot be
# downloaded here, and a prompt only has to become token ids for the code paths to be exercised.
_STARTOFTEXT, _ENDOFTEXT = "<|startoftext|>", "<|endoftext|>"


def _byte_level_alphabet() -> list[str]:
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes, extra = printable[:], 0
    for byte in range(256):
        if byte not in printable:
            codes.append(256 + extra)
            extra += 1
    return [chr(code) for code in codes]


def _tokenizer():
    from transformers import CLIPTokenizer

    alphabet = _byte_level_alphabet()
    vocab = {token: i for i, token in enumerate([*alphabet, *(c + "</w>" for c in alphabet), _STARTOFTEXT, _ENDOFTEXT])}
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _text_encoder(tokenizer, with_projection: bool = False, hidden_act: str = "quick_gelu"):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=3,
        projection_dim=32,
        hidden_act=hidden_act,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return (CLIPTextModelWithProjection if with_projection else CLIPTextModel)(config)


def _vae():
    from diffusers import AutoencoderKL

    # Four levels, like the real VAE, so that latents are 1/8 of the picture.
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 16, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=TINY_SIZE,
    )


def build_tiny_autoencoder(latent_channels: int):
    """TAESD's architecture (diffusers' AutoencoderTiny) made small: three halvings, so latents are 1/8 again."""
    from diffusers import AutoencoderTiny

    return AutoencoderTiny(encoder_block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
                           num_encoder_blocks=(1, 1, 1, 1), num_decoder_blocks=(1, 1, 1, 1),
                           latent_channels=latent_channels)


_UNET_SD15 = dict(
    block_out_channels=(32, 64),
    layers_per_block=1,
    sample_size=TINY_SIZE // 8,
    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=32,
    attention_head_dim=8,
    norm_num_groups=8,
)

_UNET_SDXL = dict(
    _UNET_SD15,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    cross_attention_dim=64,  # both text encoders' hidden states, concatenated
    use_linear_projection=True,
    addition_embed_type="text_time",
    addition_time_embed_dim=8,
    # six micro-conditioning numbers (sizes, crop) embedded with 8 each, plus the pooled projection
    projection_class_embeddings_input_dim=6 * 8 + 32,
)

_SCHEDULER = dict(
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    num_train_timesteps=1000,
    steps_offset=1,
    timestep_spacing="leading",
)


def _unet(config: dict, in_channels: int = 4):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(in_channels=in_channels, out_channels=4, **config)


def build_sd15(inpainting: bool = False):
    from diffusers import EulerDiscreteScheduler, StableDiffusionInpaintPipeline, StableDiffusionPipeline

    tokenizer = _tokenizer()
    components = dict(
        unet=_unet(_UNET_SD15, in_channels=9 if inpainting else 4),
        vae=_vae(),
        text_encoder=_text_encoder(tokenizer),
        tokenizer=tokenizer,
        scheduler=EulerDiscreteScheduler(**_SCHEDULER),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    return (StableDiffusionInpaintPipeline if inpainting else StableDiffusionPipeline)(**components)


def build_sdxl():
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline

    tokenizer = _tokenizer()
    return StableDiffusionXLPipeline(
        unet=_unet(_UNET_SDXL),
        vae=_vae(),
        text_encoder=_text_encoder(tokenizer),
        text_encoder_2=_text_encoder(tokenizer, with_projection=True, hidden_act="gelu"),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        scheduler=EulerDiscreteScheduler(**_SCHEDULER),
    )


_UNET_SDXL_REFINER = dict(
    _UNET_SDXL,
    cross_attention_dim=32,  # the second text encoder's hidden states alone
    # five micro-conditioning numbers (sizes, crop, aesthetic score) embedded with 8 each, plus the pooled projection
    projection_class_embeddings_input_dim=5 * 8 + 32,
)


def build_sdxl_refiner(vae):
    """The SDXL refiner's layout: one text encoder (the second), an aesthetic score, and the base's VAE (`vae`),
    since the refiner continues the base's latents."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLImg2ImgPipeline

    tokenizer = _tokenizer()
    return StableDiffusionXLImg2ImgPipeline(
        unet=_unet(_UNET_SDXL_REFINER), vae=vae, text_encoder=None, tokenizer=None,
        text_encoder_2=_text_encoder(tokenizer, with_projection=True, hidden_act="gelu"), tokenizer_2=tokenizer,
        scheduler=EulerDiscreteScheduler(**_SCHEDULER), requires_aesthetics_score=True,
        force_zeros_for_empty_prompt=False,
    )


def build_controlnet(unet):
    from diffusers import ControlNetModel

    # (8, 8, 16, 16): three stride-2 convolutions take the control image down to latent size, as in real ones.
    return ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 8, 16, 16))


def library_text() -> str:
    return f"""\
# Tiny random-weight models made by `python -m pipelines.tiny`. Their pictures are noise.
# Paths are relative to this file.
default: tiny-sd15
include_builtin: false  # real models cannot be downloaded where the tiny ones are used

models:
  tiny-sd15:
    source: sd15-tiny
    inpaint: tiny-sd15-inpaint
    default_size: {TINY_SIZE}
  tiny-sd15-inpaint:
    source: sd15-tiny-inpaint
    default_size: {TINY_SIZE}
  tiny-sd15-single-file:
    source: sd15-tiny.safetensors
    config: sd15-tiny
    default_size: {TINY_SIZE}
  tiny-sdxl:
    source: sdxl-tiny
    default_size: {TINY_SIZE}
  tiny-sdxl-refiner:
    source: sdxl-tiny-refiner
    default_size: {TINY_SIZE}
  tiny-sd3:
    source: sd3-tiny
    default_size: {TINY_SIZE}
  tiny-flux:
    source: flux-tiny
    default_size: {TINY_SIZE}
  tiny-flux-fp8:
    source: flux-tiny
    quantize: fp8
    default_size: {TINY_SIZE}
  tiny-flux-transformer:            # a transformer file with the rest of the model from a folder (or hub repo)
    source: flux-tiny-transformer.safetensors
    config: flux-tiny
    default_size: {TINY_SIZE}
  tiny-flux-gguf:
    source: flux-tiny-Q8_0.gguf
    config: flux-tiny
    default_size: {TINY_SIZE}

fast_decoders:  # TAESD's layout (AutoencoderTiny), random weights: live previews and `--decode fast`
  sd1: taesd-tiny
  sdxl: taesd-tiny
  sdxl_refiner: taesd-tiny
  sd3: tae16-tiny
  flux: tae16-tiny

controlnets:
  sd1:
    canny: controlnet-sd15-canny-tiny
    tile: controlnet-sd15-tile-tiny
  sdxl:
    canny: controlnet-sdxl-canny-tiny
  sd3:
    canny: controlnet-sd3-canny-tiny
  flux:
    canny: controlnet-flux-canny-tiny
    depth: {{source: controlnet-flux-union-tiny, union_mode: 2}}   # Shakker-Labs' union modes: canny 0, tile 1, depth 2
"""


ARTEFACTS = ("sd15-tiny", "sd15-tiny-inpaint", "sdxl-tiny", "controlnet-sd15-canny-tiny", "controlnet-sd15-tile-tiny",
             "controlnet-sdxl-canny-tiny", "sd15-tiny.safetensors", "sdxl-tiny-refiner", "sd3-tiny", "flux-tiny",
             "flux-tiny-transformer.safetensors", "flux-tiny-Q8_0.gguf", "a1111/models/Lora/flux-tiny-lora.safetensors",
             "controlnet-sd3-canny-tiny", "controlnet-flux-canny-tiny", "controlnet-flux-union-tiny", "taesd-tiny",
             "tae16-tiny")


# LoRAs, an embedding, a VAE, upscalers, a face restorer and styles for the tiny models, in an A1111 folder (tiny_extras.py)
EXTRAS_DIR = "a1111"
EXTRAS = ("a1111/models/Lora/tiny-lora.safetensors", "a1111/models/Lora/styles/tiny-lora-peft.safetensors",
          "a1111/models/Lora/tiny-lora-sdxl.safetensors", "a1111/models/VAE/tiny-vae.safetensors",
          "a1111/embeddings/tinyemb.pt", "a1111/styles.csv", "a1111/models/ESRGAN/tiny-esrgan.safetensors",
          "a1111/models/RealESRGAN/tiny-realesr-compact.pth", "a1111/models/GFPGAN/GFPGANv1.4.pth",
          "a1111/extensions/sd-dynamic-prompts/wildcards/colors.txt",
          "a1111/models/ipadapter/ip-adapter_tiny-sd15.safetensors",
          "a1111/models/ControlNet/ip-adapter_tiny-sdxl.safetensors", "a1111/models/clip_vision/tiny-clip-vision")


def tiny_extras_dir(library_file: str | Path) -> Path:
    """The A1111 `models` folder written next to the tiny models' library file: `--demo` scans it."""
    return Path(library_file).parent / EXTRAS_DIR / "models"


def write_tiny_models(root: str | Path) -> Path:
    """Write every tiny model under `root` (skipping what is already there) and return the library file."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    missing = [name for name in ARTEFACTS if not (root / name).exists()]
    if missing:  # only then import torch and build them: `python app.py --demo` starts faster the second time
        _write_artefacts(root, missing)
    if not all((root / path).exists() for path in EXTRAS):
        from .tiny_extras import write_extras

        write_extras(root, root / "sd15-tiny", root / "sdxl-tiny")
    (root / LIBRARY_FILE).write_text(library_text())
    (root / "README.json").write_text(json.dumps({"made_by": "python -m pipelines.tiny", "weights": "random"}))
    return root / LIBRARY_FILE


def _write_artefacts(root: Path, names: list[str]) -> None:
    import torch

    from .single_file_export import save_single_file

    # A fixed seed makes the random weights, and so every picture they make, the same on every machine.
    torch.manual_seed(0)
    sd15, sd15_inpaint, sdxl = build_sd15(), build_sd15(inpainting=True), build_sdxl()
    writers = {
        "sd15-tiny": lambda path: sd15.save_pretrained(path),
        "sd15-tiny-inpaint": lambda path: sd15_inpaint.save_pretrained(path),
        "sdxl-tiny": lambda path: sdxl.save_pretrained(path),
        "controlnet-sd15-canny-tiny": lambda path: build_controlnet(sd15.unet).save_pretrained(path),
        "controlnet-sd15-tile-tiny": lambda path: build_controlnet(sd15.unet).save_pretrained(path),
        "controlnet-sdxl-canny-tiny": lambda path: build_controlnet(sdxl.unet).save_pretrained(path),
        "sd15-tiny.safetensors": lambda path: save_single_file(root / "sd15-tiny", path),  # after sd15-tiny
        "sdxl-tiny-refiner": lambda path: build_sdxl_refiner(sdxl.vae).save_pretrained(path),
        "taesd-tiny": lambda path: build_tiny_autoencoder(4).save_pretrained(path),
        "tae16-tiny": lambda path: build_tiny_autoencoder(16).save_pretrained(path),
    }
    from .tiny_transformers import writers as transformer_writers

    writers.update(transformer_writers(root))  # in ARTEFACTS' order: the FLUX files after flux-tiny
    for name in names:
        writers[name](root / name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write tiny random-weight models and a model library file naming them.")
    parser.add_argument("dir", help="folder to write into (created if missing)")
    args = parser.parse_args(argv)
    print(write_tiny_models(args.dir))


if __name__ == "__main__":
    main()

"""The diffusers configs a single-file checkpoint needs, shipped with Easel so it loads with no network.

A `.safetensors` checkpoint from A1111's `Stable-diffusion/` or ComfyUI's `checkpoints/` holds weights only.
Without `config:` in the library, diffusers would fetch the configs of the family's reference repo from the
hub. Easel writes the same configs here instead, once per process, for the family read from the tensors
(model_sources.peek): the published architectures of SD 1.5, SD 2.1 (768, v-prediction, as diffusers assumes for
every SD 2 checkpoint), SDXL 1.0 and their inpainting models, with CLIP's tokenizer from assets/; and
the config of a ControlNet for each of those UNets.
Only the fields that differ from the classes' defaults are written; diffusers fills in the rest.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
import threading
from pathlib import Path

# beside the code, as ui/assets.py finds the style sheet: assets/ in a checkout, site-packages/assets installed
TOKENIZER_FILES = Path(__file__).resolve().parent.parent / "assets" / "clip-tokenizer"

_SCHEDULER = {"_class_name": "EulerDiscreteScheduler", "beta_start": 0.00085, "beta_end": 0.012,
              "beta_schedule": "scaled_linear", "num_train_timesteps": 1000, "steps_offset": 1,
              "timestep_spacing": "leading", "set_alpha_to_one": False, "clip_sample": False}
_VAE = {"_class_name": "AutoencoderKL", "in_channels": 3, "out_channels": 3, "latent_channels": 4,
        "layers_per_block": 2, "block_out_channels": [128, 256, 512, 512], "norm_num_groups": 32,
        "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4}
_SD_BLOCKS = {"block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2,
              "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
              "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3}
_SDXL_BLOCKS = {"block_out_channels": [320, 640, 1280], "layers_per_block": 2, "attention_head_dim": [5, 10, 20],
                "transformer_layers_per_block": [1, 2, 10], "use_linear_projection": True, "cross_attention_dim": 2048,
                "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
                "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
                "addition_embed_type": "text_time", "addition_embed_type_num_heads": 64,
                "addition_time_embed_dim": 256, "projection_class_embeddings_input_dim": 2816}


def _clip(hidden: int, layers: int, heads: int, act: str, projection_dim: int, with_projection: bool = False) -> dict:
    # bos/eos ids 0 and 2 as in the published configs: transformers then pools at the highest token id (the end
    # token), as the original encoders do
    return {"architectures": ["CLIPTextModelWithProjection" if with_projection else "CLIPTextModel"],
            "model_type": "clip_text_model", "vocab_size": 49408, "max_position_embeddings": 77,
            "hidden_size": hidden, "intermediate_size": hidden * 4, "num_hidden_layers": layers,
            "num_attention_heads": heads, "hidden_act": act, "projection_dim": projection_dim,
            "layer_norm_eps": 1e-05, "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1}


_CLIP_L = _clip(768, 12, 12, "quick_gelu", 768)  # SD 1.x, and SDXL's first encoder
_OPENCLIP_H = _clip(1024, 23, 16, "gelu", 512)  # SD 2.x: 23 of the 24 layers, as SD 2 reads the penultimate one
_OPENCLIP_BIGG = _clip(1280, 32, 20, "gelu", 1280, with_projection=True)  # SDXL's second encoder

# family, inpainting -> (pipeline class, unet fields, vae fields, scheduler fields, text encoders as
# (name, config, pad token)); the pad tokens are those of the published tokenizers: OpenCLIP pads with "!"
_KINDS = {
    ("sd1", False): ("StableDiffusionPipeline", {**_SD_BLOCKS, "in_channels": 4, "sample_size": 64,
                                                "cross_attention_dim": 768, "attention_head_dim": 8},
                     {"sample_size": 512}, {}, [("text_encoder", _CLIP_L, "<|endoftext|>")]),
    ("sd1", True): ("StableDiffusionInpaintPipeline", {**_SD_BLOCKS, "in_channels": 9, "sample_size": 64,
                                                      "cross_attention_dim": 768, "attention_head_dim": 8},
                    {"sample_size": 512}, {}, [("text_encoder", _CLIP_L, "<|endoftext|>")]),
    ("sd2", False): ("StableDiffusionPipeline", {**_SD_BLOCKS, "in_channels": 4, "sample_size": 96,
                                                "cross_attention_dim": 1024, "attention_head_dim": [5, 10, 20, 20],
                                                "use_linear_projection": True, "upcast_attention": True},
                     {"sample_size": 768}, {"prediction_type": "v_prediction"},
                     [("text_encoder", _OPENCLIP_H, "!")]),
    ("sd2", True): ("StableDiffusionInpaintPipeline", {**_SD_BLOCKS, "in_channels": 9, "sample_size": 64,
                                                      "cross_attention_dim": 1024, "attention_head_dim": [5, 10, 20, 20],
                                                      "use_linear_projection": True},
                    {"sample_size": 512}, {}, [("text_encoder", _OPENCLIP_H, "!")]),
    ("sdxl", False): ("StableDiffusionXLPipeline", {**_SDXL_BLOCKS, "in_channels": 4, "sample_size": 128},
                      {"sample_size": 1024, "scaling_factor": 0.13025, "force_upcast": True}, {},
                      [("text_encoder", _CLIP_L, "<|endoftext|>"), ("text_encoder_2", _OPENCLIP_BIGG, "!")]),
    ("sdxl", True): ("StableDiffusionXLInpaintPipeline", {**_SDXL_BLOCKS, "in_channels": 9, "sample_size": 128},
                     {"sample_size": 1024, "scaling_factor": 0.13025, "force_upcast": True}, {},
                     [("text_encoder", _CLIP_L, "<|endoftext|>"), ("text_encoder_2", _OPENCLIP_BIGG, "!")]),
}

_written: dict[tuple[str, bool], Path] = {}
_lock = threading.Lock()
_root: tempfile.TemporaryDirectory | None = None


def config_folder(family: str, inpainting: bool) -> Path:
    """A diffusers config folder (no weights) for this family, for `from_single_file(config=...)`."""
    key = (family, inpainting)
    if key not in _KINDS:
        raise KeyError(f"no shipped config for {family}{' inpainting' if inpainting else ''}")
    with _lock:
        if key not in _written:
            _written[key] = write_config_folder(family, inpainting, Path(_temporary_root()) / f"{family}-{int(inpainting)}")
        return _written[key]


def controlnet_config_folder(family: str) -> Path:
    """A folder with the config.json of a ControlNet for this family's UNet (the published ControlNets of SD 1.5,
    SD 2.1 and SDXL are their UNet's down half: diffusers' ControlNetModel.from_unet), for single files."""
    key = (family, "controlnet")
    with _lock:
        if key not in _written:
            from diffusers import ControlNetModel

            unet = {k: v for k, v in _KINDS[family, False][1].items() if k not in ("sample_size", "up_block_types")}
            config, _, _ = ControlNetModel.extract_init_dict(unet)  # the fields a ControlNet has, defaults filled in
            folder = Path(_temporary_root()) / f"controlnet-{family}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "config.json").write_text(json.dumps({"_class_name": "ControlNetModel", **config}, indent=1))
            _written[key] = folder
        return _written[key]


def write_config_folder(family: str, inpainting: bool, folder: Path) -> Path:
    pipeline_class, unet, vae, scheduler, encoders = _KINDS[family, inpainting]
    index = {"_class_name": pipeline_class, "scheduler": ["diffusers", "EulerDiscreteScheduler"],
             "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]}
    if family == "sdxl":
        index.update(force_zeros_for_empty_prompt=True, add_watermarker=None)
    else:  # the safety checker is not part of a checkpoint; the studio decides on its own whether to use one
        index.update(safety_checker=[None, None], feature_extractor=[None, None], requires_safety_checker=False)
    files = {"unet/config.json": {"_class_name": "UNet2DConditionModel", "out_channels": 4, **unet},
             "vae/config.json": {**_VAE, **vae}, "scheduler/scheduler_config.json": {**_SCHEDULER, **scheduler}}
    for position, (name, text_config, pad) in enumerate(encoders):
        suffix = "" if position == 0 else f"_{position + 1}"
        index[name] = ["transformers", text_config["architectures"][0]]
        index[f"tokenizer{suffix}"] = ["transformers", "CLIPTokenizer"]
        files[f"{name}/config.json"] = text_config
        files[f"tokenizer{suffix}/tokenizer_config.json"] = {
            "tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "do_lower_case": True, "errors": "replace",
            "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
            "pad_token": pad, "add_prefix_space": False}
        for vocabulary in ("vocab.json", "merges.txt"):
            (folder / f"tokenizer{suffix}").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(TOKENIZER_FILES / vocabulary, folder / f"tokenizer{suffix}" / vocabulary)
    files["model_index.json"] = index
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(json.dumps(content, indent=1))
    return folder


def _temporary_root() -> str:
    global _root
    if _root is None:
        _root = tempfile.TemporaryDirectory(prefix="easel-configs-")
        atexit.register(_root.cleanup)
    return _root.name

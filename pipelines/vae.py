"""A VAE the user picks (A1111's `sd_vae`), used in place of the model's own without reloading the model.

VAE files come in the original (LDM) layout that A1111 reads, or in diffusers' layout; either is made
into a diffusers AutoencoderKL with the base model's own VAE config (so an SDXL VAE keeps SDXL's scaling
factor). A VAE whose tensors do not fit that config is refused with a message naming both.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .model_sources import PICKLE_SUFFIXES


class VaeError(Exception):
    """The VAE cannot be used with this model: the message says why and names the file."""


def load(path: Path, model_vae, dtype: torch.dtype, allow_pickle: bool):
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    state_dict = _read(path, allow_pickle)
    config = dict(model_vae.config)
    if any(key.startswith(("encoder.down.", "first_stage_model.", "vae.")) for key in state_dict):
        state_dict = convert_ldm_vae_checkpoint(state_dict, config)
    vae = AutoencoderKL.from_config(config)
    try:
        vae.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        first_line = str(error).splitlines()[1].strip() if "\n" in str(error) else str(error)
        raise VaeError(f"{path.name} does not fit this model's VAE ({first_line})") from None
    return vae.to(dtype=dtype).eval()


def _read(path: Path, allow_pickle: bool) -> dict:
    suffix = path.suffix.lower()
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        if suffix in PICKLE_SUFFIXES:
            if not allow_pickle:
                raise VaeError(f"{path.name} is a pickle file ({suffix}); loading one can run code hidden in it. "
                               "Use a .safetensors VAE, or start with --allow-pickle if you trust it")
            data = torch.load(str(path), map_location="cpu", weights_only=True)
            return data.get("state_dict", data)
    except VaeError:
        raise
    except Exception as error:  # noqa: BLE001 - truncated or not a tensor file
        raise VaeError(f"{path.name} could not be read ({type(error).__name__}: {error})") from None
    raise VaeError(f"{path.name}: unknown VAE file type {suffix!r}")

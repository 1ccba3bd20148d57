"""A cheap picture of the latents during denoising: a fixed linear map from latent channels to RGB.

It needs no extra weights and costs a small matrix product, where a VAE decode per step would cost more
than the step itself. The factors are the widely used fits of each family's VAE (as in AUTOMATIC1111's
"cheap approximation" and ComfyUI's latent previews).
"""

from __future__ import annotations

import torch
from PIL import Image

_FACTORS = {
    "sd1": ([[0.298, 0.207, 0.208], [0.187, 0.286, 0.173], [-0.158, 0.189, 0.264], [-0.184, -0.271, -0.473]],
            [0.0, 0.0, 0.0]),
    "sdxl": ([[0.3448, 0.4168, 0.4395], [-0.1953, -0.0290, 0.0250], [0.1074, 0.0886, -0.0163], [-0.3730, -0.2499, -0.2088]],
             [0.1084, -0.0175, -0.0011]),
}
_FACTORS["sd2"] = _FACTORS["sd1"]
_FACTORS["sdxl_refiner"] = _FACTORS["sdxl"]  # the refiner works in SDXL's latent space


@torch.no_grad()
def latents_to_preview(latents: torch.Tensor, family: str, scale: int = 4) -> Image.Image:
    """The first latent of a batch as an RGB picture, `scale` times the latent size (the output is 8x)."""
    weights, bias = _FACTORS.get(family, _FACTORS["sd1"])
    latent = latents[0, :4].detach().float().cpu()  # (4, h, w)
    rgb = torch.einsum("chw,cr->rhw", latent, torch.tensor(weights)) + torch.tensor(bias)[:, None, None]
    pixels = ((rgb.clamp(-1, 1) + 1) * 127.5).byte().permute(1, 2, 0).numpy()
    picture = Image.fromarray(pixels)
    return picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.BILINEAR)

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
# 16-channel latents: ComfyUI's fits (comfy/latent_formats.py), also used by Forge
_FACTORS["sd3"] = (
    [[-0.0922, -0.0175, 0.0749], [0.0311, 0.0633, 0.0954], [0.1994, 0.0927, 0.0458], [0.0856, 0.0339, 0.0902],
     [0.0587, 0.0272, -0.0496], [-0.0006, 0.1104, 0.0309], [0.0978, 0.0306, 0.0427], [-0.0042, 0.1038, 0.1358],
     [-0.0194, 0.0020, 0.0669], [-0.0488, 0.0130, -0.0268], [0.0922, 0.0988, 0.0951], [-0.0278, 0.0524, -0.0542],
     [0.0332, 0.0456, 0.0895], [-0.0069, -0.0030, -0.0810], [-0.0596, -0.0465, -0.0293], [-0.1448, -0.1463, -0.1189]],
    [0.2394, 0.2135, 0.1925])
_FACTORS["flux"] = (
    [[-0.0346, 0.0244, 0.0681], [0.0034, 0.0210, 0.0687], [0.0275, -0.0668, -0.0433], [-0.0174, 0.0160, 0.0617],
     [0.0859, 0.0721, 0.0329], [0.0004, 0.0383, 0.0115], [0.0405, 0.0861, 0.0915], [-0.0236, -0.0185, -0.0259],
     [-0.0245, 0.0250, 0.1180], [0.1008, 0.0755, -0.0421], [-0.0515, 0.0201, 0.0011], [0.0428, -0.0012, -0.0036],
     [0.0817, 0.0765, 0.0749], [-0.1264, -0.0522, -0.1103], [-0.0280, -0.0881, -0.0499], [-0.1262, -0.0982, -0.0778]],
    [-0.0329, -0.0718, -0.0851])
_FACTORS["sd2"] = _FACTORS["sd1"]
_FACTORS["sdxl_refiner"] = _FACTORS["sdxl"]  # the refiner works in SDXL's latent space


@torch.no_grad()
def latents_to_preview(latents: torch.Tensor, family: str, size: tuple[int, int] | None = None,
                       scale: int = 4) -> Image.Image:
    """The first latent of a batch as an RGB picture, `scale` times the latent size (the output is 8x). `size`:
    the picture's (width, height), which FLUX's packed latents need to be laid out again."""
    from .flow_families import unpacked

    weights, bias = _FACTORS.get(family, _FACTORS["sd1"])
    if size is not None:
        latents = unpacked(latents, family, *size)
    latent = latents[0, :len(weights)].detach().float().cpu()  # (channels, h, w)
    rgb = torch.einsum("chw,cr->rhw", latent, torch.tensor(weights)) + torch.tensor(bias)[:, None, None]
    pixels = ((rgb.clamp(-1, 1) + 1) * 127.5).byte().permute(1, 2, 0).numpy()
    picture = Image.fromarray(pixels)
    return picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.BILINEAR)

"""Request bodies of the A1111 routes, field for field as A1111 1.10 declares them.

Every field is optional and unknown fields are ignored, as in A1111; a value of the wrong type (a list
for `prompt`, "abc" for `steps`) is refused with FastAPI's 422. Unlike A1111, `steps`, `cfg_scale`,
`width`, `height` and the sampler default to the chosen model's own defaults (SDXL draws at 1024, a turbo
model takes 4 steps) instead of A1111's 50 steps at 512x512 with Euler.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field


class _Lax(BaseModel):
    # A1111's pydantic 1 turned numbers into text where text was expected; pydantic 2 does so when asked.
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, populate_by_name=True)


class Generation(_Lax):
    """The fields txt2img and img2img share."""

    prompt: Optional[str] = ""
    negative_prompt: Optional[str] = ""
    styles: Optional[list[str]] = None
    seed: Optional[int] = -1
    subseed: Optional[int] = -1
    subseed_strength: Optional[float] = 0
    seed_resize_from_h: Optional[int] = -1
    seed_resize_from_w: Optional[int] = -1
    sampler_name: Optional[str] = None
    scheduler: Optional[str] = None
    batch_size: Optional[int] = 1
    n_iter: Optional[int] = 1
    steps: Optional[int] = None
    cfg_scale: Optional[float] = None
    distilled_cfg_scale: Optional[float] = None  # Forge's: FLUX.1's distilled guidance (its cfg_scale is then 1)
    width: Optional[int] = None
    height: Optional[int] = None
    restore_faces: Optional[bool] = None
    tiling: Optional[bool] = None
    freeu: Optional[bool] = None  # Easel's own: FreeU with the family's published values
    pag_scale: Optional[float] = None  # Easel's own: perturbed-attention guidance, 0 off
    feature_cache: Optional[int] = None  # Easel's own: a full denoiser pass every N steps, deep features reused between
    do_not_save_samples: Optional[bool] = False
    do_not_save_grid: Optional[bool] = False
    eta: Optional[float] = None
    denoising_strength: Optional[float] = None
    s_min_uncond: Optional[float] = None
    s_churn: Optional[float] = None
    s_tmax: Optional[float] = None
    s_tmin: Optional[float] = None
    s_noise: Optional[float] = None
    override_settings: Optional[dict[str, Any]] = None
    override_settings_restore_afterwards: Optional[bool] = True
    refiner_checkpoint: Optional[str] = None
    refiner_switch_at: Optional[float] = None
    disable_extra_networks: Optional[bool] = False
    firstpass_image: Optional[str] = None
    comments: Optional[dict[str, Any]] = None
    force_task_id: Optional[str] = None
    sampler_index: Optional[str] = None  # the older name of sampler_name
    script_name: Optional[str] = None
    script_args: list = Field(default_factory=list)
    send_images: bool = True
    save_images: bool = False
    alwayson_scripts: dict[str, Any] = Field(default_factory=dict)
    infotext: Optional[str] = None


class Txt2Img(Generation):
    enable_hr: Optional[bool] = False
    firstphase_width: Optional[int] = 0
    firstphase_height: Optional[int] = 0
    hr_scale: Optional[float] = 2.0
    hr_upscaler: Optional[str] = None
    hr_second_pass_steps: Optional[int] = 0
    hr_resize_x: Optional[int] = 0
    hr_resize_y: Optional[int] = 0
    hr_checkpoint_name: Optional[str] = None
    hr_sampler_name: Optional[str] = None
    hr_scheduler: Optional[str] = None
    hr_prompt: Optional[str] = ""
    hr_negative_prompt: Optional[str] = ""


class Img2Img(Generation):
    init_images: Optional[list[str]] = None
    resize_mode: Optional[int] = 0
    denoising_strength: Optional[float] = 0.75
    image_cfg_scale: Optional[float] = None
    mask: Optional[str] = None
    mask_blur_x: Optional[int] = 4
    mask_blur_y: Optional[int] = 4
    mask_blur: Optional[int] = None
    mask_round: Optional[bool] = True
    inpainting_fill: Optional[int] = 0
    inpaint_full_res: Optional[bool] = True
    inpaint_full_res_padding: Optional[int] = 0
    inpainting_mask_invert: Optional[int] = 0
    initial_noise_multiplier: Optional[float] = None
    latent_mask: Optional[str] = None
    include_init_images: bool = False


class PngInfo(_Lax):
    image: str


class _Extras(_Lax):
    """A1111's extras fields, with A1111's defaults (modules/api/models.py ExtrasBaseRequest)."""

    resize_mode: int = 0  # 0: upscale by upscaling_resize; 1: upscale to upscaling_resize_w x upscaling_resize_h
    upscaling_resize: float = 2
    upscaling_resize_w: int = 512
    upscaling_resize_h: int = 512
    upscaling_crop: bool = True
    upscaler_1: str = "None"
    upscaler_2: str = "None"
    extras_upscaler_2_visibility: float = 0
    gfpgan_visibility: float = 0
    codeformer_visibility: float = 0
    codeformer_weight: float = 0


class ExtraSingleImage(_Extras):
    image: str = ""


class BatchPicture(_Lax):
    data: str = ""
    name: str = ""


class ExtraBatchImages(_Extras):
    imageList: list[BatchPicture] = Field(default_factory=list)  # noqa: N815 - A1111's name


class Detect(_Lax):
    controlnet_module: str = "none"
    controlnet_input_images: list[str] = Field(default_factory=list)
    controlnet_images: list[str] = Field(default_factory=list)  # what webuiapi sends
    controlnet_processor_res: float = -1
    controlnet_threshold_a: float = -1
    controlnet_threshold_b: float = -1
    controlnet_masks: list[str] = Field(default_factory=list)
    low_vram: bool = False

"""The API's settings (GET/POST /sdapi/v1/options): which model it generates with, and what clients store.

Two change what Easel does: `sd_model_checkpoint` switches the model API requests use (the studio's
pages choose theirs on the page), and `samples_format` (png, jpg or webp; at first the studio's
--save-format) is the format of the pictures the API answers with and saves, as in A1111. A client's
values for the other options below are kept and given back; keys A1111 does not have are ignored, so
no client can make the server keep what it likes.
The defaults are A1111's, for clients that read them.
"""

from __future__ import annotations

import threading

from pipelines import Engine, InvalidRequest, pillow_format

from .checkpoints import library_name

DEFAULTS = {
    "sd_vae": "Automatic", "sd_checkpoint_hash": None, "CLIP_stop_at_last_layers": 1, "samples_format": "png",
    "enable_pnginfo": True, "return_grid": False, "grid_only_if_multiple": True, "face_restoration": False,
    "face_restoration_model": None, "show_progress_every_n_steps": 1, "live_previews_enable": True,
    "eta_noise_seed_delta": 0, "initial_noise_multiplier": 1.0, "return_mask": False, "return_mask_composite": False,
    "control_net_no_detectmap": False, "code_former_weight": 0.5, "sd_vae_decode_method": "Full",
}
DECODE_METHODS = {"Full": "full", "TAESD": "fast"}  # A1111's sd_vae_decode_method -> the engine's decode


# The options Easel acts on; a client's other options are kept and given back, and named in each answer's
# warnings when they differ from A1111's default, since Easel does not act on them.
HONOURED = {"sd_model_checkpoint", "samples_format", "CLIP_stop_at_last_layers", "sd_vae", "enable_pnginfo",
            "control_net_no_detectmap", "show_progress_every_n_steps", "live_previews_enable", "face_restoration",
            "face_restoration_model", "code_former_weight", "sd_vae_decode_method"}


class ApiOptions:
    def __init__(self, manager: Engine, limits, allow_custom_models: bool, samples_format: str = "png"):
        self._manager = manager  # its library is read when first asked: the engine starts after the page
        self._limits = limits
        self._allow_custom = allow_custom_models
        self._model: str | None = None  # None: the library's default
        self._stored: dict = {"samples_format": samples_format}
        self._lock = threading.Lock()

    @property
    def library(self):
        return self._manager.library

    @property
    def samples_format(self) -> str:
        with self._lock:
            return self._stored["samples_format"]

    @property
    def model(self) -> str | None:
        return self._model or self.library.default

    def resolve_model(self, field: str, text) -> str:
        """The library name of a model a client names. Outside the library, a name goes to the engine as it is
        when the operator allows custom models (the engine then checks it), else it is refused here."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidRequest(field, f"must name a model, got {text!r}")
        library = self.library
        name = library_name(library, text)
        if name is not None:
            return name
        if self._allow_custom:
            return text.strip()
        raise InvalidRequest(field, f"unknown model {text!r}; choose one of: {', '.join(library.models)}")

    @property
    def clip_skip(self) -> int:
        with self._lock:
            return self._stored.get("CLIP_stop_at_last_layers", DEFAULTS["CLIP_stop_at_last_layers"])

    @property
    def vae(self) -> str:
        with self._lock:
            return self._stored.get("sd_vae", DEFAULTS["sd_vae"])

    @property
    def decode_method(self) -> str | None:
        """A1111's sd_vae_decode_method as a client set it; None: not set, so the studio's --decode decides."""
        with self._lock:
            return self._stored.get("sd_vae_decode_method")

    def face_restorer(self, asked: bool | None) -> tuple[str | None, float]:
        """A1111's face restoration for a request: `restore_faces` if the client sent it, else the
        `face_restoration` option; with `face_restoration_model` (A1111's default, CodeFormer, where its file is
        there, else GFPGAN) and `code_former_weight`. (None, weight) when off."""
        with self._lock:
            stored = dict(self._stored)
        if not (stored.get("face_restoration", False) if asked is None else asked):
            return None, 0.5
        model = stored.get("face_restoration_model")
        if not model:
            restorers = self._manager.face_restorers()
            model = "CodeFormer" if "CodeFormer" in restorers or not restorers else restorers[0]
        return model, stored.get("code_former_weight", DEFAULTS["code_former_weight"])

    def not_honoured(self) -> list[str]:
        """The options a client set away from A1111's default that Easel does not act on."""
        with self._lock:
            stored = dict(self._stored)
        return sorted(k for k, v in stored.items() if k not in HONOURED and v != DEFAULTS.get(k))

    def as_dict(self) -> dict:
        with self._lock:
            stored = dict(self._stored)
        units = self._limits.max_control_units
        return {**DEFAULTS, **stored, "sd_model_checkpoint": self.model, "control_net_unit_count": units,
                "control_net_max_models_num": units}

    def update(self, values: dict) -> None:
        model = values.get("sd_model_checkpoint")
        name = self.resolve_model("sd_model_checkpoint", model) if model is not None else None
        if "samples_format" in values:  # checked here: a picture cannot be answered in a format Easel cannot write
            try:
                pillow_format(values["samples_format"])
            except ValueError as error:
                raise InvalidRequest("samples_format", str(error)) from None
        if "CLIP_stop_at_last_layers" in values:
            check_clip_skip("CLIP_stop_at_last_layers", values["CLIP_stop_at_last_layers"])
        if "sd_vae" in values:
            check_vae("sd_vae", values["sd_vae"], self.library)
        if "sd_vae_decode_method" in values:
            check_decode_method("sd_vae_decode_method", values["sd_vae_decode_method"])
        with self._lock:
            if name is not None:
                self._model = name
            self._stored.update({k: v for k, v in values.items() if k in DEFAULTS and k != "sd_model_checkpoint"})


def check_clip_skip(field: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 12:
        raise InvalidRequest(field, f"must be a whole number from 1 to 12, got {value!r}")
    return value


def check_decode_method(field: str, value) -> str | None:
    """The engine's decode for A1111's "Full" or "TAESD"; None (not given) leaves it to the studio's --decode."""
    if value is None:
        return None
    if value not in DECODE_METHODS:
        raise InvalidRequest(field, f"must be Full or TAESD, got {value!r}")
    return DECODE_METHODS[value]


def check_vae(field: str, value, library) -> str:
    if value in ("Automatic", "None") or value in library.vaes():
        return value
    raise InvalidRequest(field, f"unknown VAE {value!r}; choose Automatic, None or one of: "
                                f"{', '.join(sorted(library.vaes())) or 'none (no VAE folder)'}")

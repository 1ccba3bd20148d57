"""The ControlNet extension's names for preprocessors ("modules") and models, mapped onto Easel's.

A client names a module as the extension does ("canny", "depth", "lineart", or the labels such as
"depth_midas") and a model by its file name, often with a hash ("control_v11p_sd15_canny [d14c016b]").
Easel thinks in control types: a module becomes one of its preprocessors (pipelines/catalog.py
PREPROCESSORS), and a model becomes a control type, plus the library's ControlNet itself when the
client named one of those. A model Easel does not have still tells the type from its name, so a
client's "control_v11p_sd15_canny" runs on the library's canny ControlNet for the chosen model.
"""

from __future__ import annotations

import re
from pathlib import Path

from pipelines import CONTROL_TYPES, DETECT_RESOLUTION, PASS_THROUGH, PREPROCESSOR_PARAMETERS, PREPROCESSORS, \
    control_type_from_name

# The extension's module name -> Easel's preprocessor, for the modules Easel has (same algorithm and output).
MODULES = {
    "none": PASS_THROUGH, "canny": "canny", "depth": "depth_midas", "depth_leres": "depth_leres",
    "depth_leres++": "depth_leres++", "depth_zoe": "depth_zoe", "hed": "softedge_hed", "hed_safe": "softedge_hedsafe",
    "pidinet": "softedge_pidinet", "pidinet_safe": "softedge_pidsafe", "mlsd": "mlsd", "normal_bae": "normal_bae",
    "openpose": "openpose", "openpose_hand": "openpose_hand", "openpose_face": "openpose_face",
    "openpose_faceonly": "openpose_faceonly", "openpose_full": "openpose_full", "dw_openpose_full": "dwpose",
    "lineart": "lineart_realistic", "lineart_coarse": "lineart_coarse", "lineart_anime": "lineart_anime",
    "scribble_hed": "scribble_hed", "pidinet_scribble": "scribble_pidinet", "segmentation": "segmentation_upernet",
    "oneformer_ade20k": "segmentation_upernet", "shuffle": "shuffle", "tile_resample": "tile", "inpaint": "inpaint",
    "inpaint_only": "inpaint", "mediapipe_face": "mediapipe_face",
}
# The labels the extension shows for some of them (module_list?alias_names=true), accepted as well.
LABELS = {
    "depth": "depth_midas", "hed": "softedge_hed", "hed_safe": "softedge_hedsafe", "pidinet": "softedge_pidinet",
    "pidinet_safe": "softedge_pidisafe", "lineart": "lineart_realistic", "pidinet_scribble": "scribble_pidinet",
    "segmentation": "seg_ufade20k", "oneformer_ade20k": "seg_ofade20k", "inpaint": "inpaint_global_harmonious",
}
_BY_NAME = {**{p: p for p in PREPROCESSORS}, **{label: MODULES[m] for m, label in LABELS.items()}, **MODULES}

# Which thresholds of the extension are which setting of Easel's preprocessor.
THRESHOLDS = {"canny": ("low_threshold", "high_threshold"), "mlsd": ("thr_v", "thr_d"), "tile": ("downsample", None)}

# The control type a preprocessor's map is for, when the model does not say.
TYPE_OF_PREPROCESSOR = {
    **{p: t.key for t in CONTROL_TYPES.values() for p in (t.preprocessor, *t.preprocessors)},
    "dwpose": "openpose", "openpose_faceonly": "openpose", "depth_leres++": "depth", "scribble_hedsafe": "scribble",
    "scribble_pidsafe": "scribble", "softedge_hedsafe": "softedge", "softedge_pidsafe": "softedge",
}
TYPE_OF_PREPROCESSOR.pop(PASS_THROUGH, None)

_HASH_SUFFIX = re.compile(r"\s*\[[0-9a-fA-F]{6,64}\]$")
NO_MODEL = ("", "none")


def preprocessor_of(module: str | None) -> str | None:
    """Easel's preprocessor for a module name or label; None when Easel has no such module."""
    return _BY_NAME.get((module or "none").strip().lower())


# The ControlNet extension's IP-Adapter modules: the CLIP vision encoder that reads the reference picture. Easel
# reads them as image prompts (pipelines/ip_adapter.py), the encoder chosen by the adapter named as the model.
IP_ADAPTER_MODULES = ("ip-adapter_clip_sd15", "ip-adapter_clip_sdxl", "ip-adapter_clip_sdxl_plus_vith",
                      "ip-adapter_clip_h", "ip-adapter_clip_g", "ip-adapter-auto")


def is_ip_adapter_module(module) -> bool:
    return isinstance(module, str) and module.strip().lower().startswith(("ip-adapter", "ip_adapter"))


def module_list(alias_names: bool = False) -> list[str]:
    return [*(LABELS.get(m, m) if alias_names else m for m in MODULES), *IP_ADAPTER_MODULES]


def module_detail() -> dict:
    """The sliders each module takes, as the extension describes them (name, value, min, max, step)."""
    resolution = {"name": "Resolution", "value": DETECT_RESOLUTION[0], "min": DETECT_RESOLUTION[1],
                  "max": DETECT_RESOLUTION[2], "step": 8}
    names = {"low_threshold": "Low Threshold", "high_threshold": "High Threshold", "thr_v": "MLSD Value Threshold",
             "thr_d": "MLSD Distance Threshold", "downsample": "Down Sampling Rate"}
    detail = {}
    for module, preprocessor in MODULES.items():
        own = [{"name": names[key], "value": default, "min": low, "max": high, "step": 1 if isinstance(default, int) else 0.01}
               for key, (default, low, high) in PREPROCESSOR_PARAMETERS.get(preprocessor, {}).items()]
        sliders = [] if preprocessor in (PASS_THROUGH, "inpaint") else own if preprocessor == "tile" else [resolution, *own]
        detail[module] = {"model_free": False, "sliders": sliders}
    return detail


def model_list(library) -> list[str]:
    """The library's ControlNets by their file names, each once (a union ControlNet serves several types), then
    the model folders' IP-Adapters, as the extension lists them among its models."""
    return list(dict.fromkeys([*(listed_name(entry) for entry in library.controlnets.values()),
                               *library.found.ip_adapters]))


def listed_name(entry) -> str:
    return Path(entry.source).name


def control_type_and_entry(library, model: str | None, preprocessor: str) -> tuple[str | None, str | None]:
    """(control type, library key of the ControlNet or None for "the library's one of that type for the base
    model"). The type is None when neither the model nor the preprocessor tells it."""
    text = _HASH_SUFFIX.sub("", (model or "").strip())
    wanted = TYPE_OF_PREPROCESSOR.get(preprocessor)
    if text.lower() in NO_MODEL:
        return wanted, None
    if text in library.controlnets:  # Easel's own name, "sd1/canny"
        return library.controlnets[text].control_type, text
    named = [e for e in library.controlnets.values()
             if text.lower() in (listed_name(e).lower(), Path(e.source).stem.lower())]
    if named:
        entry = next((e for e in named if e.control_type == wanted), None)
        if entry is None and wanted and len(named) > 1:  # a union ControlNet without that type: the library's own
            return wanted, None
        entry = entry or named[0]
        return entry.control_type, entry.name
    return control_type_from_name(text), None


def control_types(library) -> dict:
    """GET /controlnet/control_types: per type, its modules and the library's ControlNets."""
    result = {"All": {"module_list": module_list(), "model_list": ["None", *model_list(library)],
                      "default_option": "none", "default_model": "None"}}
    for key, spec in CONTROL_TYPES.items():
        modules = [m for m, p in MODULES.items() if TYPE_OF_PREPROCESSOR.get(p) == key]
        models = list(dict.fromkeys(listed_name(e) for e in library.controlnets.values() if e.control_type == key))
        if models:
            result[spec.label] = {"module_list": ["none", *modules], "model_list": ["None", *models],
                                  "default_option": modules[0] if modules else "none", "default_model": models[0]}
    return result

"""The engine's face: what the page (ui/), the HTTP API (api/) and server/ may use, imported from here only.

    from pipelines import GenerationRequest, InvalidRequest, LazyManager, parse_parameters

`__all__` lists every such name; front ends import nothing else of the engine, and never a module of it
(`pipelines.request`, ...): tests/test_boundaries.py checks both. Behind the names the modules stay as
they are (request, catalog, manager, ...), and tests and benchmarks still reach into them.

Importing the package imports none of its modules. Each name is looked up on first use (a module
`__getattr__`, PEP 562) and kept, so the page is built from the light ones (requests, the catalog,
metadata) while torch and diffusers, seconds to import, come only with `PipelineManager` (which
`LazyManager` makes after the page is up). Type checkers read the same names from the block below.

Two names differ from their module's: `verify_picture` is verify.py's `verify` (the package's `verify`
is that module), and the shared settings' `SHARED_*` and `shared_*` carry the module's name in theirs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .catalog import (CONTROL_TYPES, DETECT_RESOLUTION, FAMILIES, PASS_THROUGH, PREPROCESSOR_PARAMETERS,
                          PREPROCESSORS, Library, control_type_from_name)
    from .catalog import BUILTIN_UPSCALERS
    from .engine import Engine, LazyEngine
    from .errors import GenerationCancelled, InvalidRequest, ModelLoadError, OutOfMemory
    from .filters import LIMITS as FILTER_LIMITS
    from .filters import NEUTRAL as FILTERS
    from .hires import LATENT_MODES as HIRES_LATENT_MODES
    from .hires import from_infotext as hires_from_infotext
    from .hires import sizes as hires_sizes
    from .lazy import LazyManager
    from .manager import PipelineManager
    from .metadata import PARAMETERS_KEY, format_parameters, parse_parameters, read_parameters
    from .model_folders import paths_from_env
    from .provenance import SUFFIXES, picture_bytes, pillow_format, png_of, record_of, write_picture, write_png
    from .request import (MAX_SEED, CancelToken, ControlUnit, ExtrasRequest, GenerationRequest, GenerationResult,
                          Detailer, DetailerUnit, HiresFix, IMAGE_PROMPT_MODES, ImagePrompt, Limits, ModelFacts,
                          Outpaint, Plot, PlotAxis, StepInfo)
    from .wildcards import file_names as wildcard_names
    from .xyz_plot import cell_count as plot_cell_count
    from .xyz_plot import label_of as plot_axis_label
    from .xyz_plot import offered as plot_axes
    from .detailer import DETECTORS as DETAILER_MODELS
    from .outpaint import FILLS as OUTPAINT_FILLS
    from .outpaint import MAX_PIXELS as OUTPAINT_MAX_PIXELS
    from .safety_checker import DEFAULT_REPO as DEFAULT_SAFETY_CHECKER
    from .safety_checker import SAFETY_MODES, checker_enabled
    from .samplers import SAMPLERS
    from .styles import Style, save_style
    from .engine_settings import EngineSettings
    from .shared_settings import API_NAMES as SHARED_API_NAMES
    from .shared_settings import BY_NAME as SHARED_BY_NAME
    from .shared_settings import NAMES as SHARED_NAMES
    from .shared_settings import SHARED_SETTINGS, SharedSetting
    from .shared_settings import from_infotext as shared_from_infotext
    from .shared_settings import in_order as shared_in_order
    from .tiny import tiny_extras_dir, write_tiny_models
    from .tiny_safety import write_tiny_safety_checker
    from .validation import load_picture
    from .verify import Verification
    from .verify import verify as verify_picture

# Each name by the module it comes from.
_SOURCES: dict[str, tuple[str, ...]] = {
    "catalog": ("CONTROL_TYPES", "DETECT_RESOLUTION", "FAMILIES", "PASS_THROUGH", "PREPROCESSOR_PARAMETERS",
                "PREPROCESSORS", "Library", "control_type_from_name", "BUILTIN_UPSCALERS"),
    "engine": ("Engine", "LazyEngine"),
    "errors": ("GenerationCancelled", "InvalidRequest", "ModelLoadError", "OutOfMemory"),
    "lazy": ("LazyManager",),
    "manager": ("PipelineManager",),  # the one that imports torch and diffusers
    "metadata": ("PARAMETERS_KEY", "format_parameters", "parse_parameters", "read_parameters"),
    "model_folders": ("paths_from_env",),
    "styles": ("Style", "save_style"),
    "provenance": ("SUFFIXES", "picture_bytes", "pillow_format", "png_of", "record_of", "write_picture", "write_png"),
    "request": ("MAX_SEED", "CancelToken", "ControlUnit", "ExtrasRequest", "GenerationRequest", "GenerationResult", "HiresFix",
                "Limits", "ModelFacts", "Outpaint", "Plot", "PlotAxis", "StepInfo", "Detailer", "DetailerUnit",
                "IMAGE_PROMPT_MODES", "ImagePrompt"),
    "samplers": ("SAMPLERS",),
    "safety_checker": ("SAFETY_MODES", "checker_enabled"),
    "tiny_safety": ("write_tiny_safety_checker",),
    "engine_settings": ("EngineSettings",),
    "shared_settings": ("SHARED_SETTINGS", "SharedSetting"),
    "tiny": ("tiny_extras_dir", "write_tiny_models"),
    "validation": ("load_picture",),
    "verify": ("Verification",),
}
# The names that differ from their module's: name -> (module, name there).
_RENAMED = {
    "DEFAULT_SAFETY_CHECKER": ("safety_checker", "DEFAULT_REPO"),
    "SHARED_API_NAMES": ("shared_settings", "API_NAMES"),
    "SHARED_BY_NAME": ("shared_settings", "BY_NAME"),
    "SHARED_NAMES": ("shared_settings", "NAMES"),
    "shared_from_infotext": ("shared_settings", "from_infotext"),
    "shared_in_order": ("shared_settings", "in_order"),
    "verify_picture": ("verify", "verify"),
    "HIRES_LATENT_MODES": ("hires", "LATENT_MODES"),
    "hires_from_infotext": ("hires", "from_infotext"),
    "hires_sizes": ("hires", "sizes"),
    "FILTERS": ("filters", "NEUTRAL"),
    "FILTER_LIMITS": ("filters", "LIMITS"),
    "OUTPAINT_FILLS": ("outpaint", "FILLS"),
    "DETAILER_MODELS": ("detailer", "DETECTORS"),
    "OUTPAINT_MAX_PIXELS": ("outpaint", "MAX_PIXELS"),
    "wildcard_names": ("wildcards", "file_names"),
    "plot_axes": ("xyz_plot", "offered"),
    "plot_axis_label": ("xyz_plot", "label_of"),
    "plot_cell_count": ("xyz_plot", "cell_count"),
}
_WHERE = {name: (module, name) for module, names in _SOURCES.items() for name in names} | _RENAMED

__all__ = [  # every name above, and nothing else: the names front ends may use
    "BUILTIN_UPSCALERS", "CONTROL_TYPES", "CancelToken", "DETAILER_MODELS", "Detailer", "DetailerUnit", "ExtrasRequest", "FILTERS", "FILTER_LIMITS", "ControlUnit", "DEFAULT_SAFETY_CHECKER", "DETECT_RESOLUTION", "Engine", "EngineSettings", "FAMILIES",
    "GenerationCancelled", "GenerationRequest", "GenerationResult", "HIRES_LATENT_MODES", "HiresFix", "InvalidRequest",
    "IMAGE_PROMPT_MODES", "ImagePrompt",
    "LazyEngine", "hires_from_infotext", "hires_sizes",
    "LazyManager", "Library", "Limits", "MAX_SEED", "ModelFacts", "ModelLoadError", "OUTPAINT_FILLS",
    "OUTPAINT_MAX_PIXELS", "OutOfMemory", "Outpaint", "Plot", "PlotAxis", "plot_axes", "plot_axis_label", "plot_cell_count",
    "wildcard_names",
    "PARAMETERS_KEY", "PASS_THROUGH", "PREPROCESSORS", "PREPROCESSOR_PARAMETERS", "PipelineManager",
    "SAFETY_MODES", "SAMPLERS", "SHARED_API_NAMES", "SHARED_BY_NAME", "SHARED_NAMES", "SHARED_SETTINGS", "SUFFIXES",
    "SharedSetting", "StepInfo", "Style", "Verification", "checker_enabled", "control_type_from_name", "format_parameters", "paths_from_env",
    "save_style", "load_picture", "parse_parameters",
    "picture_bytes", "pillow_format", "png_of", "read_parameters", "record_of", "shared_from_infotext",
    "shared_in_order", "verify_picture", "write_picture", "write_png", "tiny_extras_dir", "write_tiny_models",
    "write_tiny_safety_checker",
]


def __getattr__(name: str):
    """A name of `__all__`, imported from its module on first use and kept here."""
    try:
        module, attribute = _WHERE[name]
    except KeyError:
        # Not ours: an AttributeError lets `from pipelines import manager` import the submodule as usual.
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

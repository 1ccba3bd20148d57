"""Model families, ControlNet types, and the model library: which models the user can pick, and where they live.

The library is one readable YAML file (see "Your models" in the README):

    default: sd15
    include_builtin: true          # keep the built-in catalog below next to your own entries
    models:
      my-model:
        source: ~/models/dreamshaper_8.safetensors   # a hub id, a diffusers folder or one .safetensors file
        config: stable-diffusion-v1-5/stable-diffusion-v1-5   # only for single files: where its configs are
        inpaint: my-model-inpainting   # a dedicated inpainting model to use in the Inpaint tab
        turbo: false                   # few-step model: defaults become 1-4 steps and no guidance
        quantize: fp8                  # FLUX / SD 3 only: fp8 or nf4 weights (a .gguf file is quantized already)
        quantize_text_encoder: fp8     # FLUX / SD 3 only: T5 in fp8 too
    controlnets:
      sd1:                             # the family the ControlNets are for: sd1, sd2, sdxl, sd3 or flux
        canny: lllyasviel/control_v11p_sd15_canny

Relative local paths are taken relative to the library file. The family of every model is read from
its weights when it loads; the library only says where things are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .model_folders import Found, restorer_files, scan
from .styles import Style, load_styles, save_style


@dataclass(frozen=True)
class Family:
    key: str
    label: str
    default_size: int
    default_steps: int = 25
    default_guidance: float = 7.0
    default_sampler: str = "DPM++ 2M Karras"
    samplers: tuple[str, ...] | None = None  # the samplers it can use, when not every SD sampler
    max_guidance: float = 30.0
    guidance_label: str = "CFG scale"  # what its guidance is called in the infotext
    unet: bool = True  # False: a diffusion transformer, without the UNet's tricks (FreeU, IP-Adapter, embeddings)
    negative_prompt: bool = True  # False: it reads no negative prompt (FLUX.1's distilled guidance)


FAMILIES = {
    "sd1": Family("sd1", "SD 1.x", 512),
    "sd2": Family("sd2", "SD 2.x", 768),
    "sdxl": Family("sdxl", "SDXL", 1024),
    # finishes SDXL pictures (refiner.py): its UNet reads the second text encoder and an aesthetic score
    "sdxl_refiner": Family("sdxl_refiner", "SDXL refiner", 1024),
    # diffusion transformers on flow matching (flow_families.py): one sampler, flow-matching Euler with the model's shift
    "sd3": Family("sd3", "SD 3.x", 1024, default_steps=28, default_guidance=3.5, default_sampler="Euler",
                  samplers=("Euler",), unet=False),
    # FLUX.1's guidance is distilled into the model: a number it reads, not a second pass (Forge's "Distilled CFG")
    "flux": Family("flux", "FLUX.1", 1024, default_steps=28, default_guidance=3.5, default_sampler="Euler",
                   samplers=("Euler",), max_guidance=10.0, guidance_label="Distilled CFG Scale", unet=False,
                   negative_prompt=False),
}

# The licence a gated repo asks its users to accept on huggingface.co before it lets them download (by repo prefix)
GATED_LICENCES = {
    "black-forest-labs/FLUX.1-dev": "the FLUX.1 [dev] Non-Commercial License",
    "stabilityai/stable-diffusion-3": "the Stability AI Community License",
}


def gated_licence(repo_id: str) -> str:
    return next((licence for prefix, licence in GATED_LICENCES.items() if repo_id.startswith(prefix)), "its licence")


# h94/IP-Adapter's adapters (hub repo, file), by the names A1111's ControlNet extension lists them under
BUILTIN_IP_ADAPTERS = {
    "ip-adapter_sd15": ("h94/IP-Adapter", "models/ip-adapter_sd15.safetensors"),
    "ip-adapter-plus_sd15": ("h94/IP-Adapter", "models/ip-adapter-plus_sd15.safetensors"),
    "ip-adapter_sdxl": ("h94/IP-Adapter", "sdxl_models/ip-adapter_sdxl.safetensors"),
    "ip-adapter_sdxl_vit-h": ("h94/IP-Adapter", "sdxl_models/ip-adapter_sdxl_vit-h.safetensors"),
    "ip-adapter-plus_sdxl_vit-h": ("h94/IP-Adapter", "sdxl_models/ip-adapter-plus_sdxl_vit-h.safetensors"),
}

# Words in ControlNet file names that say their type, most specific first (A1111's ControlNet extension
# files are named so: control_v11p_sd15_canny, diffusers_xl_depth_full, t2i-adapter_xl_sketch...).
_TYPE_WORDS = (("lineart_anime", "lineart_anime"), ("anime", "lineart_anime"), ("canny", "canny"), ("depth", "depth"),
               ("openpose", "openpose"), ("pose", "openpose"), ("lineart", "lineart"), ("softedge", "softedge"),
               ("hed", "softedge"), ("pidi", "softedge"), ("scribble", "scribble"), ("sketch", "scribble"),
               ("mlsd", "mlsd"), ("normal", "normal"), ("seg", "segmentation"), ("shuffle", "shuffle"),
               ("tile", "tile"), ("inpaint", "inpaint"))


def control_type_from_name(name: str) -> str | None:
    """The control type a ControlNet's file name says, or None."""
    lowered = name.lower()
    return next((kind for word, kind in _TYPE_WORDS if word in lowered), None)


# A1111's upscalers that need no model (modules/upscaler.py: UpscalerNone, UpscalerLanczos, UpscalerNearest);
# "None" keeps the size. The model folders' upscalers come after them (upscalers.py).
BUILTIN_UPSCALERS = ("None", "Lanczos", "Nearest")

# Turbo and other few-step models: what their authors recommend.
TURBO_STEPS, TURBO_GUIDANCE, TURBO_SAMPLER = 4, 0.0, "Euler a"


@dataclass(frozen=True)
class ControlType:
    key: str
    label: str
    preprocessor: str  # default preprocessor id (see control.py); "none" passes the picture through
    preprocessors: tuple[str, ...] = ()  # the alternatives a user may choose


CONTROL_TYPES = {
    t.key: t
    for t in (
        ControlType("canny", "Canny edges", "canny"),
        ControlType("depth", "Depth", "depth_midas", ("depth_midas", "depth_zoe", "depth_leres")),
        ControlType("openpose", "OpenPose", "openpose_full", ("openpose", "openpose_full", "openpose_face", "openpose_hand")),
        ControlType("lineart", "Line art", "lineart_realistic", ("lineart_realistic", "lineart_coarse")),
        ControlType("lineart_anime", "Anime line art", "lineart_anime"),
        ControlType("softedge", "Soft edge", "softedge_pidinet", ("softedge_pidinet", "softedge_hed")),
        ControlType("scribble", "Scribble", "scribble_hed", ("scribble_hed", "scribble_pidinet")),
        ControlType("mlsd", "Straight lines (M-LSD)", "mlsd"),
        ControlType("normal", "Normal map", "normal_bae"),
        ControlType("segmentation", "Segmentation", "segmentation_upernet"),
        ControlType("shuffle", "Shuffle", "shuffle"),
        ControlType("tile", "Tile / detail", "tile"),
        ControlType("inpaint", "Inpaint", "inpaint"),
    )
}
PASS_THROUGH = "none"  # the control image already is a map: use it as it is

# Every preprocessor a unit may name: controlnet-aux's detectors, plus Easel's own (tile, inpaint,
# segmentation through transformers' UperNet) and "none".
PREPROCESSORS = (
    "canny", "depth_leres", "depth_leres++", "depth_midas", "depth_zoe", "dwpose", "inpaint", "lineart_anime",
    "lineart_coarse", "lineart_realistic", "mediapipe_face", "mlsd", "none", "normal_bae", "openpose",
    "openpose_face", "openpose_faceonly", "openpose_full", "openpose_hand", "scribble_hed", "scribble_hedsafe",
    "scribble_pidinet", "scribble_pidsafe", "segmentation_upernet", "shuffle", "softedge_hed", "softedge_hedsafe",
    "softedge_pidinet", "softedge_pidsafe", "tile",
)

# The numbers a user may adjust per preprocessor: name -> (default, lowest, highest).
PREPROCESSOR_PARAMETERS = {
    "canny": {"low_threshold": (100, 1, 255), "high_threshold": (200, 1, 255)},
    "mlsd": {"thr_v": (0.1, 0.01, 2.0), "thr_d": (0.1, 0.01, 20.0)},
    "tile": {"downsample": (1.0, 1.0, 8.0)},
}
DETECT_RESOLUTION = (512, 64, 2048)  # every detector: the size it looks at the picture in


@dataclass(frozen=True)
class ModelEntry:
    """A base model as the library names it."""

    name: str
    source: str  # hub id, folder or file, as written
    label: str = ""
    config: str | None = None  # single files: folder or hub id holding the diffusers configs
    revision: str | None = None
    variant: str | None = None  # e.g. "fp16": download the half-precision weights only
    inpaint: str | None = None  # name of a dedicated inpainting model
    turbo: bool = False
    default_size: int | None = None
    quantize: str | None = None  # FLUX / SD 3: "fp8" or "nf4" weights for the transformer (quantization.py)
    quantize_text_encoder: str | None = None  # FLUX / SD 3: "fp8" or "nf4" for T5 as well
    base_dir: Path | None = None  # where relative paths start (the library file's folder)


@dataclass(frozen=True)
class ControlNetEntry:
    name: str  # "<family>/<type>", unique in the library
    family: str
    control_type: str
    source: str
    union_mode: int | None = None  # for a union ControlNet: the mode number of this type
    base_dir: Path | None = None


_SD15_CONTROLNETS = {
    "canny": "lllyasviel/control_v11p_sd15_canny",
    "depth": "lllyasviel/control_v11f1p_sd15_depth",
    "openpose": "lllyasviel/control_v11p_sd15_openpose",
    "lineart": "lllyasviel/control_v11p_sd15_lineart",
    "lineart_anime": "lllyasviel/control_v11p_sd15s2_lineart_anime",
    "softedge": "lllyasviel/control_v11p_sd15_softedge",
    "scribble": "lllyasviel/control_v11p_sd15_scribble",
    "mlsd": "lllyasviel/control_v11p_sd15_mlsd",
    "normal": "lllyasviel/control_v11p_sd15_normalbae",
    "segmentation": "lllyasviel/control_v11p_sd15_seg",
    "shuffle": "lllyasviel/control_v11e_sd15_shuffle",
    "tile": "lllyasviel/control_v11f1e_sd15_tile",
    "inpaint": "lllyasviel/control_v11p_sd15_inpaint",
}

# xinsir's union ControlNet serves many types from one model; each type is a mode number.
_SDXL_UNION = "xinsir/controlnet-union-sdxl-1.0"
_SDXL_UNION_MODES = {
    "openpose": 0, "depth": 1, "softedge": 2, "scribble": 2, "canny": 3, "lineart": 3, "lineart_anime": 3,
    "mlsd": 3, "normal": 4, "segmentation": 5, "tile": 6, "inpaint": 7,
}

# Shakker-Labs' FLUX.1-dev union ControlNet (its model card's modes: canny 0, tile 1, depth 2, blur 3, pose 4, gray 5,
# low quality 6); InstantX's SD 3 ControlNets, one type each (SD 3's pipelines take ControlNets on text to image only)
_FLUX_UNION = "Shakker-Labs/FLUX.1-dev-ControlNet-Union-Pro"
_FLUX_UNION_MODES = {"canny": 0, "tile": 1, "depth": 2, "openpose": 4}
_SD3_CONTROLNETS = {"canny": "InstantX/SD3-Controlnet-Canny", "openpose": "InstantX/SD3-Controlnet-Pose",
                    "tile": "InstantX/SD3-Controlnet-Tile"}

BUILTIN_LIBRARY = {
    "default": "sd15",
    "models": {
        "sd15": {"source": "stable-diffusion-v1-5/stable-diffusion-v1-5", "label": "Stable Diffusion 1.5",
                 "inpaint": "sd15-inpainting"},
        "sd15-inpainting": {"source": "stable-diffusion-v1-5/stable-diffusion-inpainting",
                            "label": "Stable Diffusion 1.5 inpainting"},
        "sdxl": {"source": "stabilityai/stable-diffusion-xl-base-1.0", "label": "SDXL base 1.0", "variant": "fp16",
                 "inpaint": "sdxl-inpainting"},
        "sdxl-inpainting": {"source": "diffusers/stable-diffusion-xl-1.0-inpainting-0.1", "variant": "fp16",
                            "label": "SDXL inpainting 0.1"},
        "sd-turbo": {"source": "stabilityai/sd-turbo", "label": "SD-Turbo", "turbo": True},
        "sdxl-turbo": {"source": "stabilityai/sdxl-turbo", "label": "SDXL-Turbo", "turbo": True, "variant": "fp16",
                       "default_size": 512},
        # the transformer families' official repos; all but schnell are gated (accept the licence, set HF_TOKEN)
        "flux1-schnell": {"source": "black-forest-labs/FLUX.1-schnell", "label": "FLUX.1 schnell", "turbo": True},
        "flux1-dev": {"source": "black-forest-labs/FLUX.1-dev", "label": "FLUX.1 dev"},
        "sd3.5-medium": {"source": "stabilityai/stable-diffusion-3.5-medium", "label": "SD 3.5 Medium"},
        "sd3.5-large": {"source": "stabilityai/stable-diffusion-3.5-large", "label": "SD 3.5 Large"},
        "sd3.5-large-turbo": {"source": "stabilityai/stable-diffusion-3.5-large-turbo", "label": "SD 3.5 Large Turbo",
                              "turbo": True},
    },
    "controlnets": {
        "sd1": dict(_SD15_CONTROLNETS),
        "sdxl": {
            "canny": "diffusers/controlnet-canny-sdxl-1.0",
            "depth": "diffusers/controlnet-depth-sdxl-1.0",
            # the types without a dedicated model go to the union model
            **{t: {"source": _SDXL_UNION, "union_mode": mode} for t, mode in _SDXL_UNION_MODES.items()
               if t not in ("canny", "depth")},
        },
        "flux": {t: {"source": _FLUX_UNION, "union_mode": mode} for t, mode in _FLUX_UNION_MODES.items()},
        "sd3": dict(_SD3_CONTROLNETS),
    },
}


# Each latent space's tiny autoencoder (fast_decode.py); SD 2 shares SD 1's latent space, the refiner SDXL's.
FAST_DECODERS = {"sd1": "madebyollin/taesd", "sd2": "madebyollin/taesd", "sdxl": "madebyollin/taesdxl",
                 "sdxl_refiner": "madebyollin/taesdxl", "sd3": "madebyollin/taesd3", "flux": "madebyollin/taef1"}
BUILTIN_LIBRARY["fast_decoders"] = FAST_DECODERS


class LibraryError(ValueError):
    """The model library file cannot be used; the message says where and why."""


@dataclass
class Library:
    models: dict[str, ModelEntry] = field(default_factory=dict)
    controlnets: dict[str, ControlNetEntry] = field(default_factory=dict)  # "<family>/<type>", or a found file's name
    default: str | None = None
    fast_decoders: dict[str, tuple[str, Path | None]] = field(default_factory=dict)  # family -> (source, base_dir)
    # A1111 or ComfyUI model folders (--models-dir): checkpoints join `models`, the rest is listed here
    folders: list[Path] = field(default_factory=list)
    found: Found = field(default_factory=Found)
    styles_file: Path | None = None  # A1111's styles.csv
    _from_folders: set = field(default_factory=set)  # the model names the folders added (a rescan replaces them)
    _controlnets_from_folders: set = field(default_factory=set)  # the same for ControlNets
    _described: list | None = field(default=None, repr=False)  # describe_models(), until the next refresh

    def add_folders(self, folders: list[Path], styles_file: Path | None = None) -> list[str]:
        """Scan these folders now and on every refresh; returns what the scan warns about."""
        self.folders = [Path(f).expanduser() for f in folders]
        if styles_file is not None:
            self.styles_file = Path(styles_file).expanduser()
        return self.refresh()

    def refresh(self) -> list[str]:
        """Rescan the folders (A1111's Refresh): new files appear, removed ones go; `--models` entries stay."""
        self.found = scan(self.folders) if self.folders else Found()
        self._described = None
        for name in self._from_folders:
            self.models.pop(name, None)
        self._from_folders = set()
        for name, found in self.found.checkpoints.items():
            if name in self.models:
                continue  # a library entry of the same name wins: it may say more (config, inpaint, turbo)
            self.models[name] = ModelEntry(name=name, source=str(found.path), label=name)
            self._from_folders.add(name)
        if self.default is None and self.models:
            self.default = next(iter(self.models))
        from .found_controlnets import entries  # reads the files' headers: safetensors, no torch

        for name in self._controlnets_from_folders:
            self.controlnets.pop(name, None)
        found_controlnets, warnings = entries(self.found.controlnets, taken=set(self.controlnets))
        self.controlnets.update(found_controlnets)
        self._controlnets_from_folders = set(found_controlnets)
        return [*self.found.warnings, *warnings]

    def controlnet_for(self, family: str, control_type: str) -> ControlNetEntry | None:
        """The ControlNet a unit of this type uses on a model of this family, unless it names one: the user's own
        file from the model folders first, else the library's entry."""
        for name in self._controlnets_from_folders:
            entry = self.controlnets[name]
            if (entry.family, entry.control_type) == (family, control_type):
                return entry
        return self.controlnets.get(f"{family}/{control_type}")

    def loras(self) -> dict:
        return self.found.loras

    def embeddings(self) -> dict:
        return self.found.embeddings

    def vaes(self) -> dict:
        return self.found.vaes

    def upscalers(self) -> dict:
        return self.found.upscalers

    def ip_adapters(self) -> dict:
        """IP-Adapter name -> its file (the model folders': ComfyUI's ipadapter/, A1111's ControlNet/ip-adapter*),
        then h94/IP-Adapter's on the hub as (repo, file) under the names A1111's ControlNet extension gives them."""
        found = {name: file.path for name, file in self.found.ip_adapters.items()}
        return {**found, **{name: hub for name, hub in BUILTIN_IP_ADAPTERS.items() if name not in found}}

    def image_encoders(self) -> dict:
        """The CLIP vision encoders of the model folders (ComfyUI's clip_vision/), for the IP-Adapters."""
        return self.found.image_encoders

    def face_restorers(self) -> dict:
        """GFPGAN and CodeFormer, those of them with a model file: name -> the file (model_folders.restorer_files)."""
        return restorer_files(self.found.face_restorers)

    def wildcards_folder(self) -> Path | None:
        """Where the wildcard files are (wildcards.py): `wildcards` in a model folder, else where A1111's
        sd-dynamic-prompts or ComfyUI keep them beside it, else beside styles.csv; the first that exists."""
        places = []
        for folder in self.folders:
            places += [folder / "wildcards", folder.parent / "extensions" / "sd-dynamic-prompts" / "wildcards",
                       folder.parent / "wildcards"]
        if self.styles_file is not None:
            places.append(self.styles_file.parent / "wildcards")
        return next((place for place in places if place.is_dir()), None)

    def save_style(self, style: Style) -> None:
        """Add or replace a style in styles.csv (A1111's format, so A1111 reads it too)."""
        if self.styles_file is None:
            raise ValueError("no styles file is set (--styles)")
        save_style(self.styles_file, style)

    def model_choices(self) -> list[tuple[str, str]]:
        """(label, name) of every model, for the model lists: labels with the family, read from the weights."""
        from .model_sources import model_label

        return [(model_label(entry), name) for name, entry in self.models.items()]

    def describe_models(self) -> list[dict]:
        """Each model as the Models tab lists it: label, where it comes from, its size here (model_sources.py)."""
        from .model_sources import describe

        if self._described is None or len(self._described) != len(self.models):
            self._described = [describe(entry) for entry in self.models.values()]
        return self._described

    def styles(self) -> dict:
        """The styles by name, read from styles.csv each time (it is small, and the page may have added one)."""
        if self.styles_file is None:
            return {}
        return load_styles(self.styles_file)[0]

    @classmethod
    def builtin(cls) -> "Library":
        return cls()._merge(BUILTIN_LIBRARY, base_dir=None, origin="built-in catalog")

    @classmethod
    def from_file(cls, path: str | Path) -> "Library":
        path = Path(path).expanduser()
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as error:
            raise LibraryError(f"cannot read the model library {path}: {error.strerror or error}") from None
        except yaml.YAMLError as error:
            raise LibraryError(f"the model library {path} is not valid YAML: {error}") from None
        if not isinstance(data, dict):
            raise LibraryError(f"the model library {path} must be a mapping with `models:` and `controlnets:`")
        library = cls.builtin() if data.get("include_builtin", True) else cls()
        return library._merge(data, base_dir=path.parent.resolve(), origin=str(path))

    def _merge(self, data: dict, base_dir: Path | None, origin: str) -> "Library":
        for name, spec in (data.get("models") or {}).items():
            spec = {"source": spec} if isinstance(spec, str) else spec
            if not isinstance(spec, dict) or "source" not in spec:
                raise LibraryError(f"{origin}: model {name!r} needs a `source` (hub id, folder or .safetensors file)")
            known = {f for f in ModelEntry.__dataclass_fields__} - {"name", "base_dir"}
            unknown = set(spec) - known
            if unknown:
                raise LibraryError(f"{origin}: model {name!r} has unknown keys {sorted(unknown)}; known: {sorted(known)}")
            self.models[str(name)] = ModelEntry(name=str(name), base_dir=base_dir, **spec)
        for family, types in (data.get("controlnets") or {}).items():
            if family not in FAMILIES:
                raise LibraryError(f"{origin}: controlnets are grouped by family ({', '.join(FAMILIES)}), not {family!r}")
            for control_type, spec in (types or {}).items():
                if control_type not in CONTROL_TYPES:
                    raise LibraryError(
                        f"{origin}: unknown ControlNet type {control_type!r}; known: {', '.join(CONTROL_TYPES)}"
                    )
                spec = {"source": spec} if isinstance(spec, str) else dict(spec)
                key = f"{family}/{control_type}"
                self.controlnets[key] = ControlNetEntry(
                    name=key, family=family, control_type=control_type, source=spec["source"],
                    union_mode=spec.get("union_mode"), base_dir=base_dir,
                )
        for family, source in (data.get("fast_decoders") or {}).items():
            if family not in FAMILIES:
                raise LibraryError(f"{origin}: fast_decoders are given by family ({', '.join(FAMILIES)}), not {family!r}")
            self.fast_decoders[family] = (str(source), base_dir)
        if data.get("default"):
            self.default = str(data["default"])
        if self.default is not None and self.default not in self.models:
            raise LibraryError(f"{origin}: the default model {self.default!r} is not among the models")
        for entry in self.models.values():
            if entry.inpaint and entry.inpaint not in self.models:
                raise LibraryError(f"{origin}: {entry.name}'s inpaint model {entry.inpaint!r} is not among the models")
        return self

    def model(self, name: str | None) -> ModelEntry:
        name = name or self.default
        if name not in self.models:
            raise KeyError(name)
        return self.models[name]

    def control_types_by_family(self) -> dict[str, list[str]]:
        """Control type -> the families the library has a ControlNet of that type for."""
        families: dict[str, list[str]] = {}
        for entry in self.controlnets.values():
            families.setdefault(entry.control_type, []).append(entry.family)
        return families

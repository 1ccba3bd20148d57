"""ControlNets found in the model folders (A1111's `ControlNet/`, ComfyUI's `controlnet/`) as library entries.

Each file or diffusers folder becomes an entry under its A1111 name ("control_v11p_sd15_canny"): its family is
read from its weights (model_sources.controlnet_family) and checked again when it loads, its control type is
what its name says, as the ControlNet extension's files are named. A found ControlNet is the one used for its
family and type, before the library's hub entry of the same kind: the user's own file, already on disk.
What cannot be used is said, never skipped silently.
"""

from __future__ import annotations

from .catalog import ControlNetEntry, control_type_from_name
from .model_folders import FoundFile
from .model_sources import controlnet_family

# The ControlNet extension's own models (lllyasviel's v1.1 files, .pth) are all SD 1.5 ControlNets; a pickle's
# tensors cannot be read before it is loaded, so its family is taken from its name until then.
_NAME_FAMILIES = (("sdxl", "sdxl"), ("_xl", "sdxl"), ("xl_", "sdxl"), ("sd21", "sd2"), ("sd2", "sd2"))


def entries(found: dict[str, FoundFile], taken: set[str]) -> tuple[dict[str, ControlNetEntry], list[str]]:
    """Library entries for the found ControlNets whose names are not `taken`, and what could not be used."""
    result, warnings = {}, []
    for name, file in found.items():
        if name in taken:
            warnings.append(f"ControlNet {file.path} left out: the model library has an entry named {name!r}")
            continue
        if "union" in name.lower():
            warnings.append(f"ControlNet {file.path} left out: a union ControlNet from a folder needs its modes; "
                            "name its folder or repo in the model library instead")
            continue
        control_type = control_type_from_name(name)
        if control_type is None:
            warnings.append(f"ControlNet {file.path} left out: its name does not say its control type "
                            "(canny, depth, openpose, lineart, softedge, scribble, mlsd, normal, seg, shuffle, "
                            "tile or inpaint)")
            continue
        try:
            family = controlnet_family(file.path)
        except Exception as error:  # noqa: BLE001 - an unreadable header: said, and the scan goes on
            warnings.append(f"ControlNet {file.path} left out: its weights cannot be read ({error})")
            continue
        if family is None and file.path.suffix.lower() == ".safetensors":
            warnings.append(f"ControlNet {file.path} left out: its tensors are not those of an SD 1.x, SD 2.x "
                            "or SDXL ControlNet")
            continue
        family = family or next((f for word, f in _NAME_FAMILIES if word in name.lower()), "sd1")
        result[name] = ControlNetEntry(name=name, family=family, control_type=control_type, source=str(file.path))
    return result, warnings

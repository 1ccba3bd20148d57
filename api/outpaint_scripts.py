"""A1111's outpainting scripts, `script_name` "outpainting mk2" and "poor man's outpainting" on img2img, as
Easel's outpainting (pipelines/outpaint.py): their `script_args`, in the order of their controls, read into an
Outpaint. Easel paints the whole grown canvas in one pass where the scripts paint side by side or tile by tile;
what it does not do the same is named in the warnings.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines import InvalidRequest, Outpaint

DIRECTIONS = ("left", "right", "up", "down")
# A1111's "Masked content" choices, by index, as poor man's outpainting takes them
MASKED_CONTENT = ("fill", "original", "latent noise", "latent nothing")
# title in lower case (as A1111 lists and matches them; newer A1111 titles mk2 "Outpainting") -> arguments' names
SCRIPT_ARGS = {
    "outpainting mk2": ("info", "pixels", "mask_blur", "direction", "noise_q", "color_variation"),
    "outpainting": ("info", "pixels", "mask_blur", "direction", "noise_q", "color_variation"),
    "poor man's outpainting": ("pixels", "mask_blur", "inpainting_fill", "direction"),
}
DEFAULTS = {"pixels": 128, "direction": list(DIRECTIONS), "noise_q": 1.0, "color_variation": 0.05,
            "inpainting_fill": 0}
MASK_BLUR = {"outpainting mk2": 8, "outpainting": 8, "poor man's outpainting": 4}
LISTED = ["outpainting mk2", "poor man's outpainting"]  # what /sdapi/v1/scripts names for img2img


@dataclass
class ScriptOutpaint:
    outpaint: Outpaint
    mask_blur: int
    fields: dict  # engine field -> the client's, for messages: "outpaint_left" -> "script_args[1]"


def is_outpaint_script(name: str | None) -> bool:
    return bool(name) and name.strip().lower() in SCRIPT_ARGS


def outpaint_from_script(name: str, args: list, warnings: list[str]) -> ScriptOutpaint:
    script = name.strip().lower()
    names = SCRIPT_ARGS[script]
    if not isinstance(args, list):
        raise InvalidRequest("script_args", f"must be a list: {', '.join(names)}")
    if len(args) > len(names):
        warnings.append(f"script_args: {name} takes {len(names)} arguments ({', '.join(names)}); the rest were not used")
    values = {**DEFAULTS, "mask_blur": MASK_BLUR[script],
              **{key: value for key, value in zip(names, args) if value is not None}}
    where = {key: f"script_args[{index}]" for index, key in enumerate(names)}
    direction = values["direction"]
    if isinstance(direction, str):
        direction = [direction]
    if not isinstance(direction, list) or not direction or any(d not in DIRECTIONS for d in direction):
        raise InvalidRequest(where["direction"], f"must be a list of one or more of {', '.join(DIRECTIONS)}; "
                                                 f"got {values['direction']!r}")
    pixels = values["pixels"]
    sides = {side: pixels if side in direction else 0 for side in DIRECTIONS}
    fill = "noise"  # mk2 starts the new area from noise matched to the picture
    if "inpainting_fill" in names:
        fill = _masked_content(values["inpainting_fill"], where["inpainting_fill"], warnings)
    if "noise_q" in names and values["noise_q"] != DEFAULTS["noise_q"]:
        warnings.append(f"{where['noise_q']}: Easel's noise has the picture's colours but no fall-off exponent; "
                        f"{values['noise_q']} was not used")
    outpaint = Outpaint(**sides, fill=fill, color_variation=values["color_variation"])
    fields = {f"outpaint_{side}": where["pixels"] for side in DIRECTIONS}
    fields.update(mask_blur=where["mask_blur"], outpaint_color_variation=where.get("color_variation", "script_args"))
    return ScriptOutpaint(outpaint, values["mask_blur"], fields)


def _masked_content(value, where: str, warnings: list[str]) -> str:
    if isinstance(value, str) and value in MASKED_CONTENT:
        value = MASKED_CONTENT.index(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(MASKED_CONTENT):
        raise InvalidRequest(where, f"must be 0 to 3 ({', '.join(MASKED_CONTENT)}); got {value!r}")
    if value in (1, 3):
        warnings.append(f"{where}: {MASKED_CONTENT[value]!r} would start the new area from nothing; Easel starts it "
                        "from the picture's edge colours ('fill')")
    return "noise" if value == 2 else "edges"

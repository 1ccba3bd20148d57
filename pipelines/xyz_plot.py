"""A1111's X/Y/Z plot: the request made once per cell, each axis changing one setting, the cells laid out as a
labelled grid (plot_grid.py) returned first and then every picture with its own parameters.

The axes and their names are A1111's (scripts/xyz_grid.py), in its order, so that the index an A1111 client
sends in `script_args` means the same axis here; Easel adds "Size" and "LoRA weight" after them. Values are
typed as A1111 types them, ranges included, and checked in validation.validate_plot before any cell runs.
Cells run in the order that changes the costliest axis least (a checkpoint, then a VAE), as A1111's do.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import re
from dataclasses import dataclass
from typing import Any, Callable

from . import plot_grid, series
from .errors import GenerationCancelled
from .metadata import with_settings
from .request import MAX_SEED, GenerationRequest, GenerationResult, HiresFix, Plot
from .provenance import make_record

NOTHING = "Nothing"
TITLE = "X/Y/Z plot"  # A1111's script title: its infotext's `Script` and, lower-cased, the API's script_name


@dataclass(frozen=True)
class Axis:
    label: str
    kind: str  # how values are typed: "int", "float", "str", "permutations" (of the values), "nothing"
    fields: tuple[str, ...]  # the request fields it sets: a refused cell names the axis whose value it was
    choices: str | None = None  # the list its values are names from: "sampler", "model", "vae", ...
    cost: float = 0.0  # A1111's: the costliest axis changes least often
    plain_label: bool = False  # the grid says the value alone ("Euler a"), not "Steps: 20"


_AXES = [
    Axis(NOTHING, "nothing", ()),
    Axis("Seed", "int", ("seed",)),
    Axis("Var. seed", "int", ("subseed",)),
    Axis("Var. strength", "float", ("subseed_strength",)),
    Axis("Steps", "int", ("steps",)),
    Axis("Hires steps", "int", ("hr_second_pass_steps", "hires.steps")),
    Axis("CFG Scale", "float", ("guidance_scale",)),
    Axis("Prompt S/R", "str", ("prompt",), plain_label=True),
    Axis("Prompt order", "permutations", ("prompt",), plain_label=True),
    Axis("Sampler", "str", ("sampler",), choices="sampler", plain_label=True),
    Axis("Hires sampler", "str", ("hr_sampler_name", "hires.sampler"), choices="sampler"),
    Axis("Checkpoint name", "str", ("model",), choices="model", cost=1.0, plain_label=True),
    Axis("Clip skip", "int", ("clip_skip",)),
    Axis("Denoising", "float", ("strength",)),
    Axis("Hires upscaler", "str", ("hr_upscaler", "hires.upscaler"), choices="upscaler"),
    Axis("VAE", "str", ("vae",), choices="vae", cost=0.7),
    Axis("Styles", "str", ("styles",), choices="style"),
    Axis("Face restore", "str", ("restore_faces",), plain_label=True),
    Axis("Refiner checkpoint", "str", ("refiner",), choices="model", cost=1.0, plain_label=True),
    Axis("Refiner switch at", "float", ("refiner_switch_at",)),
    Axis("Size", "str", ("width", "height")),  # Easel's (as Forge's): "512x768"
    Axis("LoRA weight", "float", ("prompt",)),  # Easel's: the weight of every <lora:...> tag in the prompt
]
AXES = {axis.label: axis for axis in _AXES}

# A1111's axis lists by index, as its API's x_type/y_type/z_type number them; Easel's own come after them
_A1111_SHARED_HEAD = ("Nothing", "Seed", "Var. seed", "Var. strength", "Steps")
_A1111_TAIL = ("Checkpoint name", "Negative Guidance minimum sigma", "Sigma Churn", "Sigma min", "Sigma max",
               "Sigma noise", "Schedule type", "Schedule min sigma", "Schedule max sigma", "Schedule rho", "Eta",
               "Clip skip", "Denoising", "Initial noise multiplier", "Extra noise")
_A1111_END = ("VAE", "Styles", "UniPC Order", "Face restore", "Token merging ratio", "Token merging ratio high-res",
              "Always discard next-to-last sigma", "SGM noise multiplier", "Refiner checkpoint", "Refiner switch at",
              "RNG source", "Size", "LoRA weight")
INDEXED = {
    "txt2img": (*_A1111_SHARED_HEAD, "Hires steps", "CFG Scale", "Prompt S/R", "Prompt order", "Sampler",
                "Hires sampler", *_A1111_TAIL, "Hires upscaler", *_A1111_END),
    "img2img": (*_A1111_SHARED_HEAD, "CFG Scale", "Image CFG Scale", "Prompt S/R", "Prompt order", "Sampler",
                *_A1111_TAIL, "Cond. Image Mask Weight", *_A1111_END),
}
HIRES_AXES = ("Hires steps", "Hires sampler", "Hires upscaler")


def offered(task: str) -> list[str]:
    """The axes a tab offers, in A1111's order: those Easel has, and the hires ones on text to image only."""
    listed = INDEXED["txt2img" if task == "txt2img" else "img2img"]
    return [label for label in listed if label in AXES]


def label_of(value: Any, task: str) -> Any:
    """An axis type as given: a label, or A1111's index into its list for the task (as its API sends)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        listed = INDEXED["txt2img" if task == "txt2img" else "img2img"]
        index = int(value)
        return listed[index] if 0 <= index < len(listed) else value
    return value.strip() if isinstance(value, str) else value


def cell_count(axes: list[tuple[Any, Any]], task: str) -> int:
    """How many cells (type, values) axes make, as far as can be told without checking them (never raises):
    the hosting layer's estimate of a plot's GPU time."""
    count = 1
    for given_type, values in axes:
        axis = AXES.get(label_of(given_type, task)) if isinstance(given_type, (str, int)) else None
        if axis is None or axis.kind == "nothing" or not isinstance(values, str):
            continue
        try:
            count *= max(1, len(expand_ranges(split_values(values), axis.kind)))
        except (ValueError, TypeError):
            pass
    return count


# --- values --------------------------------------------------------------------------------------

# A1111's ranges, verbatim: "1-5", "1-9 (+2)" and "1-9 [5]" (five values from 1 to 9)
RE_RANGE = re.compile(r"\s*([+-]?\s*\d+)\s*-\s*([+-]?\s*\d+)(?:\s*\(([+-]\d+)\s*\))?\s*")
RE_RANGE_FLOAT = re.compile(r"\s*([+-]?\s*\d+(?:.\d*)?)\s*-\s*([+-]?\s*\d+(?:.\d*)?)(?:\s*\(([+-]\d+(?:.\d*)?)\s*\))?\s*")
RE_RANGE_COUNT = re.compile(r"\s*([+-]?\s*\d+)\s*-\s*([+-]?\s*\d+)(?:\s*\[(\d+)\s*])?\s*")
RE_RANGE_COUNT_FLOAT = re.compile(r"\s*([+-]?\s*\d+(?:.\d*)?)\s*-\s*([+-]?\s*\d+(?:.\d*)?)(?:\s*\[(\d+(?:.\d*)?)\s*])?\s*")


def split_values(text: str) -> list[str]:
    """A1111's reading of a values box: comma-separated as CSV (so "a, b" and '"a, b", c'), each stripped."""
    import csv
    from io import StringIO

    return [value.strip() for row in csv.reader(StringIO(text), skipinitialspace=True) for value in row]


def expand_ranges(values: list[str], kind: str) -> list[str | int | float]:
    """Ranges turned into their values, as A1111 does for number axes; other values kept as written."""
    import numpy as np

    expanded: list = []
    for value in values:
        if kind == "int":
            step_range, count_range = RE_RANGE.fullmatch(value), RE_RANGE_COUNT.fullmatch(value)
            if step_range:
                start, end = int(step_range.group(1).replace(" ", "")), int(step_range.group(2).replace(" ", ""))
                step = int(step_range.group(3)) if step_range.group(3) else 1
                expanded += list(range(start, end + 1, step)) if step else [start]
                continue
            if count_range:
                start, end = int(count_range.group(1).replace(" ", "")), int(count_range.group(2).replace(" ", ""))
                count = int(count_range.group(3)) if count_range.group(3) else 1
                expanded += [int(v) for v in np.linspace(start, end, count).tolist()]
                continue
        elif kind == "float":
            step_range, count_range = RE_RANGE_FLOAT.fullmatch(value), RE_RANGE_COUNT_FLOAT.fullmatch(value)
            if step_range:
                start, end = float(step_range.group(1).replace(" ", "")), float(step_range.group(2).replace(" ", ""))
                step = float(step_range.group(3)) if step_range.group(3) else 1.0
                expanded += np.arange(start, end + step, step).tolist() if step > 0 else [start]
                continue
            if count_range:
                start, end = float(count_range.group(1).replace(" ", "")), float(count_range.group(2).replace(" ", ""))
                count = int(float(count_range.group(3))) if count_range.group(3) else 1
                expanded += np.linspace(start, end, count).tolist()
                continue
        expanded.append(value)
    return expanded


def value_label(axis: Axis, value: Any) -> str:
    """What the grid writes over a column or beside a row: A1111's format_value(_add_label)."""
    if axis.kind == "nothing":
        return ""
    if isinstance(value, float):
        value = round(value, 8)
    if axis.kind == "permutations":
        return ", ".join(value)
    if isinstance(value, list):
        value = ",".join(value)
    if isinstance(value, tuple):  # a size
        value = "x".join(str(side) for side in value)
    return str(value) if axis.plain_label else f"{axis.label}: {value}"


# --- cells ---------------------------------------------------------------------------------------


def applied(request: GenerationRequest, axis: Axis, value: Any, values: list) -> GenerationRequest:
    """The request with one axis' value set (a copy; nested settings copied before they change)."""
    label = axis.label
    if label == NOTHING:
        return request
    if label == "Prompt S/R":  # the first value is searched for, each value put in its place (A1111's)
        return dataclasses.replace(request, prompt=request.prompt.replace(values[0], value),
                                   negative_prompt=request.negative_prompt.replace(values[0], value))
    if label == "Prompt order":
        return dataclasses.replace(request, prompt=_reordered(request.prompt, value))
    if label == "LoRA weight":
        return dataclasses.replace(request, prompt=_LORA_WEIGHT.sub(lambda m: f"{m.group(1)}:{value:g}>", request.prompt))
    if label == "Size":
        width, height = value
        return dataclasses.replace(request, width=width, height=height)
    if label == "Styles":  # added to the request's own, as A1111's
        return dataclasses.replace(request, styles=[*request.styles, *value])
    if label in HIRES_AXES:
        field = {"Hires steps": "steps", "Hires sampler": "sampler", "Hires upscaler": "upscaler"}[label]
        return dataclasses.replace(request, hires=dataclasses.replace(request.hires or HiresFix(), **{field: value}))
    return dataclasses.replace(request, **{axis.fields[0]: value})


_LORA_WEIGHT = re.compile(r"(<(?:lora|lyco):[^:>]+)(?::[^>]*)?>")


def has_lora(prompt) -> bool:
    return isinstance(prompt, str) and bool(_LORA_WEIGHT.search(prompt))


def _reordered(prompt: str, order: tuple) -> str:
    """A1111's Prompt order: the tokens put back where the tokens were, in this order."""
    found = sorted((prompt.find(token), token) for token in order)
    parts, rest = [], prompt
    for _, token in found:
        at = rest.find(token)
        parts.append(rest[:at])
        rest = rest[at + len(token):]
    return "".join(part + order[i] for i, part in enumerate(parts)) + rest


def fixed_seeds(request: GenerationRequest, axes: list[tuple[Axis, list]]) -> tuple[GenerationRequest, list]:
    """A1111's fix_seed: a random seed (and variation seed) drawn once, so every cell starts from the same noise;
    -1 in a Seed axis drawn once too."""
    seed = request.seed if request.seed >= 0 else random.randrange(MAX_SEED)
    subseed = request.subseed if request.subseed >= 0 else random.randrange(MAX_SEED)
    fixed = []
    for axis, values in axes:
        if axis.label in ("Seed", "Var. seed"):
            values = [random.randrange(MAX_SEED) if value == -1 else value for value in values]
        fixed.append((axis, values))
    return dataclasses.replace(request, seed=seed, subseed=subseed), fixed


def cells(request: GenerationRequest, axes: list[tuple[Axis, list]]) -> list[tuple[tuple[int, int, int], GenerationRequest]]:
    """((ix, iy, iz), request) for every cell, in the order to run them: the costliest axis outermost."""
    (x, xs), (y, ys), (z, zs) = axes
    order = sorted(range(3), key=lambda i: -(x.cost, y.cost, z.cost)[i] + 0.0001 * i)  # ties: z, y, x as A1111
    order = order if any(a.cost for a, _ in axes) else [2, 1, 0]
    sizes = (len(xs), len(ys), len(zs))
    made = []
    for outer in itertools.product(*(range(sizes[i]) for i in order)):
        index = [0, 0, 0]
        for position, axis_index in enumerate(order):
            index[axis_index] = outer[position]
        ix, iy, iz = index
        cell = dataclasses.replace(request, plot=None)
        for (axis, values), i in zip(axes, index):
            cell = applied(cell, axis, values[i], values)
        made.append(((ix, iy, iz), cell))
    return made


def run(request: GenerationRequest, axes: list[tuple[Axis, list]], generate: Callable, check: Callable,
        mark: Callable, on_step: Callable | None = None) -> GenerationResult:
    """Check every cell, then make them; the grids first in the result, then every cell's pictures.

    A Stop keeps the cells already made: the grid shows them, blank where a cell was not reached."""
    request, axes = fixed_seeds(request, axes)
    planned = cells(request, axes)
    for (ix, iy, iz), cell in planned:  # a bad value is refused before the first cell's minutes are spent
        _checked(cell, check, axes, (ix, iy, iz))
    made: dict[tuple, GenerationResult] = {}
    warnings: list[str] = []
    try:
        for index, result in series.each([cell for _, cell in planned], generate, on_step):
            made[planned[index][0]] = result
    except GenerationCancelled:
        if not made:
            raise
        warnings.append(f"Stopped: {len(made)} of {len(planned)} cells of the plot were made; the grid shows them")
    ordered = [made[key] for key, _ in planned if key in made]
    merged = series.merged(ordered)
    grids, grid_texts, grid_records = _grids(request.plot, axes, made, merged, mark)
    return dataclasses.replace(
        merged, images=[*grids, *merged.images], seeds=[merged.seeds[0]] * len(grids) + merged.seeds,
        infotexts=[*grid_texts, *merged.infotexts], records=[*grid_records, *merged.records],
        prompts=[*([merged.prompts[0]] * len(grids) if merged.prompts else []), *merged.prompts],
        negative_prompts=[*([merged.negative_prompts[0]] * len(grids) if merged.negative_prompts else []),
                          *merged.negative_prompts],
        warnings=[*merged.warnings, *warnings], parameters={**merged.parameters, "plot": _plot_record(request.plot),
                                                            "grids": len(grids)})


def _checked(cell: GenerationRequest, check: Callable, axes, index) -> None:
    from .errors import InvalidRequest

    try:
        check(cell)
    except InvalidRequest as error:
        for name, (axis, values), i in zip("xyz", axes, index):
            if error.field in axis.fields:
                raise InvalidRequest(f"{name}_values", f"{axis.label} {values[i]}: {error.detail}") from None
        raise


def _grids(plot: Plot, axes, made: dict, merged: GenerationResult, mark: Callable):
    (x, xs), (y, ys), (z, zs) = axes
    first = next(iter(made.values()))
    sheets = []
    for iz in range(len(zs)):
        pictures = [[made[(ix, iy, iz)].images[0] if (ix, iy, iz) in made else None for ix in range(len(xs))]
                    for iy in range(len(ys))]
        sheets.append(plot_grid.grid(pictures, [value_label(x, v) for v in xs], [value_label(y, v) for v in ys],
                                     plot.draw_legend, plot.margin_size))
    grid = sheets[0] if len(sheets) == 1 else plot_grid.side_by_side(
        sheets, [value_label(z, v) for v in zs] if plot.draw_legend else None)
    grid = mark([grid])[0]
    extra = {"Script": TITLE}
    for name, (axis, values), given in zip("XYZ", axes, (plot.x, plot.y, plot.z)):
        if axis.label != NOTHING:
            extra[f"{name} Type"] = axis.label
            extra[f"{name} Values"] = given.values
            if axis.label in ("Seed", "Var. seed"):
                extra[f"Fixed {name} Values"] = ", ".join(str(v) for v in values)
    text = with_settings(first.infotexts[0], extra)
    record = first.records[0]
    made_with = {k: v for k, v in record.items() if k not in ("schema", "schema_version", "parameters", "image_sha256")}
    grid_record = make_record(grid, {**record["parameters"], "plot": _plot_record(plot), "grid": True}, made_with)
    return [grid], [text], [grid_record]


def _plot_record(plot: Plot) -> dict:
    return dataclasses.asdict(plot)

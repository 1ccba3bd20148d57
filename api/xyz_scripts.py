"""A1111's `script_name` "x/y/z plot" on txt2img and img2img, as Easel's plot (pipelines/xyz_plot.py): its
`script_args`, in the order of its controls, read into a Plot. Axis types come as A1111's index into its
list for the tab (or as the axis' name); values as the text box has them, or the dropdown's list for axes
that have one. As in A1111, the answer holds the grid alone unless `include_lone_images` is set.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from pipelines import InvalidRequest, Plot, PlotAxis, plot_axis_label

TITLE = "x/y/z plot"  # A1111's title in lower case, as it lists and matches scripts
# A1111's controls, in its order; csv_mode and raw_mode are newer A1111's (older clients send 14)
SCRIPT_ARGS = ("x_type", "x_values", "x_values_dropdown", "y_type", "y_values", "y_values_dropdown", "z_type",
               "z_values", "z_values_dropdown", "draw_legend", "include_lone_images", "include_sub_grids",
               "no_fixed_seeds", "margin_size", "csv_mode", "raw_mode")


@dataclass
class ScriptPlot:
    plot: Plot
    include_lone_images: bool
    fields: dict  # engine field -> the client's, for messages: "x_values" -> "script_args[1]"


def is_plot_script(name: str | None) -> bool:
    return bool(name) and name.strip().lower() == TITLE


def plot_from_script(args, kind: str, warnings: list[str]) -> ScriptPlot:
    """`kind`: "txt2img" or "img2img", whose A1111 list an axis' index points into."""
    if not isinstance(args, list):
        raise InvalidRequest("script_args", f"must be a list: {', '.join(SCRIPT_ARGS)}")
    if len(args) > len(SCRIPT_ARGS):
        warnings.append(f"script_args: the X/Y/Z plot takes {len(SCRIPT_ARGS)} arguments; the rest were not used")
    values = dict(zip(SCRIPT_ARGS, args))
    axes = []
    for name in "xyz":
        given = values.get(f"{name}_values") or ""
        chosen = values.get(f"{name}_values_dropdown") or []
        if not given and isinstance(chosen, list) and chosen:  # an axis with a dropdown sends its choices there
            given = chosen
        axis_type = values.get(f"{name}_type")
        axes.append(PlotAxis("Nothing" if axis_type in (None, "") else plot_axis_label(axis_type, kind), given))
    if values.get("include_sub_grids"):
        warnings.append("script_args: Easel's plot is one grid, the Z values side by side; include_sub_grids not used")
    if values.get("no_fixed_seeds"):
        warnings.append("script_args: every cell starts from the same seed in Easel; no_fixed_seeds not used")
    margin = values.get("margin_size") or 0
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin <= 500:
        raise InvalidRequest(f"script_args[{SCRIPT_ARGS.index('margin_size')}]",
                             f"margin_size must be 0 to 500 pixels, got {margin!r}")
    plot = Plot(*axes, draw_legend=values.get("draw_legend") is not False, margin_size=int(margin))
    fields = {}
    for name in "xyz":
        fields[f"{name}_type"] = f"script_args[{SCRIPT_ARGS.index(f'{name}_type')}]"
        fields[f"{name}_values"] = f"script_args[{SCRIPT_ARGS.index(f'{name}_values')}]"
    return ScriptPlot(plot, bool(values.get("include_lone_images")), fields)


def as_answered(result, include_lone_images: bool):
    """The result as A1111's plot answers: the grid, and each cell's pictures only when asked for."""
    grids = result.parameters.get("grids", 0)
    if include_lone_images or not grids:
        return result
    return dataclasses.replace(result, images=result.images[:grids], seeds=result.seeds[:grids],
                               infotexts=result.infotexts[:grids], records=result.records[:grids],
                               prompts=result.prompts[:grids], negative_prompts=result.negative_prompts[:grids])

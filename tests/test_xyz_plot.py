"""A1111's X/Y/Z plot on the engine: the request made once per cell, a labelled grid first and then each picture
with parameters that make it again; A1111's value ranges and axis numbers; Stop keeps the cells made; bad axes
and values refused by name before any cell runs."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.errors import InvalidRequest
from pipelines.metadata import parse_parameters
from pipelines.request import CancelToken, GenerationRequest, Limits, Plot, PlotAxis
from pipelines.xyz_plot import expand_ranges, label_of, split_values


@pytest.fixture(scope="module")
def engine(tiny_dir):
    from pipelines.catalog import Library
    from pipelines.engine_settings import EngineSettings
    from pipelines.manager import PipelineManager

    library = Library.from_file(tiny_dir / "models.yaml")
    return PipelineManager(library, EngineSettings(device="cpu", watermark=False, content_credentials=False,
                                                   limits=Limits(max_plot_pictures=12)))


def plot(engine, x=("Nothing", ""), y=("Nothing", ""), z=("Nothing", ""), on_step=None, cancel=None, **fields):
    request = GenerationRequest(**{"prompt": "a cat on a hill", "seed": 5, "steps": 2, "width": 64, "height": 64,
                                   **fields, "plot": Plot(PlotAxis(*x), PlotAxis(*y), PlotAxis(*z))})
    return engine.generate(request, on_step=on_step, cancel=cancel)


def test_a_2x2_plot_is_a_grid_and_four_pictures_whose_parameters_make_them_again(engine):
    steps = []
    result = plot(engine, x=("Steps", "2-3"), y=("Prompt S/R", "cat, dog"), on_step=lambda info: steps.append(info))
    grid, *pictures = result.images
    assert len(pictures) == 4 and grid.width > 2 * 64 and grid.height > 2 * 64  # two by two, with labels
    assert [s.step for s in steps] == sorted(s.step for s in steps) and steps[-1].step == steps[-1].total == 10
    grid_text = parse_parameters(result.infotexts[0])["settings"]
    assert grid_text["Script"] == "X/Y/Z plot" and grid_text["X Type"] == "Steps" and grid_text["X Values"] == "2-3"
    assert grid_text["Y Type"] == "Prompt S/R" and grid_text["Y Values"] == "cat, dog"
    assert result.records[0]["parameters"]["grid"] is True and len(result.records) == 5
    read = [parse_parameters(text) for text in result.infotexts[1:]]
    assert [(r["steps"], r["prompt"]) for r in read] == [(2, "a cat on a hill"), (3, "a cat on a hill"),
                                                         (2, "a dog on a hill"), (3, "a dog on a hill")]
    again = engine.generate(GenerationRequest(prompt=read[3]["prompt"], seed=read[3]["seed"], steps=read[3]["steps"],
                                              width=64, height=64))
    assert np.array_equal(np.asarray(again.images[0]), np.asarray(pictures[3]))
    assert not np.array_equal(np.asarray(pictures[0]), np.asarray(pictures[2]))  # the cells differ


def test_a_z_axis_puts_sheets_side_by_side_and_sizes_may_differ(engine):
    result = plot(engine, x=("CFG Scale", "1-9 [2]"), z=("Size", "64x64, 64x96"))
    grid, *pictures = result.images
    assert [p.size for p in pictures] == [(64, 64), (64, 64), (64, 96), (64, 96)]
    assert grid.width > 4 * 64 and grid.height > 96
    assert "Z Type: Size" in result.infotexts[0]


def test_a_random_seed_is_drawn_once_for_every_cell(engine):
    result = plot(engine, x=("Sampler", "Euler a, DDIM"), seed=-1)
    assert len(set(result.seeds)) == 1


def test_stop_keeps_the_cells_already_made(engine):
    cancel = CancelToken()

    def on_step(info):
        if info.step > 2:  # the second cell has begun
            cancel.cancel()

    result = plot(engine, x=("Steps", "2, 2, 2"), on_step=on_step, cancel=cancel)
    assert len(result.images) == 2  # the grid, and the first cell
    assert any("Stopped: 1 of 3 cells" in w for w in result.warnings)


def test_a1111_ranges_and_axis_numbers():
    assert expand_ranges(["1-5"], "int") == [1, 2, 3, 4, 5]
    assert expand_ranges(["1-9 (+2)"], "int") == [1, 3, 5, 7, 9]
    assert expand_ranges(["1-9 [5]", "12"], "int") == [1, 3, 5, 7, 9, "12"]
    assert expand_ranges(["0.5-1.5 (+0.5)"], "float") == [0.5, 1.0, 1.5]
    assert expand_ranges(["1-2 [3]"], "float") == [1.0, 1.5, 2.0]
    assert split_values('a, "b, c",d') == ["a", "b, c", "d"]
    # the index an A1111 client sends means the axis A1111's list has there, per tab
    assert (label_of(4, "txt2img"), label_of(7, "txt2img"), label_of(9, "txt2img")) == ("Steps", "Prompt S/R", "Sampler")
    assert (label_of(5, "img2img"), label_of(9, "img2img"), label_of("22", "img2img")) == ("CFG Scale", "Sampler", "Denoising")


@pytest.mark.parametrize("axes, field, words", [
    ({"x": ("Sigma Churn", "1, 2")}, "x_type", "Easel does not have"),
    ({"x": ("Wobble", "1")}, "x_type", "not an axis type"),
    ({"x": ("Hires steps", "1, 2")}, "x_type", "turn the hires fix on"),
    ({"x": ("Steps", "2"), "y": ("Steps", "3")}, "y_type", "X axis already"),
    ({"x": ("Steps", "1-13")}, "x_values", "would make 13 pictures"),
    ({"x": ("Steps", "2, 500")}, "x_values", "Steps 500: must be from 1 to 150"),
    ({"y": ("CFG Scale", "7, lots")}, "y_values", "lots"),
    ({"x": ("Prompt S/R", "zebra, dog")}, "x_values", "did not find 'zebra'"),
    ({"x": ("Sampler", "Euler z")}, "x_values", "'Euler z' is not one of"),
    ({"x": ("Checkpoint name", "nowhere")}, "x_values", "'nowhere' is not one of"),
    ({"x": ("LoRA weight", "0, 1")}, "x_type", "<lora:name:weight>"),
    ({"z": ("Size", "64xbig")}, "z_values", "not a size"),
    ({}, "x_type", "choose what the X axis changes"),
])
def test_bad_axes_and_values_are_refused_by_name_before_any_cell_runs(engine, axes, field, words):
    steps = []
    with pytest.raises(InvalidRequest) as refused:
        plot(engine, on_step=steps.append, **axes)
    assert refused.value.field == field and words in str(refused.value)
    assert steps == []
    assert plot(engine, x=("Steps", "2")).images  # the next request works

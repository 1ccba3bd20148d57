"""SD 3 and FLUX.1 through the engine: told from their weights whatever their names, painting every task they have,
quantized (fp8 storage, GGUF) with the same picture in every offload mode, with their LoRAs, and refusing by field
what they cannot do."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from pipelines import quantization
from pipelines.catalog import Library, ModelEntry
from pipelines.errors import InvalidRequest, ModelLoadError
from pipelines.flow_families import family_from_keys
from pipelines.metadata import parse_parameters
from pipelines.model_sources import peek, peek_folder, timestep_distilled
from pipelines.request import ControlUnit, GenerationRequest, HiresFix, ImagePrompt

TASKS = ("txt2img", "img2img", "inpaint")


@pytest.fixture(scope="module")
def engine(tiny_dir):
    from pipelines.engine_settings import EngineSettings
    from pipelines.manager import PipelineManager

    library = Library.from_file(tiny_dir / "models.yaml")
    library.add_folders([tiny_dir / "a1111" / "models"])
    return PipelineManager(library, EngineSettings(device="cpu", watermark=False, content_credentials=False))


def make(engine, on_preview=None, **fields):
    request = GenerationRequest(**{"model": "tiny-flux", "prompt": "a fox in snow", "seed": 3, "steps": 3,
                                   "width": 64, "height": 64, **fields})
    return engine.generate(request, on_preview=on_preview)


def pixels(result, i=0):
    return np.asarray(result.images[i]).astype(int)


def task_fields(task, photo, square_mask):
    return {"txt2img": {}, "img2img": {"image": photo, "strength": 0.6},
            "inpaint": {"image": photo, "mask": square_mask, "strength": 0.9}}[task]


def test_the_families_are_told_from_their_weights_whatever_their_names(tiny_dir, tmp_path):
    shutil.copytree(tiny_dir / "flux-tiny", tmp_path / "sdxl-juggernaut")  # names that say another family
    shutil.copytree(tiny_dir / "sd3-tiny", tmp_path / "flux-dev")
    assert peek_folder(tmp_path / "sdxl-juggernaut") == ("flux", False)
    assert peek_folder(tmp_path / "flux-dev") == ("sd3", False)
    shutil.copy(tiny_dir / "flux-tiny-transformer.safetensors", tmp_path / "sd15-anime.safetensors")
    shutil.copy(tiny_dir / "flux-tiny-Q8_0.gguf", tmp_path / "model.gguf")
    for file in ("sd15-anime.safetensors", "model.gguf"):
        assert peek(ModelEntry(name="x", source=str(tmp_path / file))) == ("flux", False)
    # the original layouts of single files: BFL's FLUX and Stability's SD 3 (with a full checkpoint's prefix)
    assert family_from_keys({"double_blocks.0.img_attn.qkv.weight", "guidance_in.in_layer.weight"}) == "flux"
    assert family_from_keys({"model.diffusion_model.joint_blocks.0.context_block.attn.qkv.weight"}) == "sd3"
    assert family_from_keys({"model.diffusion_model.input_blocks.0.0.weight"}) is None


def test_comfyui_s_diffusion_models_folder_lists_transformer_files_with_their_family(tiny_dir, tmp_path):
    (tmp_path / "diffusion_models").mkdir()
    shutil.copy(tiny_dir / "flux-tiny-Q8_0.gguf", tmp_path / "diffusion_models" / "my-flux-Q8_0.gguf")
    (tmp_path / "unet").mkdir()  # ComfyUI's older name for the same folder
    shutil.copy(tiny_dir / "flux-tiny-transformer.safetensors", tmp_path / "unet" / "flux-finetune.safetensors")
    library = Library()
    library.add_folders([tmp_path])
    choices = dict((name, label) for label, name in library.model_choices())
    assert choices == {"my-flux-Q8_0.gguf": "FLUX.1 · my-flux-Q8_0.gguf",
                       "flux-finetune.safetensors": "FLUX.1 · flux-finetune.safetensors"}


def test_flux_schnell_is_told_from_its_missing_guidance_input_and_gets_few_step_defaults(engine, tiny_dir, tmp_path):
    schnell = tmp_path / "flux-schnell-like"
    shutil.copytree(tiny_dir / "flux-tiny", schnell)
    config_file = schnell / "transformer" / "config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "guidance_embeds": False}))
    assert timestep_distilled(ModelEntry(name="s", source=str(schnell)))
    assert not timestep_distilled(ModelEntry(name="d", source=str(tiny_dir / "flux-tiny")))
    dev = engine.model_facts("tiny-flux")
    assert (dev.family, dev.default_steps, dev.default_guidance, dev.default_sampler) == ("flux", 28, 3.5, "Euler")
    engine.library.models["schnell-like"] = ModelEntry(name="schnell-like", source=str(schnell))
    try:
        facts = engine.model_facts("schnell-like")
    finally:
        del engine.library.models["schnell-like"]
    assert (facts.default_steps, facts.default_guidance, facts.default_sampler) == (4, 0.0, "Euler")
    engine.library.models["schnell-like"] = ModelEntry(name="schnell-like", source=str(schnell), default_size=64)
    try:
        made = make(engine, model="schnell-like", steps=2)
    finally:
        del engine.library.models["schnell-like"]
    assert "Distilled" not in made.infotexts[0]  # it reads no guidance: Forge writes none


@pytest.mark.parametrize("model", ["tiny-flux", "tiny-sd3"])
def test_each_family_paints_every_task_and_a_seed_paints_the_same_picture_again(engine, model, photo, square_mask):
    for task in TASKS:
        fields = dict(model=model, task=task, **task_fields(task, photo, square_mask))
        first, again, other = make(engine, **fields), make(engine, **fields), make(engine, **{**fields, "seed": 4})
        assert first.images[0].size == (64, 64)
        assert np.array_equal(pixels(first), pixels(again)), task
        assert not np.array_equal(pixels(first), pixels(other)), task
        assert first.parameters["family"] == model.split("-")[1]
        if task == "inpaint":  # outside the mask the picture is kept
            kept = pixels(first)[:8, :8]
            assert np.abs(kept - np.asarray(photo)[:8, :8].astype(int)).max() <= 2


def test_the_parameters_remake_the_picture_through_png_info(engine):
    first = make(engine, guidance_scale=2.5, prompt="a red fox")
    parsed = parse_parameters(first.infotexts[0])
    # Forge's names for FLUX: its true CFG is off (1), the distilled guidance is what was set
    assert "CFG scale: 1, Distilled CFG Scale: 2.5" in first.infotexts[0]
    assert parsed["cfg_scale"] == 2.5 and parsed["sampler"] == "Euler"
    again = make(engine, prompt=parsed["prompt"], seed=parsed["seed"], steps=parsed["steps"],
                 guidance_scale=parsed["cfg_scale"], sampler=parsed["sampler"], width=parsed["width"],
                 height=parsed["height"])
    assert np.array_equal(pixels(first), pixels(again))
    sd3 = make(engine, model="tiny-sd3", guidance_scale=4.5)
    assert "CFG scale: 4.5" in sd3.infotexts[0] and "Distilled" not in sd3.infotexts[0]


def test_guidance_changes_a_flux_picture_and_the_negative_prompt_an_sd3_one(engine):
    assert not np.array_equal(pixels(make(engine, guidance_scale=1.0)), pixels(make(engine, guidance_scale=6.0)))
    plain = make(engine, model="tiny-sd3", guidance_scale=5.0)
    negative = make(engine, model="tiny-sd3", guidance_scale=5.0, negative_prompt="blurry, dark")
    assert not np.array_equal(pixels(plain), pixels(negative))
    flux = make(engine, negative_prompt="blurry")
    assert any(w.startswith("negative_prompt: FLUX.1 reads no negative prompt") for w in flux.warnings)


def test_an_sd_sampler_gives_way_to_flow_matching_euler_and_says_so(engine):
    asked = make(engine, sampler="DPM++ 2M Karras")
    assert np.array_equal(pixels(asked), pixels(make(engine, sampler="Euler")))
    assert "Sampler: Euler, " in asked.infotexts[0]
    assert any(w.startswith("sampler: tiny-flux is FLUX.1, a flow-matching model: it samples with Euler, not DPM++ 2M "
                            "Karras, so Euler was used") for w in asked.warnings)


def test_what_t5_does_not_read_is_said_next_to_the_picture(engine):
    weighted = make(engine, prompt="a (red:1.3) fox [in snow]")
    plain = make(engine, prompt="a red fox in snow")
    assert np.array_equal(pixels(weighted), pixels(plain))  # the words at weight 1
    assert any("weights, brackets and BREAK are not applied on FLUX.1" in w for w in weighted.warnings)
    long = make(engine, prompt="fox " * 200)  # 800 characters: one T5 token each in the tiny vocabulary
    assert any(w.startswith("prompt: ") and "T5 tokens, FLUX.1 reads 512; the rest was cut off" in w
               for w in long.warnings)


def test_live_previews_show_the_16_channel_latents(engine):
    for model in ("tiny-flux", "tiny-sd3"):
        previews = []
        make(engine, model=model, steps=3, on_preview=previews.append)
        # the tiny autoencoder's picture of the 8x8 latent (FLUX's unpacked from patches), at the picture's size
        assert previews and previews[0].size == (64, 64)


@pytest.mark.parametrize("model,fmt", [("tiny-flux-fp8", "fp8 storage"), ("tiny-flux-gguf", "GGUF Q8_0")])
def test_a_quantized_model_paints_the_same_picture_in_every_offload_mode(make_manager, model, fmt):
    results = {}
    for mode in ("none", "model", "sequential"):
        manager = make_manager(offload=mode, watermark=False, content_credentials=False)
        result = manager.generate(GenerationRequest(model=model, prompt="a fox", seed=5, steps=2))
        assert result.offload_mode == mode
        results[mode] = pixels(result)
        rows = {row["component"]: row for row in manager.status()["components"]}
        assert rows["transformer"]["format"] == fmt
        assert rows["vae"]["format"] == str(manager.dtype).removeprefix("torch.")  # the engine's own
        # again after the offload hooks are gone: the weights are still stored as they were
        assert np.array_equal(pixels(manager.generate(GenerationRequest(model=model, prompt="a fox", seed=5,
                                                                        steps=2))), results[mode])
    assert np.array_equal(results["none"], results["model"]) and np.array_equal(results["none"], results["sequential"])


def test_the_residency_counts_quantized_weights_real_bytes(engine):
    make(engine, model="tiny-flux")
    make(engine, model="tiny-flux-fp8")
    make(engine, model="tiny-flux-gguf")
    sizes = {row["model"]: row["bytes"] for row in engine.status()["components"] if row["component"] == "transformer"}
    as_fp32 = sizes["tiny-flux"] * 4 / engine.dtype.itemsize  # the engine computes in bf16 where the CPU has it
    assert sizes["tiny-flux-gguf"] < as_fp32 * 0.4  # Q8_0: a byte and a bit per weight, not four
    assert sizes["tiny-flux-fp8"] < as_fp32 * 0.6  # one byte per matrix weight; norms stay in the engine's format


def test_the_transformer_file_is_completed_with_its_configs_other_parts(engine):
    alone, folder = make(engine, model="tiny-flux-transformer"), make(engine, model="tiny-flux")
    assert np.array_equal(pixels(alone), pixels(folder))  # the same weights, from a single file
    assert "Model hash: " in alone.infotexts[0]


@pytest.mark.parametrize("available,cuda,expected", [(False, False, "bitsandbytes package"),
                                                    (True, False, "needs an NVIDIA GPU"), (True, True, None)])
def test_nf4_is_used_only_where_bitsandbytes_can_compute_it(monkeypatch, available, cuda, expected):
    monkeypatch.setattr(quantization.importlib.util, "find_spec",
                        lambda name: object() if available or name != "bitsandbytes" else None)
    monkeypatch.setattr(quantization.torch.cuda, "is_available", lambda: cuda)
    fmt, note = quantization.resolve("nf4", "quantize")
    if expected is None:
        assert (fmt, note) == ("nf4", None)
    else:
        assert fmt == "fp8" and expected in note and note.startswith("quantize: ")


def test_nf4_on_this_machine_falls_back_to_fp8_and_says_so_with_each_picture(make_manager, tiny_dir, monkeypatch):
    monkeypatch.setattr(quantization.torch.cuda, "is_available", lambda: False)
    manager = make_manager(watermark=False, content_credentials=False)
    manager.library.models["flux-nf4"] = ModelEntry(name="flux-nf4", source=str(tiny_dir / "flux-tiny"),
                                                    quantize="nf4", default_size=64)
    result = manager.generate(GenerationRequest(model="flux-nf4", prompt="a fox", seed=5, steps=2))
    assert any(w.startswith("quantize: NF4 needs") and "stored in fp8 instead" in w for w in result.warnings)
    rows = [r for r in manager.status()["components"] if r["model"] == "flux-nf4" and r["component"] == "transformer"]
    assert rows[0]["format"] == "fp8 storage"


def test_t5_is_quantized_on_its_own_when_asked(make_manager, tiny_dir):
    manager = make_manager(watermark=False, content_credentials=False, quantize="fp8")
    manager.library.models["sd3-t5-fp8"] = ModelEntry(name="sd3-t5-fp8", source=str(tiny_dir / "sd3-tiny"),
                                                      quantize_text_encoder="fp8", default_size=64)
    manager.generate(GenerationRequest(model="sd3-t5-fp8", prompt="a fox", seed=5, steps=2))
    formats = {r["component"]: r["format"] for r in manager.status()["components"]}
    # --quantize fp8 for the transformer, the entry's own for T5; the CLIP encoders as they were
    own = str(manager.dtype).removeprefix("torch.")
    assert formats == {"transformer": "fp8 storage", "text_encoder_3": "fp8 storage", "text_encoder": own,
                       "text_encoder_2": own, "vae": own}


def test_a_flux_lora_changes_the_picture_and_is_left_out_of_other_families(engine):
    plain, with_lora = make(engine), make(engine, prompt="a fox in snow <lora:flux-tiny-lora:1>")
    assert not np.array_equal(pixels(plain), pixels(with_lora))
    assert 'Lora hashes: "flux-tiny-lora: ' in with_lora.infotexts[0]
    assert np.array_equal(pixels(make(engine)), pixels(plain))  # taken out again after the run
    on_sd3 = make(engine, model="tiny-sd3", prompt="a fox <lora:flux-tiny-lora:1>")
    assert any("the LoRA flux-tiny-lora is for FLUX.1 but the model tiny-sd3 is SD 3.x" in w for w in on_sd3.warnings)
    sd15_lora_on_flux = make(engine, prompt="a fox <lora:tiny-lora:1>")
    # the tiny SD 1.x LoRA's text features are 32 wide (a real one's 768: "SD 1.x")
    assert any("the LoRA tiny-lora is for a model with 32-wide text features but the model tiny-flux is FLUX.1" in w
               for w in sd15_lora_on_flux.warnings)


def edges():
    picture = Image.new("RGB", (64, 64), (20, 20, 20))
    picture.paste((240, 240, 240), (12, 12, 44, 44))
    return picture


@pytest.mark.parametrize("task", TASKS)
def test_a_flux_controlnet_steers_every_task(engine, task, photo, square_mask):
    fields = {"image": photo, "strength": 0.6} if task == "img2img" else {}
    if task == "inpaint":
        fields = {"image": photo, "mask": square_mask, "strength": 0.9}

    def run(scale):
        unit = ControlUnit(control_type="canny", image=edges(), conditioning_scale=scale)
        return make(engine, task="controlnet", control_units=[unit], **fields)

    steered, weak = run(1.0), run(0.0)
    assert not np.array_equal(pixels(steered), pixels(weak))
    assert 'ControlNet 0: "Module: canny, Model: controlnet-flux-canny-tiny, Weight: 1' in steered.infotexts[0]


def test_a_flux_union_controlnet_and_an_sd3_controlnet(engine, photo):
    union = make(engine, task="controlnet", control_units=[ControlUnit(control_type="depth", image=edges(),
                                                                       preprocessor="none")])
    assert "Model: controlnet-flux-union-tiny" in union.infotexts[0]
    sd3 = make(engine, model="tiny-sd3", task="controlnet", control_units=[ControlUnit(control_type="canny",
                                                                                       image=edges())])
    assert "Model: controlnet-sd3-canny-tiny" in sd3.infotexts[0]
    with pytest.raises(InvalidRequest, match="SD 3.x's ControlNets paint from text only") as refused:
        make(engine, model="tiny-sd3", task="controlnet", image=photo, strength=0.5,
             control_units=[ControlUnit(control_type="canny", image=edges())])
    assert refused.value.field == "image"
    with pytest.raises(InvalidRequest) as refused:  # a UNet family's ControlNet type the library lacks for FLUX
        make(engine, task="controlnet", control_units=[ControlUnit(control_type="tile", image=edges())])
    assert refused.value.field == "control_type" and "for sd1" in str(refused.value)


def test_the_hires_fix_redraws_a_flux_picture_with_an_image_upscaler(engine):
    result = make(engine, hires=HiresFix(scale=2, upscaler="Lanczos", steps=2), strength=0.5)
    assert result.images[0].size == (128, 128)
    assert "Hires upscaler: Lanczos" in result.infotexts[0]


@pytest.mark.parametrize("fields,field", [
    ({"guidance_scale": 15}, "guidance_scale"),
    ({"tiling": True}, "tiling"),
    ({"freeu": True}, "freeu"),
    ({"image_prompts": [ImagePrompt(image=Image.new("RGB", (64, 64)))]}, "image_prompts"),
    ({"hires": HiresFix(scale=2)}, "hr_upscaler"),  # the Latent upscaler, A1111's default
    ({"refiner": "tiny-sdxl-refiner"}, "refiner"),
])
def test_what_a_transformer_model_cannot_do_is_refused_by_field(engine, fields, field):
    with pytest.raises(InvalidRequest) as refused:
        make(engine, **fields)
    assert refused.value.field == field
    assert make(engine).images  # and the next request is served


def test_a_gguf_file_of_another_architecture_and_an_unknown_quantization_are_refused_naming_them(
        make_manager, tiny_dir, tmp_path):
    import gguf

    writer = gguf.GGUFWriter(str(tmp_path / "llama.gguf"), "llama")  # a language model's tensors
    writer.add_tensor("blk.0.attn_q.weight", np.zeros((32, 32), dtype=np.float32))
    writer.write_header_to_file(), writer.write_kv_data_to_file(), writer.write_tensors_to_file(), writer.close()
    manager = make_manager(watermark=False, content_credentials=False)
    manager.library.models["llama"] = ModelEntry(name="llama", source=str(tmp_path / "llama.gguf"))
    manager.library.models["int3"] = ModelEntry(name="int3", source=str(tiny_dir / "flux-tiny"), quantize="int3")
    with pytest.raises(ModelLoadError, match="llama.gguf: its tensors are not those of a FLUX.1 or SD 3 transformer"):
        manager.generate(GenerationRequest(model="llama", prompt="a fox"))
    with pytest.raises(ModelLoadError, match="quantize: unknown quantization 'int3'; use one of none, fp8, nf4"):
        manager.generate(GenerationRequest(model="int3", prompt="a fox", width=64, height=64))


def test_a_gated_repo_names_the_licence_to_accept_and_the_token_to_set(monkeypatch):
    import huggingface_hub
    from huggingface_hub.errors import GatedRepoError

    from pipelines import loader

    import httpx

    def gated(*args, **kwargs):
        url = "https://huggingface.co/black-forest-labs/FLUX.1-dev"
        raise GatedRepoError("gated", response=httpx.Response(403, request=httpx.Request("GET", url)))

    monkeypatch.setattr(huggingface_hub, "snapshot_download", gated)
    with pytest.raises(ModelLoadError) as refused:
        loader.download("flux1-dev", "black-forest-labs/FLUX.1-dev", None, None, None)
    message = str(refused.value)
    assert "FLUX.1 [dev] Non-Commercial License" in message and "HF_TOKEN" in message
    assert "https://huggingface.co/black-forest-labs/FLUX.1-dev" in message

"""A tiny random-weight safety checker, in the layout the real one ships in, whose decision a test controls.

    write_tiny_safety_checker(folder, flag=True)    # every picture flagged
    write_tiny_safety_checker(folder, flag=False)   # no picture flagged

The checker is diffusers' `StableDiffusionSafetyChecker` over a tiny CLIP vision tower (hidden 32, 2 layers,
32 px pictures in 8 px patches, 16-wide projection) with its `CLIPImageProcessor`, saved as safetensors, so
safety_checker.py loads it by exactly the code path of the real one. The decision stays the model's own: a
picture is flagged when the cosine similarity of its embedding to a concept embedding exceeds that concept's
threshold. Cosines lie in [-1, 1], so thresholds outside that range fix the outcome for every picture
while the whole computation (preprocessing, vision tower, projection, similarities) still runs.
"""

from __future__ import annotations

from pathlib import Path

IMAGE_SIZE = 32
PROJECTION_DIM = 16
CONCEPTS, SPECIAL_CARE = 17, 3  # as many concept embeddings as the real checker has
ALWAYS, NEVER = -2.0, 2.0  # thresholds below and above every possible cosine similarity
LAYOUTS = ("pipeline", "repo")  # safety_checker/ + feature_extractor/ as in a pipeline repo, or all at the top

# CLIP's own normalisation, as the real checker's preprocessor_config.json has it
_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def _config():
    from transformers import CLIPConfig

    tower = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2)
    # The checker reads the vision tower only; CLIPConfig needs a text config too, as tiny.
    text = dict(tower, vocab_size=99, max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    return CLIPConfig(text_config=text,
                      vision_config=dict(tower, image_size=IMAGE_SIZE, patch_size=8),
                      projection_dim=PROJECTION_DIM)


def build_tiny_safety_checker(flag: bool):
    """The model, with random concept embeddings and thresholds that flag every picture (or none)."""
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker

    # A fixed seed makes the weights the same on every machine; forked, so the caller's random state is untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = StableDiffusionSafetyChecker(_config())
        with torch.no_grad():
            model.concept_embeds.copy_(torch.randn(CONCEPTS, PROJECTION_DIM))
            model.special_care_embeds.copy_(torch.randn(SPECIAL_CARE, PROJECTION_DIM))
            model.concept_embeds_weights.fill_(ALWAYS if flag else NEVER)
            # Special care only nudges the concept scores by 0.01: kept out, the outcome depends on one threshold.
            model.special_care_embeds_weights.fill_(NEVER)
    return model.eval()


def build_feature_extractor():
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
                              do_center_crop=True, image_mean=_CLIP_MEAN, image_std=_CLIP_STD)


def write_tiny_safety_checker(folder: str | Path, flag: bool, layout: str = "pipeline") -> Path:
    """Write the tiny checker under `folder` and return `folder`, the path to give the loader."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout: unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    folder = Path(folder)
    model_dir = folder / "safety_checker" if layout == "pipeline" else folder
    extractor_dir = folder / "feature_extractor" if layout == "pipeline" else folder
    build_tiny_safety_checker(flag).save_pretrained(model_dir, safe_serialization=True)
    build_feature_extractor().save_pretrained(extractor_dir)
    return folder

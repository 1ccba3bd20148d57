"""The weights of full-size FLUX.1 and SD 3.5 Large per storage format, and what has to fit on the GPU at once.

    python -m benchmarks.transformer_memory

The models are built on torch's meta device from diffusers' and transformers' own classes with the published
configs (no weights, no memory, seconds on a CPU), quantized the way Easel quantizes them where that works on meta
tensors (fp8: diffusers' layerwise casting, so the layers it keeps in bf16 are counted as such), and their bytes
counted as the residency counts them. GGUF and NF4 bytes follow their block layouts (Q8_0: 34 bytes per 32 weights,
Q4_K: 144 per 256, NF4: half a byte per weight plus one fp32 scale per 64). These are weights only: activations,
the VAE decode and the allocator's slack come on top, which is why the engine keeps a working reserve
(--working-reserve, 2 GB by default). Measured peak memory needs a GPU (benchmarks.gpu_engine).
"""

from __future__ import annotations

import torch

GIB = 2**30
# diffusers' published configs of the full-size transformers (black-forest-labs/FLUX.1-dev, stabilityai/stable-diffusion-3.5-large)
FLUX = dict(patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128,
            num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768, guidance_embeds=True,
            axes_dims_rope=(16, 56, 56))
SD35_LARGE = dict(sample_size=128, patch_size=2, in_channels=16, num_layers=38, attention_head_dim=64,
                  num_attention_heads=38, joint_attention_dim=4096, caption_projection_dim=2432,
                  pooled_projection_dim=2048, out_channels=16, pos_embed_max_size=192, qk_norm="rms_norm")
T5_XXL = dict(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
              feed_forward_proj="gated-gelu", relative_attention_num_buckets=32)


def _on_meta(build):
    with torch.device("meta"):
        return build()


def _matrix_weights(module) -> tuple[int, int]:
    """(weights in matrices that block quantizers pack, all other weights)."""
    packed = sum(p.numel() for p in module.parameters() if p.ndim == 2 and p.shape[1] % 32 == 0)
    return packed, sum(p.numel() for p in module.parameters()) - packed


def sizes(build) -> dict[str, float]:
    from pipelines.quantization import store_fp8
    from pipelines.residency import module_bytes

    model = _on_meta(build).to(torch.bfloat16)
    packed, rest = _matrix_weights(model)
    row = {"bf16": module_bytes(model) / GIB}
    store_fp8(model, torch.bfloat16)
    row["fp8 storage"] = module_bytes(model) / GIB
    row["GGUF Q8_0"] = (packed * 34 / 32 + rest * 2) / GIB
    row["GGUF Q4_K"] = (packed * 144 / 256 + rest * 2) / GIB
    row["NF4"] = (packed * (0.5 + 4 / 64) + rest * 2) / GIB
    return row


def main() -> None:
    from diffusers import FluxTransformer2DModel, SD3Transformer2DModel
    from transformers import T5Config, T5EncoderModel

    models = {"FLUX.1 transformer (12B)": lambda: FluxTransformer2DModel(**FLUX),
              "SD 3.5 Large transformer (8B)": lambda: SD3Transformer2DModel(**SD35_LARGE),
              "T5-XXL encoder (4.7B)": lambda: T5EncoderModel(T5Config(**T5_XXL))}
    rows = {name: sizes(build) for name, build in models.items()}
    formats = list(next(iter(rows.values())))
    print(f"| weights, GiB | {' | '.join(formats)} |")
    print("|---|" + "---|" * len(formats))
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(f"{row[f]:.1f}" for f in formats) + " |")
    print("\nWith model offload one component is on the GPU at a time: the largest one, plus the working reserve,"
          " must fit the budget.")


if __name__ == "__main__":
    main()

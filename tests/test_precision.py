"""`--dtype auto` takes the number format the hardware computes fastest, decided from what torch reports; the
decision is checked here with the capability mocked both ways, and shows in the Models tab and the parameters."""

from __future__ import annotations

import pytest
import torch

from pipelines.devices import auto_dtype, resolve_dtype
from pipelines.request import GenerationRequest


def _cpu(monkeypatch, avx512_bf16: bool, amx: bool = False) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)


@pytest.mark.parametrize(("avx512_bf16", "amx", "expected", "named"), [
    (True, False, torch.bfloat16, "AVX-512 BF16"), (False, True, torch.bfloat16, "AMX"),
    (False, False, torch.float32, "no native bf16")])
def test_a_cpu_computes_in_bf16_only_where_it_has_the_instructions(monkeypatch, avx512_bf16, amx, expected, named):
    _cpu(monkeypatch, avx512_bf16, amx)
    assert resolve_dtype(torch.device("cpu")) == expected
    assert named in auto_dtype(torch.device("cpu"))[1]
    assert resolve_dtype(torch.device("cpu"), "fp32") == torch.float32  # a format asked for is kept


@pytest.mark.parametrize(("capability", "expected"), [((9, 0), torch.bfloat16), ((8, 6), torch.bfloat16),
                                                      ((7, 5), torch.float16)])
def test_a_gpu_computes_in_bf16_where_it_is_as_fast_as_fp16(monkeypatch, capability, expected):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert resolve_dtype(torch.device("cuda", 0)) == expected
    assert resolve_dtype(torch.device("mps")) == torch.float16


@pytest.mark.parametrize(("native", "shown"), [(True, "bf16"), (False, "fp32")])
def test_the_choice_is_the_engines_and_shows_in_the_models_tab_and_the_parameters(monkeypatch, make_manager, native,
                                                                                  shown):
    from ui.models import engine_report

    _cpu(monkeypatch, native)
    manager = make_manager(device="cpu")
    result = manager.generate(GenerationRequest(prompt="a lighthouse", steps=2, seed=3, width=64, height=64))
    unet = manager.cache.get("base:tiny-sd15").pipeline.unet
    assert {p.dtype for p in unet.parameters()} == {resolve_dtype(torch.device("cpu"), shown)}
    assert f"Precision: {shown}" in result.infotexts[0]
    report = engine_report(manager.status())
    assert f"**Precision** {shown}: this CPU" in report
    assert result.images[0].size == (64, 64)

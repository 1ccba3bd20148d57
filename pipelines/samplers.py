"""Samplers by the names users know from AUTOMATIC1111, mapped to diffusers schedulers."""

from __future__ import annotations

import importlib

# name -> (diffusers scheduler class, settings on top of the model's own scheduler config). Class names,
# not classes: the page lists samplers before diffusers is imported (it takes seconds; see pipelines/lazy.py).
SAMPLERS = {
    "Euler": ("EulerDiscreteScheduler", {}),
    "Euler a": ("EulerAncestralDiscreteScheduler", {}),
    "Heun": ("HeunDiscreteScheduler", {}),
    "LMS": ("LMSDiscreteScheduler", {}),
    "DPM++ 2M": ("DPMSolverMultistepScheduler", {}),
    "DPM++ 2M Karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "DPM++ 2M SDE": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++"}),
    "DPM++ 2M SDE Karras": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "use_karras_sigmas": True}),
    "DDIM": ("DDIMScheduler", {}),
    "UniPC": ("UniPCMultistepScheduler", {}),
    "LCM": ("LCMScheduler", {}),
}


def make_scheduler(name: str, model_config: dict, few_step: bool = False):
    """A fresh scheduler for one run: schedulers keep state between steps, so runs never share one."""
    if model_config.get("_class_name") == "FlowMatchEulerDiscreteScheduler":  # SD 3, FLUX: validated to "Euler"
        from .flow_families import scheduler

        return scheduler(model_config)
    class_name, settings = SAMPLERS[name]
    cls = getattr(importlib.import_module("diffusers"), class_name)
    settings = dict(settings)
    if few_step:
        # Turbo and LCM models are trained on the last timesteps: "trailing" spacing starts there.
        settings["timestep_spacing"] = "trailing"
    return cls.from_config(model_config, **settings)

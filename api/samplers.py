"""A1111's sampler and scheduler names, mapped onto Easel's samplers.

A1111 1.10 names a sampler and its noise schedule apart ("DPM++ 2M" + "Karras"); older versions and
many clients join them ("DPM++ 2M Karras"), and some send k-diffusion aliases ("k_euler_a"). Easel's
samplers (pipelines/samplers.py) are the joined names. A sampler Easel does not have is passed on as
it was sent, so that the engine's validation refuses it and lists the ones it has.
"""

from __future__ import annotations

from pipelines import SAMPLERS

ALIASES = {
    "Euler": ["k_euler"], "Euler a": ["k_euler_a", "k_euler_ancestral"], "Heun": ["k_heun"], "LMS": ["k_lms"],
    "DPM++ 2M": ["k_dpmpp_2m"], "DPM++ 2M SDE": ["k_dpmpp_2m_sde"], "DDIM": ["ddim"], "UniPC": ["unipc"],
    "LCM": ["k_lcm"],
}
KARRAS_VARIANTS = {"DPM++ 2M": "DPM++ 2M Karras", "DPM++ 2M SDE": "DPM++ 2M SDE Karras"}
AUTOMATIC_IS_KARRAS = {"DPM++ 2M"}  # A1111's "Automatic" schedule for these samplers is Karras

# The schedules Easel has: a sampler's own, and Karras sigmas where a Karras variant exists.
SCHEDULERS = [
    {"name": "automatic", "label": "Automatic", "aliases": None, "default_rho": -1, "need_inner_model": False},
    {"name": "karras", "label": "Karras", "aliases": None, "default_rho": 7.0, "need_inner_model": False},
]
# A1111's other schedules: recognised, but Easel runs the sampler's own schedule instead (and says so).
OTHER_SCHEDULERS = {"uniform", "exponential", "polyexponential", "sgm_uniform", "sgmuniform", "sgm uniform",
                    "kl_optimal", "kl optimal", "align_your_steps", "align your steps", "simple", "normal", "ddim",
                    "beta"}

_BY_LOWER_NAME = {name.lower(): name for name in SAMPLERS}
_BY_ALIAS = {alias: name for name, aliases in ALIASES.items() for alias in aliases}


def sampler_list() -> list[dict]:
    """GET /sdapi/v1/samplers: Easel's samplers, with A1111's aliases and schedule option."""
    return [{"name": name, "aliases": ALIASES.get(name, []),
             "options": {"scheduler": "karras"} if name.endswith(" Karras") else {}} for name in SAMPLERS]


def easel_sampler(name: str | None, scheduler: str | None, warnings: list[str]) -> str | None:
    """Easel's sampler for an A1111 sampler and scheduler; None: the model's default. May raise ValueError for
    an unknown scheduler (the caller names the field)."""
    if not name:
        return None
    name = name.strip()
    sampler = _known(name)
    if sampler is None:  # "Euler a Karras": a sampler with a schedule label joined to it
        head, _, tail = name.rpartition(" ")
        if head and _known(head) and _schedule(tail) is not None:
            sampler, scheduler = _known(head), tail
    if sampler is None:
        return name  # unknown: the engine refuses it and lists Easel's samplers
    if sampler.endswith(" Karras"):
        return sampler
    schedule = _schedule(scheduler or "automatic")
    if schedule is None:
        raise ValueError(f"unknown scheduler {scheduler!r}; choose one of: "
                         + ", ".join(s["label"] for s in SCHEDULERS))
    if schedule == "other":
        warnings.append(f"scheduler: {scheduler} is not available in Easel; {sampler} ran with its own schedule")
        return sampler
    if schedule == "karras" or (schedule == "automatic" and sampler in AUTOMATIC_IS_KARRAS):
        if sampler in KARRAS_VARIANTS:
            return KARRAS_VARIANTS[sampler]
        if schedule == "karras":
            warnings.append(f"scheduler: Karras is not available with {sampler} in Easel; it ran with its own schedule")
    return sampler


def _known(name: str) -> str | None:
    return _BY_LOWER_NAME.get(name.lower()) or _BY_ALIAS.get(name.lower())


def _schedule(text: str) -> str | None:
    """'automatic', 'karras', 'other' (an A1111 schedule Easel lacks) or None (not a schedule at all)."""
    text = text.strip().lower()
    if text in ("", "automatic"):
        return "automatic"
    if text == "karras":
        return "karras"
    return "other" if text in OTHER_SCHEDULERS else None

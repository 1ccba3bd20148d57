"""The PipelineManager: the one object every front end calls to generate.

It keeps loaded models in a RAM cache under a byte budget, derives task pipelines from one set of
weights per base model (tasks.py), places what a run needs on the device under a memory budget
(residency.py), runs one generation per device at a time, and turns an out-of-memory error into a
more frugal retry. The device lock is held for the whole run and always released.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch
from PIL import Image

from . import control, detailer, extras, face_restoration, hires, lora, networks, prompt_encoding, provenance, safety_checker
from . import flow_families, freeu, ip_adapter, refiner, series, styles, tiling, upscalers, vae, variation, wildcards, xyz_plot
from . import compilation, fast_decode, feature_cache
from . import embeddings as embedding_files
from .control import blur_mask
from .catalog import FAMILIES, TURBO_GUIDANCE, TURBO_SAMPLER, TURBO_STEPS, ControlNetEntry, Library, ModelEntry
from .content_credentials import ContentCredentials
from .devices import auto_dtype, is_out_of_memory, release_cached_memory, resolve_device, resolve_dtype
from .errors import InvalidRequest, ModelLoadError, OutOfMemory
from .loader import LoadedBase, load_base, load_controlnet
from .model_sources import locate, peek, timestep_distilled
from .model_cache import CachedModel, ModelCache
from .preview import latents_to_preview
from .request import MAX_SEED, CancelToken, ExtrasRequest, GenerationRequest, GenerationResult, ModelFacts, StepInfo
from .residency import Residency, apply_offload, module_bytes
from .samplers import SAMPLERS, make_scheduler
from .engine_settings import EngineSettings
from .tasks import call_arguments, make_view
from .metadata import format_parameters, read_parameters
from .validation import series_numbers, validate, validate_extras, validate_plot
from .version import VERSION  # the one place it is written; others import it from here

log = logging.getLogger(__name__)

BASE_ROLES = ("unet", "transformer", "vae", "text_encoder", "text_encoder_2", "text_encoder_3", "safety_checker")


class PipelineManager:
    def __init__(self, library: Library | None = None, settings: EngineSettings | None = None):
        import psutil

        self.library = library or Library.builtin()
        self.settings = settings or EngineSettings()
        self.device = resolve_device(self.settings.device)
        self.dtype = resolve_dtype(self.device, self.settings.dtype)
        self.dtype_reason = auto_dtype(self.device)[1] if self.settings.dtype == "auto" else "chosen with --dtype"
        ram_budget = self.settings.ram_budget
        if ram_budget is None:
            ram_budget = psutil.virtual_memory().total // 2
        self.residency = Residency(self.device, self.settings.vram_budget, self.settings.working_reserve,
                                   self.settings.offload, pin=self.settings.pin_memory)
        self.cache = ModelCache(ram_budget, on_drop=self._forget)
        self.maps = control.MapCache()
        self._views: dict[tuple, object] = {}
        self._lock = threading.RLock()  # one generation per device at a time
        self.busy = False
        self.last_run: dict = {}
        # Loading progress ("downloading sd15: 40 %") for whoever is waiting; set per call.
        self._load_progress: Callable[[str], None] | None = None
        self._used_by_run: set[str] = set()  # cache keys of the models the current run uses
        self._previewer = None  # the current run's tiny autoencoder for live previews (fast_decode.py), if any
        self._depth = 0  # how deep the device lock is held by this thread
        self.compiler = (compilation.Compiler(self.settings.compile_cache or Path.home() / ".cache" / "easel" / "compile")
                         if compilation.wanted(self.settings.compile, self.device) else None)
        self.credentials = (ContentCredentials(self.settings.credentials_dir, VERSION, self.settings.signing_key,
                                               self.settings.signing_chain)
                            if self.settings.content_credentials else None)

    # --- what the front ends ask -----------------------------------------------------------------

    def samplers(self) -> list[str]:
        return list(SAMPLERS)

    def model_names(self) -> list[str]:
        return list(self.library.models)

    def model_facts(self, name: str | None) -> ModelFacts:
        """Family and defaults of a model, from its configs if it is not loaded yet (loading it if need be)."""
        return self._facts_of(self._entry(name))

    def _facts_of(self, entry: ModelEntry) -> ModelFacts:
        cached = self.cache.get(f"base:{entry.name}")
        known = (cached.family, cached.inpainting) if cached else peek(entry)
        if known is None:  # a hub model not downloaded yet: its configs come with it
            with self._holding_device():
                cached = self._base(entry)
            known = (cached.family, cached.inpainting)
        # FLUX.1 schnell is told by its transformer: the loaded one's config, else its files (read once per request)
        few_step = entry.turbo or (known[0] == "flux" and (
            flow_families.few_step("flux", dict(cached.pipeline.transformer.config)) if cached
            else timestep_distilled(entry)))
        return self._facts(entry, *known, few_step)

    def control_types(self, name: str | None) -> list[str]:
        """The ControlNet types the library has for this model's family: what a UI should offer."""
        facts = self.model_facts(name)
        return sorted(t for t, families in facts.control_types.items() if facts.family in families)

    def generate(self, request: GenerationRequest, on_step: Callable[[StepInfo], None] | None = None,
                 on_preview: Callable | None = None, cancel: CancelToken | None = None,
                 on_status: Callable[[str], None] | None = None) -> GenerationResult:
        """Run one request. Raises InvalidRequest, ModelLoadError, GenerationCancelled or OutOfMemory."""
        cancel = cancel or CancelToken()
        if request.plot is not None:  # one run per cell, each through this method, then the grid
            axes = validate_plot(request.plot, request, self._plot_choices(), self.settings.limits)
            return xyz_plot.run(request, axes, lambda one, step: self.generate(one, step, on_preview, cancel, on_status),
                                lambda one: self._validated(one, self._entry(one.model)), self._marked, on_step)
        if wildcards.uses_wildcards(request):  # a prompt drawn per picture: each picture is a run of its own
            batch, seed, subseed, strength = series_numbers(request, self.settings.limits)
            seed = seed if seed >= 0 else random.randrange(MAX_SEED - batch)
            if subseed < 0 and strength > 0:
                subseed = random.randrange(MAX_SEED - batch)
            requests = wildcards.per_picture(dataclasses.replace(request, batch_size=batch), seed, subseed,
                                             self.library.wildcards_folder())
            return series.run(requests, lambda one, step: self._generate(one, step, on_preview, cancel, on_status),
                              on_step)
        return self._generate(request, on_step, on_preview, cancel, on_status)

    def _generate(self, request: GenerationRequest, on_step, on_preview, cancel: CancelToken, on_status) -> GenerationResult:
        started = time.perf_counter()
        entry = self._entry(request.model)  # the request's model, resolved once for the whole run
        facts = self._facts_of(entry)
        resolved, warnings = self._validated(request, entry)
        resolved = styles.with_styles(resolved, self.library.styles(), warnings)  # before all else, as in A1111
        seed = resolved.seed if resolved.seed >= 0 else random.randrange(MAX_SEED - resolved.batch_size)
        if resolved.subseed < 0 and resolved.subseed_strength > 0:  # as A1111: a random variation seed
            resolved.subseed = random.randrange(MAX_SEED - resolved.batch_size)
        with self._holding_device():
            self.busy = True
            self._load_progress = on_status
            try:
                cancel.raise_if_cancelled()
                load_started = time.perf_counter()
                base = self._base(self._task_model(entry, resolved.task))
                refiner_base = self._refiner(resolved.refiner) if resolved.refiner else None
                extras = networks.prepare(resolved.prompt, resolved.negative_prompt, self.library, base,
                                          self._lora_file, embedding_files.read, resolved.steps)
                warnings += base.notes + extras.warnings
                extras.image_prompts = self._image_prompts(resolved, base)
                controlnets, union_modes, controlnet_names = self._controlnets(resolved, facts)
                maps = [self._control_map(unit, resolved, seed) for unit in resolved.control_units]
                chosen_vae = self._chosen_vae(resolved.vae, base) if resolved.vae else None
                if on_preview is not None or resolved.decode == "fast":  # TAESD previews when it is on this machine
                    self._previewer = self._fast_decoder(base.family, needed=resolved.decode == "fast")
                if resolved.decode == "fast":  # the tiny autoencoder stands in for the VAE in this run
                    if chosen_vae is not None:
                        warnings.append(f"vae: {resolved.vae} is not used: the picture is decoded fast, by "
                                        f"{fast_decode.LABEL}; decode in full to use it")
                    chosen_vae = self._previewer
                view = self._view(base, resolved, controlnets, chosen_vae)
                load_seconds = time.perf_counter() - load_started
                cancel.raise_if_cancelled()

                def run_pass(pass_request, pass_on_step, latents=False, prompts=None, pass_seed=None, pass_base=None,
                             arguments=None):
                    # another base (the refiner) brings its own modules: not this model's ControlNets or VAE
                    own = pass_base is None or pass_base is base
                    pass_base = base if own else pass_base
                    pass_view = self._view(pass_base, pass_request, controlnets if own else [],
                                           chosen_vae if own else None)
                    pass_extras = extras if prompts is None else dataclasses.replace(extras, prompt=prompts[0],
                                                                                     negative=prompts[1])
                    if not own:  # the reference pictures' adapters fit this model's UNet, not the refiner's
                        pass_extras = dataclasses.replace(pass_extras, image_prompts=None)
                    return self._run(pass_view, pass_base, pass_request, maps, union_modes,
                                     seed if pass_seed is None else pass_seed, pass_on_step, on_preview, cancel,
                                     pass_extras, latents, arguments)

                with networks.applied(base, extras):
                    if resolved.detailer is not None and resolved.detailer.skip_img2img:
                        # ADetailer's "skip img2img": the starting picture is detailed as it is
                        images = [resolved.image.copy() for _ in range(resolved.batch_size)]
                        timings, mode, fallbacks, nsfw = {"denoise": 0.0, "decode": 0.0}, "none", [], [False] * len(images)
                    elif refiner_base is not None and resolved.hires is None:  # the last steps on the refiner's weights
                        images, timings, mode, fallbacks, nsfw = refiner.run(resolved, run_pass, refiner_base, on_step)
                    elif resolved.hires is None:
                        images, timings, mode, fallbacks, nsfw = run_pass(resolved, on_step)
                    else:  # two passes over the same weights; the second on an image-to-image view
                        prompts = hires.second_prompts(resolved, extras, warnings)
                        finish = None if refiner_base is None else (  # the refiner finishes the second pass
                            lambda second, step, second_prompts: refiner.run(second, run_pass, refiner_base, step,
                                                                             second_prompts))
                        images, timings, mode, fallbacks, nsfw = hires.run(resolved, run_pass, self._upscaled,
                                                                           on_step, prompts, finish)
                    if resolved.restore_faces:  # A1111's order: the picture made, its faces restored, then detailed
                        images = self._restore_made(images, resolved, warnings)
                    if resolved.detailer is not None:  # each find redrawn on an inpaint view of the same weights
                        images, detail_timings, detail_fallbacks, detail_mode = detailer.run(
                            resolved, images, [seed + i for i in range(len(images))], run_pass, on_step,
                            (extras.prompt, extras.negative), warnings)
                        timings, mode = {**timings, **detail_timings}, detail_mode or mode
                        fallbacks += [f for f in detail_fallbacks if f not in fallbacks]
                flagged = [False] * len(images)
                if self.settings.safety_checker:  # every family, every door; never handed out unblurred
                    images, flagged = self._screen(images)
            finally:
                self.busy = False
                self._load_progress = None
                self._previewer = None
        if any(nsfw):
            warnings.append("the safety checker blanked a picture it judged not safe for work")
        if any(flagged):
            warnings.append(safety_checker.NOTICE)
        if self.compiler is not None:  # a failed compile: the pictures came eagerly, and the result says so
            fallbacks += [f for f in self.compiler.fallbacks(_denoiser(base)) if f not in fallbacks]
        images = self._marked(images)  # here, so that every door hands out marked pictures
        timings = {"load": round(load_seconds, 3), **timings, "total": round(time.perf_counter() - started, 3)}
        seeds = [seed + i for i in range(len(images))]
        vae_file = self.library.vaes()[resolved.vae].path if resolved.vae else None
        labels = {**provenance.labels(resolved, vae_file, extras.infotext, base.family),
                  **ip_adapter.labels(extras.image_prompts), **refiner.labels(resolved, refiner_base),
                  **flow_families.labels(resolved, base), **fast_decode.labels(resolved),
                  **feature_cache.labels(resolved.feature_cache), "Precision": self.dtype_name}
        infotexts = [provenance.infotext(resolved, entry.name, base.model_hash, s, fallbacks, controlnet_names,
                                         {**variation.labels(resolved, s - seed), **labels})
                     + (", Safety checker: blurred" if blurred else "") for s, blurred in zip(seeds, flagged)]
        self.last_run = {"mode": mode, "fallbacks": fallbacks, "timings": timings}
        parameters = {k: v for k, v in asdict(resolved).items()
                      if k not in ("image", "mask", "control_units", "image_prompts")}
        parameters.update(seed=seed, model=entry.name, family=base.family,
                          control_units=[{k: v for k, v in asdict(u).items() if k != "image"} for u in resolved.control_units])
        made_with = provenance.made_with(resolved, entry, base, view.scheduler, controlnet_names, maps, mode,
                                         fallbacks, self.settings.watermark, labels)
        records = [provenance.make_record(image, {**parameters, "seed": s, "safety_checker_blurred": blurred}, made_with)
                   for image, s, blurred in zip(images, seeds, flagged)]
        return GenerationResult(images=images, seeds=seeds, infotexts=infotexts, parameters=parameters,
                                control_maps=maps, timings=timings, offload_mode=mode, fallbacks=fallbacks,
                                warnings=warnings, records=records, credentials=self.credentials)

    def _validated(self, request: GenerationRequest, entry: ModelEntry):
        request = dataclasses.replace(request, decode=request.decode or self.settings.decode)
        return validate(request, self._facts_of(entry), self.samplers(), self.settings.limits,
                        list(self.library.vaes()), self.upscalers(), self.face_restorers())

    def _image_prompts(self, resolved: GenerationRequest, base: LoadedBase) -> ip_adapter.RunImagePrompts | None:
        """The run's IP-Adapters and their image encoder, loaded (or from the cache), each checked against the model."""
        if not resolved.image_prompts:
            return None
        choices = self.library.ip_adapters()
        width = base.pipeline.unet.config.cross_attention_dim
        adapters, names, encoders = [], [], []
        for i, unit in enumerate(resolved.image_prompts):
            field = f"image_prompts[{i}].model"
            name = unit.model or ip_adapter.default_adapter(choices, width, base.family)
            if name not in choices:
                known = ", ".join(choices) or "none"
                raise InvalidRequest(field, f"no IP-Adapter for {FAMILIES[base.family].label} in the library; choose "
                                            f"one of: {known}" if name is None else
                                     f"unknown IP-Adapter {name!r}; choose one of: {known}")
            adapter = self._ip_adapter(name, choices[name], field)
            if adapter.cross_attention_dim != width:
                raise InvalidRequest(field, f"the IP-Adapter {name} is for {lora.family_label(adapter.cross_attention_dim)}"
                                            f" but the model is {FAMILIES[base.family].label}")
            try:
                encoders.append(ip_adapter.encoder_for(adapter, self.library.image_encoders()))
            except ValueError as error:
                raise InvalidRequest(field, str(error)) from None
            if encoders[-1] != encoders[0]:
                raise InvalidRequest(field, f"{name} reads pictures with another image encoder than {names[0]}; "
                                            "choose adapters made for one encoder")
            adapters.append(adapter)
            names.append(name)
        encoder = self._image_encoder(*encoders[0])
        units = resolved.image_prompts
        return ip_adapter.RunImagePrompts(adapters, names, encoder, [u.image for u in units], [u.weight for u in units],
                                          [u.mode for u in units])

    def _ip_adapter(self, name: str, source, field: str) -> ip_adapter.Adapter:
        def load():
            path = source
            if isinstance(source, tuple):  # h94/IP-Adapter's, from the hub
                from huggingface_hub import hf_hub_download

                try:
                    path = hf_hub_download(source[0], source[1])
                except Exception as error:  # noqa: BLE001 - offline, missing: the same to the user
                    raise ModelLoadError(name, f"could not be downloaded from {source[0]} ({type(error).__name__}); "
                                               "put the file in the models folder's ipadapter/") from None
            try:
                adapter = ip_adapter.read(name, Path(path))
            except ValueError as error:
                raise InvalidRequest(field, str(error)) from None
            return adapter, ip_adapter.nbytes(adapter)

        return self._cached_or_load(f"ip-adapter:{name}", f"the IP-Adapter {name}", load)

    def _image_encoder(self, name: str, source):
        """A CLIP vision encoder: a residency component, shared by every adapter that reads pictures with it."""
        key = f"image-encoder:{name}"

        def load():
            try:
                encoder = ip_adapter.load_encoder(source, self.dtype)
            except Exception as error:  # noqa: BLE001 - a missing or broken encoder is the same to the user
                raise ModelLoadError(name, f"the image encoder could not be loaded ({type(error).__name__}: {error})") from None
            encoder.requires_grad_(False).eval()
            self.residency.add(key, "image_encoder", encoder)
            return encoder, module_bytes(encoder)

        encoder = self._cached_or_load(key, f"the image encoder {name}", load)
        self.residency.place(self.residency.keys_of(encoder), force_mode="none")
        return encoder

    def _refiner(self, name: str) -> LoadedBase:
        """The refiner's weights, loaded (or from the cache): an SDXL refiner, or another SDXL model."""
        try:
            entry = self._entry(name)
        except InvalidRequest as error:
            raise InvalidRequest("refiner", error.detail) from None
        family = self._facts_of(entry).family
        if family not in refiner.REFINER_FAMILIES:
            raise InvalidRequest("refiner", f"{entry.name} is {FAMILIES[family].label}; an SDXL picture is refined by "
                                            "an SDXL refiner (or another SDXL model)")
        return self._base(entry)

    def _plot_choices(self) -> dict[str, list[str]]:
        """The names an X/Y/Z plot's axes may take, by the list they come from."""
        return {"sampler": self.samplers(), "model": self.model_names(), "vae": list(self.library.vaes()),
                "upscaler": self.upscalers(), "style": list(self.library.styles()), "restorer": self.face_restorers()}

    def embedding_report(self, name: str | None = None) -> dict:
        """The embeddings of the model folders as A1111's /embeddings answers: the ones this model can use under
        "loaded", the others under "skipped", each with the reason (loading the model if need be)."""
        with self._holding_device():
            base = self._base(self._entry(name))
        report = {"loaded": {}, "skipped": {}}
        for embedding_name, found in sorted(self.library.embeddings().items()):
            try:
                embedding = embedding_files.read(embedding_name, found.path)
            except embedding_files.EmbeddingError as error:
                report["skipped"][embedding_name] = {"reason": str(error)}
                continue
            reason = embedding_files.why_not(embedding, base.pipeline, base.family)
            entry = embedding_files.describe(embedding)
            if reason:
                report["skipped"][embedding_name] = {**entry, "reason": reason}
            else:
                report["loaded"][embedding_name] = entry
        return report

    def preprocess(self, request: GenerationRequest) -> list:
        """The control maps a ControlNet request would use, without generating (the UI's preview button)."""
        facts = self.model_facts(request.model)
        resolved, _ = validate(request, facts, self.samplers(), self.settings.limits)
        seed = max(resolved.seed, 0)
        with self._holding_device():
            return [self._control_map(unit, resolved, seed) for unit in resolved.control_units]

    def preload(self, name: str | None = None, on_device: bool = False) -> None:
        """Load a model into RAM, and with `on_device` also place its weights on the device now.

        On ZeroGPU the default model is placed at start: weights put on "cuda" before the server starts are
        the ones every GPU call finds there (the platform's documented pattern).
        """
        with self._holding_device():
            base = self._base(self._entry(name))
            if on_device:
                modules = [m for m in base.pipeline.components.values() if isinstance(m, torch.nn.Module)]
                self.residency.place(self.residency.keys_of(*modules), force_mode="none")

    def unload(self, name: str | None = None) -> None:
        """Drop one model (or all) from memory; it loads again from disk when next used."""
        with self._lock:
            for key in self.cache.keys():
                if name is None or key.split(":", 1)[1] == name:
                    self.cache.drop(key)
            release_cached_memory(self.device)

    def status(self) -> dict:
        """What is where, with bytes: for the UI's Models panel."""
        report = self.residency.report()
        report.update(dtype=self.dtype_name, dtype_reason=self.dtype_reason,
                      compile="off" if self.compiler is None else "regional, in the background", busy=self.busy,
                      ram_cache=self.cache.report(),
                      ram_budget_bytes=self.cache.max_bytes, loads=dict(self.cache.loads),
                      dropped_from_ram=list(self.cache.dropped), last_run=self.last_run)
        return report

    @contextmanager
    def _holding_device(self):
        """The device lock, held for a whole run; the RAM cache may drop the run's models again once it ends."""
        with self._lock:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._used_by_run.clear()

    # --- models ----------------------------------------------------------------------------------

    def _entry(self, name: str | None) -> ModelEntry:
        try:
            return self.library.model(name)
        except KeyError:
            pass
        if name is None:
            raise InvalidRequest("model", "no model chosen and the model library names no default")
        if self.settings.allow_custom_models and locate(name, None).kind != "missing":
            return ModelEntry(name=name, source=name)
        choices = ", ".join(self.library.models) or "none"
        raise InvalidRequest("model", f"unknown model {name!r}; choose one of: {choices}")

    def _task_model(self, entry: ModelEntry, task: str) -> ModelEntry:
        """The Inpaint tab uses the dedicated inpainting checkpoint when the library names one."""
        return self.library.model(entry.inpaint) if task == "inpaint" and entry.inpaint else entry

    def _facts(self, entry: ModelEntry, family: str, inpainting: bool, few_step: bool) -> ModelFacts:
        defaults = FAMILIES[family]
        return ModelFacts(
            name=entry.name, family=family, default_size=entry.default_size or defaults.default_size,
            default_steps=TURBO_STEPS if few_step else defaults.default_steps,
            default_guidance=TURBO_GUIDANCE if few_step else defaults.default_guidance,
            # the transformer families have one sampler, few steps or not
            default_sampler=TURBO_SAMPLER if few_step and not defaults.samplers else defaults.default_sampler,
            control_types=self.library.control_types_by_family(), inpainting_only=inpainting and not entry.inpaint,
            guidance_label=defaults.guidance_label, max_guidance=defaults.max_guidance,
            note=flow_families.family_note(family), fast_decoder=self._fast_decoder_source(family) is not None,
        )

    def _cached_or_load(self, key: str, what: str, load: Callable[[], tuple[object, int]]):
        """The model cached under `key`, else `load()`'s (model, bytes) put in the RAM cache; either way the
        current run uses it, so the cache keeps it until the run ends."""
        self._used_by_run.add(key)
        cached = self.cache.get(key)
        if cached is None:
            self._status(f"loading {what}")
            cached, nbytes = load()
            self.cache.put(key, cached, nbytes, keep=self._in_use())
        return cached

    def _base(self, entry: ModelEntry) -> LoadedBase:
        def load():
            loaded = load_base(entry, self.dtype, self.settings.allow_pickle, progress=self._load_progress,
                               quantize=self.settings.quantize)
            if self.compiler is not None:  # compiled in the background after its first call: no picture waits
                self.compiler.attach(_denoiser(loaded), entry.name)
            modules = [(role, getattr(loaded.pipeline, role, None)) for role in BASE_ROLES]
            modules = [(role, m) for role, m in modules if isinstance(m, torch.nn.Module)]
            for role, module in modules:
                self.residency.add(entry.name, role, module)
            return loaded, sum(module_bytes(m) for _, m in modules)

        return self._cached_or_load(f"base:{entry.name}", entry.name, load)

    def _controlnet(self, entry: ControlNetEntry):
        def load():
            model, family = load_controlnet(entry, self.dtype, progress=self._load_progress,
                                            allow_pickle=self.settings.allow_pickle)
            self.residency.add(entry.name, "controlnet", model)
            return (model, family), module_bytes(model)

        return self._cached_or_load(f"controlnet:{entry.name}", f"ControlNet {entry.name}", load)

    def _controlnets(self, request: GenerationRequest, facts: ModelFacts):
        """The ControlNet models for the request's units (checked against the base model's family), their union
        mode numbers (None unless a union model), and their names for the infotext."""
        models, modes, names = [], [], []
        for i, unit in enumerate(request.control_units):
            if unit.model is not None:
                entry = self.library.controlnets.get(unit.model)
                if entry is None:
                    if not (self.settings.allow_custom_models and locate(unit.model, None).kind != "missing"):
                        raise InvalidRequest(f"control_units[{i}].model", f"unknown ControlNet {unit.model!r}")
                    entry = ControlNetEntry(unit.model, facts.family, unit.control_type, unit.model)
            else:
                entry = self.library.controlnet_for(facts.family, unit.control_type)  # validated: there is one
            model, family = self._controlnet(entry)
            if family != facts.family:  # read from the ControlNet's own config, whatever the library says
                raise InvalidRequest(
                    f"control_units[{i}].model",
                    f"the ControlNet {entry.name} is for {FAMILIES[family].label} but the model {facts.name} is "
                    f"{FAMILIES[facts.family].label}; they cannot be used together",
                )
            models.append(model)
            modes.append(entry.union_mode)
            names.append(Path(entry.source).name)
        unions = [m is not None for m in modes]
        if any(unions) and not all(unions):
            raise InvalidRequest("control_units", "a union ControlNet cannot be combined with other ControlNets in one run")
        if any(unions):
            return [models[0]], modes, names  # one union model serves every unit
        return models, None, names

    def _preprocessor(self, preprocessor_id: str) -> control.Preprocessor:
        def load():
            loaded = control.load_preprocessor(preprocessor_id, progress=self._load_progress)
            for role, network in loaded.networks.items():
                self.residency.add(f"preprocessor:{preprocessor_id}", role, network)
            return loaded, sum(module_bytes(n) for n in loaded.networks.values())

        return self._cached_or_load(f"preprocessor:{preprocessor_id}", f"preprocessor {preprocessor_id}", load)

    def _control_map(self, unit, request: GenerationRequest, seed: int):
        cache_key = control.MapCache.key(unit.preprocessor, unit.image, request.width, request.height,
                                         unit.preprocessor_params, seed, request.resize_mode, request.mask)
        cached = self.maps.get(cache_key)
        if cached is not None:
            return cached
        pre = self._preprocessor(unit.preprocessor)
        if pre.networks:
            self.residency.place(self.residency.keys_of(*pre.networks.values()), force_mode="none")
        control_map = control.run_preprocessor(pre, unit.image, request.width, request.height,
                                               unit.preprocessor_params, seed, request.resize_mode, request.mask)
        self.maps.put(cache_key, control_map)
        return control_map

    def _view(self, base: LoadedBase, request: GenerationRequest, controlnets: list, chosen_vae=None):
        pag = request.pag_scale > 0
        key = (base.name, request.task, request.image is not None, request.mask is not None,
               tuple(id(c) for c in controlnets), id(chosen_vae), pag)
        view = self._views.get(key)
        if view is None:
            view = make_view(base.pipeline, request.task, controlnets, request.image is not None, request.mask is not None,
                             chosen_vae, pag)
            view.set_progress_bar_config(disable=True)
            self._views[key] = view
        return view

    def _fast_decoder_source(self, family: str) -> tuple[str, Path | None] | None:
        return self.library.fast_decoders.get(family)

    def _fast_decoder(self, family: str, needed: bool):
        """The family's tiny autoencoder on the device; None where the library names none, or where it is not on
        this machine and not `needed` (a preview never waits for a download)."""
        found = self._fast_decoder_source(family)
        key = f"fast-decoder:{family}"
        if found is None or not (needed or self.cache.get(key) is not None or fast_decode.on_disk(*found)):
            return None
        name = fast_decode.owner(family)

        def load():
            module = fast_decode.load(name, *found, self.dtype, self._load_progress)
            self.residency.add(name, fast_decode.RESIDENCY_ROLE, module)
            return module, module_bytes(module)

        decoder = self._cached_or_load(key, name, load)
        self.residency.place(self.residency.keys_of(decoder), force_mode="none")
        return decoder

    def _lora_file(self, name: str, path: Path) -> lora.LoraFile:
        def load():
            loaded = lora.read(name, path, self.settings.allow_pickle)
            return loaded, loaded.nbytes

        stat = path.stat()
        return self._cached_or_load(f"lora:{path}@{stat.st_mtime_ns}", f"LoRA {name}", load)

    def _chosen_vae(self, name: str, base: LoadedBase):
        found = self.library.vaes()[name]
        key = f"vae:{name}@{base.family}"  # made to the family's VAE config: an SDXL VAE scales differently

        def load():
            try:
                module = vae.load(found.path, base.pipeline.vae, self.dtype, self.settings.allow_pickle)
            except vae.VaeError as error:
                raise InvalidRequest("vae", f"the VAE {name} cannot be used with {base.name}: {error}") from None
            self.residency.add(key, "vae", module)
            return module, module_bytes(module)

        return self._cached_or_load(key, f"VAE {name}", load)

    def _in_use(self) -> set[str]:
        """Models the current run uses: never dropped from RAM to make room for another of its models."""
        return set(self._used_by_run)

    def _forget(self, cached: CachedModel) -> None:
        """A model left the RAM cache: forget its components and every view that holds them."""
        kind, _, name = cached.key.partition(":")
        owner = {"base": name, "controlnet": name, "preprocessor": cached.key, "vae": cached.key, "upscaler": cached.key,
                 "face-restorer": cached.key, "image-encoder": cached.key,
                 "fast-decoder": fast_decode.owner(name) if kind == "fast-decoder" else None,
                 "safety-checker": safety_checker.RESIDENCY_OWNER}.get(kind)
        if owner is None:  # a LoRA file: tensors in RAM only, never placed on the device
            return
        self.residency.drop_owner(owner)
        value = cached.value
        modules = set()
        if isinstance(value, LoadedBase):
            modules = {id(m) for m in value.pipeline.components.values() if isinstance(m, torch.nn.Module)}
        elif isinstance(value, tuple):
            modules = {id(value[0])}
        elif isinstance(value, torch.nn.Module):
            modules = {id(value)}
        self._views = {
            k: v for k, v in self._views.items()
            if not modules & {id(m) for m in _view_modules(v)}
        }

    def _status(self, text: str) -> None:
        log.info(text)
        if self._load_progress is not None:
            self._load_progress(text)

    # --- running ---------------------------------------------------------------------------------

    def _run(self, view, base: LoadedBase, request: GenerationRequest, maps, union_modes, seed,
             on_step, on_preview, cancel: CancelToken, extras: networks.RunNetworks, latents: bool = False,
             arguments: dict | None = None):
        """Run, and on running out of memory retry in a more frugal way: VAE tiling, then offload."""
        needed = self.residency.keys_of(*_view_modules(view))
        fallbacks: list[str] = []
        force_mode = None
        tiling = False
        while True:
            mode = self.residency.place(needed, force_mode)
            apply_offload(view, mode, self.device)
            if tiling:
                view.vae.enable_tiling()
            try:
                images, timings, nsfw = self._call(view, base, request, maps, union_modes, seed, on_step, on_preview,
                                                   cancel, extras, latents, arguments)
                return images, timings, mode, list(fallbacks), nsfw
            except Exception as error:
                if not is_out_of_memory(error):
                    raise
                log.warning("out of memory in %s mode (tiling=%s)", mode, tiling)
                if not tiling:
                    tiling = True
                    fallbacks.append("out of memory: retried with VAE tiling and other models moved off the device")
                elif mode == "none":
                    force_mode = "model"
                    fallbacks.append("out of memory: retried with model offload")
                elif mode == "model":
                    force_mode = "sequential"
                    fallbacks.append("out of memory: retried with sequential offload")
                else:
                    raise OutOfMemory(
                        f"not enough memory on {self.device} for {request.width}x{request.height}, batch "
                        f"{request.batch_size}, even with sequential offload: lower the size or the batch"
                    ) from None
            finally:
                if tiling:
                    view.vae.disable_tiling()
                self.residency.finish(view, mode)
            # the failed attempt's activations are gone: free them and everything not needed
            self.residency.offload_all()
            release_cached_memory(self.device)

    def _call(self, view, base: LoadedBase, request: GenerationRequest, maps, union_modes, seed,
              on_step, on_preview, cancel: CancelToken, extras: networks.RunNetworks, latents: bool = False,
              arguments: dict | None = None):
        """One pass of the view; with `latents`, its latents undecoded (the hires fix's and the refiner's first
        pass); `arguments`: more of the view's call arguments (the refiner's denoising_end and _start)."""
        view.scheduler = make_scheduler(request.sampler, base.pipeline.scheduler.config,
                                        few_step=self._entry_turbo(base.name) or request.sampler == "LCM")
        # Noise is drawn on the CPU, one generator per image: a seed gives the same picture on any device
        # and whatever the batch size (image i of a batch is the picture of seed + i).
        generators = [torch.Generator("cpu").manual_seed(seed + i) for i in range(request.batch_size)]
        clock = {"start": time.perf_counter(), "last_step": None}
        clock["last_preview"] = clock["start"]
        preview_every, preview_period = self.settings.preview_every, self.settings.preview_period
        # A1111's reading of the prompt: weights, chunks of 75 tokens, CLIP skip, prompt editing
        conditioning = prompt_encoding.encode(view, base.family, extras.prompt, extras.negative, request.steps,
                                              request.batch_size, request.clip_skip)
        tensor_inputs = ["latents"]
        if conditioning.changes:
            tensor_inputs += [k for k in ("prompt_embeds", "add_text_embeds") if k in view._callback_tensor_inputs]

        def on_step_end(pipe, index, _timestep, tensors):
            step, total = index + 1, pipe.num_timesteps
            clock["last_step"] = time.perf_counter()
            if on_step is not None:
                on_step(StepInfo(step, total, clock["last_step"] - clock["start"]))
            # A preview reads the latents back to the host (a device sync): only as often as it is shown.
            if (on_preview is not None and preview_every and step % preview_every == 0 and step < total
                    and clock["last_step"] - clock["last_preview"] >= preview_period):
                clock["last_preview"] = clock["last_step"]
                size = (request.width, request.height)
                on_preview(fast_decode.preview(self._previewer, tensors["latents"], base.family, size)
                           if self._previewer is not None else latents_to_preview(tensors["latents"], base.family, size))
            cancel.raise_if_cancelled()
            if conditioning.changes:
                tensors.update(conditioning.switch(pipe, index))
            return tensors

        # tiling and FreeU change the shared UNet (and VAE): for this call only
        with tiling.seamless(view, request.tiling), freeu.applied(view, base.family, request.freeu), \
                variation.varied_noise(view, request), feature_cache.applied(view, request.feature_cache), \
                ip_adapter.applied(view, extras.image_prompts) as pictures:
            output = view(**call_arguments(request, maps, union_modes, conditioning.arguments(),
                                           transformer=not FAMILIES[base.family].unet), **pictures,
                          generator=generators,
                          callback_on_step_end=on_step_end, callback_on_step_end_tensor_inputs=tensor_inputs,
                          **({"output_type": "latent"} if latents else {}), **(arguments or {}))
        images = output.images
        if request.mask is not None and not request.inpaint_only_masked:
            # Keep every pixel outside the (blurred) mask as it was: the VAE round trip would otherwise
            # soften the whole picture, and a random or weak model would repaint it.
            overlay = blur_mask(request.mask, request.mask_blur)
            images = [Image.composite(image, request.image, overlay) for image in images]
        finished = time.perf_counter()
        last_step = clock["last_step"] or finished
        timings = {"denoise": round(last_step - clock["start"], 3), "decode": round(finished - last_step, 3)}
        nsfw = getattr(output, "nsfw_content_detected", None) or [False] * len(output.images)
        return images, timings, nsfw

    def _screen(self, images: list) -> tuple[list, list[bool]]:
        """The pictures through the safety checker, a residency component like any model: flagged ones blurred."""
        def load():
            checker = safety_checker.load_safety_checker(self.settings.safety_checker, dtype=self.dtype,
                                                         allow_pickle=self.settings.allow_pickle,
                                                         progress=self._load_progress)
            for module in checker.modules():
                self.residency.add(safety_checker.RESIDENCY_OWNER, safety_checker.RESIDENCY_ROLE, module)
            return checker, module_bytes(checker.model)

        checker = self._cached_or_load("safety-checker", "the safety checker", load)
        self.residency.place(self.residency.keys_of(*checker.modules()), force_mode="none")
        return checker.screen(images)

    def upscalers(self) -> list[str]:
        """A1111's built-in upscalers, then the model folders' (ESRGAN/, RealESRGAN/, upscale_models/)."""
        return [*upscalers.BUILTIN, *sorted(self.library.upscalers())]

    def face_restorers(self) -> list[str]:
        """The face restorers that have a model file in the model folders (GFPGAN/, Codeformer/, facerestore_models/)."""
        return sorted(self.library.face_restorers())

    def postprocess(self, request: ExtrasRequest) -> GenerationResult:
        """A1111's Extras on one picture (extras.py): upscaled, its faces restored, filtered. The result keeps the
        picture's own parameters text with what was done added, as A1111's extras do, and its record names the
        parent picture. Notes (a restorer that found no face) are the result's warnings."""
        original = request.image
        resolved = validate_extras(request, self.upscalers(), self.face_restorers(), self.settings.limits)
        infotext = (read_parameters(original) if not hasattr(original, "__array_interface__") else None) or ""
        used: dict[str, Path] = {}
        def run():
            return extras.run(resolved, lambda picture, name, scale: self._upscaled(picture, name, scale, used),
                              lambda picture, name, weight: self._restored_faces(picture, name, weight, used))

        if extras.needs_models(resolved):
            with self._holding_device():
                self.busy = True
                try:
                    made, done, notes = run()
                finally:
                    self.busy = False
        else:  # resampling and filters alone need no model: they do not wait while a generation holds the device
            made, done, notes = run()
        [made] = self._marked([made])  # the mark of the picture it came from does not survive resampling
        text = format_parameters({"settings": done}) if done else ""
        infotext = ", ".join(part for part in (infotext, text) if part)
        settings = {f.name: getattr(resolved, f.name) for f in dataclasses.fields(resolved) if f.name != "image"}
        record = provenance.postprocess_record(resolved.image, made, settings, done, used, self.settings.watermark)
        return GenerationResult(images=[made], seeds=[], infotexts=[infotext], parameters=settings, warnings=notes,
                                records=[record], credentials=self.credentials)

    def _marked(self, images: list) -> list:
        """The pictures with Easel's invisible watermark, unless it is turned off."""
        if not self.settings.watermark:
            return images
        from . import watermark  # OpenCV and the watermark library: not needed when the mark is off

        return [watermark.mark(image) for image in images]

    def _upscaled(self, picture, name: str, scale: float, used: dict | None = None):
        model = None
        if name not in upscalers.BUILTIN:
            model = self._upscaler(name)
            self.residency.place(self.residency.keys_of(model.model), force_mode="none")
            if used is not None:
                used[name] = self.library.upscalers()[name].path
        return upscalers.upscale(picture, scale, model, method=name)

    def _restore_made(self, images: list, request: GenerationRequest, warnings: list[str]) -> list:
        restored = [self._restored_faces(picture, request.restore_faces, request.codeformer_weight, {},
                                         field="restore_faces") for picture in images]
        if not any(faces for _, faces in restored):
            warnings.append(f"restore_faces: {request.restore_faces} found no face to restore")
        return [picture for picture, _ in restored]

    def _restored_faces(self, picture, name: str, codeformer_weight: float, used: dict, field: str | None = None):
        """(the picture with its faces restored, how many faces), the restorer a residency component like any model."""
        file = self.library.face_restorers()[name]

        def load():
            try:
                model = face_restoration.read(name, file.path, self.settings.allow_pickle)
            except upscalers.UpscalerError as error:
                named = field or ("gfpgan_visibility" if name == face_restoration.GFPGAN else "codeformer_visibility")
                raise InvalidRequest(named, str(error)) from None
            model.to(face_restoration.compute_dtype(model, name, self.dtype))
            self.residency.add(f"face-restorer:{file.path}", face_restoration.RESIDENCY_ROLE, model.model)
            return model, module_bytes(model.model)

        model = self._cached_or_load(f"face-restorer:{file.path}", f"face restorer {name}", load)
        self.residency.place(self.residency.keys_of(model.model), force_mode="none")
        restored, faces = face_restoration.restore(picture, model, name, codeformer_weight)
        if faces:
            used[name] = file.path
        return restored, faces

    def _upscaler(self, name: str):
        def load():
            try:
                model = upscalers.read(name, self.library.upscalers()[name].path, self.settings.allow_pickle)
            except upscalers.UpscalerError as error:
                raise InvalidRequest("upscaler", str(error)) from None
            # in the engine's precision where the architecture computes in it (spandrel says which do)
            half_ok = {torch.float16: model.supports_half, torch.bfloat16: model.supports_bfloat16}
            model.to(self.dtype if half_ok.get(self.dtype, True) else torch.float32)
            self.residency.add(f"upscaler:{name}", upscalers.RESIDENCY_ROLE, model.model)
            return model, module_bytes(model.model)

        return self._cached_or_load(f"upscaler:{name}", f"upscaler {name}", load)

    @property
    def dtype_name(self) -> str:
        return {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[self.dtype]

    def _entry_turbo(self, name: str) -> bool:
        entry = self.library.models.get(name)
        return bool(entry and entry.turbo)

def _denoiser(base: LoadedBase) -> torch.nn.Module:
    return getattr(base.pipeline, "unet", None) or base.pipeline.transformer


def _view_modules(view) -> list[torch.nn.Module]:
    modules = []
    for component in view.components.values():
        if isinstance(component, torch.nn.Module):
            nets = getattr(component, "nets", None)  # MultiControlNetModel holds the real ControlNets
            modules.extend(nets if nets is not None else [component])
    return modules

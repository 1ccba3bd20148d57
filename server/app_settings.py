"""The app's settings: command-line flags, each with an EASEL_* environment variable twin.

A flag wins over its variable, a variable over the default. The address and port also follow Gradio's
own GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, after the EASEL_* ones: Spaces set those to 0.0.0.0:7860,
so a Space answers with no setting. On Hugging Face Spaces (SPACE_ID is set) the defaults turn safe:
no saved outputs, no user-chosen model paths; on ZeroGPU hardware the engine gets the settings it needs
there (see ui/zerogpu.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pipelines import DEFAULT_SAFETY_CHECKER, SAFETY_MODES, EngineSettings, Limits, checker_enabled, paths_from_env

from . import hosting

ON_SPACES = hosting.on_spaces()
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 7860
# ZeroGPU gives a call 70 GB of an H200 (its documentation); weights may take this much of it, the rest is
# working memory. Set here because free memory cannot be asked for there outside a GPU call.
ZEROGPU_VRAM_BUDGET = 60 * 2**30
log = logging.getLogger("easel")


@dataclass
class AppSettings:
    model: str | None = None
    models: str | None = None  # model library file
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    share: bool = False
    auth: list[tuple[str, str]] = field(default_factory=list)
    outputs: str | None = "outputs"  # None: do not save
    save_format: str = "png"  # of the pictures saved there: png, jpg or webp
    demo: bool = False
    queue_size: int = 20
    max_sessions: int = 2000  # browser sessions whose state (history) is kept in memory; the oldest go first
    max_upload: str = "20mb"
    keep_pictures: int | None = None  # pictures handed to the pages kept on disk, the newest (None: ui/disk.py's 1000)
    keep_hours: float | None = None  # and for at most this long (None: a day); Gradio's own cache ages out the same
    api: bool = True  # the AUTOMATIC1111-compatible HTTP API next to the pages (/sdapi/v1, /controlnet)
    models_dirs: list[Path] = field(default_factory=list)  # A1111 or ComfyUI model folders to scan
    styles: Path | None = None  # A1111's styles.csv (--styles); None: default_styles
    state_dir: Path = hosting.LOCAL_STATE  # signing key, demo models, relative outputs: what outlives a restart
    engine: EngineSettings = field(default_factory=EngineSettings)
    safety_checker_given: bool = False  # --safety-checker was given (else the demo uses its tiny checker)

    @property
    def default_styles(self) -> Path:
        """styles.csv beside the outputs folder, where A1111 keeps it (or in the data folder)."""
        return (Path(self.outputs).parent if self.outputs else self.state_dir) / "styles.csv"

    @property
    def demo_models_dir(self) -> Path:
        return Path(os.environ.get("EASEL_DEMO_DIR") or self.state_dir / "tiny-models")

    @property
    def exposed(self) -> bool:
        """Reachable by strangers: a share link, all interfaces, or a Space."""
        return self.share or self.host not in ("127.0.0.1", "localhost", "::1") or ON_SPACES


def parse_bytes(text: str) -> int:
    """"6GB", "512mb", "2g" or a plain number of bytes."""
    units = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "m": 2**20, "mb": 2**20, "g": 2**30, "gb": 2**30}
    text = text.strip().lower()
    number = text.rstrip("kmgb")
    try:
        return int(float(number) * units[text[len(number):]])
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; write e.g. 6GB or 512MB") from None


def _auth(text: str) -> list[tuple[str, str]]:
    """USER:PASS, several separated by commas, or a file with one USER:PASS per line."""
    if os.path.isfile(text):
        text = ",".join(line.strip() for line in Path(text).read_text().splitlines() if line.strip())
    pairs = []
    for item in text.split(","):
        user, sep, password = item.partition(":")
        if not sep or not user or not password:
            raise argparse.ArgumentTypeError("--auth takes USER:PASS (or a file of them, one per line)")
        pairs.append((user, password))
    return pairs


def _flag(parser, name: str, help: str, **kwargs):
    env = "EASEL_" + name.upper().replace("-", "_")
    default = kwargs.pop("default", None)
    if env in os.environ:
        raw = os.environ[env]
        if kwargs.get("action") == "store_true":
            default = raw.lower() in ("1", "true", "yes", "on")
        else:
            try:
                default = kwargs.get("type", str)(raw)
            except (ValueError, argparse.ArgumentTypeError) as error:
                parser.error(f"the variable {env}={raw!r} is not valid ({error}); fix or unset it")
            if "choices" in kwargs and default not in kwargs["choices"]:
                parser.error(f"the variable {env}={raw!r} is not one of: {', '.join(kwargs['choices'])}")
    parser.add_argument(f"--{name}", default=default, help=f"{help} [env {env}]", **kwargs)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1 to 65535)")
    return port


def _gradio_address() -> tuple[str, int]:
    """Gradio's own variables, which platforms such as Spaces set: below the flags and EASEL_*, above the defaults."""
    host = os.environ.get("GRADIO_SERVER_NAME") or DEFAULT_HOST
    raw = os.environ.get("GRADIO_SERVER_PORT")
    try:
        port = _port(raw) if raw else DEFAULT_PORT
    except argparse.ArgumentTypeError as error:
        log.warning("GRADIO_SERVER_PORT=%r is not used: %s. Easel listens on %d; set GRADIO_SERVER_PORT or "
                    "EASEL_PORT to a number from 1 to 65535, or unset it.", raw, error, DEFAULT_PORT)
        port = DEFAULT_PORT
    return host, port


def _env_compile() -> str:
    """EASEL_COMPILE: auto, on or off (1/true and 0/false too, as the flag's earlier on/off form took)."""
    raw = os.environ.get("EASEL_COMPILE", "auto")
    value = {"1": "on", "true": "on", "yes": "on", "0": "off", "false": "off", "no": "off"}.get(
        raw.strip().lower(), raw.strip().lower() or "auto")
    if value not in ("auto", "on", "off"):
        log.warning("EASEL_COMPILE=%r is not used: it is auto, on or off. Easel uses auto.", raw)
        return "auto"
    return value


def _prog() -> str:
    """How the user started the app, for --help: the installed `easel` command or `python app.py`."""
    return "easel" if Path(sys.argv[0]).stem == "easel" else "python app.py"


def parse(argv: list[str] | None = None) -> AppSettings:
    parser = argparse.ArgumentParser(prog=_prog(), description="Easel: an AI image studio in your browser.")
    _flag(parser, "model", "model to select at start (a name from the library)")
    _flag(parser, "models", "model library file (YAML) naming your models and ControlNets")
    parser.add_argument("--models-dir", action="append", default=None, metavar="DIR",
                        help="an AUTOMATIC1111 or ComfyUI `models` folder to take checkpoints, LoRAs, embeddings and "
                             "VAEs from; repeat for several [env EASEL_MODELS_DIR, folders joined like PATH]")
    _flag(parser, "styles", "A1111's styles.csv to read and add styles to (default: styles.csv beside the outputs "
          "folder)")
    gradio_host, gradio_port = _gradio_address()
    _flag(parser, "host", "address to listen on; 0.0.0.0 exposes the app to your network (default: "
          "GRADIO_SERVER_NAME, else 127.0.0.1)", default=gradio_host)
    _flag(parser, "port", "port to listen on (default: GRADIO_SERVER_PORT, else 7860)", type=_port,
          default=gradio_port)
    _flag(parser, "data-dir", "folder for what must survive a restart: the signing key, saved pictures, demo "
          "models (default: /data, a Space's persistent storage, when it exists, else ~/.cache/easel)")
    _flag(parser, "share", "create a public Gradio share link", action="store_true", default=False)
    _flag(parser, "auth", "require a login: USER:PASS, several separated by commas, or a file of them", type=_auth)
    _flag(parser, "offload", "how weights are placed: auto, none, model, sequential", default="auto",
          choices=["auto", "none", "model", "sequential"])
    _flag(parser, "vram-budget", "bytes of weights kept on the GPU, e.g. 6GB (default: free memory minus 2GB)", type=parse_bytes)
    _flag(parser, "ram-budget", "bytes of models kept in RAM, e.g. 16GB (default: half the RAM)", type=parse_bytes)
    _flag(parser, "outputs", "folder to save images in, or 'off'", default="off" if ON_SPACES else "outputs")
    _flag(parser, "save-format", "format of the pictures saved in the outputs folder: png (lossless), jpg or webp "
          "(smaller); each keeps the parameters and labels", default="png", choices=["png", "jpg", "webp"])
    _flag(parser, "device", "auto, cpu, cuda, cuda:1 or mps", default="auto")
    _flag(parser, "dtype", "number format: auto (bf16 on CPUs that compute it natively and on recent NVIDIA GPUs, "
          "fp16 on other GPUs, else fp32), fp32, fp16 or bf16", default="auto")
    _flag(parser, "quantize", "weights of FLUX.1 and SD 3 transformers whose library entry names none: fp8 (half of "
          "fp16's memory), nf4 (a quarter; NVIDIA GPUs with bitsandbytes, else fp8) or none", default="none",
          choices=["none", "fp8", "nf4"])
    _flag(parser, "demo", "use tiny offline models (made on first use); their pictures are noise", action="store_true",
          default=False)
    _flag(parser, "allow-pickle", "allow .ckpt/.bin/.pt checkpoints (loading them can run code)", action="store_true",
          default=False)
    _flag(parser, "allow-custom-models", "accept model ids and paths that are not in the library (off when exposed)",
          action="store_true", default=False)
    _flag(parser, "queue-size", "requests that may wait in the queue", type=int, default=20)
    _flag(parser, "decode", "how final pictures are decoded: full (the model's VAE) or fast (TAESD: about a hundred "
          "times cheaper, a little softer; it pays most on a CPU); each request may choose", default="full",
          choices=["full", "fast"])
    parser.add_argument("--compile", dest="compile", action="store_const", const="on", default=_env_compile(),
                        help="torch.compile the denoiser's repeated blocks also where auto does not (auto: on CUDA "
                             "GPUs, compiled in the background after the first picture, kept in torch's on-disk cache "
                             "for later starts) [env EASEL_COMPILE=auto|on|off]")
    parser.add_argument("--no-compile", dest="compile", action="store_const", const="off",
                        help="never torch.compile: every picture in eager PyTorch")
    _flag(parser, "no-pin-memory", "keep weights that are off the GPU in ordinary host memory instead of pinned "
          "memory (pinned: faster swaps between models, but memory the system cannot page out)",
          action="store_true", default=False)
    _flag(parser, "no-watermark", "do not hide Easel's invisible watermark in pictures (refused when exposed: "
          "pictures shared with others say they were generated)", action="store_true", default=False)
    _flag(parser, "no-c2pa", "do not sign C2PA Content Credentials into pictures (signed with a key made on this "
          "machine, kept in the data folder's content-credentials, unless --c2pa-key is given)",
          action="store_true", default=False)
    _flag(parser, "c2pa-key", "private key (PEM) to sign Content Credentials with, instead of one made on this "
          "machine: a file, or the PEM text itself (a Space secret); needs --c2pa-chain")
    _flag(parser, "c2pa-chain", "certificate chain (PEM) of --c2pa-key: its certificate first, the authority that "
          "Verify trusts last; a file or the PEM text")
    _flag(parser, "safety", "pass every picture through a safety checker, which blurs what it flags: on, off, or "
          "auto (on when the studio is exposed: a share link, --host beyond this machine, a Space)", default="auto",
          choices=list(SAFETY_MODES))
    _flag(parser, "safety-checker", "the safety checker: a hub id or a local folder (default: "
          f"{DEFAULT_SAFETY_CHECKER})")
    _flag(parser, "no-api", "turn off the AUTOMATIC1111-compatible HTTP API (/sdapi/v1/..., /controlnet/...)",
          action="store_true", default=False)
    _flag(parser, "keep-pictures", "pictures kept on disk for the pages (galleries, History), the newest; older ones "
          "are deleted (the outputs folder is never touched; default 1000)", type=int)
    _flag(parser, "keep-hours", "hours the pictures handed to the pages, their previews and uploads stay on disk "
          "(default 24)", type=float)
    _flag(parser, "max-sessions", "browser sessions whose history is kept in memory (about 0.4 MB each); "
          "the oldest are dropped first", type=int, default=2000)
    _flag(parser, "max-steps", "highest number of steps a user may ask for", type=int, default=150)
    _flag(parser, "max-batch", "highest batch size a user may ask for", type=int, default=8)
    _flag(parser, "max-side", "largest width or height a user may ask for", type=int, default=2048)
    _flag(parser, "max-plot-pictures", "most pictures one X/Y/Z plot may make (cells x batch size)", type=int,
          default=64)
    args = parser.parse_args(argv)

    state_dir = hosting.state_dir(args.data_dir, "--data-dir (EASEL_DATA_DIR)")
    outputs = None if args.outputs in ("off", "none", "") else Path(args.outputs).expanduser()
    if outputs is not None and not outputs.is_absolute() and state_dir != hosting.LOCAL_STATE:
        outputs = state_dir / outputs  # on persistent storage, so saved pictures outlive a restart
    models_dirs = args.models_dir if args.models_dir else paths_from_env(os.environ.get("EASEL_MODELS_DIR", ""))
    styles = Path(args.styles).expanduser() if args.styles else None
    settings = AppSettings(
        models_dirs=[Path(d).expanduser() for d in models_dirs], styles=styles,
        model=args.model, models=args.models, host=args.host, port=args.port, share=args.share,
        auth=args.auth or [], outputs=str(outputs) if outputs is not None else None, demo=args.demo,
        save_format=args.save_format,
        queue_size=args.queue_size, max_sessions=args.max_sessions, api=not args.no_api,
        keep_pictures=args.keep_pictures, keep_hours=args.keep_hours, state_dir=state_dir,
    )
    settings.safety_checker_given = bool(args.safety_checker)
    settings.engine = EngineSettings(
        preview_period=0.5,  # a live preview is a PNG sent to the page: two a second are plenty
        device=args.device, dtype=args.dtype, offload=args.offload, vram_budget=args.vram_budget,
        ram_budget=args.ram_budget, allow_pickle=args.allow_pickle, compile=args.compile, decode=args.decode,
        compile_cache=str(state_dir / "compile"),
        quantize=None if args.quantize == "none" else args.quantize, pin_memory=not args.no_pin_memory,
        watermark=not args.no_watermark or settings.exposed, content_credentials=not args.no_c2pa,
        credentials_dir=str(state_dir / "content-credentials"), signing_key=args.c2pa_key,
        signing_chain=args.c2pa_chain,
        safety_checker=(args.safety_checker or DEFAULT_SAFETY_CHECKER) if checker_enabled(args.safety, settings.exposed)
        else None,
        limits=Limits(max_steps=args.max_steps, max_batch=args.max_batch, max_side=args.max_side,
                      max_pixels=args.max_side * args.max_side, max_plot_pictures=args.max_plot_pictures),
    )
    if hosting.on_zerogpu():
        _zerogpu_engine(settings.engine)
    # Model ids and paths typed by users are only for a studio on one's own machine.
    settings.engine.allow_custom_models = args.allow_custom_models or not settings.exposed
    if args.no_watermark and settings.exposed:
        logging.getLogger("easel").warning("--no-watermark is ignored: the studio is exposed, and pictures shared "
                                           "with others keep the mark that says they were generated")
    return settings


def _zerogpu_engine(engine: EngineSettings) -> None:
    """What the engine must do differently on ZeroGPU, where CUDA exists only inside @spaces.GPU calls.

    Outside those calls the `spaces` package stands in for CUDA and refuses to start it, so nothing may ask
    the GPU for its free memory (the budget is set instead) or pin host memory (pinning starts CUDA).
    "ZeroGPU does not support torch.compile" (its documentation), so --compile is turned off there, with a warning.
    """
    engine.pin_memory = False
    if engine.dtype == "auto":  # asking the card what it computes best would start CUDA; ZeroGPU's are H200s
        engine.dtype = "bf16"
    if engine.vram_budget is None:
        engine.vram_budget = ZEROGPU_VRAM_BUDGET
    if engine.compile == "on":
        log.warning("--compile is ignored on ZeroGPU, which does not support torch.compile")
    engine.compile = "off"

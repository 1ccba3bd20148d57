"""Running Easel where a platform says: the address and port a Space gives, persistent storage, an operator's
own signing key, and bad values of each answered by name."""

from __future__ import annotations

import io
import logging
import urllib.request

import psutil
import pytest
from PIL import Image

from tests.app_server import AppServer, free_port

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


@pytest.mark.slow  # launches its own studio
def test_on_a_space_the_app_listens_on_all_interfaces_at_the_platforms_port(tiny_dir, tmp_path):
    port = free_port()
    server = AppServer(tiny_dir, tmp_path / "outputs",
                       env={"SPACE_ID": "someone/easel", "GRADIO_SERVER_NAME": "0.0.0.0",
                            "GRADIO_SERVER_PORT": str(port)})
    try:
        listening = {(c.laddr.ip, c.laddr.port) for c in psutil.Process(server.process.pid).net_connections("inet")
                     if c.status == psutil.CONN_LISTEN}
        assert ("0.0.0.0", port) in listening
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as page:
            assert page.status == 200 and b"Easel" in page.read()
    finally:
        server.stop()


# --- where the address and port come from ------------------------------------------------------------


def parse(monkeypatch, argv=(), **env):
    from server import app_settings as settings

    for name in ("EASEL_HOST", "EASEL_PORT", "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT", "EASEL_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return settings.parse(list(argv))


def test_flag_beats_easel_variable_beats_gradio_variable_beats_default(monkeypatch):
    gradio = {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "7001"}
    easel = {"EASEL_HOST": "10.1.2.3", "EASEL_PORT": "7002"}
    assert (lambda s: (s.host, s.port))(parse(monkeypatch)) == ("127.0.0.1", 7860)
    assert (lambda s: (s.host, s.port))(parse(monkeypatch, **gradio)) == ("0.0.0.0", 7001)
    assert (lambda s: (s.host, s.port))(parse(monkeypatch, **gradio, **easel)) == ("10.1.2.3", 7002)
    flags = ["--host", "127.0.0.1", "--port", "7003"]
    assert (lambda s: (s.host, s.port))(parse(monkeypatch, flags, **gradio, **easel)) == ("127.0.0.1", 7003)


def test_a_gradio_port_that_is_not_a_number_is_named_and_the_app_keeps_the_default(monkeypatch, caplog):
    with caplog.at_level(logging.WARNING, logger="easel"):
        settings = parse(monkeypatch, GRADIO_SERVER_PORT="eighty")
    assert settings.port == 7860
    assert "GRADIO_SERVER_PORT='eighty'" in caplog.text and "1 to 65535" in caplog.text


@pytest.mark.parametrize("value", ["eighty", "70000"])
def test_an_easel_port_that_is_not_a_port_stops_with_a_message_naming_it(monkeypatch, capsys, value):
    with pytest.raises(SystemExit):
        parse(monkeypatch, EASEL_PORT=value)
    assert f"EASEL_PORT='{value}'" in capsys.readouterr().err


# --- state that survives a restart ---------------------------------------------------------------------


def test_with_persistent_storage_the_key_outputs_and_demo_models_live_there(monkeypatch, tmp_path):
    from server import hosting

    storage = tmp_path / "data"
    storage.mkdir()
    monkeypatch.setattr(hosting, "SPACE_STORAGE", storage)
    monkeypatch.delenv("EASEL_DEMO_DIR", raising=False)
    settings = parse(monkeypatch, ["--outputs", "outputs"])
    assert settings.state_dir == storage / "easel"
    assert settings.engine.credentials_dir == str(storage / "easel" / "content-credentials")
    assert settings.outputs == str(storage / "easel" / "outputs")
    assert settings.demo_models_dir == storage / "easel" / "tiny-models"


def test_without_persistent_storage_state_stays_in_the_users_cache(monkeypatch, tmp_path):
    from server import hosting

    monkeypatch.setattr(hosting, "SPACE_STORAGE", tmp_path / "absent")
    settings = parse(monkeypatch, ["--outputs", "outputs"])
    assert settings.state_dir == hosting.LOCAL_STATE and settings.outputs == "outputs"


def test_a_data_folder_that_cannot_be_written_is_named_and_the_app_starts_without_it(monkeypatch, tmp_path, caplog):
    from server import hosting

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="easel"):
        settings = parse(monkeypatch, ["--data-dir", str(blocker / "data")])
    assert settings.state_dir == hosting.LOCAL_STATE
    assert str(blocker / "data") in caplog.text and "will not survive a restart" in caplog.text


# --- an operator's own signing key -------------------------------------------------------------------


@pytest.fixture(scope="module")
def operator_key(tmp_path_factory):
    """A key and chain the operator made once and keeps (on a Space: as secrets)."""
    from pipelines.content_credentials import CHAIN_FILE, KEY_FILE, _make_keys

    folder = tmp_path_factory.mktemp("operator") / "keys"
    _make_keys(folder)
    return (folder / KEY_FILE).read_text(), (folder / CHAIN_FILE).read_text()


def test_pictures_signed_with_the_operators_key_are_recognised_after_a_restart_on_a_new_disk(
        make_manager, operator_key, tmp_path):
    from pipelines.provenance import png_bytes
    from pipelines.request import GenerationRequest
    from pipelines.verify import verify

    key, chain = operator_key  # as PEM text in variables, the way Space secrets hold them
    before = make_manager(credentials_dir=str(tmp_path / "disk-1"), signing_key=key, signing_chain=chain)
    result = before.generate(GenerationRequest(prompt="kept", steps=1, seed=3, width=64, height=64))
    picture = png_bytes(result, 0)
    after = make_manager(credentials_dir=str(tmp_path / "disk-2"), signing_key=key, signing_chain=chain)
    assert verify(picture, credentials=after.credentials).content_credentials["state"] == "Trusted"
    stranger = make_manager(credentials_dir=str(tmp_path / "disk-3"))  # a machine key: not the operator's
    assert verify(picture, credentials=stranger.credentials).content_credentials["state"] == "Valid"


def test_key_files_work_as_well_as_text(operator_key, tmp_path):
    from pipelines.content_credentials import load_identity

    key_file, chain_file = tmp_path / "key.pem", tmp_path / "chain.pem"
    key_file.write_text(operator_key[0])
    chain_file.write_text(operator_key[1])
    assert load_identity(str(key_file), str(chain_file)).algorithm == "es256"


def bad_keys(operator_key, tmp_path):
    key, chain = operator_key
    unreadable = tmp_path / "a-folder.pem"
    unreadable.mkdir()
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    from pipelines.content_credentials import CHAIN_FILE, _make_keys

    _make_keys(tmp_path / "other")
    other_chain = (tmp_path / "other" / CHAIN_FILE).read_text()
    return {
        "missing file": (str(tmp_path / "nowhere.pem"), chain, ["nowhere.pem", "does not exist", "--c2pa-key"]),
        "unreadable file": (str(unreadable), chain, ["a-folder.pem", "cannot be read"]),
        "not a key": (str(garbage), chain, ["garbage.pem", "is not an unencrypted PEM private key"]),
        "chain of another key": (key, other_chain, ["--c2pa-chain", "is not the certificate of"]),
        "no chain": (key, None, ["certificate chain (--c2pa-chain) is missing"]),
    }


@pytest.mark.parametrize("case", ["missing file", "unreadable file", "not a key", "chain of another key", "no chain"])
def test_a_key_that_cannot_be_used_is_named_once_and_pictures_are_still_signed(case, operator_key, tmp_path, caplog):
    from pipelines.content_credentials import ContentCredentials

    key, chain, words = bad_keys(operator_key, tmp_path)[case]
    with caplog.at_level(logging.WARNING):
        credentials = ContentCredentials(tmp_path / "machine-key", "test", key, chain)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and all(word in warnings[0] for word in words), warnings
    assert credentials.identity is None
    png = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(png, "PNG")
    signed = credentials.sign(png.getvalue(), "PNG", TRAINED_ALGORITHMIC_MEDIA)
    assert credentials.read(signed, "PNG").state == "Trusted"  # by the machine's own key, this time


# --- the Space's card ------------------------------------------------------------------------------

# PyTorch releases the ZeroGPU documentation lists as supported, and its Python.
ZEROGPU_TORCH = {"2.1.0", "2.1.1", "2.1.2", "2.2.0", "2.2.2", "2.4.0", "2.5.1", "2.6.0", "2.7.1", "2.8.0"}
ZEROGPU_PYTHON = "3.10"


def front_matter() -> dict:
    import yaml

    from tests.app_server import ROOT

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return yaml.safe_load(text.split("---\n")[1])


def test_the_space_card_is_complete_and_its_python_and_torch_are_ones_zerogpu_supports():
    from huggingface_hub import SpaceHardware, SpaceStorage
    from packaging.requirements import Requirement

    from tests.app_server import ROOT

    card = front_matter()
    assert card["license"] == "apache-2.0" and (ROOT / "LICENSE").is_file()
    assert card["suggested_hardware"] in {h.value for h in SpaceHardware}
    assert card["suggested_storage"] in {s.value for s in SpaceStorage}
    assert 0 < len(card["short_description"]) <= 60  # the Hub's limit
    assert {line.split()[0] for line in card["preload_from_hub"]} <= set(card["models"])
    assert str(card["python_version"]) == ZEROGPU_PYTHON
    there = {"python_version": ZEROGPU_PYTHON, "python_full_version": "3.10.13", "sys_platform": "linux",
             "platform_system": "Linux", "platform_machine": "x86_64"}
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    torch = [Requirement(line) for line in lines if line.startswith("torch") and not line.startswith("torchvision")]
    chosen = [r for r in torch if r.marker is None or r.marker.evaluate(there)]
    assert len(chosen) == 1 and {str(s.version) for s in chosen[0].specifier} <= ZEROGPU_TORCH
    assert all(s.operator == "==" for s in chosen[0].specifier)


def test_one_opencv_package_is_installed():
    """Two OpenCV packages write the same cv2 files over each other; the requirements ask for the headless one."""
    from importlib.metadata import distributions

    names = {(d.metadata["Name"] or "").lower().replace("_", "-") for d in distributions()}
    assert {name for name in names if name.startswith("opencv")} == {"opencv-python-headless"}

"""C2PA Content Credentials: a signed manifest in each picture saying that a model generated it.

Signed with a key made on this machine on first use: a small local certificate authority and a signing
certificate under it (ES256), kept in the key folder (`~/.cache/easel/content-credentials` unless set).
No C2PA trust list knows that authority, so other checkers (the CAI's Verify site, c2patool) report
the signature as valid and its signer as unknown; this studio's Verify tab also recognises its own key.
The manifest says what the IPTC label says (`c2pa.created` by Easel, digital source type), and its
hash binds the whole file: an edit to the pixels or the metadata afterwards shows.

The c2pa library is imported only when a picture is signed or read.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_FOLDER = Path.home() / ".cache" / "easel" / "content-credentials"
CHAIN_FILE, KEY_FILE, AUTHORITY_FILE = "chain.pem", "signing-key.pem", "authority.pem"
ISSUER = "Easel (a key made on this machine)"
MIME_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


@dataclass
class Credentials:
    """What a picture's C2PA manifest says, as read and checked by the c2pa library."""

    state: str  # "Trusted" (signed by this studio's key), "Valid" (a signer it does not know) or "Invalid"
    signer: str | None  # the signing certificate's common name
    issuer: str | None  # its organisation
    digital_source_type: str | None  # from the manifest's c2pa.created action
    claim_generator: str | None
    problems: list[str]  # validation failures, by the C2PA codes (e.g. assertion.dataHash.mismatch)


class ContentCredentials:
    """Signs pictures with this machine's key, and reads any picture's manifest."""

    def __init__(self, folder: str | os.PathLike | None = None, version: str = ""):
        self.folder = Path(folder) if folder else DEFAULT_FOLDER
        self.version = version
        self._lock = threading.RLock()  # one signing at a time: the pages and the API write from several threads
        self._signer = None

    def sign(self, data: bytes, file_format: str, source_type: str) -> bytes:
        """`data` (a whole PNG, JPEG or WebP file) with a signed manifest added."""
        import io

        import c2pa

        manifest = {
            "claim_generator_info": [{"name": "Easel", "version": self.version}],
            "assertions": [{"label": "c2pa.actions", "data": {"actions": [{
                "action": "c2pa.created", "digitalSourceType": source_type,
                "softwareAgent": {"name": "Easel", "version": self.version}}]}}],
        }
        signed = io.BytesIO()
        with self._lock, c2pa.Builder(json.dumps(manifest), context=self._context(thumbnail=False)) as builder:
            builder.sign(self._load_signer(), MIME_TYPES[file_format], io.BytesIO(data), signed)
        return signed.getvalue()

    def read(self, data: bytes, file_format: str) -> Credentials | None:
        """The manifest of a picture, checked against this studio's key as the one trusted signer; None if none."""
        import io

        import c2pa

        if file_format not in MIME_TYPES:
            return None
        try:
            with c2pa.Reader(MIME_TYPES[file_format], io.BytesIO(data), context=self._context(trust=True)) as reader:
                store = json.loads(reader.json())
        except c2pa.C2paError as error:
            if "ManifestNotFound" in type(error).__name__ + str(error):
                return None
            return Credentials("Invalid", None, None, None, None, [f"unreadable: {error}"])
        manifest = store.get("manifests", {}).get(store.get("active_manifest"), {})
        signature = manifest.get("signature_info", {})
        actions = [action for assertion in manifest.get("assertions", [])
                   if str(assertion.get("label", "")).startswith("c2pa.actions")
                   for action in assertion.get("data", {}).get("actions", [])]
        created = next((a for a in actions if a.get("action") == "c2pa.created"), {})
        generator = next(iter(manifest.get("claim_generator_info", [])), {})
        problems = [status.get("code", "?") for status in store.get("validation_status", [])]
        state = store.get("validation_state") or ("Invalid" if problems else "Valid")
        return Credentials(state, signature.get("common_name"), signature.get("issuer"),
                           created.get("digitalSourceType"),
                           f"{generator.get('name', '')} {generator.get('version', '')}".strip() or None,
                           [code for code in problems if code != "signingCredential.untrusted"])

    def _context(self, thumbnail: bool = True, trust: bool = False):
        import c2pa

        settings: dict = {}
        if not thumbnail:  # a thumbnail of a noisy picture weighs as much as the picture
            settings["builder"] = {"thumbnail": {"enabled": False}}
        authority = self.folder / AUTHORITY_FILE
        if trust and authority.exists():  # the one signer trusted: this studio's own key
            settings["verify"] = {"verify_trust": True}
            settings["trust"] = {"trust_anchors": authority.read_text()}
        return c2pa.Context(c2pa.Settings.from_dict(settings))

    def _load_signer(self):
        with self._lock:
            if self._signer is None:
                import c2pa

                if not (self.folder / KEY_FILE).exists():
                    _make_keys(self.folder)
                chain = (self.folder / CHAIN_FILE).read_bytes()
                key = (self.folder / KEY_FILE).read_bytes()
                self._signer = c2pa.Signer.from_info(
                    c2pa.C2paSignerInfo(alg=b"es256", sign_cert=chain, private_key=key, ta_url=None))
            return self._signer


def _make_keys(folder: Path) -> None:
    """A local authority and a signing certificate it issued, written to `folder` all at once.

    C2PA checkers refuse a self-signed signing certificate, hence the two levels. Written to a new folder
    that is then renamed into place, so two processes starting together end up with the same key.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, ISSUER)])

    def usage(**allowed) -> x509.KeyUsage:
        flags = dict.fromkeys(["digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                               "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"], False)
        return x509.KeyUsage(**{**flags, **allowed})

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=3650)
    authority_key, signing_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    authority = (x509.CertificateBuilder().subject_name(name("Easel local authority"))
                 .issuer_name(name("Easel local authority")).public_key(authority_key.public_key())
                 .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
                 .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                 .add_extension(usage(key_cert_sign=True, crl_sign=True), critical=True)
                 .add_extension(x509.SubjectKeyIdentifier.from_public_key(authority_key.public_key()), critical=False)
                 .sign(authority_key, hashes.SHA256()))
    signing = (x509.CertificateBuilder().subject_name(name("Easel on this machine")).issuer_name(authority.subject)
               .public_key(signing_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(usage(digital_signature=True), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(signing_key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(authority_key.public_key()),
                              critical=False)
               .sign(authority_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".keys-", dir=folder.parent))
    (staging / CHAIN_FILE).write_bytes(signing.public_bytes(pem) + authority.public_bytes(pem))
    (staging / AUTHORITY_FILE).write_bytes(authority.public_bytes(pem))
    key_path = staging / KEY_FILE
    key_path.write_bytes(signing_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
    key_path.chmod(0o600)  # the authority's own key is not kept: it signs nothing else
    try:
        staging.rename(folder)
        log.info("made a C2PA signing key in %s", folder)
    except OSError:  # another process made one first: use that
        for path in staging.iterdir():
            path.unlink()
        staging.rmdir()

"""C2PA Content Credentials: a signed manifest in each picture saying that a model generated it.

Signed with a key made on this machine on first use: a small local certificate authority and a signing
certificate under it (ES256), kept in the key folder (`~/.cache/easel/content-credentials` unless set).
No C2PA trust list knows that authority, so other checkers (the CAI's Verify site, c2patool) report
the signature as valid and its signer as unknown; this studio's Verify tab also recognises its own key.
The manifest says what the IPTC label says (`c2pa.created` by Easel, digital source type), and its
hash binds the whole file: an edit to the pixels or the metadata afterwards shows.

An operator can give a key and certificate chain of their own instead (`signing_key`, `signing_chain`:
PEM text, as a Space secret holds it, or files), so that Verify keeps recognising the studio's pictures
after a restart on a machine whose disk is new each time; the chain's last certificate is then the one
authority Verify trusts. A key that cannot be used is said once, by name, and the studio signs with the
machine's own key instead.

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
KEY_HELP = "--c2pa-key / EASEL_C2PA_KEY and --c2pa-chain / EASEL_C2PA_CHAIN"


@dataclass
class SigningIdentity:
    """A private key with its certificate chain, in PEM, and the C2PA name of its signature algorithm."""

    key: bytes
    chain: bytes
    algorithm: str  # es256, es384, es512, ps256 or ed25519
    authority: bytes  # the chain's last certificate: the trust anchor Verify uses


class SigningKeyError(ValueError):
    """The operator's key or chain cannot be used; the message says which and why."""


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

    def __init__(self, folder: str | os.PathLike | None = None, version: str = "", key: str | None = None,
                 chain: str | None = None):
        self.folder = Path(folder) if folder else DEFAULT_FOLDER
        self.version = version
        self._lock = threading.RLock()  # one signing at a time: the pages and the API write from several threads
        self._signer = None
        self.identity = None  # the operator's key, when one is given and usable; else the machine's own
        if key or chain:
            try:
                self.identity = load_identity(key, chain)
            except SigningKeyError as error:
                log.warning("Content Credentials: %s. Pictures are signed with a key made on this machine "
                            "instead, which Verify will not recognise after this machine's disk is wiped.", error)

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
        anchor = (self.identity.authority.decode() if self.identity is not None
                  else authority.read_text() if authority.exists() else None)
        if trust and anchor:  # the one signer trusted: this studio's own key
            settings["verify"] = {"verify_trust": True}
            settings["trust"] = {"trust_anchors": anchor}
        return c2pa.Context(c2pa.Settings.from_dict(settings))

    def _load_signer(self):
        with self._lock:
            if self._signer is None:
                import c2pa

                if self.identity is not None:
                    chain, key, algorithm = self.identity.chain, self.identity.key, self.identity.algorithm
                else:
                    if not (self.folder / KEY_FILE).exists():
                        _make_keys(self.folder)
                    chain, key = (self.folder / CHAIN_FILE).read_bytes(), (self.folder / KEY_FILE).read_bytes()
                    algorithm = "es256"
                self._signer = c2pa.Signer.from_info(
                    c2pa.C2paSignerInfo(alg=algorithm.encode(), sign_cert=chain, private_key=key, ta_url=None))
            return self._signer


def load_identity(key: str | None, chain: str | None) -> SigningIdentity:
    """The operator's key and chain, each PEM text or a file's path, checked to belong together."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if not key or not chain:
        missing = "the key (--c2pa-key)" if not key else "the certificate chain (--c2pa-chain)"
        raise SigningKeyError(f"{missing} is missing: give both {KEY_HELP}")
    key_pem, key_source = _pem(key, "the signing key (--c2pa-key / EASEL_C2PA_KEY)")
    chain_pem, chain_source = _pem(chain, "the certificate chain (--c2pa-chain / EASEL_C2PA_CHAIN)")
    try:
        private_key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as error:
        raise SigningKeyError(f"{key_source} is not an unencrypted PEM private key ({error})") from None
    try:
        certificates = x509.load_pem_x509_certificates(chain_pem)
    except ValueError as error:
        raise SigningKeyError(f"{chain_source} is not a PEM certificate chain ({error})") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.PEM
    if (certificates[0].public_key().public_bytes(encoding, public)
            != private_key.public_key().public_bytes(encoding, public)):
        raise SigningKeyError(f"{chain_source}: its first certificate is not the certificate of {key_source}")
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and private_key.curve.name in _EC_ALGORITHMS:
        algorithm = _EC_ALGORITHMS[private_key.curve.name]
    elif isinstance(private_key, rsa.RSAPrivateKey):
        algorithm = "ps256"
    elif isinstance(private_key, ed25519.Ed25519PrivateKey):
        algorithm = "ed25519"
    else:
        raise SigningKeyError(f"{key_source} is a key type C2PA cannot sign with; use EC P-256, RSA or Ed25519")
    return SigningIdentity(key_pem, chain_pem, algorithm, certificates[-1].public_bytes(encoding))


_EC_ALGORITHMS = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}


def _pem(value: str, what: str) -> tuple[bytes, str]:
    """PEM text as given, or the contents of the file it names; and how to name it in a message."""
    if "-----BEGIN" in value:
        return value.encode(), f"{what}, given as text,"
    path = Path(value).expanduser()
    try:
        return path.read_bytes(), f"{what} file {path}"
    except FileNotFoundError:
        raise SigningKeyError(f"{what} file {path} does not exist") from None
    except OSError as error:
        raise SigningKeyError(f"{what} file {path} cannot be read ({error.strerror or error})") from None


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


def main(argv: list[str] | None = None) -> None:
    """`python -m pipelines.content_credentials FOLDER`: make a signing key and its chain for --c2pa-key/--c2pa-chain."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m pipelines.content_credentials",
                                     description="Make a C2PA signing key (and its certificate chain) to keep.")
    parser.add_argument("folder", help="a new folder to write signing-key.pem, chain.pem and authority.pem to")
    folder = Path(parser.parse_args(argv).folder)
    if folder.exists():
        parser.error(f"{folder} exists already: name a new folder")
    _make_keys(folder)
    print(f"Made {folder / KEY_FILE} (keep it secret: --c2pa-key / EASEL_C2PA_KEY) and {folder / CHAIN_FILE} "
          "(--c2pa-chain / EASEL_C2PA_CHAIN).")


if __name__ == "__main__":
    main()

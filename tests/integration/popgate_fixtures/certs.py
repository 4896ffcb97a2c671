"""Self-signed test certificates made with the openssl command line."""

import dataclasses
import os
import subprocess


@dataclasses.dataclass
class TlsMaterial:
    dir: str
    cert: str  # ECDSA P-256, CN=localhost, SAN DNS:localhost, IP:127.0.0.1
    key: str
    rsa_cert: str  # RSA 2048, same names
    rsa_key: str


def make_self_signed(dir, stem, keyalg, name="localhost", days=30):
    """Writes STEM-cert.pem and STEM-key.pem (PKCS#8, unencrypted) into dir; returns both paths.
    keyalg is an openssl -newkey argument ("ec" with P-256, or "rsa:2048")."""
    cert = os.path.join(dir, f"{stem}-cert.pem")
    key = os.path.join(dir, f"{stem}-key.pem")
    cmd = ["openssl", "req", "-x509", "-nodes", "-days", str(days),
           "-subj", f"/CN={name}",
           "-addext", f"subjectAltName=DNS:{name},IP:127.0.0.1",
           "-keyout", key, "-out", cert]
    if keyalg == "ec":
        cmd[3:3] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    else:
        cmd[3:3] = ["-newkey", keyalg]
    subprocess.run(cmd, check=True, capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


def make_tls_material(dir):
    cert, key = make_self_signed(dir, "ecdsa", "ec")
    rsa_cert, rsa_key = make_self_signed(dir, "rsa", "rsa:2048")
    return TlsMaterial(dir=dir, cert=cert, key=key, rsa_cert=rsa_cert, rsa_key=rsa_key)

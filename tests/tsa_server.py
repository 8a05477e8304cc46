"""A minimal RFC 3161 timestamp authority for tests, on 127.0.0.1 (asn1crypto + cryptography)."""

from __future__ import annotations

import datetime
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from asn1crypto import cms, core, tsp
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def make_ca_and_tsa() -> tuple[bytes, x509.Certificate, ec.EllipticCurvePrivateKey]:
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test TSA Root")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    tsa = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test TSA")]))
           .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
           .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
           .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
           .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
           .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
           .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
           .sign(ca_key, hashes.SHA256()))
    return ca.public_bytes(serialization.Encoding.PEM), tsa, key


def respond(body: bytes, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, serial: int) -> bytes:
    req = tsp.TimeStampReq.load(body)
    info: dict[str, Any] = {"version": "v1", "policy": "1.3.6.1.4.1.99999.1", "message_imprint": req["message_imprint"],
                            "serial_number": serial, "gen_time": datetime.datetime.now(datetime.UTC)}
    if req["nonce"].native is not None:
        info["nonce"] = req["nonce"].native
    tst_der = tsp.TSTInfo(info).dump()
    cert_der = cert.public_bytes(serialization.Encoding.DER)
    acert = ax509.Certificate.load(cert_der)
    attrs = cms.CMSAttributes([
        cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
        cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(tst_der).digest()]}),
        cms.CMSAttribute({"type": "signing_certificate_v2", "values": [tsp.SigningCertificateV2(
            {"certs": [tsp.ESSCertIDv2({"hash_algorithm": {"algorithm": "sha256"},
                                         "cert_hash": hashlib.sha256(cert_der).digest()})]})]}),
    ])
    signature = key.sign(attrs.dump(), ec.ECDSA(hashes.SHA256()))
    signer = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
            {"issuer": acert.issuer, "serial_number": acert.serial_number})}),
        "digest_algorithm": {"algorithm": "sha256"}, "signed_attrs": attrs,
        "signature_algorithm": {"algorithm": "sha256_ecdsa"}, "signature": signature})
    signed = cms.SignedData({"version": "v3", "digest_algorithms": [{"algorithm": "sha256"}],
                             "encap_content_info": {"content_type": "tst_info",
                                                    "content": core.ParsableOctetString(tst_der)},
                             "certificates": [acert], "signer_infos": [signer]})
    return tsp.TimeStampResp({"status": {"status": "granted"},
                              "time_stamp_token": cms.ContentInfo({"content_type": "signed_data",
                                                                   "content": signed})}).dump()


class TSA:
    def __init__(self) -> None:
        self.root_pem, self.cert, self.key = make_ca_and_tsa()
        self.serial = 0
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                tsa.serial += 1
                out = respond(body, tsa.cert, tsa.key, tsa.serial)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/tsa"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()

"""TLS for the MQTT link: the SSLContext from the CA bundle setting, and clear errors when the
handshake fails. Imported only by kits that set mqtt.tls, and on a failure.

cfg["mqtt"]["tls"] = {"ca": "ca.pem", "server_hostname": "optional name on the certificate"}
"""
from transport.mqtt import MQTTConnectError

# mbedTLS error codes (mbedtls/x509.h, ssl.h) that MicroPython raises as OSError(code) on the ESP32 and
# in the unix port: X509_CERT_VERIFY_FAILED (-0x2700) and the peer's "bad certificate" alert
# (SSL_BAD_CERTIFICATE / -0x7680).
_MBEDTLS_CERT_ERRORS = (-0x2700, -0x7680)


class MQTTTLSError(MQTTConnectError):
    """The TLS handshake failed; `cert_refused` when the broker's certificate did not verify against
    the configured CA bundle (or names another host)."""

    def __init__(self, cert_refused, detail):
        if cert_refused:
            msg = ("TLS: the broker's certificate was refused (not signed by a CA of the bundle in "
                   "mqtt.tls.ca, expired, or issued for another host name) [%s]" % detail)
        else:
            msg = "TLS handshake failed [%s]" % detail
        super().__init__(-2, msg)
        self.cert_refused = cert_refused


def raise_if_tls(e):
    """Raise MQTTTLSError if `e`, raised while connecting, is a TLS failure; else return."""
    name = type(e).__name__
    detail = "%s %s" % (name, str(e.args[0]).strip() if e.args else "")
    if isinstance(e, ValueError):  # MicroPython: ValueError("The certificate is not correctly signed ...")
        text = str(e)
        raise MQTTTLSError("ertificate" in text or "CA" in text, detail)
    if name.startswith("SSL"):  # CPython: ssl.SSLCertVerificationError, ssl.SSLError
        raise MQTTTLSError(name == "SSLCertVerificationError", detail)
    code = e.args[0] if e.args and isinstance(e.args[0], int) else 0
    if code < -0x1000:  # mbedTLS codes are negative; errno values are positive
        raise MQTTTLSError(code in _MBEDTLS_CERT_ERRORS, detail)
    text = str(e)
    if "MBEDTLS" in text or "SSL" in text:
        raise MQTTTLSError("VERIFY" in text or "CERT" in text, detail)


def context(tls):
    """An SSLContext that checks the broker against the CA bundle named by tls["ca"] (PEM file).
    ValueError with the setting's name if it cannot be built."""
    import ssl

    ca = tls.get("ca") if isinstance(tls, dict) else None
    if not ca:
        raise ValueError("mqtt.tls: no CA bundle (set mqtt.tls.ca to a PEM file on the device)")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        if hasattr(ctx, "check_hostname"):  # CPython reads the PEM file itself
            ctx.load_verify_locations(cafile=ca)
        elif not _load_pem_bundle(ctx, ca):
            raise ValueError("no certificate in the file")
    except (OSError, ValueError) as e:
        raise ValueError("mqtt.tls.ca %r: cannot load the CA bundle (%s)" % (ca, e))
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _load_pem_bundle(ctx, path):
    """Load each certificate of a PEM bundle, one at a time as DER (MicroPython's mbedTLS context
    takes DER; each call adds to the trusted chain). Returns how many were loaded."""
    from binascii import a2b_base64

    n = 0
    b64 = None
    with open(path, "rb") as f:
        for line in f:
            line = line.strip()
            if line == b"-----BEGIN CERTIFICATE-----":
                b64 = []
            elif line == b"-----END CERTIFICATE-----" and b64 is not None:
                ctx.load_verify_locations(cadata=a2b_base64(b"".join(b64)))
                b64 = None
                n += 1
            elif b64 is not None:
                b64.append(line)
    return n

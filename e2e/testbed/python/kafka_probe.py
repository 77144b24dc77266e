"""Kafka readiness probe for the floe e2e test bed (stdlib only).

Sends one Metadata v4 request and exits 0 when the broker answers with at
least one live broker, i.e. it finished start-up and registered with the
KRaft controller.

With --kip848 it also checks (ApiVersions) that the broker serves
ConsumerGroupHeartbeat, the KIP-848 consumer group protocol.

The secured listeners (verify.sh): --tls-ca FILE speaks TLS and verifies the
broker's certificate (and its IP SAN) against FILE; --tls-cert/--tls-key add
a client certificate (mTLS); --sasl-plain USER:PASSWORD authenticates with
SASL PLAIN (SaslHandshake v1 + SaslAuthenticate v1) first and prints the
session lifetime the broker grants (connections.max.reauth.ms).

usage: kafka_probe.py HOST PORT [--kip848] [--tls-ca FILE [--tls-cert FILE --tls-key FILE]]
                      [--sasl-plain USER:PASSWORD]
"""
import argparse
import socket
import ssl
import struct
import sys


CONSUMER_GROUP_HEARTBEAT = 68


class Conn:
    """One broker connection (plain or TLS) with request header v1."""

    def __init__(self, host: str, port: int, tls: "ssl.SSLContext | None") -> None:
        s = socket.create_connection((host, port), timeout=3)
        s.settimeout(3)
        if tls is not None:
            try:
                s = tls.wrap_socket(s, server_hostname=host)
            except BaseException:
                s.close()
                raise
        self.s = s
        self.corr = 0

    def close(self) -> None:
        self.s.close()

    def request(self, api_key: int, version: int, body: bytes) -> bytes:
        client_id = b"floe-testbed-probe"
        self.corr += 1
        # request header v1: api_key, api_version, correlation_id, client_id
        header = struct.pack(">hhih", api_key, version, self.corr, len(client_id)) + client_id
        req = header + body
        self.s.sendall(struct.pack(">i", len(req)) + req)
        size = struct.unpack(">i", _read(self.s, 4))[0]
        resp = _read(self.s, size)
        if struct.unpack(">i", resp[:4])[0] != self.corr:
            raise ValueError("unexpected correlation id")
        return resp[4:]


def _api_keys(c: Conn) -> set:
    # ApiVersions v0: empty body; response: error_code, [api_key, min, max]
    resp = c.request(18, 0, b"")
    err, n = struct.unpack(">hi", resp[:6])
    if err:
        raise ValueError(f"ApiVersions error {err}")
    return {struct.unpack(">h", resp[6 + 6 * i : 8 + 6 * i])[0] for i in range(n)}


def _sasl_plain(c: Conn, user: str, password: str) -> int:
    """SASL PLAIN; returns the session lifetime in ms (0: unlimited)."""
    mech = b"PLAIN"
    # SaslHandshake v1: mechanism; response: error_code, [mechanisms]
    resp = c.request(17, 1, struct.pack(">h", len(mech)) + mech)
    err = struct.unpack(">h", resp[:2])[0]
    if err:
        raise ValueError(f"SaslHandshake error {err} (PLAIN not enabled?)")
    token = b"\0" + user.encode() + b"\0" + password.encode()
    # SaslAuthenticate v1: auth_bytes; response: error_code, error_message
    # (nullable string), auth_bytes, session_lifetime_ms
    resp = c.request(36, 1, struct.pack(">i", len(token)) + token)
    err, mlen = struct.unpack(">hh", resp[:4])
    off = 4
    msg = ""
    if mlen >= 0:
        msg = resp[off : off + mlen].decode(errors="replace")
        off += mlen
    if err:
        raise ValueError(f"SaslAuthenticate error {err}: {msg}")
    blen = struct.unpack(">i", resp[off : off + 4])[0]
    off += 4 + max(blen, 0)
    return struct.unpack(">q", resp[off : off + 8])[0]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--kip848", action="store_true")
    ap.add_argument("--tls-ca")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--sasl-plain", metavar="USER:PASSWORD")
    a = ap.parse_args()

    tls = None
    if a.tls_ca:
        tls = ssl.create_default_context(cafile=a.tls_ca)  # verifies chain and host/IP
        if a.tls_cert:
            tls.load_cert_chain(a.tls_cert, a.tls_key)
    c = Conn(a.host, a.port, tls)
    try:
        if a.sasl_plain:
            user, _, password = a.sasl_plain.partition(":")
            print(f"sasl_lifetime_ms={_sasl_plain(c, user, password)}")
        # Metadata v4 body: topics=null (all), allow_auto_topic_creation=false
        resp = c.request(3, 4, struct.pack(">ib", -1, 0))
        _throttle, nbrokers = struct.unpack(">ii", resp[:8])
        print(f"brokers={nbrokers}")
        if nbrokers < 1:
            return 1
        if a.kip848:
            if CONSUMER_GROUP_HEARTBEAT not in _api_keys(c):
                print("broker does not serve ConsumerGroupHeartbeat (KIP-848)", file=sys.stderr)
                return 1
            print("kip848=ok")
    finally:
        c.close()
    return 0


def _read(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, ValueError, struct.error) as e:  # ssl.SSLError is an OSError
        print(f"kafka probe failed: {e}", file=sys.stderr)
        sys.exit(1)

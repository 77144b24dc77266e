"""Kafka readiness probe for the floe e2e test bed (stdlib only).

Sends one Metadata v4 request (the oldest version Kafka 4.x still serves)
and exits 0 when the broker answers with at least one live broker, i.e. it
finished start-up and registered with the KRaft controller.

With --kip848 it also checks (ApiVersions) that the broker serves
ConsumerGroupHeartbeat, the KIP-848 consumer group protocol.

usage: kafka_probe.py HOST PORT [--kip848]
"""
import socket
import struct
import sys


CONSUMER_GROUP_HEARTBEAT = 68


def _request(host: str, port: int, api_key: int, version: int, body: bytes) -> bytes:
    client_id = b"floe-testbed-probe"
    # request header v1: api_key, api_version, correlation_id, client_id
    header = struct.pack(">hhih", api_key, version, 7, len(client_id)) + client_id
    req = header + body
    with socket.create_connection((host, port), timeout=3) as s:
        s.settimeout(3)
        s.sendall(struct.pack(">i", len(req)) + req)
        size = struct.unpack(">i", _read(s, 4))[0]
        resp = _read(s, size)
    if struct.unpack(">i", resp[:4])[0] != 7:
        raise ValueError("unexpected correlation id")
    return resp[4:]


def _api_keys(host: str, port: int) -> set:
    # ApiVersions v0: empty body; response: error_code, [api_key, min, max]
    resp = _request(host, port, 18, 0, b"")
    err, n = struct.unpack(">hi", resp[:6])
    if err:
        raise ValueError(f"ApiVersions error {err}")
    return {struct.unpack(">h", resp[6 + 6 * i : 8 + 6 * i])[0] for i in range(n)}


def main() -> int:
    host, port = sys.argv[1], int(sys.argv[2])
    # Metadata v4 body: topics=null (all), allow_auto_topic_creation=false
    resp = _request(host, port, 3, 4, struct.pack(">ib", -1, 0))
    _throttle, nbrokers = struct.unpack(">ii", resp[:8])
    print(f"brokers={nbrokers}")
    if nbrokers < 1:
        return 1
    if "--kip848" in sys.argv[3:]:
        if CONSUMER_GROUP_HEARTBEAT not in _api_keys(host, port):
            print("broker does not serve ConsumerGroupHeartbeat (KIP-848)", file=sys.stderr)
            return 1
        print("kip848=ok")
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
    except (OSError, ValueError, struct.error) as e:
        print(f"kafka probe failed: {e}", file=sys.stderr)
        sys.exit(1)

"""The click-to-call's PBX request on a cold interpreter: what TLS costs, and only when the PBX is https.

Each sample is a fresh interpreter on the layer ``sam build`` makes (bench/cold_start's build:
``.aws-sam/bench-build``, its boto3 directory, ``-I -S -B``) that calls
``ctibridge.click2call.pbx_client.place_call`` twice against a PBX stand-in on 127.0.0.1: the first
call (httpx's import, the client, the request) and the second (a new client per call, as the function
makes), interleaved in shuffled order: a plain ``http://`` PBX (no SSL context may be made) and an
``https://`` one (the process's one SSL context: the first call pays it, the second not), each cold
and warmed (httpx imported and, for https, the SSL context made before the clock starts: what a
SnapStart snapshot could hold). The https PBX's certificate comes from a test CA, trusted through
``SSL_CERT_FILE`` (the click-to-call client keeps httpx's default of trusting the environment) set to
the layer's certifi bundle plus that CA, so the context loads as many certificates as on Lambda.

    python -m bench.outbound_http.run [--rounds 15] [--no-build]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.cold_start.run import BUILD_DIR, ROOT, RUNTIME_DIR, build

RESULTS = ROOT / "bench" / "results" / "outbound_http.json"

CHILD = r"""
import json, sys, time
spec = json.loads(sys.argv[1])
sys.path[:0] = spec["path"]
from ctibridge.click2call import pbx_client
from ctibridge.tenants.models import Tenant

tenant = Tenant(tenant_id="demo", domain="demo.example.com", pbx_click2call_url=spec["url"])
if spec["warm"]:
    from ctibridge import outbound_http
    if spec["url"].startswith("https:"):
        outbound_http.tls_context(trust_env=True)
started = time.perf_counter()
pbx_client.place_call(tenant, "secret", "101", "0901234567", "token")
first = time.perf_counter()
pbx_client.place_call(tenant, "secret", "101", "0901234567", "token")
second = time.perf_counter()
print(json.dumps({"first_ms": (first - started) * 1000, "second_ms": (second - first) * 1000}))
"""


class _Pbx(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else a TLS answer's records wait for the client's delayed ACK (~40 ms)

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(tls: ssl.SSLContext | None) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pbx)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _sample(spec: dict[str, Any], ca_file: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", CHILD, json.dumps(spec)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "POWERTOOLS_LOG_LEVEL": "WARNING", "SSL_CERT_FILE": ca_file},
        cwd=tempfile.gettempdir(),
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> int:
    import trustme

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="samples per PBX")
    parser.add_argument("--no-build", action="store_true", help="reuse .aws-sam/bench-build")
    args = parser.parse_args()
    if not args.no_build or not BUILD_DIR.exists():
        build()

    ca = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(tls)
    plain, secure = _serve(None), _serve(tls)
    path = [str(BUILD_DIR / "SharedLayer" / "python"), str(RUNTIME_DIR)]
    http_url = f"http://127.0.0.1:{plain.server_address[1]}/click2call.php"
    https_url = f"https://127.0.0.1:{secure.server_address[1]}/click2call.php"
    kinds = {
        "http": (http_url, False),
        "https": (https_url, False),
        "http, warmed": (http_url, True),
        "https, warmed": (https_url, True),
    }
    samples: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    bundle = (BUILD_DIR / "SharedLayer" / "python" / "certifi" / "cacert.pem").read_bytes()
    with tempfile.TemporaryDirectory() as folder:
        ca_file = Path(folder) / "bundle.pem"
        ca_file.write_bytes(bundle + b"\n" + ca.cert_pem.bytes())
        for _ in range(args.rounds):
            order = list(kinds)
            random.shuffle(order)
            for kind in order:
                url, warm = kinds[kind]
                samples[kind].append(_sample({"path": path, "url": url, "warm": warm}, str(ca_file)))
    plain.shutdown()
    secure.shutdown()

    rows = {}
    for kind, values in samples.items():
        first = [v["first_ms"] for v in values]
        quartiles = statistics.quantiles(first, n=4)
        rows[kind] = {
            "first_call_ms": round(statistics.median(first), 1),
            "first_call_iqr_ms": [round(quartiles[0], 1), round(quartiles[2], 1)],
            "second_call_ms": round(statistics.median(v["second_ms"] for v in values), 1),
        }
    result = {"python": platform.python_version(), "machine": platform.machine(), "rounds": args.rounds}
    result["pbx"] = rows
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'PBX':28} {'1st call ms':>12} {'IQR':>13} {'2nd call ms':>12}")
    for kind, row in rows.items():
        low, high = row["first_call_iqr_ms"]
        print(f"{kind:28} {row['first_call_ms']:>12} {f'{low}-{high}':>13} {row['second_call_ms']:>12}")
    print(f"results: {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

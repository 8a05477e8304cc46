"""Red-team scenarios of the network lab (issue #17, high 1), as tests: a hostile "public" site,
canaries on loopback and on the cloud metadata address, a rebinding DNS server. A scenario
passes when no canary received anything.

Each scenario runs in its own private network + mount namespace (``unshare -n -m``; as a
normal user with ``-r``, a user namespace), made by running this file as a script: inside,
loopback is brought up with the addresses 93.184.216.34 (the "public" site), 169.254.169.254 and
100.100.100.200 (metadata) on it, /etc/hosts and /etc/resolv.conf are bind-mounted to the lab's,
and the site, canaries and DNS server run as threads next to the Haechi code under test. Nothing
on the host changes; the namespace ends with the process. Where the kernel refuses namespaces
the tests are skipped, saying so (under ``make redteam``, which runs these and
tests/test_egress.py, they fail instead: ``HAECHI_REQUIRE_REDTEAM=1``).

The servers are a copy, cut to what the scenarios need, of the review's lab
(``../shared/tools/netlab``), so a clone without that folder runs them.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = "93.184.216.34"
METADATA = "169.254.169.254"
CANARIES = [("127.0.0.1", 9999), ("::1", 9999), ("0.0.0.0", 9998), (METADATA, 80), ("100.100.100.200", 80),
            ("127.0.0.1", 5000), ("127.0.0.1", 80)]
#: a private address on a non-loopback interface inside the lab (WebRTC gathers candidates on it)
PRIVATE = "10.66.0.1"
HOSTS = f"127.0.0.1 localhost\n::1 localhost\n{PUBLIC} pub.test\n127.0.0.1 evil.test\n"
TOKEN = "hc_partner-token-must-not-leak"

# ---------------------------------------------------------------- the lab (runs inside the namespace)

HITS: list[dict[str, Any]] = []
DNS_COUNT: dict[str, int] = {}
ASKED: list[str] = []  # every name the lab's DNS server was asked, any type
UDP_HITS: list[dict[str, Any]] = []


class _Canary(BaseHTTPRequestHandler):
    """An internal service: records every request; answers like a bank feed with a secret."""

    def _hit(self) -> None:
        HITS.append({"listen": f"{self.server.server_address[0]}:{self.server.server_address[1]}",
                     "method": self.command, "path": self.path, "host": self.headers.get("Host"),
                     "auth": self.headers.get("Authorization")})
        body = b'{"secret":"INTERNAL-ONLY-canary","signals":[],"removed":[],"next_cursor":"x","more":false}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _hit

    def log_message(self, *a: Any) -> None:
        pass


def _jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


C = "http://127.0.0.1:9999"
PAGES = {
    # every way a page can point a browser inward; none may reach a canary
    "inward": f"""<!doctype html><html><head><title>t</title>
<link rel="stylesheet" href="data:text/css,body{{background:url(http://{METADATA}/latest/css-bg)}}">
</head><body><img src="/img1.jpg">
<img src="{C}/img-loopback"><img src="http://127.1:9999/img-127.1"><img src="http://0x7f000001:9999/img-hex">
<img src="http://2130706433:9999/img-dec"><img src="http://[::1]:9999/img-v6">
<img src="http://[::ffff:127.0.0.1]:9999/img-mapped"><img src="http://0.0.0.0:9998/img-zero">
<img src="http://localhost.:9999/img-localhost-dot"><img src="http://sub.localhost:9999/img-sub-localhost"><img src="http://evil.test:9999/img-evil-test">
<img src="http://{PUBLIC}/redir?to=http://127.0.0.1:9999/img-via-redirect">
<img src="http://{PUBLIC}/redir?to=http://{METADATA}/img-meta-via-redirect&code=307">
<img srcset="{C}/img-srcset 1x, /img2.jpg 2x"><video poster="{C}/img-poster"></video>
<iframe src="http://{PUBLIC}/redir?to=http://100.100.100.200/iframe-via-redirect"></iframe>
<script>fetch("{C}/script-fetch", {{mode: "no-cors"}}).catch(() => 0);
try {{ new WebSocket("ws://127.0.0.1:9999/ws"); }} catch (e) {{}}</script>
</body></html>""".encode(),
    # pictures under a rebinding name: each is asked for by that name again
    # WebRTC: STUN (UDP) to a canary on a private interface address, to loopback and to the
    # metadata address, a TURN-over-TCP server inside, DNS prefetch and preconnect of a name only
    # this page uses; the slow image keeps the page loading while ICE gathers candidates
    "webrtc": f"""<!doctype html><html><head>
<link rel="dns-prefetch" href="//prefetch-canary.test"><link rel="preconnect" href="http://preconnect-canary.test">
</head><body><h1>webrtc</h1><img src="/img-slow.jpg">
<script>
const ice = [{{urls: "stun:{PRIVATE}:3478"}}, {{urls: "stun:127.0.0.1:3478"}}, {{urls: "stun:{METADATA}:3478"}},
             {{urls: "turn:{PRIVATE}:3479?transport=tcp", username: "u", credential: "p"}}];
for (let i = 0; i < 2; i++) {{
  const pc = new RTCPeerConnection({{iceServers: ice}});
  pc.createDataChannel("x");
  pc.createOffer().then(o => pc.setLocalDescription(o)).catch(() => 0);
}}
fetch("http://{METADATA}/latest/webrtc-page-fetch", {{mode: "no-cors"}}).catch(() => 0);
fetch("{C}/webrtc-page-fetch", {{mode: "no-cors"}}).catch(() => 0);
</script></body></html>""".encode(),
    "rebind": b"<html><body><h1>rebinding</h1><img src='http://rebind.test/img-a.jpg'>"
              b"<img src='http://rebind.test/img-b.jpg'><img src='http://rebind.test/img-c.jpg'>"
              b"<img src='/img-own.jpg'></body></html>",
}


class _Public(BaseHTTPRequestHandler):
    """The hostile 'public' site on 93.184.216.34:80."""

    protocol_version = "HTTP/1.1"

    def _send(self, code: int, body: bytes = b"", ctype: str = "text/html",
              extra: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        u = urlsplit(self.path)
        q = dict(parse_qsl(u.query))
        if u.path == "/redir":
            return self._send(int(q.get("code", "302")), extra=(("Location", q["to"]),))
        if u.path == "/cloak":  # a plain fetcher sees a page; a browser is sent inside
            if "Chrome" not in (self.headers.get("User-Agent") or ""):
                return self._send(200, b"<html><body>innocent</body></html>")
            return self._send(302, extra=(("Location", q["to"]),))
        if u.path == "/img-slow.jpg":  # keeps a page loading (WebRTC gathers meanwhile)
            time.sleep(4)
        if u.path.startswith("/img"):
            return self._send(200, JPEG, "image/jpeg")
        if u.path == "/page":
            return self._send(200, PAGES[q["n"]])
        return self._send(404, b"nope", "text/plain")

    def log_message(self, *a: Any) -> None:
        pass


def _dns() -> None:
    """rebind.test answers public, loopback, public... (TTL 0); rebindN.test N times public,
    then loopback; seq-XYZ.test answers p(ublic) or l(oopback) in the order of the letters, the
    last one repeated. Counts A queries; other types get no answer."""
    import re

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.53", 53))
    while True:
        pkt, addr = s.recvfrom(512)
        i, labels = 12, []
        while pkt[i]:
            labels.append(pkt[i + 1:i + 1 + pkt[i]].decode())
            i += pkt[i] + 1
        end = i + 1
        qname, qtype = ".".join(labels).lower(), struct.unpack(">H", pkt[end:end + 2])[0]
        ASKED.append(qname)
        answers = []
        m = re.match(r"rebind(\d*)\.", qname)
        seq = re.match(r"seq-([pl]+)\.", qname)
        if qtype == 1 and (m or seq):
            k = DNS_COUNT.get(qname, 0)
            DNS_COUNT[qname] = k + 1
            if seq:
                public = seq.group(1)[min(k, len(seq.group(1)) - 1)] == "p"
            else:
                public = k < int(m.group(1)) if m.group(1) else k % 2 == 0  # type: ignore[union-attr]
            answers.append(socket.inet_aton(PUBLIC if public else "127.0.0.1"))
        rr = b"".join(b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 0, 4) + a for a in answers)
        s.sendto(pkt[:2] + b"\x81\x80" + pkt[4:6] + struct.pack(">HHH", len(answers), 0, 0) + pkt[12:end + 4] + rr,
                 addr)


JPEG = b""


def _tcp_canary(host: str, port: int) -> None:
    """Records every TCP connection to ``host:port`` (a TURN-over-TCP allocation)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen()
    while True:
        conn, addr = s.accept()
        UDP_HITS.append({"listen": f"{host}:{port}/tcp", "from": f"{addr[0]}:{addr[1]}"})
        conn.close()


def _udp_canary(host: str, port: int) -> None:
    """Records every UDP datagram (a STUN binding request) sent to ``host:port``."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, port))
    while True:
        pkt, addr = s.recvfrom(2048)
        UDP_HITS.append({"listen": f"{host}:{port}", "from": f"{addr[0]}:{addr[1]}", "bytes": len(pkt)})


def _lab_up(work: Path) -> None:
    global JPEG
    JPEG = _jpeg()
    for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", f"{PUBLIC}/32", "dev", "lo"],
                ["ip", "addr", "add", f"{METADATA}/32", "dev", "lo"],
                ["ip", "addr", "add", "100.100.100.200/32", "dev", "lo"]):
        subprocess.run(cmd, check=True)
    (work / "hosts").write_text(HOSTS)
    (work / "resolv.conf").write_text("nameserver 127.0.0.53\n")
    subprocess.run(["mount", "--bind", str(work / "hosts"), "/etc/hosts"], check=True)
    subprocess.run(["mount", "--bind", str(work / "resolv.conf"), "/etc/resolv.conf"], check=True)

    class Server(socketserver.ThreadingMixIn, HTTPServer):
        daemon_threads = True

    class Server6(Server):
        address_family = socket.AF_INET6

    # a non-loopback interface with a private address: Chromium gathers WebRTC candidates only on
    # such interfaces, so without it a WebRTC test would pass whatever the flags say
    # (a dummy device where the kernel has the module, else one end of a veth pair)
    if subprocess.run(["ip", "link", "add", "lab0", "type", "dummy"], capture_output=True).returncode != 0:
        subprocess.run(["ip", "link", "add", "lab0", "type", "veth", "peer", "name", "lab1"], check=True)
        subprocess.run(["ip", "link", "set", "lab1", "up"], check=True)
    for cmd in (["ip", "addr", "add", f"{PRIVATE}/24", "dev", "lab0"], ["ip", "link", "set", "lab0", "up"],
                ["ip", "route", "add", "default", "dev", "lab0"]):
        subprocess.run(cmd, check=True)
    for host, port in ((PRIVATE, 3478), ("127.0.0.1", 3478), (METADATA, 3478)):
        threading.Thread(target=_udp_canary, args=(host, port), daemon=True).start()
    threading.Thread(target=_tcp_canary, args=(PRIVATE, 3479), daemon=True).start()  # TURN over TCP
    servers = [(Server6 if ":" in h else Server)((h, p), _Canary) for h, p in CANARIES]
    servers.append(Server((PUBLIC, 80), _Public))
    for srv in servers:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    threading.Thread(target=_dns, daemon=True).start()
    time.sleep(0.2)


def _scenario(name: str, work: Path) -> dict[str, Any]:
    from haechi.errors import InputError
    from haechi.evidence.capture import Screenshotter, capture_page
    from haechi.sources.web import FetchLimits

    out: dict[str, Any] = {}
    if name.startswith("browser-"):
        url = {"browser-cloak-metadata": f"http://{PUBLIC}/cloak?to=http://{METADATA}/latest/meta-data/",
               "browser-cloak-loopback": f"http://{PUBLIC}/cloak?to={C}/chromium-cloaked-redirect",
               "browser-inward": f"http://{PUBLIC}/page?n=inward",
               "browser-rebind": f"http://{PUBLIC}/page?n=rebind",
               "browser-rebind-page": "http://seq-lp.test/page?n=inward",
               "browser-webrtc": f"http://{PUBLIC}/page?n=webrtc"}[name]
        with Screenshotter(FetchLimits(), timeout_s=20) as shooter:
            out["start_error"] = shooter.error
            try:
                shot = shooter.render(url)
                out["png"], out["media"], out["refused"] = len(shot.png), shot.media, shot.refused
            except InputError as exc:
                out["error"] = str(exc)
            if name == "browser-cloak-metadata":  # the whole capture path too
                cap = capture_page(url, work / "evidence", "2026-11-30T10:00:00Z", limits=FetchLimits(),
                                   screenshotter=shooter)
                out["capture"] = {"artefacts": sorted(cap.artefacts), "screenshot_error": cap.screenshot_error,
                                  "error": cap.error}
    elif name == "bank-pull-rebind":
        from haechi import Haechi

        with Haechi(home=work / "home") as h:
            try:
                out["result"] = h.pull_bank("pulled", "http://rebind1.test", "remote", TOKEN)
            except InputError as exc:
                out["error"] = str(exc)
    out["dns"] = DNS_COUNT
    out["asked"] = ASKED
    return out


def _main(name: str, work: str) -> None:
    _lab_up(Path(work))
    out = _scenario(name, Path(work))
    time.sleep(1.0)  # late requests (a browser closing) still count
    out["hits"] = HITS
    out["udp_hits"] = UDP_HITS
    print("RESULT " + json.dumps(out, default=str), flush=True)
    os._exit(0)  # daemon server threads: no orderly shutdown needed, the namespace goes


# ---------------------------------------------------------------- the tests (run on the host)


def _unshare() -> list[str]:
    base = ["unshare", "-n", "-m", "--propagation", "private"]
    return base if os.geteuid() == 0 else ["unshare", "-r", *base[1:]]


def _namespace_refused() -> str | None:
    if not shutil.which("unshare") or not shutil.which("ip"):
        return "needs unshare (util-linux) and ip (iproute2)"
    probe = subprocess.run([*_unshare(), "ip", "link", "set", "lo", "up"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"the kernel refused a private network namespace: {probe.stderr.strip() or probe.returncode}"
    return None


SKIP = _namespace_refused()
#: ``make redteam`` sets this: there, a refused namespace or a missing Chromium is a failure, not a skip
REQUIRED = bool(os.environ.get("HAECHI_REQUIRE_REDTEAM"))
needs_lab = pytest.mark.skipif(SKIP is not None and not REQUIRED, reason=SKIP or "")


def run_lab(name: str) -> dict[str, Any]:
    if SKIP is not None:
        pytest.fail(SKIP)
    with tempfile.TemporaryDirectory() as work:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run([*_unshare(), sys.executable, __file__, name, work], capture_output=True, text=True,
                              timeout=180, env=env, cwd=work)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert lines, f"scenario {name} did not finish: {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT "):])
    return result


def _chromium() -> bool:
    from haechi.evidence.capture import CHROMIUM

    return Path(CHROMIUM).exists()


needs_chromium = pytest.mark.skipif(not _chromium() and not REQUIRED, reason="Debian chromium not installed")


@needs_lab
@needs_chromium
@pytest.mark.slow  # Chromium in a fresh namespace per scenario: ~5 s each
@pytest.mark.parametrize("name", ["browser-cloak-metadata", "browser-cloak-loopback"])
def test_browser_redirected_inward_reaches_nothing(name: str) -> None:
    """A page that answers the fetcher but 302s the browser to the metadata address (or to
    loopback): the browser's request never arrives, and no screenshot is taken of it."""
    out = run_lab(name)
    assert out["start_error"] is None
    assert out["hits"] == [], out["hits"]
    assert "not a public address" in out.get("error", ""), out
    if name == "browser-cloak-metadata":
        assert "screenshot.png" not in out["capture"]["artefacts"]
        assert "not a public address" in (out["capture"]["screenshot_error"] or out["capture"]["error"] or "")


@needs_lab
@needs_chromium
@pytest.mark.slow  # Chromium in a fresh namespace per scenario: ~5 s each
def test_browser_every_inward_reference_is_refused() -> None:
    """Literal, encoded and named loopback, redirects to loopback and metadata (images,
    iframes), a script's fetch and a WebSocket: none reaches a canary; the page still renders."""
    out = run_lab("browser-inward")
    assert out["hits"] == [], out["hits"]
    assert out.get("png") and "error" not in out, out
    assert out["media"] == [f"http://{PUBLIC}/img1.jpg"]
    assert f"{C}/img-loopback" in out["refused"] and f"http://{METADATA}/img-meta-via-redirect" in out["refused"]


@needs_lab
@needs_chromium
@pytest.mark.slow  # Chromium in a fresh namespace per scenario: ~5 s each
@pytest.mark.parametrize("name", ["browser-rebind-page", "browser-rebind"])
def test_browser_dns_rebinding_reaches_nothing(name: str) -> None:
    """A name that answers loopback, then public (seq-lp.test): Chromium resolved it for the
    navigation before the page-level check resolved it again and approved the public answer,
    so Chromium fetched the page from 127.0.0.1 (today's code). Pictures under a name that
    alternates public/loopback (rebind.test) on a public page: each connection goes to the
    address its own check approved, so none reaches a canary."""
    out = run_lab(name)
    assert out["hits"] == [], out["hits"]
    if name == "browser-rebind-page":
        assert "not a public address" in out.get("error", ""), out
    else:
        assert out["dns"].get("rebind.test", 0) >= 2 and f"http://{PUBLIC}/img-own.jpg" in out["media"], out


@needs_lab
@needs_chromium
@pytest.mark.slow  # Chromium in a fresh namespace: ~10 s
def test_browser_webrtc_and_dns_prefetch_reach_nothing() -> None:
    """A page whose script opens WebRTC peer connections with STUN servers on a private interface
    address, loopback and the metadata address (and TURN over TCP inside), fetches loopback and
    metadata, and asks for DNS prefetch and preconnect of its own names. Inside the lab Chromium
    has a non-loopback interface with a private address, so it would gather candidates and send
    STUN requests (it did with the default WebRTC policy): no canary, UDP or TCP, receives anything,
    and the lab's DNS server is never asked for the page's names."""
    out = run_lab("browser-webrtc")
    assert out["start_error"] is None and out.get("png"), out
    assert out["udp_hits"] == [], out["udp_hits"]
    assert out["hits"] == [], out["hits"]
    assert not [n for n in out["asked"] if "canary" in n], out["asked"]


@needs_lab
def test_bank_pull_dns_rebinding_never_sends_the_token_inside() -> None:
    """rebind1.test answers public once, then 127.0.0.1: the pull is refused and the partner
    token never reaches the canary; the caller is not told the internal address."""
    out = run_lab("bank-pull-rebind")
    assert out["hits"] == [], out["hits"]
    assert "result" not in out and "not a public address" in out["error"], out
    assert "127.0.0.1" not in out["error"]


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2])

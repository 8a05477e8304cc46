"""The API decodes and hashes media in a bounded process pool (issues #16, #21): a heavy image is
stopped at the time limit with a 422 naming it while the same server keeps answering; a killed or
overrunning worker is replaced and the next upload works; a full pool answers 503 with
Retry-After; a decompression bomb is refused from its header; archives sent to any upload route
are refused with a 400 naming the format — never a 500."""

from __future__ import annotations

import io
import os
import signal
import struct
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from haechi import Haechi
from haechi.api.app import create_app
from haechi.errors import Busy, InputError, MediaAborted
from haechi.services import accounts
from haechi.services.hashpool import HashPool
from tests.helpers import scene_jpeg, served
from tests.pool_tasks import fail, nap


# -- the pool itself ------------------------------------------------------------------------------
@pytest.fixture
def pool() -> Iterator[HashPool]:
    p = HashPool(workers=1, queue_size=1, time_limit=1.5)
    yield p
    p.close()


def test_an_overrunning_task_is_stopped_its_worker_replaced_and_the_next_task_runs(pool: HashPool) -> None:
    first = pool.run(nap, 0, "a.png")
    started = time.monotonic()
    with pytest.raises(MediaAborted, match=r"slow\.png: .*longer than 1\.5 s"):
        pool.run(nap, 60, "slow.png")
    assert time.monotonic() - started < 10  # stopped at the limit, not after the task's 60 s
    with pytest.raises(ProcessLookupError):
        os.kill(first, 0)  # the overrunning worker is gone
    second = pool.run(nap, 0, "b.png")
    assert second != first and pool.overruns == 1 and pool.pids() == [second]


def test_a_worker_killed_mid_task_is_reported_and_replaced(pool: HashPool) -> None:
    victim = pool.run(nap, 0, "warm.png")
    threading.Timer(0.3, os.kill, (victim, signal.SIGKILL)).start()
    with pytest.raises(MediaAborted, match=r"crash\.png: the hashing process ended \(signal 9\)"):
        pool.run(nap, 1.2, "crash.png")
    assert pool.run(nap, 0, "after.png") != victim and pool.replaced == 1


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_an_overrunning_worker_is_killed_even_after_its_fork_server_died(pool: HashPool) -> None:
    """Whether a worker lives is asked of the fork server that forked it; once that is gone (the
    OOM killer, an operator) every worker looked dead, so one overrunning its time limit was
    "retired" without a signal and went on decoding beside its replacement."""
    from multiprocessing import forkserver

    pool.run(nap, 0, "warm.png")  # the fork server and a worker are up
    fork_server = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
    assert fork_server is not None
    (worker,) = pool.pids()
    threading.Timer(0.3, os.kill, (fork_server, signal.SIGKILL)).start()
    with pytest.raises(MediaAborted, match=r"slow\.png: .*longer than"):
        pool.run(nap, 30, "slow.png")
    deadline = time.monotonic() + 5
    while _running(worker):
        assert time.monotonic() < deadline, "the overrunning worker still runs"
        time.sleep(0.05)
    assert isinstance(pool.run(nap, 0, "after.png"), int)  # a new fork server, a new worker


def test_a_worker_that_cannot_start_is_a_503_and_its_slot_is_freed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that does not come up (a loaded machine, a fork server killed mid-fork) was a 500
    with a traceback; it is Busy (HTTP 503 + Retry-After), and the next upload starts a worker."""
    from haechi.services import hashpool

    p = HashPool(workers=1, queue_size=1, time_limit=30)
    try:
        monkeypatch.setattr(hashpool, "START_TIMEOUT", 0.0)
        with pytest.raises(Busy, match="could not be started") as caught:
            p.run(nap, 0, "first.png")
        assert caught.value.retry_after >= 1
        monkeypatch.setattr(hashpool, "START_TIMEOUT", 120.0)
        assert isinstance(p.run(nap, 0, "second.png"), int)
    finally:
        p.close()


def test_waiting_tasks_get_the_worker_in_the_order_they_came() -> None:
    """First come, first served: a worker given back goes to the longest waiting task (a shared
    queue let later uploads overtake, p99 5x the median under steady load, issue #21)."""
    wide = HashPool(workers=1, queue_size=12, time_limit=30)
    try:
        wide.run(nap, 0, "warm.png")
        finished: list[int] = []
        lock = threading.Lock()

        def task(k: int) -> None:
            wide.run(nap, 0.05, f"{k}.png")
            with lock:
                finished.append(k)

        busy = threading.Thread(target=wide.run, args=(nap, 1.0, "busy.png"))
        busy.start()
        time.sleep(0.3)
        threads = []
        for k in range(10):
            threads.append(threading.Thread(target=task, args=(k,)))
            threads[-1].start()
            time.sleep(0.03)  # arrival order is k
        for t in [busy, *threads]:
            t.join(60)
        assert finished == list(range(10))
    finally:
        wide.close()


def test_errors_of_a_task_cross_the_process_boundary_with_their_type(pool: HashPool) -> None:
    with pytest.raises(InputError, match=r"member\.jpg: bad bytes") as caught:
        pool.run(fail, "bad bytes", "member.jpg")
    assert caught.value.source == "member.jpg" and caught.value.reason == "bad bytes"


def test_beyond_workers_plus_queue_a_task_is_refused_at_once(pool: HashPool) -> None:
    with ThreadPoolExecutor(2) as ex:
        running = [ex.submit(pool.run, nap, 1.0, f"{i}.png") for i in range(2)]  # 1 running + 1 waiting
        time.sleep(0.3)
        started = time.monotonic()
        with pytest.raises(Busy) as caught:
            pool.run(nap, 0, "third.png")
        assert time.monotonic() - started < 0.5 and caught.value.retry_after >= 1
        assert all(isinstance(f.result(), int) for f in running)
    assert isinstance(pool.run(nap, 0, "later.png"), int)  # room again


def test_workers_zero_runs_in_the_calling_thread() -> None:
    p = HashPool(workers=0, queue_size=0, time_limit=1)
    assert p.run(nap, 0, "x.png") == os.getpid() and p.pids() == []


# -- through the API ------------------------------------------------------------------------------
def heavy_png(side: int = 8900) -> bytes:
    """A ~80 KB PNG of side x side pixels (8900: 79 M pixels, under the default pixel cap): cheap
    to send, many seconds to decode and hash."""
    im = Image.new("L", (side, side), 0)
    ImageDraw.Draw(im).rectangle((side // 9, side // 9, side // 2, side // 2), fill=200)
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=9)
    return buf.getvalue()


def slow_gif(side: int = 8900, frames: int = 100) -> bytes:
    """A few KB GIF of ``frames`` one-pixel frames on a side x side canvas: every frame is
    composited on the whole canvas, so decoding costs side² pixels a frame — seconds even under
    the animation pixel budget (``VideoLimits.max_decoded_pixels``). Written byte by byte."""
    out = bytearray(b"GIF89a" + struct.pack("<HH", side, side) + bytes([0x80, 0, 0]) + b"\0\0\0\xff\xff\xff")
    for i in range(frames):
        out += b"\x21\xf9\x04\x04" + struct.pack("<H", 10) + b"\0\0"  # 0.1 s, keep the canvas
        out += b"\x2c" + struct.pack("<HHHH", i % side, i // side, 1, 1) + b"\0"
        out += b"\x02\x02\x4c\x01\x00"  # LZW (min code size 2): clear, colour 1, end
    return bytes(out + b"\x3b")


def _token(h: Haechi) -> str:
    with h.db.session() as s:
        accounts.add_user(s, "cw", "caseworker", None)
    with h.db.session() as s:
        return accounts.create_token(s, "cw")


def _server_home(tmp_path: Path, **settings: Any) -> tuple[Path, str]:
    home = tmp_path / "home"
    with Haechi(home=home) as h:
        h.create_bank("B")
        token = _token(h)
    (home / "haechi.toml").write_text("".join(f"{k} = {v!r}\n" for k, v in settings.items()))
    return home, token


@pytest.mark.slow
def test_a_heavy_upload_is_stopped_with_a_422_while_the_same_server_keeps_answering(tmp_path: Path) -> None:
    home, token = _server_home(tmp_path, hash_pool_workers=1, hash_pool_queue=1, hash_time_limit=1.0)
    heavy = slow_gif()  # an 8900x8900 PNG is hashed reduced, in ~2 s: this one takes several
    auth = {"Authorization": f"Bearer {token}"}
    with served(home) as (base, _), httpx.Client(base_url=base, headers=auth, timeout=60) as client:
        done = threading.Event()
        answers: list[httpx.Response] = []

        def upload() -> None:
            answers.append(client.post("/h/hash", files={"file": ("heavy.gif", heavy, "image/gif")}))
            done.set()

        threading.Thread(target=upload).start()
        me_during = 0  # /api/me answers received while the heavy upload was still being decoded
        with httpx.Client(base_url=base, headers=auth, timeout=60) as other:
            while not done.is_set():
                assert other.get("/api/me").status_code == 200
                me_during += not done.is_set()
                time.sleep(0.05)
        assert me_during >= 3  # answered while the heavy upload was being decoded
        r = answers[0]
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "MediaAborted" and "heavy.gif" in r.json()["message"]
        ok = client.post("/h/hash", files={"file": ("small.jpg", scene_jpeg(3), "image/jpeg")})
        assert ok.status_code == 200 and len(ok.json()["pdq"]) == 64  # a fresh worker took over


@pytest.mark.slow
def test_a_full_pool_answers_503_with_retry_after(tmp_path: Path) -> None:
    home, token = _server_home(tmp_path, hash_pool_workers=1, hash_pool_queue=0, hash_time_limit=20.0)
    heavy = slow_gif()
    auth = {"Authorization": f"Bearer {token}"}
    with served(home) as (base, server), httpx.Client(base_url=base, headers=auth, timeout=60) as client, \
            ThreadPoolExecutor(1) as ex:
        first = ex.submit(client.post, "/h/hash", files={"file": ("heavy.gif", heavy, "image/gif")})
        deadline = time.monotonic() + 30
        while not _pool_workers(server.pid):  # the pool starts on the first upload
            assert time.monotonic() < deadline and not first.done()
            time.sleep(0.05)
        with httpx.Client(base_url=base, headers=auth, timeout=60) as other:
            r = other.post("/h/hash", files={"file": ("second.jpg", scene_jpeg(4), "image/jpeg")})
        assert not first.done(), "the heavy upload ended before the second arrived: no full pool seen"
        assert r.status_code == 503, r.text
        assert int(r.headers["Retry-After"]) >= 1 and r.json()["error"] == "Busy"
        first.result()


def _pool_workers(server_pid: int) -> list[int]:
    """The pool's processes in the server's session (its fork server and workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if b"forkserver" in cmd:  # the fork server and the workers it forked
            session = int(stat.rsplit(")", 1)[1].split()[3])
            if session == server_pid and int(entry.name) != server_pid:
                found.append(int(entry.name))
    return found


# -- bombs and archives on every upload route -----------------------------------------------------
@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Haechi]]:
    h = Haechi(home=tmp_path / "home", workers=1, hash_pool_workers=1, hash_pool_queue=2, max_pixels=20_000_000)
    h.create_bank("B")
    token = _token(h)
    with TestClient(create_app(h, lookup_rate=10_000), headers={"Authorization": f"Bearer {token}"}) as client:
        yield client, h
    h.close()


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tar(members: dict[str, bytes], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def archives() -> dict[str, tuple[str, bytes]]:
    photo = scene_jpeg(7)
    return {
        "zip": ("photos.zip", _zip({"a.jpg": photo, "b.jpg": scene_jpeg(8)})),
        "tar": ("photos.tar", _tar({"a.jpg": photo})),
        "tar.gz": ("photos.tar.gz", _tar({"a.jpg": photo}, "w:gz")),
        "zip bomb": ("bomb.zip", _zip({"zeros.jpg": b"\0" * (64 << 20)})),
        "20k empty members": ("empty.tar", _tar({f"m{i:05}.jpg": b"" for i in range(20_000)})),
    }


UPLOAD_ROUTES = [("/h/hash", {}), ("/m/lookup", {}), ("/m/lookup", {"format": "legacy"}),
                 ("/c/bank/B/content", {}), ("/c/bank/B/content", {"format": "legacy"})]


@pytest.mark.parametrize(("route", "params"), UPLOAD_ROUTES)
def test_archives_sent_to_an_upload_route_are_refused_with_a_400_naming_the_format(
        api: tuple[TestClient, Haechi], route: str, params: dict[str, str]) -> None:
    client, h = api
    for kind, (name, data) in archives().items():
        started = time.monotonic()
        r = client.post(route, params=params, files={"file": (name, data, "application/octet-stream")})
        assert r.status_code == 400, (kind, r.status_code, r.text)
        body = r.json()
        assert body["error"] == "InputError" and name in body["message"] and "archive" in body["message"], kind
        assert time.monotonic() - started < 10, kind  # nothing was walked
    assert h.list_banks()[0]["entries"] == 0


@pytest.mark.parametrize(("route", "params"), UPLOAD_ROUTES)
def test_a_decompression_bomb_is_refused_from_its_header(api: tuple[TestClient, Haechi], route: str,
                                                          params: dict[str, str]) -> None:
    client, _ = api
    bomb = heavy_png(6000)  # 36 M pixels, over this server's 20 M cap: never decoded
    r = client.post(route, params=params, files={"file": ("bomb.png", bomb, "image/png")})
    assert r.status_code == 400, r.text
    assert "bomb.png" in r.json()["message"] and "pixels" in r.json()["message"]


def test_uploads_run_in_the_pool_and_give_what_scan_gives(api: tuple[TestClient, Haechi], tmp_path: Path) -> None:
    """The pool runs the same analysis as ``hash``/``scan``/``bank add``: same hashes, and a bank
    upload is found by a scan of the file on disk."""
    client, h = api
    photo = scene_jpeg(11)
    hashed = client.post("/h/hash", files={"file": ("p.jpg", photo, "image/jpeg")}).json()
    path = tmp_path / "p.jpg"
    path.write_bytes(photo)
    assert hashed["pdq"] == h.hash_file(path)["pdq"]
    assert h.runtime.hash_pool().pids(), "no worker process did the hashing"
    added = client.post("/c/bank/B/content", files={"file": ("p.jpg", photo, "image/jpeg")})
    assert added.status_code == 200, added.text
    (row,) = list(h.scan([path]))
    assert [m["bank"] for m in row["matches"]] and row["matches"][0]["bank"] == "B"
    found = client.post("/m/lookup", files={"file": ("q.jpg", scene_jpeg(11, "rot90"), "image/jpeg")}).json()
    assert list(found["pdq"]) == ["B"], found


@pytest.mark.slow
def test_uploads_hash_in_each_process_of_serve_workers_2(tmp_path: Path) -> None:
    """``haechi serve --workers 2``: each uvicorn process starts its own pool on its first upload;
    uploads spread over both processes all answer, with the same hash."""
    home, token = _server_home(tmp_path, hash_pool_workers=1)
    photo = scene_jpeg(21)
    with served(home, "--workers", "2") as (base, server), \
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
        pdqs = {client.post("/h/hash", files={"file": ("p.jpg", photo, "image/jpeg")},
                            headers={"Connection": "close"}).json()["pdq"] for _ in range(12)}
        assert len(pdqs) == 1 and len(pdqs.pop()) == 64
        assert len(_pool_workers(server.pid)) >= 2  # a fork server (and worker) per serving process that hashed
        # every process knows it is one of two, so a pool left at its default takes half the cores
        for pid in _pool_workers(server.pid):
            assert b"HAECHI_SERVER_PROCESSES=2\x00" in Path(f"/proc/{pid}/environ").read_bytes()


def test_each_server_process_takes_its_share_of_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve --workers N`` gives each process ``cores // N`` hashing workers (at least one):
    N pools of every core would start N × cores decoders on the machine (issue #21)."""
    from haechi import config

    monkeypatch.setattr(config, "_cores", lambda: 4)
    monkeypatch.delenv(config.SERVER_PROCESSES_ENV, raising=False)
    assert config.resolve_settings(env={}).hash_pool_workers == 4
    monkeypatch.setenv(config.SERVER_PROCESSES_ENV, "2")
    assert config.resolve_settings(env={}).hash_pool_workers == 2
    monkeypatch.setenv(config.SERVER_PROCESSES_ENV, "8")
    assert config.resolve_settings(env={}).hash_pool_workers == 1
    # an explicit setting wins over the share
    assert config.resolve_settings(env={"HAECHI_HASH_POOL_WORKERS": "3"}).hash_pool_workers == 3


def test_an_upload_looks_its_token_up_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check before the body is read and the route's own check share one token lookup (two
    were a quarter of a serving process's time per /h/hash, issue #21); a revoked token is still
    refused before a byte of its upload is read."""
    from haechi.services import accounts as accounts_service

    calls: list[str] = []
    real = accounts_service.authenticate_token
    monkeypatch.setattr(accounts_service, "authenticate_token", lambda s, t: calls.append(t) or real(s, t))
    h = Haechi(home=tmp_path / "home", workers=1, hash_pool_workers=0)
    with h.db.session() as s:
        accounts.add_user(s, "platform", "partner", None)
    with h.db.session() as s:
        token = accounts.create_token(s, "platform")
    with TestClient(create_app(h), headers={"Authorization": f"Bearer {token}"}) as client:
        answer = client.post("/h/hash", files={"photo": ("p.jpg", scene_jpeg(3), "image/jpeg")})
        assert answer.status_code == 200, answer.text
        assert calls == [token]
        h.revoke_token_id(h.list_tokens("platform")[0]["id"])
        refused = client.post("/h/hash", files={"photo": ("p.jpg", scene_jpeg(3), "image/jpeg")})
        assert refused.status_code == 401


@pytest.mark.parametrize("withdraw", ["revoke", "disable"])
def test_a_token_revoked_while_its_upload_is_sent_is_refused(tmp_path: Path, withdraw: str) -> None:
    """The principal found before the body is read is reused only for a body that came at once: a
    token revoked (or its user disabled) while a slow upload was being sent is refused when the
    route runs, as it was before the lookup was shared — an upload dribbled for minutes must not
    bank content with a token withdrawn meanwhile."""
    h = Haechi(home=tmp_path / "home", workers=1, hash_pool_workers=0)
    h.create_bank("B")
    token = _token(h)
    photo = scene_jpeg(5)
    boundary = "b0undary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n").encode()

    def body() -> Iterator[bytes]:
        yield head  # the middleware has checked the token: its upload is being read
        if withdraw == "revoke":
            h.revoke_token_id(h.list_tokens("cw")[0]["id"])
        else:
            h.disable_user("cw")
        time.sleep(1.5)  # a slow client
        yield photo + f"\r\n--{boundary}--\r\n".encode()

    with TestClient(create_app(h)) as client:
        r = client.post("/c/bank/B/content", content=body(),
                        headers={"Authorization": f"Bearer {token}",
                                 "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 401, r.text
    assert h.list_banks()[0]["entries"] == 0
    h.close()


def test_a_containers_cpu_quota_bounds_the_default_pool(tmp_path: Path) -> None:
    """cgroup v2 ``cpu.max``: a quota of 1.5 CPUs counts as 2, ``max`` as no limit."""
    from haechi.config import _cgroup_cpu_quota

    f = tmp_path / "cpu.max"
    f.write_text("150000 100000\n")
    assert _cgroup_cpu_quota(str(f)) == 2
    f.write_text("max 100000\n")
    assert _cgroup_cpu_quota(str(f)) is None
    assert _cgroup_cpu_quota(str(tmp_path / "absent")) is None

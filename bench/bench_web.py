#!/usr/bin/python3
"""make bench-web: the web app's poll route on loopback.

1. Open loop: P pollers (default 200), each sending GET
   /v1/docker/worker/{id}/schedule?state=OPEN once a second on its own
   keep-alive connection for D seconds (default 30), at fixed send times
   whatever the answers do (latency is measured from the planned send time,
   so a slow server cannot hide its queueing). Prints p50/p99/max; target
   p99 <= 20 ms.
   The pollers connect from 10 loopback addresses (127.0.1.1-10), as
   workers on a team's machines do: the server's default limits stay on
   (32 connections per address, 1024 in all).
2. Saturation: wrk (Debian's) on the same route for 10 s with 2 threads and
   32 connections (the per-address cap); prints requests per second.
3. Under a flood: 300 half-open connections (a few header bytes each) from
   127.0.0.2-11 held open while a worker's poll and a page are fetched from
   127.0.0.1, 20 times each; prints their latency beside the read timeout
   (10 s: the time a thread-per-connection server would make them wait).

Starts its own winnow-web on a free port with a temp database holding one
dataset with 50 OPEN scheduled runs, so the poll answers a real list.
"""
import asyncio
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, os.environ.get("BIN", "bin"))
POLLERS = int(os.environ.get("BENCH_POLLERS", "200"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "30"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def token(db, name, role):
    out = subprocess.run([os.path.join(BIN, "winnow-web"), "token", "create", name, "--role", role,
                          "--db", db], check=True, capture_output=True, text=True).stdout
    return out.strip().split()[-1]


def call(base, tok, method, path, body=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": "Bearer " + tok,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


async def poller(port, path, tok, t0, seconds, lat, source):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n"
           % (path, tok)).encode()
    k = 0
    while True:
        planned = t0 + k
        if planned - t0 >= seconds:
            break
        delay = planned - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        writer.write(req)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        m = re.search(rb"(?i)content-length:\s*(\d+)", head)
        if m:
            await reader.readexactly(int(m.group(1)))
        lat.append(time.perf_counter() - planned)
        k += 1
    writer.close()


async def open_loop(port, path, tok):
    lat = []
    start = time.perf_counter() + 0.5
    # Spread the pollers' phases over the first second, as real pollers are.
    tasks = [poller(port, path, tok, start + i / POLLERS, SECONDS, lat, "127.0.1.%d" % (1 + i % 10))
             for i in range(POLLERS)]
    await asyncio.gather(*tasks)
    return sorted(lat)


def timed_get(port, path, tok=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    t = time.perf_counter()
    c.request("GET", path, headers={"Authorization": "Bearer " + tok} if tok else {})
    r = c.getresponse()
    r.read()
    c.close()
    if r.status != 200:
        raise SystemExit("bench-web: GET %s answered %d under the flood" % (path, r.status))
    return time.perf_counter() - t


def flood(port, path, tok):
    held = []
    for i in range(300):
        s = socket.socket()
        s.bind(("127.0.0.%d" % (2 + i % 10), 0))
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        held.append(s)
    try:
        polls = sorted(timed_get(port, path, tok) for _ in range(20))
        pages = sorted(timed_get(port, "/") for _ in range(20))
        print("  under 300 half-open connections from 10 addresses (read timeout 10 s): worker poll "
              "p50 %.2f ms max %.2f ms; page p50 %.2f ms max %.2f ms"
              % (polls[10] * 1000, polls[-1] * 1000, pages[10] * 1000, pages[-1] * 1000))
    finally:
        for s in held:
            s.close()


def main():
    if not os.path.exists(os.path.join(BIN, "winnow-web")):
        sys.exit("bench-web: bin/winnow-web is not built")
    tmp = tempfile.mkdtemp(prefix="bench-web")
    db = os.path.join(tmp, "web.db")
    subprocess.run([os.path.join(BIN, "winnow-web"), "token", "list", "--db", db],
                   capture_output=True)
    wtok, utok = token(db, "bench-worker", "worker"), token(db, "bench-user", "user")
    port = free_port()
    srv = subprocess.Popen([os.path.join(BIN, "winnow-web"), "--listen", "127.0.0.1:%d" % port,
                            "--db", db, "--dataset-root", tmp],
                           stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "web.log"), "w"))
    base = "http://127.0.0.1:%d" % port
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        ds = call(base, utok, "POST", "/v1/datasets", {"name": "bench"})["id"]
        cfg = call(base, utok, "POST", "/v1/docker/worker/config",
                   {"config": {"workerType": "FULL", "docker": {"method": "coreset"}, "lightly": {}}})["id"]
        for i in range(50):
            call(base, utok, "POST", "/v1/datasets/%s/docker/worker/schedule" % ds,
                 {"configId": cfg, "priority": ["LOW", "MID", "HIGH", "CRITICAL"][i % 4]})
        wid = call(base, wtok, "POST", "/v1/docker/worker",
                   {"name": "bench-worker", "workerType": "FULL", "labels": []})["id"]   # the token's own worker (SPEC 8)
        path = "/v1/docker/worker/%s/schedule?state=OPEN" % wid
        lat = asyncio.run(open_loop(port, path, wtok))
        n = len(lat)
        pct = lambda q: lat[min(n - 1, int(q * n))] * 1000
        print("bench-web: poll route, %d pollers x 1 request/s for %.0f s (open loop), %d requests"
              % (POLLERS, SECONDS, n))
        print("  latency p50 %.2f ms, p99 %.2f ms, max %.2f ms (target p99 <= 20 ms)"
              % (pct(0.50), pct(0.99), lat[-1] * 1000))
        wrk = shutil.which("wrk")
        if wrk is None:
            print("  saturation: wrk not installed (apt-get install wrk)")
        else:
            out = subprocess.run([wrk, "-t2", "-c32", "-d10s", "-H", "Authorization: Bearer " + wtok,
                                  base + path], capture_output=True, text=True).stdout
            m = re.search(r"Requests/sec:\s*([\d.]+)", out)
            lm = re.search(r"Latency\s+(\S+)", out)
            print("  saturation (wrk, 2 threads, 32 connections, 10 s): %s requests/s, mean latency %s"
                  % (m.group(1) if m else "?", lm.group(1) if lm else "?"))
        flood(port, path, wtok)
    finally:
        srv.terminate()
        srv.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

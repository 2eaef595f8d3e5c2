#!/usr/bin/env python3
"""make bench-s3: 10,000 objects (4 KiB each) in a local s3rver
(tests/tools/s3server.js), then bench_s3 lists and reads them with 1 and with
16 requests in flight, and prints objects per second as measured.

s3rver (node, one thread, on the same 2 cores) is the limit on loopback, so a
second round delays every answer by 10 ms (a network's round trip; 2,000
objects), where requests in flight pay off as they would against a remote
store."""
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "py"))
import s3util  # noqa: E402

N = int(os.environ.get("BENCH_S3_N", "10000"))
BUILD = os.environ.get("BUILD", "build")


def one(n, delay_ms):
    print("== %d objects, answers delayed by %d ms" % (n, delay_ms), flush=True)
    os.environ["S3SERVER_DELAY_MS"] = str(delay_ms)
    tmp = tempfile.mkdtemp(prefix="bench-s3-")
    s = s3util.S3Server(tmp, ["bench"])
    try:
        payload = os.urandom(4096)
        t0 = time.time()
        s.put_many("bench", [("objs/%05d.png" % i, payload) for i in range(n)], threads=16)
        print("uploaded %d objects of 4 KiB in %.1f s" % (n, time.time() - t0), flush=True)
        env = dict(os.environ, AWS_ACCESS_KEY_ID=s3util.KEY_ID,
                   AWS_SECRET_ACCESS_KEY=s3util.SECRET)
        subprocess.run([os.path.join(ROOT, BUILD, "bench", "bench_s3"), s.endpoint, "bench",
                        "objs/", "16"], check=True, env=env)
    finally:
        s.stop()
        subprocess.run(["rm", "-rf", tmp])


def main():
    one(N, 0)
    one(min(N, 2000), 10)


if __name__ == "__main__":
    main()

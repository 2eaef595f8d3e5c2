#!/usr/bin/env python3
"""make bench-s3: 10,000 objects (small PNGs of a few kB) in a local s3rver
(tests/tools/s3server.js), then bench_s3 lists and reads them with 1 and with
16 requests in flight. Prints objects per second as measured; s3rver (node,
one thread, on the same 2 cores) is the limit here, not the network."""
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


def main():
    tmp = tempfile.mkdtemp(prefix="bench-s3-")
    s = s3util.S3Server(tmp, ["bench"])
    try:
        payload = os.urandom(4096)
        t0 = time.time()
        s.put_many("bench", [("objs/%05d.png" % i, payload) for i in range(N)], threads=8)
        print("uploaded %d objects of 4 KiB in %.1f s" % (N, time.time() - t0))
        env = dict(os.environ, AWS_ACCESS_KEY_ID=s3util.KEY_ID,
                   AWS_SECRET_ACCESS_KEY=s3util.SECRET)
        subprocess.run([os.path.join(ROOT, BUILD, "bench", "bench_s3"), s.endpoint, "bench",
                        "objs/", "16"], check=True, env=env)
    finally:
        s.stop()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()

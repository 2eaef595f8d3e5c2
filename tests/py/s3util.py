"""S3 helpers for the tests: the s3rver fixture (tests/tools/s3server.js) and a
small SigV4 client (PUT of objects) written from the AWS documentation, so the
tests upload with a signer independent of the one under test (libcurl's)."""
import datetime
import hashlib
import hmac
import http.client
import os
import subprocess
import threading
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEY_ID = "AKIDWINNOWTEST0001"
SECRET = "wInNoW/t3st+SeCrEt-8f2d0c1e9a"
REGION = "us-east-1"


def _sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _headers(method, host, path, query, payload_hash, key_id, secret, region):
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = now.strftime("%Y%m%d")
    canon_headers = (f"host:{host}\nx-amz-content-sha256:{payload_hash}\n"
                     f"x-amz-date:{amz_date}\n")
    signed = "host;x-amz-content-sha256;x-amz-date"
    canon = "\n".join([method, path, query, canon_headers, signed, payload_hash])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canon.encode()).hexdigest()])
    k = _sign(("AWS4" + secret).encode(), day)
    k = _sign(_sign(_sign(k, region), "s3"), "aws4_request")
    sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash,
        "Authorization": f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, "
                         f"SignedHeaders={signed}, Signature={sig}",
    }


def _read(path):
    with open(path, "rb") as f:
        return f.read()


class S3Server:
    """s3rver on 127.0.0.1 with the test key pair and the given buckets."""

    def __init__(self, tmp, buckets):
        self.dir = os.path.join(tmp, "s3data")
        self.log = os.path.join(tmp, "s3requests.log")
        open(self.log, "w").close()
        self.proc = subprocess.Popen(
            ["node", "--openssl-legacy-provider", os.path.join(ROOT, "tests/tools/s3server.js"), self.dir, self.log,
             KEY_ID, SECRET] + list(buckets),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError("s3server did not start: %r" % line)
        self.port = int(line.split()[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._local = threading.local()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()

    def throttle(self, n):
        """The next n GETs of objects answer 503 SlowDown (-1: all, 0: none)."""
        with open(self.log + ".fail", "w") as f:
            f.write(str(n))

    def requests(self, kind):
        with open(self.log) as f:
            return [l.rstrip("\n") for l in f if l.startswith(kind + " ")]

    def _conn(self):
        c = getattr(self._local, "conn", None)
        if c is None:
            c = self._local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        return c

    def put(self, bucket, key, data):
        path = "/" + bucket + "/" + urllib.parse.quote(key, safe="/-_.~")
        host = f"127.0.0.1:{self.port}"
        h = _headers("PUT", host, path, "", hashlib.sha256(data).hexdigest(), KEY_ID, SECRET,
                     REGION)
        h["Content-Length"] = str(len(data))
        for attempt in range(3):
            c = self._conn()
            try:
                c.request("PUT", path, body=data, headers=h)
                r = c.getresponse()
                body = r.read()
                if r.status != 200:
                    raise RuntimeError(f"PUT {key}: {r.status} {body[:300]!r}")
                return
            except (ConnectionError, http.client.HTTPException):
                c.close()
                self._local.conn = None
                if attempt == 2:
                    raise

    def upload_dir(self, bucket, prefix, folder, threads=8):
        """Uploads every file under folder (dot files too) as prefix + relative path."""
        files = []
        for d, _, names in os.walk(folder):
            for n in names:
                p = os.path.join(d, n)
                files.append((prefix + os.path.relpath(p, folder), p))
        self.put_many(bucket, [(k, lambda p=p: _read(p)) for k, p in files], threads)
        return len(files)

    def put_many(self, bucket, items, threads=8):
        """items: [(key, bytes or a function returning bytes)]."""
        errs = []

        def work(part):
            try:
                for k, d in part:
                    self.put(bucket, k, d() if callable(d) else d)
            except Exception as e:  # noqa: BLE001 - reported below
                errs.append(e)
        ts = [threading.Thread(target=work, args=(items[i::threads],)) for i in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errs:
            raise errs[0]

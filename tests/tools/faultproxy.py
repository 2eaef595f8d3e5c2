"""faultproxy: an HTTP/1.1 proxy on 127.0.0.1 that injects network faults
between winnowd and winnow-web, for the fault tests.

    p = FaultProxy(upstream_port).start()
    p.add("PUT", r"/v1/docker/runs/[0-9a-f]{24}$", "reset", count=1)
    ... point winnowd's url at http://127.0.0.1:<p.port> ...
    p.stop()

The proxy reads each request whole (head and Content-Length body; winnowd
sends no chunked bodies), matches it against the rules in order, and either
passes it on (a new upstream connection per request, so nothing is pooled
behind the daemon's back) or applies the first matching rule that has
applications left (a rule matches a method, a path regex and, with body_re, a
regex over the request body's bytes). Faults:

  latency    wait `delay` s, then pass on
  hang       read the request, never answer; the connection stays open until
             the client gives up (its timeout) or the proxy stops
  reset      an RST instead of an answer (SO_LINGER 0); with forward=True the
             request reaches the web app first, so its effect happened and
             only the answer is lost
  short      the web app's answer with its real Content-Length but only half
             of its body, then close (forward is always on)
  status     answer `status` (500, 429, ...) with an error body without
             passing on; `retry_after` adds a Retry-After header
  cut_request  pass on only the head and half of the body, then close both
             sides: the web app sees a body shorter than its Content-Length
  hold       pass on, so the web app acts, then keep the answer back: the
             rule's `held` event is set, and the answer goes to the client only
             when the test sets the rule's `release` event (or never, when the
             client is gone by then); the test can kill the client meanwhile

Every applied fault is recorded in `events` as (fault, method, path); every
request, faulted or not, in `seen` as (method, path), in arrival order, and
its arrival time (time.monotonic()) at the same index of `seen_at`.
"""
import re
import socket
import struct
import threading
import time


class Rule:
    def __init__(self, method, path_re, fault, count=1, forward=False, delay=0.0, status=500,
                 retry_after=None, body_re=None):
        self.body_re = re.compile(body_re) if body_re is not None else None
        self.held = threading.Event()
        self.release = threading.Event()
        self.method = method
        self.path_re = re.compile(path_re)
        self.fault = fault
        self.left = count
        self.forward = forward
        self.delay = delay
        self.status = status
        self.retry_after = retry_after

    def matches(self, method, path, body=b""):
        return self.left != 0 and (self.method is None or self.method == method) and \
            self.path_re.search(path) is not None and \
            (self.body_re is None or self.body_re.search(body) is not None)


def _read_head(sock, buf):
    """Reads until the blank line; returns (head bytes, rest) or (None, buf) at EOF."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None, buf
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def _content_length(head):
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            return int(v.strip())
    return 0


def _read_exact(sock, buf, n):
    while len(buf) < n:
        chunk = sock.recv(65536)
        if not chunk:
            return None, buf
        buf += chunk
    return buf[:n], buf[n:]


def _rst_close(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class FaultProxy:
    def __init__(self, upstream_port, upstream_host="127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self.rules = []
        self.events = []
        self.seen = []
        self.seen_at = []       # time.monotonic() of each entry of seen
        self.seen_keys = []     # the Idempotency-Key header of each entry of seen (or None)
        self.requests = 0
        self.lock = threading.Lock()
        self.stopping = False
        self.hung = []
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]

    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def add(self, method, path_re, fault, **kw):
        with self.lock:
            r = Rule(method, path_re, fault, **kw)
            self.rules.append(r)
            return r

    def applied(self, fault=None):
        with self.lock:
            return [e for e in self.events if fault is None or e[0] == fault]

    def start(self):
        self.lsock.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self):
        self.stopping = True
        with self.lock:
            for r in self.rules:
                r.release.set()
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            hung, self.hung = self.hung, []
        for s in hung:
            try:
                s.close()
            except OSError:
                pass

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _pick(self, method, path, body, key=None):
        with self.lock:
            self.requests += 1
            self.seen.append((method, path))
            self.seen_keys.append(key)
            self.seen_at.append(time.monotonic())
            for r in self.rules:
                if r.matches(method, path, body):
                    if r.left > 0:
                        r.left -= 1
                    self.events.append((r.fault, method, path))
                    return r
        return None

    def _upstream(self, data):
        """Sends one request upstream; returns (head, body) of the answer or None."""
        u = socket.create_connection(self.upstream, timeout=300)
        try:
            u.sendall(data)
            head, rest = _read_head(u, b"")
            if head is None:
                return None
            n = _content_length(head)
            body, _ = _read_exact(u, rest, n)
            if body is None:
                return None
            return head, body
        finally:
            u.close()

    def _serve(self, c):
        buf = b""
        try:
            while not self.stopping:
                head, buf = _read_head(c, buf)
                if head is None:
                    return
                n = _content_length(head)
                body, buf = _read_exact(c, buf, n)
                if body is None:
                    return
                line = head.split(b"\r\n", 1)[0].decode("latin-1")
                method, target = line.split(" ")[:2]
                path = target.split("?", 1)[0]
                key = None
                for l in head.split(b"\r\n")[1:]:
                    k, _, v = l.decode("latin-1").partition(":")
                    if k.strip().lower() == "idempotency-key":
                        key = v.strip()
                rule = self._pick(method, path, body, key)
                # One request per upstream connection: ask the web app to close it.
                lines = [l for l in head[:-4].split(b"\r\n")
                         if not l.lower().startswith(b"connection:")]
                fwd_head = b"\r\n".join(lines) + b"\r\nConnection: close\r\n\r\n"
                fault = rule.fault if rule else None
                if fault == "latency":
                    time.sleep(rule.delay)
                if fault == "hang":
                    with self.lock:
                        self.hung.append(c)
                    while not self.stopping:
                        # Read (and drop) until the client gives up.
                        try:
                            if not c.recv(65536):
                                break
                        except OSError:
                            break
                    c.close()
                    return
                if fault == "status":
                    msg = b'{"code":"INJECTED","error":"injected by faultproxy"}'
                    extra = b""
                    if rule.retry_after is not None:
                        extra = b"Retry-After: %d\r\n" % rule.retry_after
                    c.sendall(b"HTTP/1.1 %d Injected\r\nContent-Type: application/json\r\n"
                              b"Content-Length: %d\r\n%s\r\n%s" % (rule.status, len(msg), extra, msg))
                    continue
                if fault == "cut_request":
                    u = socket.create_connection(self.upstream, timeout=60)
                    u.sendall(fwd_head + body[:len(body) // 2])
                    u.shutdown(socket.SHUT_WR)
                    try:
                        while u.recv(65536):
                            pass
                    except OSError:
                        pass
                    u.close()
                    _rst_close(c)
                    return
                if fault == "reset" and not rule.forward:
                    _rst_close(c)
                    return
                ans = self._upstream(fwd_head + body)
                if ans is None:
                    _rst_close(c)
                    return
                rhead, rbody = ans
                if fault == "hold":
                    rule.held.set()
                    rule.release.wait()
                    if self.stopping:
                        return
                if fault == "reset":
                    _rst_close(c)
                    return
                if fault == "short":
                    c.sendall(rhead + rbody[:len(rbody) // 2])
                    c.shutdown(socket.SHUT_RDWR)
                    c.close()
                    return
                # Keep the client's connection open: drop the upstream's "Connection: close".
                rl = [l for l in rhead[:-4].split(b"\r\n") if not l.lower().startswith(b"connection:")]
                c.sendall(b"\r\n".join(rl) + b"\r\n\r\n" + rbody)
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

#!/usr/bin/python3
"""Fill a winnow-web database through the HTTP API of the winnow-web binary
given (tests/tools/mkolddb.sh passes an OLD build, from a scratch worktree of
an old commit): tokens, datasets with LOCAL and S3 datasources, a config,
scheduled runs (DONE, OPEN, CANCELED, one LOCKED by a worker), a worker, a
run carried through to COMPLETED with logs, samples, tags, scores, a datapool
and an uploaded artifact, an aborted run, and a login session.

Writes what the tests need to find these rows again (tokens, ids, the values
sent) to a JSON file beside the database. Uses the standard library only, so
it runs against any commit's binary.

  mkolddb_web.py --web BIN --db PATH --root DIR --out JSON
"""
import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Api:
    def __init__(self, port):
        self.port = port

    def call(self, method, path, body=None, token=None, raw=None, want=(200, 201)):
        con = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {}
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = "Bearer " + token
        con.request(method, path, body=data, headers=headers)
        r = con.getresponse()
        text = r.read()
        cookie = r.getheader("Set-Cookie")
        con.close()
        if r.status not in want:
            sys.exit("mkolddb_web: %s %s -> %d %s" % (method, path, r.status, text[:300]))
        self.last_cookie = cookie
        return json.loads(text) if text else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--web", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--v4", action="store_true",
                    help="the routes of a web.db v4 commit (SPEC 7's wire: winnow's calls under /v1/winnow/)")
    a = ap.parse_args()

    def cli(*args):
        p = subprocess.run([a.web] + list(args) + ["--db", a.db], capture_output=True, text=True,
                           timeout=60)
        if p.returncode != 0:
            sys.exit("mkolddb_web: winnow-web %s: %s" % (" ".join(args), p.stderr))
        return p.stdout.strip()

    rec = {}
    rec["user_token"] = cli("token", "create", "old-user", "--role", "user")
    rec["worker_token"] = cli("token", "create", "old-worker", "--role", "worker")
    rec["revoked_token"] = cli("token", "create", "old-revoked", "--role", "user")
    cli("token", "revoke", "old-revoked")
    user, worker = rec["user_token"], rec["worker_token"]

    imgs = os.path.join(a.root, "imgs")
    os.makedirs(imgs, exist_ok=True)
    port = free_port()
    log = open(a.db + ".log", "wb")
    srv = subprocess.Popen([a.web, "--listen", "127.0.0.1:%d" % port, "--db", a.db,
                            "--dataset-root", a.root] + (["--s3-endpoint-allow", "http://127.0.0.1"] if a.v4 else []),
                           stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if srv.poll() is not None or time.monotonic() > deadline:
                    sys.exit("mkolddb_web: the server did not start")
                time.sleep(0.05)
        api = Api(port)
        me = api.call("GET", "/v1/winnow/me" if a.v4 else "/v1/me", token=user)
        rec["user_id"] = me["userId"]

        ds = api.call("POST", "/v1/datasets", {"name": "kept dataset"}, token=user)["id"]
        api.call("PUT", "/v1/datasets/%s/datasource" % ds,
                 dict({"type": "LOCAL", "fullPath": imgs}, **({"purpose": "INPUT_OUTPUT"} if a.v4 else {})),
                 token=user)
        ds3 = api.call("POST", "/v1/datasets", {"name": "bucket dataset"}, token=user)["id"]
        s3 = {"type": "S3", "fullPath": "s3://old-bucket/prefix/", "s3Endpoint": "http://127.0.0.1:9",
              "s3Region": "eu-west-1", "s3AccessKeyId": "OLDKEY", "s3SecretAccessKey": "old-secret"}
        if a.v4:    # an endpoint is set on winnow's own route only
            api.call("PUT", "/v1/winnow/datasets/%s/datasource" % ds3, dict(s3, purpose="INPUT_OUTPUT"),
                     token=user)
        else:
            api.call("PUT", "/v1/datasets/%s/datasource" % ds3, s3, token=user)
        rec.update(dataset=ds, dataset_s3=ds3, local_path=os.path.realpath(imgs), s3=s3)

        config = {"workerType": "FULL",
                  "docker": {"method": "coreset", "stopping_condition": {"n_samples": 2}},
                  "lightly": {"loader": {"batch_size": 16}}}
        cfg = api.call("POST", "/v1/docker/worker/config", {"config": config, "creator": "USER_PIP"},
                       token=user)["id"]
        rec.update(config_id=cfg, config=config)

        sched = "/v1/datasets/%s/docker/worker/schedule" % ds
        s_done = api.call("POST", sched, {"configId": cfg, "priority": "HIGH"}, token=user)["id"]
        s_abort = api.call("POST", sched, {"configId": cfg}, token=user)["id"]
        s_locked = api.call("POST", sched, {"configId": cfg}, token=user)["id"]
        s_cancel = api.call("POST", sched, {"configId": cfg, "priority": "LOW"}, token=user)["id"]
        if a.v4:
            api.call("PUT", sched + "/%s" % s_cancel, {"state": "CANCELED"}, token=user, want=(204,))
        else:
            api.call("POST", sched + "/%s/cancel" % s_cancel, {}, token=user)
        s_open = api.call("POST", sched, {"configId": cfg, "priority": "LOW", "runsOn": ["gpu"]},
                          token=user)["id"]
        rec["scheduled"] = {"DONE": s_done, "ABORTED": s_abort, "LOCKED": s_locked,
                            "CANCELED": s_cancel, "OPEN": s_open}

        wid = api.call("POST", "/v1/docker/worker",
                       {"name": "old-box", "workerType": "FULL", "labels": ["cpu"]}, token=worker)["id"]
        rec["worker_id"] = wid

        def claim(sid):
            api.call("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (ds, wid, sid),
                     {"state": "LOCKED"}, token=worker)
            return api.call("POST", "/v1/docker/runs", {"dockerVersion": "winnow-old", "datasetId": ds,
                                                        "scheduledId": sid, "configId": cfg},
                            token=worker)["id"]

        # The completed run, every report a worker makes.
        run = claim(s_done)
        rp = "/v1/docker/runs/" + run
        api.call("PUT", rp, {"state": "EMBEDDING"} if a.v4 else {"state": "EMBEDDING", "progress": 0.5},
                 token=worker)
        if a.v4:
            api.call("PUT", "/v1/winnow/runs/%s/progress" % run, {"progress": 0.5}, token=worker)
        logs = [{"seq": 0, "ts": 1000, "level": "INFO", "msg": "listing 3 images", "state": "LOADING_DATASET"},
                {"seq": 1, "ts": 2000, "level": "WARNING", "msg": "old warning", "state": "EMBEDDING"}]
        api.call("PUT", rp + "/logs", [dict({k: e[k] for k in ("ts", "level", "msg", "state")}, group="old") for e in logs]
                 if a.v4 else logs, token=worker)
        files = ["a.jpg", "b.jpg", "sub/c.png"]
        api.call("POST", ("/v1/winnow/datasets/%s/samples/batch" if a.v4 else "/v1/datasets/%s/samples/batch") % ds,
                 [{"fileName": f, "metaData": {"weather": {"temp": 10.5 + i}}} for i, f in enumerate(files)],
                 token=worker)
        tags = "/v1/datasets/%s/tags" % ds
        cand = api.call("POST", tags, {"name": "candidates-old", "bitMaskData": "0x7", "totSize": 3,
                                       "creator": "USER_WORKER", "runId": run}, token=worker)["id"]
        sel = api.call("POST", tags, {"name": "selected-old", "prevTagId": cand, "bitMaskData": "0x5",
                                      "totSize": 3, "creator": "SAMPLER_CORESET", "runId": run},
                       token=worker)["id"]
        scores = {"uncertainty_margin": [0.25, 0.875], "uncertainty_entropy": [0.1, 0.30000000000000004]}
        for st, v in scores.items():
            api.call("POST", "%s/%s/scores" % (tags, sel), {"scoreType": st, "scores": v}, token=worker)
        pool = ["a.jpg", "sub/c.png"]
        api.call("PUT", ("/v1/winnow/datasets/%s/datapools/main" if a.v4 else "/v1/datasets/%s/datapools/main") % ds,
                 {"fileNames": pool}, token=worker)
        art = api.call("POST", rp + "/artifacts", {"fileName": "report.json", "type": "REPORT_JSON"},
                       token=worker)
        content = b'{"made by": "an old winnow-web"}'
        url = art["signedWriteUrl"]
        api.call("PUT", url[url.index("/v1/"):], raw=content)
        api.call("PUT", rp, {"state": "COMPLETED", "message": "done in the old version"}
                 if a.v4 else {"state": "COMPLETED", "message": "done in the old version", "progress": 1},
                 token=worker)
        api.call("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (ds, wid, s_done),
                 {"state": "DONE"}, token=worker)
        rec.update(run=run, logs=logs, samples=files, cand_tag=cand, sel_tag=sel, scores=scores,
                   datapool=pool, artifact=art["artifactId"], artifact_content=content.decode())

        # A run the user aborted.
        run2 = claim(s_abort)
        api.call("PUT", "/v1/docker/runs/" + run2, {"state": "CHECKING_CORRUPTNESS"}, token=worker)
        api.call("POST", ("/v1/winnow/runs/%s/abort" if a.v4 else "/v1/docker/runs/%s/abort") % run2, {}, token=user)
        r = api.call("PUT", "/v1/docker/runs/" + run2, {"state": "ABORTED", "message": "aborted"}, token=worker)
        if a.v4:
            r = api.call("GET", "/v1/winnow/runs/" + run2, token=user)
        assert r["abortRequested"] is True, r
        api.call("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (ds, wid, s_abort),
                 {"state": "DONE"}, token=worker)
        rec["run_aborted"] = run2

        # A run held LOCKED (a worker between claim and run creation).
        api.call("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (ds, wid, s_locked),
                 {"state": "LOCKED"}, token=worker)

        # A login session of the pages, where this version has them.
        api.call("POST", "/login", {"token": user})
        rec["session_cookie"] = (api.last_cookie or "").split(";")[0]
    finally:
        srv.terminate()
        srv.wait(timeout=30)
        log.close()
    with open(a.out, "w") as f:
        json.dump(rec, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

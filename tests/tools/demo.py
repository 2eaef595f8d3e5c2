#!/usr/bin/python3
"""make demo: the main job, end to end on 127.0.0.1.

Starts winnow-web and winnowd with a fresh state dir, generates a sample
dataset with predictions (once; kept in DEMO_DIR/dataset), creates a dataset,
a user token and a worker token, and schedules a coral run through the API
exactly as the wizard does (tasks read from the datasource, the coral preset
with the detection task). Follows the run with a progress line, prints the
summary and the URL to open (with the login token), and keeps both running
until Ctrl-C. ONCE=1: stop both and exit when the run is done (exit status 0
only for COMPLETED).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, os.environ.get("BIN", "bin"))
DEMO_DIR = os.path.abspath(os.environ.get("DEMO_DIR", os.path.join(ROOT, "build", "demo")))
ONCE = os.environ.get("ONCE", "") not in ("", "0")
N = int(os.environ.get("DEMO_N", "600"))
TTY = sys.stdout.isatty()


def say(msg):
    print("demo: " + msg, flush=True)


def free_port(preferred):
    for port in (preferred, 0):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            port = s.getsockname()[1]
            s.close()
            return port
        except OSError:
            s.close()
    raise SystemExit("demo: no free port")


class Api:
    def __init__(self, base, token):
        self.base, self.token = base, token

    def __call__(self, method, path, body=None):
        req = urllib.request.Request(self.base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": "Bearer " + self.token,
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raise SystemExit("demo: %s %s: %d %s" % (method, path, e.code, e.read().decode()[:500]))


def results_url(base, dataset_id, scheduled_id):
    """The results page of a run: the pages' hash route (web/static/js/app.js) is
    #/datasets/{datasetId}/runs/{scheduledId}/results, keyed by the scheduled run."""
    return "%s/#/datasets/%s/runs/%s/results" % (base, dataset_id, scheduled_id)


def token(db, name, role):
    out = subprocess.run([os.path.join(BIN, "winnow-web"), "token", "create", name, "--role", role,
                          "--db", db], check=True, capture_output=True, text=True).stdout
    return out.strip().split()[-1]


def main():
    data = os.path.join(DEMO_DIR, "dataset")
    state = os.path.join(DEMO_DIR, "state")
    if not os.path.isfile(os.path.join(data, ".manifest.json")):
        say("generating a sample dataset of %d images with predictions in %s" % (N, data))
        shutil.rmtree(data, ignore_errors=True)
        subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tests", "tools", "mkdataset"),
                        "--out", data, "--n", str(N), "--seed", "7", "--subdirs", "--predictions"],
                       check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(state, ignore_errors=True)
    os.makedirs(state)
    db = os.path.join(state, "web.db")
    utok, wtok = token(db, "demo-user", "user"), token(db, "demo-worker", "worker")
    port = free_port(int(os.environ.get("DEMO_PORT", "8080")))
    base = "http://127.0.0.1:%d" % port
    procs = []

    def stop_all(*_):
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()

    weblog_path = os.path.join(state, "winnow-web.log")
    weblog = open(weblog_path, "w")
    cmd = [os.path.join(BIN, "winnow-web"), "--listen", "127.0.0.1:%d" % port, "--db", db,
           "--dataset-root", DEMO_DIR]
    static = os.path.join(ROOT, "web", "static")
    if os.path.isdir(static):
        cmd += ["--static", static]
    procs.append(subprocess.Popen(cmd, stdout=weblog, stderr=weblog))
    for _ in range(100):
        if procs[0].poll() is not None:
            with open(weblog_path) as f:
                raise SystemExit("demo: winnow-web exited: " + f.read()[-2000:])
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    conf = os.path.join(state, "winnowd.json")
    with open(conf, "w") as f:
        json.dump({"url": base, "worker_name": "demo-worker", "token": wtok,
                   "state_dir": os.path.join(state, "winnowd"), "poll_interval": 1}, f)
    os.chmod(conf, 0o600)
    dlog = open(os.path.join(state, "winnowd.log"), "w")
    procs.append(subprocess.Popen([os.path.join(BIN, "winnowd"), "--config", conf],
                                  stdout=dlog, stderr=dlog))
    say("winnow-web on %s and winnowd running (logs in %s)" % (base, state))
    try:
        return follow(Api(base, utok), base, utok, data)
    finally:
        if ONCE:
            stop_all()
        else:
            say("both keep running; Ctrl-C stops them")
            try:
                signal.pause()
            except KeyboardInterrupt:
                pass
            stop_all()


def follow(api, base, utok, data):
    # What the wizard does: dataset, datasource, tasks, config, schedule.
    ds = api("POST", "/v1/datasets", {"name": "demo"})["id"]
    api("PUT", "/v1/datasets/%s/datasource" % ds, {"type": "LOCAL", "purpose": "INPUT_OUTPUT", "fullPath": data})
    tasks = api("GET", "/v1/winnow/datasets/%s/tasks" % ds)
    det = next(t for t in tasks if t["taskType"] == "object-detection")
    docker = {"enable_corruptness_check": True, "remove_exact_duplicates": True,
              "enable_training": False, "pretagging": False, "pretagging_debug": False,
              "method": "coral", "stopping_condition": {"n_samples": 0.1, "min_distance": -1},
              "scorer": "object-frequency",
              "scorer_config": {"frequency_penalty": 0.25, "min_score": 0.9},
              "active_learning": {"task_name": det["name"], "score_name": "uncertainty_margin"}}
    cfg = api("POST", "/v1/docker/worker/config",
              {"config": {"workerType": "FULL", "docker": docker, "lightly": {}}, "creator": "demo"})["id"]
    sched = api("POST", "/v1/datasets/%s/docker/worker/schedule" % ds,
                {"configId": cfg, "priority": "MID"})["id"]
    say("scheduled a coral run (task %s, n_samples 0.1) on dataset %s" % (det["name"], ds))
    run, last, t0 = None, None, time.time()
    while True:
        if run is None:
            try:
                run = api("GET", "/v1/docker/runs/schedule/%s" % sched)["id"]
            except SystemExit:
                run = None
        if run is not None:
            r = api("GET", "/v1/winnow/runs/%s" % run)     # winnow's view: with progress
            line = "run %s: %-34s %5.1f%%" % (run, r["state"], 100 * (r.get("progress") or 0))
            if TTY:
                print("\r" + line, end="", flush=True)
            elif line != last:
                print("demo: " + line, flush=True)
            last = line
            if r["state"] in ("COMPLETED", "FAILED", "CRASHED", "ABORTED"):
                if TTY:
                    print()
                break
        if time.time() - t0 > 600:
            raise SystemExit("demo: the run did not finish within 10 minutes")
        time.sleep(0.5)
    if r["state"] != "COMPLETED":
        say("run ended %s: %s" % (r["state"], r.get("message", "")))
        return 1
    res = api("GET", "/v1/winnow/runs/%s/results?sort=uncertainty_margin&order=desc&selected=1&limit=10" % run)
    say("run COMPLETED in %.1f s: %s of %s candidates selected" %
        (time.time() - t0, res.get("selectedCount", "?"), res.get("candidates", "?")))
    say("the 10 most uncertain of the selection (uncertainty_margin, object_frequency):")
    for it in res["items"]:
        sc = it.get("scores", {})
        print("  %-28s %.4f  %.4f" % (it["fileName"], sc.get("uncertainty_margin", float("nan")),
                                     sc.get("object_frequency", float("nan"))))
    say("open %s/ and log in with the user token %s" % (base, utok))
    say("results page: %s" % results_url(base, ds, sched))
    return 0


if __name__ == "__main__":
    sys.exit(main())

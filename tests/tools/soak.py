#!/usr/bin/python3
"""soak: kill -9 winnowd at random moments while it works through scheduled runs.

    soak.py [--cycles 50] [--runs 20] [--images 30] [--seed N] [--keep DIR]

A real winnow-web and a real winnowd on 127.0.0.1, temp state, one generated
dataset (tests/tools/mkdataset); winnowd talks to the web app through
tests/tools/faultproxy.py. All runs are scheduled up front; then, cycle after
cycle, winnowd is started and killed with SIGKILL inside one phase of its work
(the phases take turns, skipping one that no run can reach any more; the
moment within the phase is random):

  claiming   a claim call (PUT LOCKED, the run's POST, the config's or the
             datasource's GET, one at random) has reached the web app and the
             proxy holds its answer back
  stages     a stage (one at random) is held at its start
             (WINNOWD_TEST_STAGE_DELAY) and the kill falls inside the hold
  reporting  a reporting call (the sample batch, the sample order, a tag, an
             artifact's POST, upload or confirmUpload, a run file's POST, one at
             random) has reached the web app
             and the proxy holds its answer back

so no kill falls while the daemon is idle. Each kill is counted by the phase
winnowd's queue shows right after it (a job claimed, running or reporting;
"idle" when none: must stay 0). A cycle whose moment never comes (every run
ended first) stops winnowd with SIGTERM instead and counts as "missed", and so
do the cycles left when every run has ended. After the last cycle winnowd runs until every run has ended, both programs stop, and
the soak checks:

  lost        runs that did not end COMPLETED with both tags in the web app
  duplicated  runs with more than one run row for their scheduled run, or a tag,
              score list, artifact or log seq twice
  differing   runs whose tags differ from the first run's (same config, same data)
  integrity   PRAGMA integrity_check of winnowd's and winnow-web's databases

A run whose stages were running at a kill counts a daemon death (SPEC 6); the
fifth death fails the run as a suspected poison job. The soak never makes that
fifth kill: when the held stage belongs to a run with four deaths, the cycle
lets it go and kills at the next reporting call instead (counted as "spared").
Exit 0 only when nothing was lost, duplicated or differing, no kill fell in
idle, and both checks say ok.
"""
import argparse
import os
import random
import re
import sqlite3
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "py"))
import webtest  # noqa: E402
import winnowtest as wt  # noqa: E402
import faultproxy  # noqa: E402
from test_daemon import Daemon, CORESET  # noqa: E402

MAX_DEATHS = 5      # daemon/jobs.c
PHASES = ("claiming", "stages", "reporting")
ID = r"[0-9a-f]{24}"
# The calls a kill aimed at claiming or reporting holds (method, path, body regex):
# daemon/claim.c's claim steps and daemon/results.c's chain (a coreset run: no score lists).
HOLDS = {
    "claiming": [("PUT", r"/docker/worker/%s/schedule/%s$" % (ID, ID), rb'"LOCKED"'),
                 ("POST", r"^/v1/docker/runs$", None),
                 ("GET", r"^/v1/docker/worker/config/%s$" % ID, None),
                 ("GET", r"^/v1/winnow/datasets/%s/datasource$" % ID, None)],
    "reporting": [("POST", r"^/v1/winnow/datasets/%s/samples/batch$" % ID, None),
                  ("GET", r"^/v1/datasets/%s/mappings$" % ID, None),
                  ("POST", r"^/v1/datasets/%s/tags$" % ID, None),
                  ("POST", r"^/v1/docker/runs/%s/artifacts$" % ID, None),
                  ("PUT", r"^/v1/docker/runs/%s/artifacts/%s/confirmUpload$" % (ID, ID), None),
                  ("POST", r"^/v1/winnow/runs/%s/files$" % ID, None),
                  ("PUT", r"^/v1/winnow/artifacts/%s/content$" % ID, None)],
}
# The job state in winnowd's queue that each phase shows (daemon/queue.c).
JOB_STATE = {"claiming": "claimed", "stages": "running", "reporting": "reporting"}
# The stages of the soak's coreset run (it has no score lists, so no "scores" stage); a cycle
# aimed at the stages holds one of them for STAGE_HOLD_MS at its start
# (WINNOWD_TEST_STAGE_DELAY) and kills within the first STAGE_KILL_S of the hold.
STAGES = ("listing", "images", "duplicates", "embeddings", "selection", "results")
STAGE_HOLD_MS = 4000
STAGE_KILL_S = 1.0
# How long a cycle waits for its moment.
MOMENT_TIMEOUT = 60


def integrity(path):
    c = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=30)
    try:
        return ";".join(r[0] for r in c.execute("PRAGMA integrity_check"))
    finally:
        c.close()


def jobs(state_dir):
    """{sched_id: (state, attempts, deaths)} from winnowd's queue, read-only."""
    p = os.path.join(state_dir, "winnowd.db")
    if not os.path.exists(p):
        return {}
    for _ in range(50):
        try:
            c = sqlite3.connect("file:%s?mode=ro" % p, uri=True, timeout=10)
            try:
                return {r[0]: (r[1], r[2], r[3]) for r in
                        c.execute("SELECT sched_id, state, attempts, deaths FROM jobs")}
            finally:
                c.close()
        except sqlite3.OperationalError:
            time.sleep(0.05)
    return {}


def phase_of(js, aim=None):
    """The phase the queue js shows: aim when a job is in aim's state, else
    the first of stages, claiming, reporting that one is in, else idle."""
    states = {s for s, _, _ in js.values()}
    for p in ((aim,) if aim else ()) + ("stages", "claiming", "reporting"):
        if JOB_STATE[p] in states:
            return p
    return "idle"


class Soak:
    def __init__(self, cycles=50, runs=20, images=30, seed=None, workdir=None, out=sys.stdout,
                 delay_ms=5):
        self.cycles = cycles
        self.nruns = runs
        self.images = images
        self.seed = seed if seed is not None else int(time.time())
        self.rng = random.Random(self.seed)
        self.dir = workdir or tempfile.mkdtemp(prefix="soak")
        self.out = out
        self.delay_ms = delay_ms
        self.kills = {p: 0 for p in PHASES + ("idle",)}
        self.aims = {p: 0 for p in PHASES}
        self.spared = 0
        self.missed = 0
        self.stage_hit = {}     # sched id -> index of the stage a kill last fell in

    def say(self, msg):
        self.out.write(msg + "\n")
        self.out.flush()

    def ok(self, method, path, body=None, token=None):
        return self.web.ok(method, path, body, token or self.utok)

    def setup(self):
        root = os.path.join(self.dir, "data")
        os.makedirs(root, exist_ok=True)
        self.path = os.path.join(root, "d")
        wt.mkdataset(self.path, "--n", self.images, "--predictions", "--subdirs")
        # The proxy's port first: the web app's links (upload URLs) point at it, as behind a
        # real proxy (--public-url; SPEC 8: never the Host header), so uploads go through it.
        self.proxy = faultproxy.FaultProxy(0)
        self.web = webtest.Server(roots=[root], workdir=os.path.join(self.dir, "web"),
                                  extra=("--public-url", self.proxy.url()))
        os.makedirs(self.web.dir, exist_ok=True)
        self.wtok = self.web.token("worker1", "worker")
        self.utok = self.web.token("alice", "user")
        self.web.start()
        self.proxy.upstream = ("127.0.0.1", self.web.port)
        self.ds = self.ok("POST", "/v1/datasets", {"name": "soak"})["id"]
        self.ok("PUT", "/v1/datasets/%s/datasource" % self.ds, {"type": "LOCAL", "purpose": "INPUT_OUTPUT", "fullPath": self.path})
        cfg = self.ok("POST", "/v1/docker/worker/config",
                      {"config": {"workerType": "FULL", "docker": CORESET, "lightly": {}}})["id"]
        self.scheds = [self.ok("POST", "/v1/datasets/%s/docker/worker/schedule" % self.ds,
                               {"configId": cfg, "priority": "MID"})["id"] for _ in range(self.nruns)]
        env = {"WINNOWD_TEST_DELAY_MS": str(self.delay_ms)} if self.delay_ms else {}
        self.proxy.start()
        self.d = Daemon(self.proxy.url(), self.wtok, os.path.join(self.dir, "wd"), env=env)

    def all_ended(self):
        js = jobs(self.d.state)
        return len(js) == self.nruns and all(s in ("done", "failed", "aborted") for s, _, _ in js.values())

    def wait_marker(self, marker, since, timeout, until_ended=True):
        """Waits for marker in the log after offset since; True when seen."""
        deadline = time.time() + timeout
        text = b""
        while time.time() < deadline:
            with open(self.d.log, "rb") as f:
                f.seek(since + len(text))
                text += f.read()
            if marker.search(text.decode("utf-8", "replace")):
                return True
            if not self.d.proc or self.d.proc.poll() is not None or \
                    (until_ended and self.all_ended()):
                return False
            time.sleep(0.002)
        return False

    def possible(self):
        """The phases a cycle can still aim at, read from the queue while winnowd
        is down: claiming while a scheduled run is unclaimed or half claimed,
        stages while one has stages left, reporting while one has not ended."""
        js = jobs(self.d.state)
        states = [st for st, _, _ in js.values()]
        unclaimed = len(js) < self.nruns
        out = []
        if unclaimed or "claimed" in states:
            out.append("claiming")
        if unclaimed or any(st in ("claimed", "queued", "running") for st in states):
            out.append("stages")
        if unclaimed or any(st in ("claimed", "queued", "running", "reporting") for st in states):
            out.append("reporting")
        return out

    def next_aim(self, k):
        """The phases take turns (claiming, stages, reporting), starting at a
        random one; a phase no run can reach any more is skipped. The daemon
        runs freely between kills (it claims the next run while one reports),
        so a fixed plan per run would aim at moments already past."""
        can = self.possible()
        for i in range(len(PHASES)):
            p = PHASES[(self.first_phase + k + i) % len(PHASES)]
            if p in can:
                return p
        return None

    def wait_held(self, rule, timeout):
        """Waits until the proxy holds rule's call; True when it does."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if rule.held.wait(0.05):
                return True
            if not self.d.proc or self.d.proc.poll() is not None or self.all_ended():
                return rule.held.is_set()
        return False

    def hold(self, phase):
        method, path, body = self.rng.choice(HOLDS[phase])
        return self.proxy.add(method, path, "hold", body_re=body)

    def cycle(self, phase):
        since = os.path.getsize(self.d.log) if os.path.exists(self.d.log) else 0
        self.d.env.pop("WINNOWD_TEST_STAGE_DELAY", None)
        rules = []
        if phase == "stages":
            # Hold one stage, picked at random, and kill inside the hold: every
            # stage's resume from its predecessor's checkpoint gets its turn.
            # A run killed in a stage resumes there: never aim before it (that
            # stage would not run again, and the cycle would land in a later run).
            pending = [sid for sid, (st, _, _) in jobs(self.d.state).items()
                       if st in ("claimed", "queued", "running")]
            first = max([self.stage_hit.get(sid, 0) for sid in pending] + [0])
            stage = self.rng.choice(STAGES[first:])
            self.d.env["WINNOWD_TEST_STAGE_DELAY"] = "%s:%d" % (stage, STAGE_HOLD_MS)
            self.d.start()
            landed = self.wait_marker(re.compile(r"stage %s started" % stage), since, MOMENT_TIMEOUT)
            if landed:
                time.sleep(self.rng.uniform(0, STAGE_KILL_S))
                js = jobs(self.d.state)
                if any(st == "running" and deaths >= MAX_DEATHS - 1 for st, _, deaths in js.values()):
                    # Never the fifth death of a run: let this stage go, kill in its reporting.
                    self.spared += 1
                    phase = "reporting"
                    rules.append(self.hold(phase))
                    landed = self.wait_held(rules[-1], MOMENT_TIMEOUT)
        else:
            rules.append(self.hold(phase))
            self.d.start()
            landed = self.wait_held(rules[-1], MOMENT_TIMEOUT)
        for r in rules:
            r.left = 0      # an unused rule must not fire in a later cycle
        if not landed:
            self.missed += 1
            self.d.stop()
            return phase, "missed"
        self.aims[phase] += 1
        self.d.kill9()
        js = jobs(self.d.state)
        hit = phase_of(js, phase)
        if hit == "stages":
            for sid, (st, _, _) in js.items():
                if st == "running":
                    self.stage_hit[sid] = STAGES.index(stage)
        self.kills[hit] += 1
        return phase, hit

    def finish(self, timeout=600):
        self.d.env.pop("WINNOWD_TEST_STAGE_DELAY", None)
        since = os.path.getsize(self.d.log) if os.path.exists(self.d.log) else 0
        self.d.start()
        # Ready first, so that the SIGTERM at the end meets the daemon's handler.
        self.wait_marker(re.compile(r"ready: worker"), since, 60, until_ended=False)
        deadline = time.time() + timeout
        while not self.all_ended() and time.time() < deadline:
            time.sleep(0.2)
        # The web app's side follows the local end (the scheduled run's DONE).
        while time.time() < deadline:
            if all(self.run_of(s) and self.run_of(s)["state"] in ("COMPLETED", "FAILED", "ABORTED")
                   for s in self.scheds):
                break
            time.sleep(0.2)

    def run_of(self, sched):
        r = self.web.request("GET", "/v1/docker/runs/schedule/%s" % sched, token=self.utok)
        return r.json if r.status == 200 else None

    def check(self):
        lost, dup, differ = [], [], []
        tags = self.ok("GET", "/v1/datasets/%s/tags" % self.ds)
        names = [t["name"] for t in tags]
        by_name = {t["name"]: t for t in tags}
        runs = self.ok("GET", "/v1/docker/runs?datasetId=%s" % self.ds)
        runs = runs if isinstance(runs, list) else runs.get("items", runs)
        per_sched = {}
        for r in runs:
            per_sched.setdefault(r.get("scheduledId"), []).append(r)
        first = None
        for s in self.scheds:
            run = self.run_of(s)
            bad_dup = len(per_sched.get(s, [])) > 1
            if run is None or run["state"] != "COMPLETED":
                lost.append((s, run and run["state"], run and run.get("message")))
                if bad_dup:
                    dup.append(s)
                continue
            name = "run-%s" % run["id"]
            sel, cand = by_name.get(name), by_name.get(name + "-candidates")
            if sel is None or cand is None:
                lost.append((s, "COMPLETED without its tags", None))
                continue
            if names.count(name) != 1 or names.count(name + "-candidates") != 1:
                bad_dup = True
            types = [x["scoreType"] for x in self.ok("GET", "/v1/datasets/%s/tags/%s/scores" % (self.ds, cand["id"]))]
            if len(types) != len(set(types)):
                bad_dup = True
            arts = [a["fileName"] for a in self.ok("GET", "/v1/winnow/runs/%s" % run["id"])["artifacts"]
                    if a["type"] not in ("SCORES_CSV", "SELECTION_CSV", "EMBEDDINGS_2D", "NO_PREDICTIONS")]
            arts += [f["fileName"] for f in self.ok("GET", "/v1/winnow/runs/%s/files" % run["id"])]
            if len(arts) != len(set(arts)):
                bad_dup = True
            lines = self.ok("GET", "/v1/docker/runs/%s/logs" % run["id"])["logs"]
            keys = [(l["ts"], l["level"], l["msg"]) for l in lines]
            if len(keys) != len(set(keys)):
                bad_dup = True
            if bad_dup:
                dup.append(s)
            key = (sel["bitMaskData"], cand["bitMaskData"], sorted(types))
            if first is None:
                first = key
            elif key != first:
                differ.append(s)
        if len(names) != len(set(names)):
            dup.append("tag names")
        return lost, dup, differ

    def run(self):
        t0 = time.time()
        self.setup()
        self.say("soak: seed %d, %d cycles over %d runs of %d images, workdir %s"
                 % (self.seed, self.cycles, self.nruns, self.images, self.dir))
        self.first_phase = self.rng.randrange(len(PHASES))
        for k in range(self.cycles):
            aim = self.next_aim(k)
            if aim is None:
                self.missed += self.cycles - k
                self.say("  cycles %d-%d: every run has ended" % (k + 1, self.cycles))
                break
            want, hit = self.cycle(aim)
            self.say("  cycle %d: aimed at %s, killed in %s" % (k + 1, want, hit))
        self.finish()
        lost, dup, differ = self.check()
        js = jobs(self.d.state)
        rc_d = self.d.stop()
        self.proxy.stop()
        self.web.stop()
        ig_d = integrity(os.path.join(self.d.state, "winnowd.db"))
        ig_w = integrity(self.web.db)
        deaths = max((x[2] for x in js.values()), default=0)
        attempts = max((x[1] for x in js.values()), default=0)
        el = time.time() - t0
        self.say("soak: kills by phase: claiming %d, stages %d, reporting %d, idle %d; "
                 "spared (a fifth death) %d; missed %d" % (self.kills["claiming"], self.kills["stages"],
                                                           self.kills["reporting"], self.kills["idle"],
                                                           self.spared, self.missed))
        self.say("soak: most daemon deaths of one run %d (cap %d), most failed attempts %d"
                 % (deaths, MAX_DEATHS, attempts))
        self.say("soak: integrity_check winnowd.db %s, web.db %s; winnowd exit %s"
                 % (ig_d, ig_w, rc_d))
        for x in lost:
            self.say("  lost: scheduled run %s: %s %s" % x)
        for x in dup:
            self.say("  duplicated: %s" % x)
        for x in differ:
            self.say("  differing: scheduled run %s" % x)
        self.say("soak: cycles %d, runs %d, lost %d, duplicated %d, differing %d, time %.0f s"
                 % (self.cycles, self.nruns, len(lost), len(dup), len(differ), el))
        self.result = {"lost": lost, "duplicated": dup, "differing": differ, "integrity": (ig_d, ig_w),
                       "kills": dict(self.kills), "aims": dict(self.aims), "missed": self.missed,
                       "spared": self.spared, "deaths": deaths, "winnowd_rc": rc_d,
                       "seconds": el}
        return not lost and not dup and not differ and self.kills["idle"] == 0 and ig_d == "ok" and ig_w == "ok" and rc_d == 0

    def cleanup(self):
        for p in (getattr(self, "d", None), getattr(self, "proxy", None), getattr(self, "web", None)):
            try:
                if p is not None:
                    p.stop()
            except Exception:   # noqa: BLE001 (already failing)
                pass


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=50)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--images", type=int, default=30)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--keep", help="work in DIR and keep it")
    a = ap.parse_args()
    wd = a.keep or tempfile.mkdtemp(prefix="winnow-soak-")
    s = Soak(a.cycles, a.runs, a.images, a.seed, wd)
    ok = False
    try:
        ok = s.run()
    finally:
        s.cleanup()
        if ok and not a.keep:
            import shutil
            shutil.rmtree(wd, ignore_errors=True)
        elif not ok:
            sys.stderr.write("soak: FAILED; logs kept in %s\n" % wd)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

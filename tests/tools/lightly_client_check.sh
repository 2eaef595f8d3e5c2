#!/bin/bash
# Lightly's own Python client (lightly v1.5.20, unchanged) against a real
# winnow-web: a manual check of issue 14, not part of `make check`.
#
#   tests/tools/lightly_client_check.sh            (after `make`)
#
# It builds a throwaway copy of the client in a temp folder from the fetched
# snapshot (git archive v1.5.20 of lightly/api, lightly/openapi_generated,
# lightly/utils, lightly/active_learning; stand-ins lightly/__init__.py with
# __version__ and an aenum module with no_arg), starts winnow-web with a temp DB,
# a dataset root and a user token, points LIGHTLY_SERVER_LOCATION at it and runs
# Lightly's documented workflow with /usr/bin/python3, printing each step's
# outcome (OK and the value, or the exact exception). The worker's side of the
# run is played over HTTP with a worker token (the calls winnowd makes today).
# Nothing is installed and nothing is left behind (the temp folder is removed;
# KEEP=1 keeps it).
#
# Needs Debian's python3-pydantic (1.10), python3-requests, python3-tqdm,
# python3-dateutil, python3-urllib3 (and numpy, PIL) for /usr/bin/python3.
# Environment: LIGHTLY_GIT_DIR (default /work/.mirror/lightly-ai+lightly/repo),
# LIGHTLY_TAG (v1.5.20), BIN (bin), LIGHTLY_CLIENT_RETRIES=1 keeps the client's
# own 5 retries with backoff (31 s per failing page; default: the harness sets
# lightly.api.utils.RETRY_MAX_RETRIES = 0 so a failing step fails at once).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
GITDIR=${LIGHTLY_GIT_DIR:-/work/.mirror/lightly-ai+lightly/repo}
TAG=${LIGHTLY_TAG:-v1.5.20}
PY=/usr/bin/python3
WEB=$ROOT/${BIN:-bin}/winnow-web

die() { echo "lightly_client_check: $*" >&2; exit 2; }

[ -x "$WEB" ] || die "no $WEB: run make first"
git --git-dir="$GITDIR" rev-parse -q --verify "$TAG^{commit}" >/dev/null || die "no $TAG in $GITDIR (fetch lightly-ai/lightly)"
missing=""
for m in pydantic:python3-pydantic requests:python3-requests tqdm:python3-tqdm dateutil:python3-dateutil \
	urllib3:python3-urllib3 numpy:python3-numpy PIL:python3-pil; do
	$PY -c "import ${m%%:*}" 2>/dev/null || missing="$missing ${m#*:}"
done
[ -z "$missing" ] || die "missing Debian packages for $PY:$missing (apt-get install$missing)"
$PY -c 'import pydantic, sys; sys.exit(0 if pydantic.VERSION.startswith("1.") or hasattr(pydantic, "v1") else 1)' ||
	die "pydantic 1.x (or 2.x with pydantic.v1) is needed"

TMP=$(mktemp -d /tmp/lightly-check.XXXXXX)
PID=""
cleanup() {
	if [ -n "$PID" ]; then kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; fi
	if [ -n "${KEEP:-}" ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

# the client, out of the repository
mkdir -p "$TMP/client"
git --git-dir="$GITDIR" archive "$TAG" lightly/api lightly/openapi_generated lightly/utils lightly/active_learning |
	tar -x -C "$TMP/client" || die "git archive failed"
echo "__version__ = \"${TAG#v}\"" > "$TMP/client/lightly/__init__.py"
mkdir -p "$TMP/client/aenum"
echo 'no_arg = object()' > "$TMP/client/aenum/__init__.py"

# the server: temp DB, a dataset root holding images/ and lightly/
mkdir -p "$TMP/root/images" "$TMP/root/lightly"
$PY - "$TMP/root/images" <<'EOF'
import sys
from PIL import Image
for i in range(6):
    Image.new("RGB", (32, 24), (40 * i, 10, 200)).save("%s/img_%d.png" % (sys.argv[1], i))
EOF
DB=$TMP/web.db
USER_TOKEN=$("$WEB" token create alice --role user --db "$DB") || die "token create failed"
WORKER_TOKEN=$("$WEB" token create worker-1 --role worker --db "$DB") || die "token create failed"
PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$WEB" --listen "127.0.0.1:$PORT" --db "$DB" --dataset-root "$TMP/root" >"$TMP/server.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
	$PY -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" 2>/dev/null && break
	kill -0 "$PID" 2>/dev/null || { cat "$TMP/server.log"; die "winnow-web exited"; }
	sleep 0.1
done
echo "winnow-web on 127.0.0.1:$PORT (log $TMP/server.log), client from $TAG in $TMP/client"

LIGHTLY_SERVER_LOCATION="http://127.0.0.1:$PORT" LIGHTLY_TOKEN="$USER_TOKEN" WORKER_TOKEN="$WORKER_TOKEN" \
	DATASET_ROOT="$TMP/root" PYTHONPATH="$TMP/client" PYTHONDONTWRITEBYTECODE=1 \
	$PY - <<'EOF'
import json
import os
import traceback
import urllib.error
import urllib.request

import lightly.api.utils as lightly_utils
from lightly.api import ApiWorkflowClient
from lightly.openapi_generated.swagger_client.models import DatasetType, DatasourcePurpose

if not os.environ.get("LIGHTLY_CLIENT_RETRIES"):
    lightly_utils.RETRY_MAX_RETRIES = 0      # the harness's knob; the client's code is unchanged

SERVER = os.environ["LIGHTLY_SERVER_LOCATION"]
WORKER = os.environ["WORKER_TOKEN"]
results = []
got = {}


def step(name, fn, needs=()):
    """Run one step of the workflow; print OK and its value, or the exception."""
    n = len(results) + 1
    lacking = [k for k in needs if got.get(k) is None]
    if lacking:
        print("step %2d %-52s SKIPPED (needs %s)" % (n, name, ", ".join(lacking)), flush=True)
        results.append((name, "skipped"))
        return None
    try:
        v = fn()
    except Exception as e:   # noqa: BLE001 - every failure is the report
        last = traceback.extract_tb(e.__traceback__)[-1]
        msg = "%s: %s" % (type(e).__name__, str(e).replace("\n", " | "))
        print("step %2d %-52s FAILED %s  [at %s:%d]" % (n, name, msg[:1500], os.path.basename(last.filename), last.lineno),
              flush=True)
        results.append((name, "failed"))
        return None
    text = repr(v)
    print("step %2d %-52s OK %s" % (n, name, text if len(text) < 300 else text[:297] + "..."), flush=True)
    results.append((name, "ok"))
    return v


def worker_call(method, path, body=None):
    """The worker's side (what winnowd does), over plain HTTP with its token."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(SERVER + path, data=data, method=method,
                                 headers={"Authorization": "Bearer " + WORKER, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
    except urllib.error.HTTPError as e:
        raise RuntimeError("%s %s -> %d %s" % (method, path, e.code, e.read()[:300])) from None
    return json.loads(raw) if raw else None


client = step("ApiWorkflowClient(token) (version check)", lambda: ApiWorkflowClient())
got["client"] = client
step("create_dataset('lightly-check', IMAGES)",
     lambda: client.create_dataset("lightly-check", dataset_type=DatasetType.IMAGES), ["client"])
got["dataset_id"] = step("set_dataset_id_by_name('lightly-check')",
                         lambda: (client.set_dataset_id_by_name("lightly-check"), client.dataset_id)[1], ["client"])
if got["dataset_id"] is None and client is not None:
    # go on with the id the create call stored (if any), so the later steps still say something
    got["dataset_id"] = getattr(client, "_dataset_id", None)
step("get_dataset_by_id(dataset_id)", lambda: client.get_dataset_by_id(got["dataset_id"]).name, ["client", "dataset_id"])
step("get_datasets()", lambda: [d.name for d in client.get_datasets()], ["client"])
step("set_local_config('images', purpose=INPUT)",
     lambda: client.set_local_config(relative_path="images", purpose=DatasourcePurpose.INPUT), ["client", "dataset_id"])
step("set_local_config('lightly', purpose=LIGHTLY)",
     lambda: client.set_local_config(relative_path="lightly", purpose=DatasourcePurpose.LIGHTLY), ["client", "dataset_id"])
step("set_local_config(<absolute path>, INPUT_OUTPUT)",
     lambda: client.set_local_config(relative_path=os.path.join(os.environ["DATASET_ROOT"], "images")),
     ["client", "dataset_id"])
step("get_datasource()", lambda: client.get_datasource(), ["client", "dataset_id"])
got["worker_id"] = step("register_compute_worker('my-worker', ['my-label'])",
                        lambda: client.register_compute_worker(name="my-worker", labels=["my-label"]), ["client"])
step("get_compute_workers()", lambda: [(w.name, w.state) for w in client.get_compute_workers()], ["client"])
step("get_compute_worker_ids()", lambda: client.get_compute_worker_ids(), ["client"])
selection = {
    "n_samples": 3,
    "strategies": [
        {"input": {"type": "EMBEDDINGS"}, "strategy": {"type": "DIVERSITY"}},
    ],
}
got["config_id"] = step("create_compute_worker_config(V4 selection)",
                        lambda: client.create_compute_worker_config(worker_config={"shutdown_when_job_finished": False},
                                                                    selection_config=selection), ["client"])
got["scheduled_id"] = step("schedule_compute_worker_run(..., runs_on=['my-label'])",
                           lambda: client.schedule_compute_worker_run(selection_config=selection, runs_on=["my-label"]),
                           ["client", "dataset_id"])
step("get_scheduled_compute_worker_runs()",
     lambda: [(r.id, r.state, r.priority) for r in client.get_scheduled_compute_worker_runs()], ["client", "dataset_id"])
step("get_scheduled_compute_worker_runs(state='OPEN')",
     lambda: [r.id for r in client.get_scheduled_compute_worker_runs(state="OPEN")], ["client", "dataset_id"])
step("get_compute_worker_run_info(scheduled_id) (no run yet)",
     lambda: client.get_compute_worker_run_info(got["scheduled_id"]), ["client", "scheduled_id"])


def play_worker():
    """A worker run through today's calls: samples, tags, a report, COMPLETED.
    Finds the scheduled run by listing the dataset's scheduled runs itself, so it
    also runs when the client's schedule call lost the id."""
    ds = got["dataset_id"]
    wid = worker_call("POST", "/v1/docker/worker", {"name": "worker-1", "workerType": "FULL", "labels": ["my-label"]})["id"]
    open_runs = worker_call("GET", "/v1/docker/worker/%s/schedule?state=OPEN" % wid)
    sid = got.get("scheduled_id") or open_runs[0]["id"]
    cfg = [r for r in open_runs if r["id"] == sid][0]["configId"]
    worker_call("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (ds, wid, sid), {"state": "LOCKED"})
    rid = worker_call("POST", "/v1/docker/runs", {"dockerVersion": "winnow", "datasetId": ds, "scheduledId": sid, "configId": cfg})["id"]
    names = ["img_%d.png" % i for i in range(6)]
    worker_call("POST", "/v1/winnow/datasets/%s/samples/batch" % ds, [{"fileName": n} for n in names])
    init = worker_call("POST", "/v1/datasets/%s/tags/initial" % ds, {"name": "initial-tag", "imgType": "full"})["id"]
    cand = worker_call("POST", "/v1/datasets/%s/tags" % ds, {"name": "run-1-candidates", "prevTagId": init, "bitMaskData": "0x3f",
                                                            "totSize": 6, "creator": "USER_WORKER", "runId": rid})["id"]
    worker_call("POST", "/v1/datasets/%s/tags" % ds, {"name": "run-1", "prevTagId": cand, "bitMaskData": "0x16",
                                                     "totSize": 6, "creator": "USER_WORKER", "runId": rid})
    art = worker_call("POST", "/v1/docker/runs/%s/artifacts" % rid, {"fileName": "report.json", "type": "REPORT_JSON"})
    req = urllib.request.Request(art["signedWriteUrl"], data=b'{"selected": 3}', method="PUT")
    urllib.request.urlopen(req, timeout=30).read()
    for state in ("STARTED", "COMPLETED"):
        worker_call("PUT", "/v1/docker/runs/%s" % rid, {"state": state})
    worker_call("PUT", "/v1/datasets/%s/docker/worker/%s/schedule/%s" % (ds, wid, sid), {"state": "DONE"})
    got["scheduled_id"] = sid
    return rid


got["run_id"] = step("(worker) claim, run, tags, report, COMPLETED", play_worker, ["dataset_id"])
step("get_compute_worker_run_info(scheduled_id) (ended)",
     lambda: client.get_compute_worker_run_info(got["scheduled_id"]), ["client", "scheduled_id"])
got["run"] = step("get_compute_worker_run_from_scheduled_run(scheduled_id)",
                  lambda: client.get_compute_worker_run_from_scheduled_run(got["scheduled_id"]), ["client", "scheduled_id"])
step("get_compute_worker_run(run_id)", lambda: client.get_compute_worker_run(got["run_id"]).state, ["client", "run_id"])
step("get_compute_worker_runs()", lambda: [r.id for r in client.get_compute_worker_runs()], ["client"])
step("get_compute_worker_runs(dataset_id=...)",
     lambda: [r.id for r in client.get_compute_worker_runs(dataset_id=got["dataset_id"])], ["client", "dataset_id"])
tags = step("get_compute_worker_run_tags(run_id)",
            lambda: [(t.name, t.id) for t in client.get_compute_worker_run_tags(got["run_id"])], ["client", "run_id"])
step("get_all_tags()", lambda: [t.name for t in client.get_all_tags()], ["client", "dataset_id"])
got["tag"] = step("get_tag_by_name('run-1')", lambda: client.get_tag_by_name("run-1").id, ["client", "dataset_id"])
step("export_filenames_by_tag_id(run-1)", lambda: client.export_filenames_by_tag_id(got["tag"]), ["client", "tag"])
step("export_filenames_by_tag_name('run-1')", lambda: client.export_filenames_by_tag_name("run-1"), ["client", "dataset_id"])
REPORT = os.path.join(os.path.dirname(os.environ["DATASET_ROOT"]), "report.json")


def download_report():
    client.download_compute_worker_run_report_json(got["run"], output_path=REPORT)
    with open(REPORT) as f:
        return f.read()


step("download_compute_worker_run_report_json(run, path)", download_report, ["client", "run"])
step("delete_compute_worker(worker_id)", lambda: client.delete_compute_worker(got["worker_id"]), ["client", "worker_id"])

ok = sum(1 for _, r in results if r == "ok")
print("\n%d of %d steps OK, %d failed, %d skipped" % (ok, len(results), sum(1 for _, r in results if r == "failed"),
                                                      sum(1 for _, r in results if r == "skipped")))
EOF

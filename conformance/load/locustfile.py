"""Replay a sigharness corpus with Locust and record every reply for `sigharness load judge`.

`sigharness load prepare http-sig-verifier --verifier-url URL ... --out CORPUS` writes
CORPUS/plan.json and CORPUS/corpus.jsonl (one arrival per line: its sequence number, when it is
due from the start of the run in microseconds, and its HTTP request(s)). This file replays it:
each worker takes the arrivals `seq % SIGHARNESS_WORKERS == its worker index`, each user takes
the next arrival, waits until it is due (open loop: an arrival is never sent early, and one
sent late is timed from when it was due), sends its request(s) as they are, and records the
statuses into RESULTS/results-w<index>.jsonl (as they come), which
`sigharness load judge --corpus CORPUS --results RESULTS` judges (the decisions, against the
suite's requirements) and merges into one HDR histogram and report.

Environment (set it on the master and on every worker):
  SIGHARNESS_CORPUS   the corpus directory
  SIGHARNESS_RESULTS  where each worker writes its records (created if missing)
  SIGHARNESS_WORKERS  how many workers replay the corpus (1 without --master)

  locust -f conformance/load/locustfile.py --headless --master --expect-workers 2 \
      -u 40 -r 40 -t 15s --host http://127.0.0.1:4001
  locust -f conformance/load/locustfile.py --worker   # twice

Users: as many as the arrivals in flight you want (at least rate x latency). A user whose
worker has no arrival left stops; the run ends at -t.
"""

import base64
import json
import os
import time
from collections import deque

import gevent
from locust import FastHttpUser, constant, events, task
from locust.exception import StopUser
from locust.runners import MasterRunner

CORPUS = os.environ.get("SIGHARNESS_CORPUS", "sigharness-corpus")
RESULTS = os.environ.get("SIGHARNESS_RESULTS", "sigharness-results")
WORKERS = max(1, int(os.environ.get("SIGHARNESS_WORKERS", "1")))

STATE = {"queue": deque(), "t0": None, "wall": 0.0, "run_id": "", "out": None, "index": 0}


def _now_us():
    return int((time.monotonic() - STATE["t0"]) * 1e6)


@events.test_start.add_listener
def _load(environment, **_kw):
    if isinstance(environment.runner, MasterRunner):
        return
    index = getattr(environment.runner, "worker_index", 0)
    if index < 0:
        index = 0
    STATE["index"] = index
    with open(os.path.join(CORPUS, "plan.json"), encoding="utf-8") as f:
        STATE["run_id"] = json.load(f)["run_id"]
    queue = deque()
    with open(os.path.join(CORPUS, "corpus.jsonl"), encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            e = json.loads(line)
            if e["seq"] % WORKERS == index:
                queue.append(e)
    STATE["queue"] = queue
    os.makedirs(RESULTS, exist_ok=True)
    # Records are written as they come (buffered, flushed at the end), so a worker that dies
    # mid-run leaves what it had written.
    STATE["out"] = open(os.path.join(RESULTS, "results-w%d.jsonl" % index), "w", encoding="utf-8")
    STATE["wall"] = time.time()
    STATE["t0"] = time.monotonic()


def _close(environment):
    if isinstance(environment.runner, MasterRunner) or STATE["out"] is None:
        return
    STATE["out"].close()
    STATE["out"] = None


@events.test_stop.add_listener
def _stop(environment, **_kw):
    _close(environment)


@events.quitting.add_listener
def _quit(environment, **_kw):
    _close(environment)


class CorpusUser(FastHttpUser):
    # No think time: each user takes the next arrival at once and waits until it is due.
    wait_time = constant(0)

    @task
    def replay(self):
        if STATE["t0"] is None or not STATE["queue"]:
            raise StopUser()
        e = STATE["queue"].popleft()
        delay = STATE["t0"] + e["due_us"] / 1e6 - time.monotonic()
        if delay > 0:
            gevent.sleep(delay)
        sent = _now_us()
        statuses, error = [], None
        for step in e["steps"]:
            headers = {n: v for n, v in step["headers"] if n.lower() not in ("content-length",)}
            with self.client.request(
                step["method"],
                step["target"],
                headers=headers,
                data=base64.b64decode(step["body_b64"]),
                name="kind %d" % e["kind"],
                catch_response=True,
            ) as r:
                # Every status is a decision the judge reads; Locust's own failure count is
                # for transport errors only.
                if r.status_code == 0:
                    error = "%s: %s" % (type(r.error).__name__, r.error)
                    r.failure(error)
                    break
                r.success()
                statuses.append(r.status_code)
        record = {
            "seq": e["seq"],
            "statuses": statuses,
            "error": error,
            "due_us": e["due_us"],
            "sent_us": sent,
            "done_us": _now_us(),
            "worker": "w%d" % STATE["index"],
            "run_id": STATE["run_id"],
            "wall_start": STATE["wall"],
        }
        if STATE["out"] is not None:
            STATE["out"].write(json.dumps(record) + "\n")

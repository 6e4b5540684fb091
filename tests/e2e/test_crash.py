"""
Crash safety: SIGKILL the handler's workers at random moments while a
stream of submissions goes through nginx, then check the Maildir.

  * every submission answered with success (200 JSON / 303) is in new/
    exactly once, complete, with the values that were sent;
  * every file in new/ is a complete message (parses, size == S=);
  * a submission answered with a handler error (422) is never delivered;
    one answered 502 by nginx (the worker died before it could answer)
    may have been delivered -- the client got no success and will retry;
    these are counted and reported, nothing else is allowed;
  * tmp/ may hold partial files of killed workers; a restarted handler
    removes those older than 36 hours and keeps the younger ones
    (maildir(5)), and serves again.
"""

import collections
import os
import random
import threading
import time
import uuid

import e2e_helpers as h
import fault_helpers as fh

DURATION = 25          # seconds of submissions under fire
PARALLEL = 8           # concurrent submitting clients
KILL_GAP = (0.004, 0.06)   # seconds between two kills
INVALID_EVERY = 10     # every n-th submission fails validation (422)
THINK = (0.0, 0.02)    # seconds a client waits between two submissions
FULL_CHECKS = 400      # accepted messages checked header by header


class Record:
    __slots__ = ("marker", "fields", "valid", "json", "status", "id",
                 "error", "body")

    def __init__(self, marker, fields, valid, json_):
        self.marker, self.fields, self.valid, self.json = (marker, fields,
                                                           valid, json_)
        self.status = self.id = self.error = self.body = None


def submit_one(s, n, rng):
    marker = f"k{n:06d}x{uuid.uuid4().hex[:10]}"
    valid = n % INVALID_EVERY != 0
    fields = {"name": f"Crash {marker}",
              "email": f"{marker}@example.org" if valid else "not-an-email",
              "message": f"marker {marker}\n" + "lorem ipsum " *
              rng.randrange(0, 400)}
    rec = Record(marker, fields, valid, json_=n % 2 == 0)
    try:
        r = s.post("contact", list(fields.items()),
                   accept=fh.JSON if rec.json else None, timeout=40)
        rec.status = r.status
        rec.body = r.body[:300]
        if r.status in (200, 303):
            rec.id = h.check_success(r, "contact", accept_json=rec.json)
    except Exception as e:      # noqa: BLE001 - a lost answer is a result
        rec.error = repr(e)
    return rec


def test_sigkill_workers_during_submissions(request, tmp_root):
    s = fh.start_stack(request, tmp_root, workers=4)
    box = s.maildirs["contact"]
    stop = threading.Event()
    records, lock = [], threading.Lock()
    counter = iter(range(10 ** 7))
    kills = []

    def client(seed):
        rng = random.Random(seed)
        while not stop.is_set():
            with lock:
                n = next(counter)
            rec = submit_one(s, n, rng)
            with lock:
                records.append(rec)
            time.sleep(rng.uniform(*THINK))

    def killer():
        rng = random.Random(4242)
        while not stop.is_set():
            time.sleep(rng.uniform(*KILL_GAP))
            pids = s.workers_pids()
            if pids:
                pid = rng.choice(pids)
                if fh.kill_pid(pid):
                    kills.append(pid)

    start = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,), daemon=True)
               for i in range(PARALLEL)]
    threads.append(threading.Thread(target=killer, daemon=True))
    for t in threads:
        t.start()
    time.sleep(DURATION)
    stop.set()
    for t in threads:
        t.join(60)
    elapsed = time.monotonic() - start
    assert s.handler.alive(), "the supervisor died:\n" + s.handler.log_text()
    # The supervisor replaced every worker it lost.
    fh.wait_for(lambda: len(s.workers_pids()) == 4, what="4 workers again")

    statuses = collections.Counter(r.status or "lost" for r in records)
    by_marker = {r.marker: r for r in records}
    assert len(by_marker) == len(records)

    # -- every file in new/ is a complete message, and ours
    by_id, problems = fh.all_messages(box / "new")
    assert not problems, f"incomplete files in new/: {problems[:10]}"
    delivered = collections.defaultdict(list)
    for id_, ds in by_id.items():
        assert len(ds) == 1, f"ID {id_} delivered {len(ds)} times"
        d = ds[0]
        name = d.data["fields"].get("name", "")
        marker = name.split(" ", 1)[1] if name.startswith("Crash ") else name
        assert marker in by_marker, f"{d.name}: unknown submission {name!r}"
        delivered[marker].append(d)

    # -- every success delivered exactly once, intact
    ok = [r for r in records if r.status in (200, 303)]
    full = set(random.Random(7).sample(range(len(ok)),
                                       min(FULL_CHECKS, len(ok))))
    for i, r in enumerate(ok):
        assert r.valid, f"invalid submission accepted: {r.marker}"
        ds = delivered.get(r.marker, [])
        assert len(ds) == 1, (
            f"{r.marker} answered {r.status} but delivered {len(ds)} times")
        d = ds[0]
        assert d.id == r.id, d.name
        assert d.data["fields"] == r.fields, d.name
        if i in full:
            h.check_message(d.full(), form="contact", id=r.id, fields=r.fields,
                            subject="Contact form: " + r.fields["name"],
                            reply_to=r.fields["email"], client="127.0.0.1")

    # -- nothing answered with a handler error delivered; after a lost
    #    answer (nginx 502, connection error) delivery is allowed
    after_error = []
    for marker, ds in delivered.items():
        r = by_marker[marker]
        if r.status in (200, 303):
            continue
        assert len(ds) == 1, f"{marker} delivered {len(ds)} times"
        assert r.valid, f"{marker} failed validation but was delivered"
        assert r.status == 502 or r.error is not None, (
            f"{marker} answered {r.status} by the handler itself "
            f"({r.body!r}) but delivered as {ds[0].name}")
        after_error.append((marker, r.status, r.error))
    for r in records:
        if not r.valid:
            assert r.status in (422, 502) or r.error, (r.marker, r.status,
                                                       r.body)
        elif r.status not in (200, 303):
            # The handler never answers an error to a valid submission
            # unless it died (then nginx says 502).
            assert r.status == 502 or r.error, (r.marker, r.status, r.body)

    # -- tmp/: only partial files of killed workers (their spools were
    # unnamed and went with them)
    tmp_files = os.listdir(box / "tmp")
    for name in tmp_files:
        assert fh.TMP_NAME_RE.match(name), f"unexpected file in tmp/: {name}"

    log = s.handler.log.read_text(errors="replace")
    killed_logged = log.count("killed by signal 9")
    print(f"\ncrash: {elapsed:.1f}s, {len(kills)} SIGKILLs "
          f"({killed_logged} logged by the supervisor), {len(records)} "
          f"submissions: {dict(statuses)}; {len(ok)} accepted, "
          f"{sum(len(v) for v in delivered.values())} in new/, "
          f"{len(after_error)} delivered after a lost answer "
          f"{after_error[:5]}, {len(tmp_files)} partial file(s) in tmp/")
    assert len(kills) >= 300, f"only {len(kills)} kills"
    assert len(ok) >= 200, f"only {len(ok)} accepted: {dict(statuses)}"
    assert statuses.get(502, 0) > 0, "no request was ever hit by a kill"

    # -- restart on an aged spool: >36 h old files in tmp/ go, younger stay
    s.handler.stop()
    old, young = [], []
    for i, name in enumerate(sorted(tmp_files)):
        if i % 2 == 0:
            fh.age_file(box / "tmp" / name, fh.STALE_AGE + 3600)
            old.append(name)
        else:
            fh.age_file(box / "tmp" / name, fh.STALE_AGE - 3600)
            young.append(name)
    # Our own, right around the limit, and one fresh.
    for name, age, lst in (("1.M1P1Q1R1.test.example,S=9,W=9",
                            fh.STALE_AGE + 120, old),
                           ("2.M2P2Q2R2.test.example,S=9,W=9",
                            fh.STALE_AGE - 120, young),
                           ("3.M3P3Q3R3.test.example,S=9,W=9", 0, young)):
        (box / "tmp" / name).write_bytes(b"partial\n")
        fh.age_file(box / "tmp" / name, age)
        lst.append(name)
    new_before = set(os.listdir(box / "new"))
    hd = s.restart_handler("handler-restarted")
    # The listening socket is open before the clean-up: wait for the
    # start-up line that follows it.
    fh.wait_for(lambda: "serving " in hd.log_text(), what="handler start-up")
    left = set(os.listdir(box / "tmp"))
    assert not left & set(old), f"stale files kept: {sorted(left & set(old))}"
    assert set(young) <= left, f"young files removed: {set(young) - left}"
    assert set(os.listdir(box / "new")) == new_before
    assert f"removed {len(old)} stale file(s) from {box}/tmp" in \
        hd.log_text(), hd.log_text()
    r = s.post("contact", [("name", "After restart"),
                           ("email", "after@example.org"),
                           ("message", "still serving")])
    h.check_success(r, "contact", accept_json=True)
    assert set(os.listdir(box / "tmp")) == left

"""
200 submissions, 20 at a time, with curl through nginx to a handler with 4
workers: exactly 200 distinct messages with 200 distinct IDs that match the
responses one to one, every message complete, tmp/ empty.
"""

import concurrent.futures
import os

import e2e_helpers as h

N = 200
PARALLEL = 20


def submit(stack, i):
    fields = {"name": f"Concurrent {i:03d}", "email": f"c{i}@example.org",
              "message": f"Message number {i}\n" + "x" * (i * 7)}
    accept_json = i % 2 == 1
    r = stack.post("contact", list(fields.items()),
                   accept="application/json" if accept_json else None)
    return i, fields, h.check_success(r, "contact", accept_json)


def test_200_concurrent_submissions(make_stack):
    s = make_stack()
    snap = s.snap()
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        results = list(pool.map(lambda i: submit(s, i), range(N)))
    ids = {id: (i, fields) for i, fields, id in results}
    assert len(ids) == N, "duplicate IDs in responses"

    box = s.maildirs["contact"]
    new = h.new_messages(s.maildirs, snap, "contact")
    assert len(new) == N, f"{len(new)} messages for {N} accepted submissions"
    assert os.listdir(box / "tmp") == []
    assert os.listdir(box / "cur") == []
    assert os.listdir(s.maildirs["orders"] / "new") == []

    seen = {}
    for name in new:
        d = h.Delivered(box / "new" / name)
        id = str(d.msg["X-Formdrop-Id"]).strip()
        assert id in ids, f"message {name} has an ID no response gave: {id}"
        assert id not in seen, f"ID {id} delivered twice"
        i, fields = ids[id]
        h.check_message(d, form="contact", id=id, fields=fields,
                        subject="Contact form: " + fields["name"],
                        reply_to=fields["email"])
        seen[id] = name
    assert set(seen) == set(ids)
    assert len(set(seen.values())) == N
    assert s.handler.alive(), s.handler.log_text()


def test_concurrent_mixed_forms_and_errors(make_stack):
    """Valid and invalid submissions to both forms at once: every accepted
    one delivered once into its own Maildir, no rejected one delivered."""
    s = make_stack()
    snap = s.snap()

    def one(i):
        kind = i % 4
        if kind == 0:
            f = [("name", f"Mixed {i}"), ("email", f"m{i}@example.org"),
                 ("message", "hi")]
            return "contact", i, s.post("contact", f, accept="application/json")
        if kind == 1:
            f = [("name", f"Order {i}"), ("email", f"o{i}@example.org"),
                 ("address", "Street 1"), ("item", "A"), ("quantity", "1"),
                 ("item", "B"), ("quantity", "2")]
            return "orders", i, s.post("order", f, accept="application/json")
        if kind == 2:
            return None, i, s.post("contact", [("name", "x"),
                                                ("email", "bad")],
                                   accept="application/json")
        return None, i, s.post("order", b"name=%ZZ",
                               content_type="application/x-www-form-urlencoded",
                               accept="application/json")

    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        results = list(pool.map(one, range(80)))
    want = {"contact": set(), "orders": set()}
    for box, i, r in results:
        if box is None:
            assert r.status in (400, 422), r
        else:
            want[box].add(h.check_success(r, "order" if box == "orders"
                                          else "contact", True))
    for box, ids in want.items():
        new = h.new_messages(s.maildirs, snap, box)
        got = {str(h.Delivered(s.maildirs[box] / "new" / n)
                   .msg["X-Formdrop-Id"]).strip() for n in new}
        assert len(new) == len(ids) == 20
        assert got == ids
        assert os.listdir(s.maildirs[box] / "tmp") == []

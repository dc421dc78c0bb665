"""A new index generation is picked up without downtime and without a failed request: requests
run in a loop against a real uvicorn server while the index is rebuilt in place (and while a
symlink is switched); every answer is a 200 and the answers switch to the new data. The old
index is closed only once no request holds it."""
from __future__ import annotations

import io
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
import httpx

from breachindex.campaign import RecordingSender
from breachindex.server import IndexGenerations, create_app
from breachindex.server.testing import PEOPLE, make_sandbox, rebuild_index, serve_in_thread

OLD = "+31612340001"  # in the first generation only
NEW = "+31612345555"  # in the second generation only
NEXT_PEOPLE = {NEW: "100009:Nieuw:Persoon:female:Assen::::::", "+31612340002": PEOPLE["+31612340002"]}


def test_requests_never_fail_while_the_index_is_rebuilt_in_place(tmp_path: Path) -> None:
    sb = make_sandbox(tmp_path / "sandbox")
    app = create_app(sb.config(reload_interval=0.02), sender=RecordingSender(), log_stream=io.StringIO())
    answers: list[tuple[float, int, bool, bool]] = []
    failures: list[str] = []
    stop = threading.Event()

    def hammer(base: str) -> None:
        with httpx.Client(base_url=base, headers=sb.auth("check"), timeout=10) as client:
            deadline = time.monotonic() + 30  # bounded, whatever happens
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    old = client.post("/v1/check", json={"phone": OLD})
                    new = client.post("/v1/check", json={"phone": NEW})
                except httpx.HTTPError as exc:
                    failures.append(type(exc).__name__)
                    continue
                status = old.status_code if old.status_code != 200 else new.status_code
                answers.append((time.monotonic(), status, old.status_code == 200 and old.json()["found"],
                                new.status_code == 200 and new.json()["found"]))

    with serve_in_thread(app) as base:
        worker = threading.Thread(target=hammer, args=(base,))
        worker.start()
        try:
            while len(answers) < 50:
                time.sleep(0.01)
            generations = app.state.server.generations
            first = generations.current
            rebuild_started = time.monotonic()
            rebuild_index(sb, NEXT_PEOPLE)
            deadline = time.monotonic() + 10
            while generations.current.number == 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            swapped_at = time.monotonic()
            while len([a for a in answers if a[0] > swapped_at + 0.1]) < 50 and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            stop.set()
            worker.join(15)
        ready = httpx.get(base + "/readyz", headers=sb.auth("check")).json()
    assert failures == []
    assert {a[1] for a in answers} == {200}, "a request failed during the swap"
    assert generations.current.number == 2 and generations.swaps == 1 and ready["index"]["generation"] == 2
    before = [a for a in answers if a[0] < rebuild_started]
    after = [a for a in answers if a[0] > swapped_at + 0.1]
    assert before and all(a[2] and not a[3] for a in before), before[-5:]
    assert after and all(a[3] and not a[2] for a in after), [a for a in after if not a[3] or a[2]][:5]
    assert first.retired and first.users == 0 and first.index._mapped is None  # closed once released


def test_a_lease_keeps_the_old_generation_open_until_it_is_returned(tmp_path: Path) -> None:
    sb = make_sandbox(tmp_path / "sandbox")
    generations = IndexGenerations(sb.index_path, key=sb.key_path, interval=0.01)
    assert generations.refresh() is False  # nothing changed
    with generations.lease() as old_index:
        rebuild_index(sb, NEXT_PEOPLE)
        assert generations.refresh() is True
        # the request that holds the old generation still reads it, after the folder was replaced
        assert old_index.lookup(OLD) is not None and old_index.lookup(NEW) is None
        with generations.lease() as new_index:
            assert new_index.lookup(NEW) is not None and new_index.lookup(OLD) is None
    with pytest.raises(ValueError, match="closed"):
        old_index.lookup(OLD)
    assert generations.current.number == 2
    generations.close()


def test_a_missing_or_broken_generation_keeps_the_current_one_serving(tmp_path: Path) -> None:
    sb = make_sandbox(tmp_path / "sandbox")
    real = tmp_path / "generation-1"
    os.rename(sb.index_path, real)
    link = tmp_path / "current"
    link.symlink_to(real)
    generations = IndexGenerations(link, key=sb.key_path, interval=0.01)
    # the link points nowhere for a moment
    link.unlink()
    assert generations.refresh() is False
    # a folder that is not a complete index
    broken = tmp_path / "generation-broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json")
    link.symlink_to(broken)
    assert generations.refresh() is False and generations.failures == 1
    with generations.lease() as index:
        assert index.lookup(OLD) is not None
    # a good new generation behind the symlink
    sb.index_path = tmp_path / "generation-2"
    rebuild_index(sb, NEXT_PEOPLE)
    tmp_link = tmp_path / "current.tmp"
    tmp_link.symlink_to(sb.index_path)
    os.replace(tmp_link, link)  # the atomic switch
    assert generations.refresh() is True
    with generations.lease() as index:
        assert index.lookup(NEW) is not None
    shutil.rmtree(real)
    generations.close()

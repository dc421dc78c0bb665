"""Letters as PDF: the access request (collective with an annex, or one per person), the
admonition and the draft complaint to the DPA, in Dutch and English; their text read back with
pypdf; the same bytes twice; clear refusals."""
from __future__ import annotations

import hashlib
import io
import json
from datetime import date, datetime, timezone
from functools import partial

import pytest
from helpers import campaign as shared
from helpers.campaign import S, number
from helpers.mandate_texts import registry

from breachindex import Key
from breachindex.campaign import RecordingSender
from breachindex.campaign.letters import Foundation, access_requests, admonition, complaint, render_pdf
from breachindex.cli.main import main
from breachindex.errors import LetterRefused, UnknownRequest

pypdf = pytest.importorskip("pypdf")

KEY = Key(b"letters tests secret, 32 bytes!!")
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc)
TEXT = "Ik machtig SOMI om namens mij inzage te vragen (art. 15 AVG)."
EVIDENCE = {"ip": "192.0.2.7", "user_agent": "test",
            "consents": ["privacy_notice_read", "authorise_access_request", "authorise_dpa_complaint"]}
SENDER = Foundation("Stichting Voorbeeld", ("Postbus 1", "1000 AA Amsterdam"), "Amsterdam", "post@example.org")
TEXT_SHA = hashlib.sha256(TEXT.encode()).hexdigest()

new_campaign = partial(shared.new_campaign, secret=KEY, templates=registry([TEXT], EVIDENCE["consents"]))
enrol = partial(shared.enrol, now=T0)
sign = partial(shared.sign, now=T0 + 3 * S, text=TEXT, evidence=EVIDENCE)


def text_of(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("letters")
    sender = RecordingSender()
    c = new_campaign(tmp / "c.db", sender)
    pids = [enrol(c, sender, 1), enrol(c, sender, 2)]
    mandates = [sign(c, pids[0]), sign(c, pids[1], signer_name="Zoë Ørsted")]
    batch = c.prepare_batch("meta", filing_date=T0.date(), now=T0 + 4 * S)
    requests = c.requests(batch=batch.id)
    for r in requests:
        c.transition_request(r.id, "queued", on=date(2025, 2, 17), now=T0 + 5 * S)
        c.transition_request(r.id, "sent", on=date(2025, 2, 17), now=T0 + 6 * S)
    c.mark_overdue(date(2025, 3, 19), now=T0 + 7 * S)
    yield c, batch, [r.id for r in requests], mandates, tmp
    c.close()


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_collective_access_request_cites_every_mandate_in_its_annex(world, lang):
    c, batch, requests, mandates, _ = world
    (letter,) = access_requests(c, batch.id, lang=lang, sender=SENDER, day=date(2025, 2, 14))
    pdf = render_pdf(letter)
    text = text_of(pdf)
    assert "Meta Platforms Ireland Limited" in text and "Merrion Road" in text
    assert ("artikel 15" if lang == "nl" else "Article 15") in text
    assert ("14 februari 2025" if lang == "nl" else "14 February 2025") in text
    assert ("6 januari 2025" if lang == "nl" else "6 January 2025") in text  # the signing date
    for m in mandates:
        assert m.id in text.replace(" ", "") and TEXT_SHA in text.replace(" ", "")
    assert "Jan Jansen" in text and "Zoë Ørsted" in text  # the controller must find the people
    assert number(1) in text.replace(" ", "")
    assert render_pdf(letter) == pdf  # the same bytes: a lawyer can hash it
    assert pypdf.PdfReader(io.BytesIO(pdf)).metadata.title == letter.subject


def test_one_letter_per_person_names_only_that_person(world):
    c, batch, requests, _, _ = world
    letters = access_requests(c, batch.id, lang="en", sender=SENDER, day=date(2025, 2, 14), per_person=True)
    assert sorted(letter.reference for letter in letters) == sorted(requests)
    texts = [text_of(render_pdf(letter)) for letter in letters]
    assert sum("Jan Jansen" in t for t in texts) == 1 and sum("Zoë Ørsted" in t for t in texts) == 1


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_admonition_cites_the_deadlines_and_gives_a_new_term(world, lang):
    c, _, requests, _, _ = world
    letter = admonition(c, requests, lang=lang, sender=SENDER, day=date(2025, 3, 20))
    text = text_of(render_pdf(letter))
    assert ("in gebreke" if lang == "nl" else "formal notice") in text
    assert ("3 april 2025" if lang == "nl" else "3 April 2025") in text  # 20 March + 14 days
    assert ("18 maart 2025" if lang == "nl" else "18 March 2025") in text  # the statutory date (Irish calendar)
    assert all(r in text.replace(" ", "") for r in requests)
    assert "Jan Jansen" not in text and number(1) not in text.replace(" ", "")


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_complaint_goes_to_the_dutch_dpa_with_the_course_of_each_request(world, lang):
    c, _, requests, _, _ = world
    letter = complaint(c, requests, lang=lang, sender=SENDER, day=date(2025, 4, 10))
    text = text_of(render_pdf(letter))
    assert "Autoriteit Persoonsgegevens" in text and "2509 AJ Den Haag" in text
    assert ("artikel 77" if lang == "nl" else "Article 77") in text and "Meta Platforms Ireland Limited" in text
    assert ("termijn verstreken" if lang == "nl" else "time limit passed") in text
    assert TEXT_SHA in text.replace(" ", "")
    assert "Jan Jansen" not in text


def test_dutch_and_english_differ_and_bad_input_is_refused(world):
    c, batch, requests, _, _ = world
    nl, en = (render_pdf(access_requests(c, batch.id, lang=lang, sender=SENDER, day=date(2025, 2, 14))[0])
              for lang in ("nl", "en"))
    assert nl != en
    with pytest.raises(LetterRefused) as refused:
        access_requests(c, batch.id, lang="de", sender=SENDER, day=date(2025, 2, 14))
    assert refused.value.reason == "unknown_language"
    with pytest.raises(LetterRefused, match="no request"):
        access_requests(c, "0" * 32, lang="nl", sender=SENDER, day=date(2025, 2, 14))
    with pytest.raises(LetterRefused) as early:
        admonition(c, requests, lang="nl", sender=SENDER, day=date(2025, 3, 18))  # due that day: not yet
    assert early.value.reason == "not_overdue"
    with pytest.raises(UnknownRequest):
        complaint(c, ["f" * 32], lang="nl", sender=SENDER, day=date(2025, 4, 10))
    with pytest.raises(ValueError):
        Foundation("SOMI", (), "Amsterdam", "post@example.org")


def test_the_command_line_writes_the_letters_and_prints_their_hashes(world, tmp_path, capsys):
    c, batch, requests, _, tmp = world
    key_file = tmp_path / "secret.key"
    KEY.save(key_file)
    sender_file = tmp_path / "somi.json"
    sender_file.write_text(json.dumps({"name": SENDER.name, "address": list(SENDER.address), "city": SENDER.city,
                                       "email": SENDER.email}))
    common = ["--db", str(tmp / "c.db"), "--key", str(key_file), "--from", str(sender_file), "--json"]
    assert main(["campaign", "letter", "request", "--batch", batch.id, "--out", str(tmp_path / "out"), "--lang", "en",
                 "--date", "2025-02-14", *common]) == 0
    (written,) = json.loads(capsys.readouterr().out)["letters"]
    with open(written["file"], "rb") as f:
        data = f.read()
    assert hashlib.sha256(data).hexdigest() == written["sha256"] and "Article 15" in text_of(data)
    assert main(["campaign", "letter", "reminder", *requests, "--out", str(tmp_path / "r.pdf"), "--date",
                 "2025-03-20", *common]) == 0
    printed = capsys.readouterr().out
    assert "r.pdf" in printed and number(1) not in printed
    assert main(["campaign", "letter", "reminder", requests[0], "--out", str(tmp_path / "early.pdf"), "--date",
                 "2025-03-01", *common]) == 2
    assert "not_overdue" in capsys.readouterr().err and not (tmp_path / "early.pdf").exists()

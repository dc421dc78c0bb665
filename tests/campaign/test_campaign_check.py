"""The check's two views: the public one has one shape and one code path, found or not; the
verified one is given only to the participant who proved they own that very number (recently,
and with an approved ID check if the policy asks), with the leaked values when the index has them.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from helpers.campaign import US, S, example

import breachindex as bi
from breachindex import InvalidPhoneNumber, Key
from breachindex.builder.ingest import Source, build_index
from breachindex.campaign import Campaign, CheckPolicy, CheckResult, RecordingSender

KEY = Key.generate()
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
DAY = timedelta(hours=24)


NL, DE, BE = example("NL"), example("DE"), example("BE")  # BE is in no index
RECORDS = [
    (NL, "facebook-2021", ["phone_number", "name", "email_address"]),
    (NL, "linkedin-scrape", ["employer"]),
    (DE, "facebook-2021", ["phone_number", "name"]),
]
# fb12: phone:facebook_id:first_name:last_name:gender:location:hometown:relationship_status:employer:
#       created_at:email:birth_date
LEAK = (f"{NL[1:]}:100001:Anne:Example:female:Utrecht:::::anne@example.org:\n"
        f"{DE[1:]}:100002:Bert:Beispiel:male:Berlin::::::\n").encode()


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plain") / "index"
    bi.build(folder, RECORDS, key=KEY)
    with bi.open(folder, key=KEY) as ix:
        yield ix


@pytest.fixture(scope="module")
def details_index(tmp_path_factory):
    base = tmp_path_factory.mktemp("details")
    (base / "NL.txt").write_bytes(LEAK)
    build_index(base / "index", [Source("facebook-2021", [base / "NL.txt"])], key=KEY, details=True)
    with bi.open(base / "index", key=KEY) as ix:
        assert ix.has_details
        yield ix


@pytest.fixture
def campaign(tmp_path, sender, tmp_store):
    with Campaign(tmp_store("c"), secret=KEY, sender=sender) as c:
        yield c


def verify(c: Campaign, sender: RecordingSender, phone: str, now: datetime = T0, *, identity: str | None = None) -> str:
    """Confirm a code for ``phone``; ``identity``: also record an ID-check outcome."""
    ch = c.start_verification(phone, now=now)
    pid = c.confirm_verification(ch.id, sender.last_code(phone), now=now).participant
    if identity is not None:
        c.record_identity_check(pid, provider="idv", reference=f"case-{phone}", status=identity, now=now)
    return pid


def shape(result: CheckResult) -> dict[str, type]:
    return {f.name: type(getattr(result, f.name)) for f in dataclasses.fields(result)}


class Spy:
    """An index that records which of its methods the check called."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, []

    def lookup(self, raw: str, region: str | None = None) -> Any:
        self.calls.append("lookup")
        return self.inner.lookup(raw, region)

    @property
    def has_details(self) -> bool:
        self.calls.append("has_details")
        return bool(self.inner.has_details)

    def details(self, raw: str, region: str | None = None) -> Any:
        self.calls.append("details")
        return self.inner.details(raw, region)


# ---- the public view ----------------------------------------------------------------------------

def test_public_view_found_and_not_found_have_one_shape(campaign, index):
    found = campaign.check(index, NL, now=T0)
    missing = campaign.check(index, BE, now=T0)
    assert found == CheckResult(True, ("facebook-2021", "linkedin-scrape"), None, None, "public")
    assert missing == CheckResult(False, (), None, None, "public")
    assert shape(found) == shape(missing)


def test_public_view_takes_one_code_path(campaign, details_index):
    spies = [Spy(details_index), Spy(details_index)]
    campaign.check(spies[0], NL, now=T0)  # type: ignore[arg-type]
    campaign.check(spies[1], BE, now=T0)  # type: ignore[arg-type]
    assert spies[0].calls == spies[1].calls == ["lookup"]


def test_the_number_may_be_given_in_any_form(campaign, index):
    assert campaign.check(index, "06 12345678", region="NL", now=T0) == campaign.check(index, NL[1:], now=T0)
    with pytest.raises(InvalidPhoneNumber):
        campaign.check(index, "not a number", now=T0)


def test_public_breaches_may_be_hidden(tmp_path, sender, index, tmp_store):
    with Campaign(tmp_store("p"), secret=KEY, sender=sender, policy=CheckPolicy(public_breaches=False)) as c:
        assert c.check(index, NL, now=T0) == CheckResult(True, (), None, None, "public")
        assert c.check(index, BE, now=T0) == CheckResult(False, (), None, None, "public")


# ---- the verified view --------------------------------------------------------------------------

def test_the_owner_sees_the_data_classes(campaign, sender, index):
    pid = verify(campaign, sender, NL)
    result = campaign.check(index, NL, participant=pid, now=T0 + S)
    assert result == CheckResult(True, ("facebook-2021", "linkedin-scrape"),
                                 frozenset({"phone_number", "name", "email_address", "employer"}), None, "verified")


def test_the_owner_sees_the_leaked_values_where_the_index_kept_them(campaign, sender, details_index):
    pid = verify(campaign, sender, NL, identity="approved")
    result = campaign.check(details_index, "06 12345678", region="NL", participant=pid, now=T0 + S)
    assert result.disclosure == "verified" and result.found
    assert result.details == [{"breach": "facebook-2021", "fields": {
        "facebook_id": "100001", "first_name": "Anne", "last_name": "Example", "gender": "female",
        "location": "Utrecht", "email": "anne@example.org"}}]
    assert {"name", "email_address", "location"} <= (result.data_classes or set())
    public = campaign.check(details_index, NL, now=T0 + S)
    assert public.details is None and public.data_classes is None
    text = repr(result)  # the leaked values stay out of repr (and so out of logs)
    assert "Anne" not in text and "anne@example.org" not in text and NL[1:] not in text


def test_the_owner_of_a_number_not_in_the_index(campaign, sender, index, details_index):
    pid = verify(campaign, sender, BE, identity="approved")
    assert campaign.check(index, BE, participant=pid, now=T0 + S) == CheckResult(
        False, (), frozenset(), None, "verified")
    assert campaign.check(details_index, BE, participant=pid, now=T0 + S) == CheckResult(
        False, (), frozenset(), [], "verified")


@pytest.mark.parametrize("identity", [None, "declined", "needs_review", "error"])
def test_a_code_alone_shows_the_data_classes_but_not_the_leaked_values(campaign, sender, details_index, identity):
    # whoever holds the number today (a recycled number, a swapped SIM) passes the code; the previous
    # holder's name, e-mail address and birth date need an approved ID check
    pid = verify(campaign, sender, NL, identity=identity)
    result = campaign.check(details_index, NL, participant=pid, now=T0 + S)
    assert result.disclosure == "verified" and result.found
    assert {"name", "email_address", "location"} <= (result.data_classes or set())
    assert result.details is None and result.details_withheld is True
    absent = campaign.check(details_index, BE, participant=verify(campaign, sender, BE), now=T0 + S)
    assert absent.details is None and absent.details_withheld is True  # the same shape, found or not
    campaign.record_identity_check(pid, provider="idv", reference="later", status="approved", now=T0 + 2 * S)
    approved = campaign.check(details_index, NL, participant=pid, now=T0 + 3 * S)
    assert approved.details and approved.details_withheld is False


def test_the_policy_may_show_the_leaked_values_after_a_code_alone(tmp_path, sender, details_index, tmp_store):
    with Campaign(tmp_store("p"), secret=KEY, sender=sender,
                  policy=CheckPolicy(details_require_identity=False)) as c:
        pid = verify(c, sender, NL)
        result = c.check(details_index, NL, participant=pid, now=T0 + S)
    assert result.details and result.details_withheld is False


def test_another_participant_gets_the_public_view(campaign, sender, details_index):
    de_owner = verify(campaign, sender, DE)
    assert campaign.check(details_index, DE, participant=de_owner, now=T0 + S).disclosure == "verified"
    stranger = campaign.check(details_index, NL, participant=de_owner, now=T0 + S)
    assert stranger == campaign.check(details_index, NL, now=T0 + S)
    assert stranger.disclosure == "public" and stranger.details is None


def test_an_unverified_or_made_up_participant_gets_the_public_view(campaign, sender, index):
    public = campaign.check(index, NL, now=T0)
    campaign.start_verification(NL, now=T0)  # started, never confirmed
    own_id = campaign.participant_id(NL)
    for participant in (own_id, own_id.upper(), "", "0" * 32, "é" * 32, 12345, None, b"x"):
        assert campaign.check(index, NL, participant=participant, now=T0 + S) == public  # type: ignore[arg-type]


def test_the_verified_view_lasts_24_hours(campaign, sender, index):
    pid = verify(campaign, sender, NL, now=T0)
    assert campaign.check(index, NL, participant=pid, now=T0 + DAY - US).disclosure == "verified"
    assert campaign.check(index, NL, participant=pid, now=T0 + DAY).disclosure == "public"
    assert campaign.is_verified(pid, now=T0 + DAY - US) and not campaign.is_verified(pid, now=T0 + DAY)
    pid_again = verify(campaign, sender, NL, now=T0 + 2 * DAY)  # a new code renews it
    assert pid_again == pid
    assert campaign.check(index, NL, participant=pid, now=T0 + 2 * DAY + S).disclosure == "verified"


def test_the_verified_view_reads_details_only_when_found(campaign, sender, details_index):
    pid = verify(campaign, sender, NL, identity="approved")
    spy = Spy(details_index)
    campaign.check(spy, NL, participant=pid, now=T0 + S)  # type: ignore[arg-type]
    assert spy.calls == ["lookup", "has_details", "details"]


# ---- the policy ------------------------------------------------------------------------------------

def test_the_verified_view_may_leave_out_details_or_classes(tmp_path, sender, details_index, tmp_store):
    policy = CheckPolicy(verified_details=False, verified_data_classes=False, verified_for=timedelta(minutes=5))
    with Campaign(tmp_store("p"), secret=KEY, sender=sender, policy=policy) as c:
        pid = verify(c, sender, NL)
        assert c.check(details_index, NL, participant=pid, now=T0 + S) == CheckResult(
            True, ("facebook-2021",), None, None, "verified")
        assert c.check(details_index, NL, participant=pid, now=T0 + timedelta(minutes=5)).disclosure == "public"
    with pytest.raises(ValueError):
        CheckPolicy(verified_for=timedelta(0))


def test_the_policy_may_require_an_approved_id_check(tmp_path, sender, index, tmp_store):
    with Campaign(tmp_store("p"), secret=KEY, sender=sender, policy=CheckPolicy(require_identity=True)) as c:
        pid = verify(c, sender, NL)
        assert c.check(index, NL, participant=pid, now=T0 + S).disclosure == "public"
        c.record_identity_check(pid, provider="idcheck", reference="r1", status="needs_review", now=T0 + S)
        assert c.check(index, NL, participant=pid, now=T0 + 2 * S).disclosure == "public"
        c.record_identity_check(pid, provider="idcheck", reference="r1", status="approved", now=T0 + 2 * S)
        assert c.check(index, NL, participant=pid, now=T0 + 3 * S).disclosure == "verified"
        c.record_identity_check(pid, provider="idcheck", reference="r2", status="declined", now=T0 + 3 * S)
        assert c.check(index, NL, participant=pid, now=T0 + 4 * S).disclosure == "public"


def test_check_result_is_immutable(campaign, index):
    result = campaign.check(index, NL, now=T0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.found = False  # type: ignore[misc]
    assert hash(result) == hash(campaign.check(index, NL, now=T0))

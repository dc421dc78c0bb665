"""Mandates: the text to show, signing, revoking, listing.

The text is the server's (``templates``): the page fetches it, shows it, and posts back the
template version and language; the server renders its own copy for the controller and passes
those exact bytes to ``Campaign.sign_mandate``, so the SHA-256 stored is that of the text
shown. The page signs for the participant of its session, with the connection's address and
the browser's User-Agent as evidence; a service names the participant and passes its end
user's address and user agent. The ID check must be approved before (the provider's webhook).
"""
from __future__ import annotations

from datetime import datetime, timezone

from starlette.concurrency import run_in_threadpool

from ..campaign.controllers import lookup_controller
from ..campaign.mandates import CONSENTS
from .api_verification import client_ip
from .errors import ApiError
from .routing import Call, Reply
from .templates import CURRENT_VERSION, PAGE_CONSENTS, PAGE_SCOPES, render
from .views import mandate_view

__all__ = ["mandate_template", "sign_mandate", "revoke_mandate", "list_mandates"]


async def mandate_template(call: Call) -> Reply:
    controller = lookup_controller(call.state.campaign.controllers, call.query.get("controller", "meta"))
    lang = call.query.get("lang", "nl")
    version = call.query.get("version", CURRENT_VERSION)
    rendered = render(version, lang, controller)
    if rendered is None:
        raise ApiError("invalid_request", "no mandate text of that version and language")
    text, digest = rendered
    return Reply({"controller": controller.key, "controller_name": controller.legal_name, "template_version": version,
                  "lang": lang, "text": text, "text_sha256": digest, "scopes": list(PAGE_SCOPES),
                  "consents": [{"name": c, "label": CONSENTS[c]} for c in PAGE_CONSENTS]})


def _person_only_fields_absent(call: Call) -> None:
    for name in ("participant", "ip", "user_agent"):
        if name in call.body:
            raise ApiError("invalid_request", f"{name} is taken from the session and the connection, not the body")


async def sign_mandate(call: Call) -> Reply:
    state, body = call.state, call.body
    campaign = state.campaign
    if call.person:
        _person_only_fields_absent(call)
        if call.session is None:
            raise ApiError("unauthorized", "confirm a code first: no verified session")
        participant = call.session.participant
        user_agent = call.request.headers.get("user-agent", "")[:1024]
    else:
        if "participant" not in body:
            raise ApiError("invalid_request", "body.participant is required for service calls")
        participant, user_agent = body["participant"], body.get("user_agent", "")
    ip = client_ip(call)
    if ip is None:
        raise ApiError("invalid_request", "the client's IP address is needed as evidence")
    controller = lookup_controller(campaign.controllers, body["controller"])
    rendered = render(body["template_version"], body["lang"], controller)
    if rendered is None:
        raise ApiError("invalid_request", "no mandate text of that version and language")
    text, _ = rendered
    scopes = body.get("scopes", list(PAGE_SCOPES))
    mandate = await run_in_threadpool(
        lambda: campaign.sign_mandate(participant, controller=controller.key, scopes=scopes,
                                      template_version=body["template_version"], text=text,
                                      evidence={"ip": ip, "user_agent": user_agent, "consents": body["consents"]},
                                      signer_name=body.get("signer_name")))
    view = mandate_view(mandate)
    if call.person:
        view.pop("participant")
    return Reply(view, status=201)


async def revoke_mandate(call: Call) -> Reply:
    state = call.state
    campaign = state.campaign
    mandate_id = call.path["mandate_id"]

    def revoke() -> Reply:
        if call.person:
            if call.session is None:
                raise ApiError("unauthorized", "confirm a code first: no verified session")
            mandate = campaign.mandate(mandate_id)
            if mandate.participant != call.session.participant:
                raise ApiError("unknown_mandate", "no such mandate")  # never tell that it exists
        revoked = campaign.revoke_mandate(mandate_id, reason=call.body["reason"])
        view = mandate_view(revoked)
        if call.person:
            view.pop("participant")
        return Reply(view)

    return await run_in_threadpool(revoke)


async def list_mandates(call: Call) -> Reply:
    campaign = call.state.campaign
    participant = call.query["participant"]
    now = datetime.now(timezone.utc)
    mandates = await run_in_threadpool(campaign.mandates, participant)
    return Reply({"mandates": [mandate_view(m, now) for m in mandates]})

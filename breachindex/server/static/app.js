// The check page: check a number, prove it is yours, see your data, sign the mandate.
// Plain JavaScript, no build step, no third-party code. Texts come from i18n.js.
"use strict";
(function () {
  const TEXT = window.BI_TEXT;
  const CONTROLLER = "meta";
  const state = { lang: "nl", phone: "", region: "NL", challenge: null, template: null, step: "step-check",
                  checked: null, verified: null, identity: null };
  const $ = (id) => document.getElementById(id);
  const t = (name) => TEXT[state.lang][name] || TEXT.en[name] || name;

  function el(tag, text) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function applyLanguage() {
    document.documentElement.lang = state.lang;
    document.title = t("page_title");
    document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t(node.dataset.i18n); });
    document.querySelectorAll(".lang button").forEach((b) => {
      b.setAttribute("aria-pressed", String(b.dataset.lang === state.lang));
    });
  }

  function show(step) {
    state.step = step;
    ["step-code", "step-data", "step-identity", "step-mandate", "step-done"].forEach((id) => {
      $(id).hidden = id !== step && !(id === "step-data" && (step === "step-identity" || step === "step-mandate"));
    });
    $(step).scrollIntoView({ block: "nearest" });
  }

  function message(text) {
    const box = $("message");
    box.textContent = text || "";
    box.hidden = !text;
  }

  async function api(method, path, body) {
    const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      const error = (data && data.error) || { code: "other" };
      const err = new Error(error.code);
      err.code = error.code;
      err.retryAfter = error.retry_after;
      throw err;
    }
    return data;
  }

  function explain(err) {
    const code = err.code || "other";
    const text = TEXT[state.lang]["err_" + code] || t("err_other");
    return text.replace("{s}", String(err.retryAfter || 1));
  }

  async function busy(button, work) {
    button.disabled = true;
    message("");
    try { await work(); } catch (err) { message(explain(err)); } finally { button.disabled = false; }
  }

  function classLabel(name) {
    return (TEXT.classes[state.lang] || {})[name] || name;
  }

  function fieldLabel(name) {
    return (TEXT.fields[state.lang] || {})[name] || name;
  }

  function renderCheck(result) {
    state.checked = result;
    const verdict = $("check-verdict");
    verdict.textContent = result.found ? t("found") : t("absent");
    verdict.className = result.found ? "found" : "absent";
    const list = $("breaches");
    list.replaceChildren(...result.breaches.map((b) => el("li", b)));
    $("prove-button").hidden = !result.found;
    $("check-result").hidden = false;
  }

  function renderData(result) {
    state.verified = result;
    const classes = result.data_classes || [];
    $("data-verdict").textContent = classes.length ? t("data_found") : t("data_absent");
    $("data-classes").replaceChildren(...classes.map((c) => {
      const li = el("li", classLabel(c));
      li.dataset.class = c;
      return li;
    }));
    const details = $("details");
    details.replaceChildren();
    if (result.details_withheld) details.append(el("p", t("details_withheld")));
    (result.details || []).forEach((record) => {
      const table = el("table");
      table.append(el("caption", t("details_caption") + " · " + record.breach));
      Object.entries(record.fields || {}).forEach(([field, value]) => {
        const row = el("tr");
        row.append(el("th", fieldLabel(field)), el("td", value));
        table.append(row);
      });
      details.append(table);
    });
    $("mandate-button").hidden = !result.found;
  }

  // The server's puzzle (proof of work): find a decimal solution whose SHA-256 of
  // "<challenge>.<solution>" starts with `bits` zero bits. Web Crypto, 256 digests at a time.
  function leadingZeroBits(bytes) {
    let bits = 0;
    for (const byte of bytes) {
      if (byte === 0) { bits += 8; continue; }
      return bits + Math.clz32(byte) - 24;
    }
    return bits;
  }

  async function solvePuzzle(purpose) {
    const puzzle = await api("POST", "/v1/puzzles", { purpose });
    const encoder = new TextEncoder();
    const prefix = puzzle.challenge + ".";
    for (let base = 0; ; base += 256) {
      const digests = await Promise.all(Array.from({ length: 256 }, (_, i) =>
        crypto.subtle.digest("SHA-256", encoder.encode(prefix + (base + i)))));
      const found = digests.findIndex((d) => leadingZeroBits(new Uint8Array(d)) >= puzzle.bits);
      if (found >= 0) return { challenge: puzzle.challenge, solution: String(base + found) };
    }
  }

  // A page call that needs a solved puzzle; a puzzle that expired or was used is fetched again once.
  async function withPuzzle(path, purpose, body) {
    try {
      return await api("POST", path, { ...body, puzzle: await solvePuzzle(purpose) });
    } catch (err) {
      if (err.code !== "puzzle_required") throw err;
      return api("POST", path, { ...body, puzzle: await solvePuzzle(purpose) });
    }
  }

  async function check() {
    state.phone = $("phone").value.trim();
    state.region = $("region").value;
    const body = { phone: state.phone };
    if (state.region) body.region = state.region;
    return withPuzzle("/v1/check", "check", body);
  }

  async function loadTemplate() {
    const q = new URLSearchParams({ controller: CONTROLLER, lang: state.lang });
    const template = await api("GET", "/v1/mandate-template?" + q.toString());
    state.template = template;
    $("mandate-text").textContent = template.text;  // shown exactly as the server hashes it
    $("mandate-version").textContent = template.template_version;
    $("mandate-hash").textContent = template.text_sha256;
    const box = $("consents");
    box.replaceChildren(...template.consents.map((consent) => {
      const label = el("label");
      const input = el("input");
      input.type = "checkbox";
      input.id = "consent-" + consent.name;
      input.value = consent.name;
      label.append(input, el("span", TEXT[state.lang]["consent_" + consent.name] || consent.label));
      return label;
    }));
  }

  async function toMandate() {
    const session = await api("GET", "/v1/session");
    if (!session.verified) { message(t("err_unauthorized")); show("step-code"); return; }
    const status = session.identity_status;
    state.identity = status || "none";
    $("identity-status").textContent = t("identity_" + state.identity);
    if (status !== "approved") { show("step-identity"); return; }
    if (state.verified && state.verified.details_withheld) renderData(await check());  // now with the values
    await loadTemplate();
    show("step-mandate");
  }

  function wire() {
    document.querySelectorAll(".lang button").forEach((b) => b.addEventListener("click", async () => {
      state.lang = b.dataset.lang;
      applyLanguage();
      // what the server answered is kept, so the switch re-renders it without asking again
      if (state.checked) renderCheck(state.checked);
      if (state.verified) renderData(state.verified);
      if (state.identity) $("identity-status").textContent = t("identity_" + state.identity);
      if (state.step === "step-mandate") { try { await loadTemplate(); } catch (err) { message(explain(err)); } }
      document.dispatchEvent(new CustomEvent("bi:language"));
    }));
    $("check-form").addEventListener("submit", (event) => {
      event.preventDefault();
      busy($("check-button"), async () => {
        renderCheck(await check());
        show("step-check");
      });
    });
    $("prove-button").addEventListener("click", () => busy($("prove-button"), async () => {
      const body = { phone: state.phone };
      if (state.region) body.region = state.region;
      const started = await withPuzzle("/v1/verification/start", "verification", body);
      state.challenge = started.challenge;
      $("code").value = "";
      show("step-code");
      $("code").focus();
    }));
    $("code-form").addEventListener("submit", (event) => {
      event.preventDefault();
      busy($("confirm-button"), async () => {
        await api("POST", "/v1/verification/confirm", { challenge: state.challenge, code: $("code").value.trim() });
        renderData(await check());  // now with the verified view: the session cookie is set
        show("step-data");
        document.dispatchEvent(new CustomEvent("bi:session"));  // mine.js: requests and vault
      });
    });
    $("mandate-button").addEventListener("click", () => busy($("mandate-button"), toMandate));
    $("identity-refresh").addEventListener("click", () => busy($("identity-refresh"), toMandate));
    $("mandate-form").addEventListener("submit", (event) => {
      event.preventDefault();
      busy($("sign-button"), async () => {
        const consents = Array.from(document.querySelectorAll("#consents input:checked")).map((i) => i.value);
        const name = $("signer-name").value.trim();
        if (consents.length !== state.template.consents.length || !name) {
          message(t("err_invalid_mandate"));
          return;
        }
        const mandate = await api("POST", "/v1/mandates", {
          controller: CONTROLLER, template_version: state.template.template_version, lang: state.template.lang,
          consents, signer_name: name });
        $("mandate-id").textContent = mandate.id;
        $("mandate-result-hash").textContent = mandate.text_sha256;
        $("mandate-review").hidden = !mandate.review;
        show("step-done");
        document.dispatchEvent(new CustomEvent("bi:session"));
      });
    });
  }

  // what mine.js (the person's requests and vault) shares with this file
  window.BI_PAGE = { api, t, el, message, busy, explain, state };

  document.addEventListener("DOMContentLoaded", () => {
    const wanted = new URLSearchParams(window.location.search).get("lang");
    const browser = (navigator.language || "nl").slice(0, 2).toLowerCase();
    state.lang = wanted === "en" || wanted === "nl" ? wanted : (browser === "en" ? "en" : "nl");
    applyLanguage();
    wire();
  });
}());

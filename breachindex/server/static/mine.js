// The person who comes back: their mandates (revoke), their requests with the due dates, and
// their vault (set up, download, change the passphrase, recover, erase). Uses app.js's helpers.
"use strict";
(function () {
  let page = null;
  let session = null;
  const $ = (id) => document.getElementById(id);
  const t = (name) => page.t(name);
  const CONTROLLERS = { meta: "Meta", zoom: "Zoom", palantir: "Palantir", tiktok: "TikTok" };

  function day(iso) {
    if (!iso) return "–";
    const [y, m, d] = iso.slice(0, 10).split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString(page.state.lang === "nl" ? "nl-NL" : "en-GB",
      { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
  }

  function size(bytes) {
    if (bytes < 1024) return bytes + " B";
    const units = ["KiB", "MiB", "GiB"];
    let value = bytes / 1024, unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return value.toFixed(1) + " " + units[unit];
  }

  function status(text) { $("mine-status").textContent = text || ""; }

  function renderMandates() {
    $("mine-mandates").replaceChildren(...session.mandates.map((m) => {
      const li = page.el("li", `${CONTROLLERS[m.controller] || m.controller} · ${t("mine_signed_on")} ` +
        `${day(m.signed_at)} · ${m.revoked_at ? t("mine_revoked") : t("mine_active")}`);
      li.dataset.mandate = m.id;
      if (!m.revoked_at) {
        const button = page.el("button", t("mine_revoke"));
        button.type = "button";
        button.className = "revoke";
        button.addEventListener("click", () => page.busy(button, async () => {
          if (button.dataset.armed !== "1") {  // a second click confirms: no dialog to miss
            button.dataset.armed = "1";
            button.textContent = t("mine_revoke_confirm");
            return;
          }
          await page.api("POST", `/v1/mandates/${encodeURIComponent(m.id)}/revoke`, { reason: "revoked on the page" });
          await refresh();
        }));
        li.append(" ", button);
      }
      return li;
    }));
  }

  function renderRequests() {
    const body = $("mine-requests").querySelector("tbody");
    const items = (session.vault && session.vault.items) || [];
    body.replaceChildren(...session.requests.map((r) => {
      const row = page.el("tr");
      row.dataset.request = r.id;
      const due = page.el("td", day(r.due_on));
      if (r.paused_days) due.append(page.el("div", t("due_paused").replace("{d}", r.paused_days)));
      const statutory = page.el("td", day(r.statutory_due_on));
      if (r.calendar) statutory.append(page.el("div", t("calendar").replace("{c}", r.calendar.source)));
      const arrived = items.filter((i) => i.request === r.id).map((i) => `${day(i.received_at)} (${size(i.size)})`);
      row.append(page.el("td", CONTROLLERS[r.controller] || r.controller), page.el("td", t("state_" + r.state)),
                 page.el("td", day(r.received_on)), due, statutory, page.el("td", arrived.join(", ") || "–"));
      return row;
    }));
    $("mine-requests").hidden = session.requests.length === 0;
    $("mine-no-requests").hidden = session.requests.length !== 0;
  }

  async function download(item, button) {
    const response = await fetch(`/v1/vault/items/${encodeURIComponent(item.id)}/open`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/octet-stream" },
      body: JSON.stringify({ passphrase: $("vault-passphrase").value }) });
    if (!response.ok) {
      let error = { code: "other" };
      try { error = (await response.json()).error || error; } catch (e) { /* not JSON */ }
      const err = new Error(error.code);
      err.code = error.code;
      err.retryAfter = error.retry_after;
      throw err;
    }
    const blob = await response.blob();  // a cut or altered stream fails here: nothing is saved
    const expected = Number(response.headers.get("Content-Length"));
    if (expected && blob.size !== expected) throw Object.assign(new Error("other"), { code: "other" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `somi-${item.controller}-${item.id.slice(0, 8)}.bin`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    button.dataset.done = "1";
    status(t("vault_downloaded"));
  }

  function renderVault() {
    const vault = session.vault || { available: false };
    $("vault").hidden = !vault.available;
    if (!vault.available) return;
    const showingCode = !$("vault-code").hidden;
    $("vault-setup").hidden = vault.set_up || showingCode;
    $("vault-open").hidden = !vault.set_up || showingCode;
    $("vault-items").replaceChildren(...vault.items.map((item) => {
      const li = page.el("li", t("vault_item").replace("{c}", CONTROLLERS[item.controller] || item.controller)
        .replace("{d}", day(item.received_at)).replace("{s}", size(item.size)) + " ");
      li.dataset.item = item.id;
      const button = page.el("button", t("vault_download"));
      button.type = "button";
      button.className = "download";
      button.addEventListener("click", () => page.busy(button, () => download(item, button)));
      li.append(button);
      return li;
    }));
    $("vault-empty").hidden = vault.items.length !== 0;
  }

  function showCode(code) {
    $("vault-code-value").textContent = code;
    $("vault-code-saved").checked = false;
    $("vault-code-done").disabled = true;
    $("vault-code").hidden = false;
    $("vault-setup").hidden = true;
    $("vault-open").hidden = true;
  }

  async function loadPreferences() {
    let prefs = null;
    try { prefs = await page.api("GET", "/v1/notifications"); } catch (err) { prefs = null; }  // 503: none sent
    $("notify").hidden = !prefs;
    if (!prefs) return;
    $("notify-sms").checked = prefs.sms;
    $("notify-email-allowed").checked = prefs.email_allowed;
    $("notify-email").value = prefs.email || "";
  }

  async function refresh() {
    session = await page.api("GET", "/v1/session");
    if (!session.verified) { $("step-mine").hidden = true; return; }
    $("step-mine").hidden = session.mandates.length === 0 && !(session.vault && session.vault.set_up);
    renderMandates();
    renderRequests();
    renderVault();
    await loadPreferences();
  }

  function wire() {
    $("notify").addEventListener("submit", (event) => {
      event.preventDefault();
      page.busy($("notify-save"), async () => {
        const email = $("notify-email").value.trim();
        await page.api("POST", "/v1/notifications", { sms: $("notify-sms").checked, lang: page.state.lang,
          email_allowed: $("notify-email-allowed").checked, email: email || null });
        status(t("notify_saved"));
      });
    });
    $("vault-setup").addEventListener("submit", (event) => {
      event.preventDefault();
      page.busy($("vault-setup-button"), async () => {
        if ($("vault-new").value !== $("vault-repeat").value) { page.message(t("vault_mismatch")); return; }
        const made = await page.api("POST", "/v1/vault/setup", { passphrase: $("vault-new").value });
        $("vault-new").value = "";
        $("vault-repeat").value = "";
        showCode(made.recovery_code);
      });
    });
    $("vault-code-saved").addEventListener("change", () => {
      $("vault-code-done").disabled = !$("vault-code-saved").checked;
    });
    $("vault-code-done").addEventListener("click", () => page.busy($("vault-code-done"), async () => {
      $("vault-code-value").textContent = "";  // shown once: gone from the page from here on
      $("vault-code").hidden = true;
      await refresh();
    }));
    $("vault-change").addEventListener("submit", (event) => {
      event.preventDefault();
      page.busy($("vault-change-button"), async () => {
        await page.api("POST", "/v1/vault/passphrase", { passphrase: $("vault-passphrase").value,
                                                           new_passphrase: $("vault-change-new").value });
        $("vault-passphrase").value = "";
        $("vault-change-new").value = "";
        status(t("vault_changed"));
      });
    });
    $("vault-recover").addEventListener("submit", (event) => {
      event.preventDefault();
      page.busy($("vault-recover-button"), async () => {
        const done = await page.api("POST", "/v1/vault/recover", { recovery_code: $("vault-recover-code").value.trim(),
                                                                   new_passphrase: $("vault-recover-new").value });
        $("vault-recover-code").value = "";
        $("vault-recover-new").value = "";
        showCode(done.recovery_code);
      });
    });
    $("vault-erase").addEventListener("submit", (event) => {
      event.preventDefault();
      page.busy($("vault-erase-button"), async () => {
        if ($("vault-erase-confirm").value.trim().toUpperCase() !== t("vault_erase_word")) {
          page.message(t("vault_erase_intro"));
          return;
        }
        await page.api("POST", "/v1/vault/erase", { confirm: "erase everything" });
        $("step-mine").hidden = true;
        page.message(t("vault_erased"));
      });
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    page = window.BI_PAGE;
    wire();
    document.addEventListener("bi:session", () => { refresh().catch((err) => page.message(page.explain(err))); });
    document.addEventListener("bi:language", () => {
      if (session) { renderMandates(); renderRequests(); renderVault(); }
    });
  });
}());

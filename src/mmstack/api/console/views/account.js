// One's own account: the password, two-factor authentication, one's API keys, and logging
// out everywhere.

import { useState } from "../vendor/htm-preact.js";
import { api } from "../api.js";
import { ErrorLine, html } from "../ui.js";
import { KeysPanel } from "./keys.js";

export function AccountPage({ me, onMeChange }) {
  const refreshMe = () => api("api/auth/me").then(onMeChange);
  return html`<section aria-labelledby="account-title">
    <h1 id="account-title">Account</h1>
    <p>${me.username} · ${me.role} · team ${me.team_id}</p>
    <${PasswordForm} me=${me} />
    <${TwoFactor} me=${me} onChange=${refreshMe} />
    ${me.permissions.includes("keys") ? html`<${KeysPanel} me=${me} own=${true} />` : null}
    <h2>Everywhere</h2>
    <p>End every login of this account, on every device (this one too).</p>
    <button type="button" class="secondary" onClick=${() => api("api/auth/logout", { method: "POST", json: { everywhere: true } }).finally(() => { sessionStorage.clear(); window.location.reload(); })}>Log out everywhere</button>
  </section>`;
}

function PasswordForm({ me }) {
  const [error, setError] = useState(null);
  const [done, setDone] = useState(false);
  async function submit(event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    if (form.get("new_password") !== form.get("repeat")) {
      setError(new Error("The two new passwords differ."));
      return;
    }
    try {
      await api("api/auth/password", {
        method: "POST",
        json: { current_password: form.get("current_password"), new_password: form.get("new_password") },
      });
      setDone(true);
      // A password change ends every login: log in again with the new one.
      setTimeout(() => {
        sessionStorage.clear();
        window.location.reload();
      }, 1500);
    } catch (failure) {
      setError(failure);
    }
  }
  return html`<form onSubmit=${submit} aria-labelledby="password-title" class="panel">
    <h2 id="password-title">Password</h2>
    ${me.password_change_due ? html`<p class="notice">Your password was generated or reset by an admin: choose your own.</p>` : null}
    <label for="current-password">Current password</label>
    <input id="current-password" name="current_password" type="password" autocomplete="current-password" required />
    <label for="new-password">New password</label>
    <input id="new-password" name="new_password" type="password" autocomplete="new-password" required minlength="8" aria-describedby="new-password-help" />
    <p id="new-password-help" class="muted small">Long and not easy to guess; a passphrase of several words works well.</p>
    <label for="repeat-password">New password again</label>
    <input id="repeat-password" name="repeat" type="password" autocomplete="new-password" required />
    <${ErrorLine} error=${error} />
    ${done ? html`<p role="status">Password changed. Log in again with it.</p>` : null}
    <button type="submit">Change password</button>
  </form>`;
}

function TwoFactor({ me, onChange }) {
  const [enrolment, setEnrolment] = useState(null);
  const [codes, setCodes] = useState(null);
  const [error, setError] = useState(null);
  async function begin() {
    try {
      setEnrolment(await api("api/auth/mfa/totp", { method: "POST" }));
      setError(null);
    } catch (failure) {
      setError(failure);
    }
  }
  async function confirm(event) {
    event.preventDefault();
    const code = String(new FormData(event.currentTarget).get("code")).trim();
    try {
      const answer = await api("api/auth/mfa/totp/confirm", { method: "POST", json: { code } });
      setCodes(answer.recovery_codes);
      setEnrolment(null);
      setError(null);
      onChange();
    } catch (failure) {
      setError(failure);
    }
  }
  async function disable(event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    try {
      await api("api/auth/mfa/totp/disable", { method: "POST", json: { password: form.get("password"), code: String(form.get("code")).trim() } });
      setError(null);
      onChange();
    } catch (failure) {
      setError(failure);
    }
  }
  return html`<section class="panel" aria-labelledby="mfa-title">
    <h2 id="mfa-title">Two-factor authentication</h2>
    <p>${me.mfa_enabled ? "On: logging in needs a code from your authenticator app." : "Off."}</p>
    <${ErrorLine} error=${error} />
    ${codes
      ? html`<div class="notice" role="status"><p>Recovery codes (each works once, when you do not have the app; keep them safe, they are shown only now):</p>
          <ul class="codes">${codes.map((c) => html`<li key=${c}><code>${c}</code></li>`)}</ul></div>`
      : null}
    ${!me.mfa_enabled && !enrolment ? html`<button type="button" onClick=${begin}>Turn on</button>` : null}
    ${enrolment
      ? html`<form onSubmit=${confirm}>
          <p>Scan this code with your authenticator app, or type the secret into it.</p>
          <img src=${enrolment.qr_svg} alt="QR code for your authenticator app" width="200" height="200" />
          <p>Secret: <code data-testid="totp-secret">${enrolment.secret}</code></p>
          <label for="confirm-code">Code from the app</label>
          <input id="confirm-code" name="code" inputmode="numeric" autocomplete="one-time-code" required />
          <button type="submit">Confirm</button>
        </form>`
      : null}
    ${me.mfa_enabled
      ? html`<form onSubmit=${disable}>
          <label for="disable-password">Password</label>
          <input id="disable-password" name="password" type="password" autocomplete="current-password" required />
          <label for="disable-code">Code from the app</label>
          <input id="disable-code" name="code" inputmode="numeric" autocomplete="one-time-code" required />
          <button type="submit" class="danger">Turn off</button>
        </form>`
      : null}
  </section>`;
}

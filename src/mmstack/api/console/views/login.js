// Logging in: a username and password, then a code from the authenticator app when the
// account has two-factor authentication on.

import { useRef, useState } from "../vendor/htm-preact.js";
import { login, takeEndedReason } from "../api.js";
import { ErrorLine, html } from "../ui.js";

export function LoginPage() {
  const [needsCode, setNeedsCode] = useState(false);
  const [useRecovery, setUseRecovery] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [ended] = useState(takeEndedReason);
  const codeInput = useRef(null);

  async function submit(event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    try {
      const code = needsCode ? String(form.get("code") || "").trim() : "";
      await login(
        String(form.get("username")).trim(),
        String(form.get("password")),
        needsCode && !useRecovery ? code : null,
        needsCode && useRecovery ? code : null,
      );
    } catch (failure) {
      if (failure.code === "mfa_required") {
        setNeedsCode(true);
        setTimeout(() => codeInput.current && codeInput.current.focus());
      } else {
        setError(failure);
      }
    } finally {
      setBusy(false);
    }
  }

  return html`<main id="main" class="login">
    <h1><img src="console/icon.svg" alt="" width="32" height="32" /> mmstack</h1>
    <form onSubmit=${submit} aria-describedby="login-help">
      <p id="login-help" class="muted">Log in with your mmstack account.</p>
      ${ended ? html`<p class="notice" role="status" data-testid="login-ended">${ended}</p>` : null}
      <label for="username">Username</label>
      <input id="username" name="username" autocomplete="username" required autofocus />
      <label for="password">Password</label>
      <input id="password" name="password" type="password" autocomplete="current-password" required />
      ${needsCode
        ? html`<label for="code">${useRecovery ? "Recovery code" : "Code from your authenticator app"}</label>
            <input id="code" name="code" ref=${codeInput} required
              autocomplete="one-time-code" inputmode=${useRecovery ? "text" : "numeric"} />
            <p class="muted">This account has two-factor authentication on.
              <button type="button" class="link" onClick=${() => setUseRecovery(!useRecovery)}>
                ${useRecovery ? "Use a code from the app" : "Use a recovery code"}</button></p>`
        : null}
      <${ErrorLine} error=${error} />
      <button type="submit" disabled=${busy}>${busy ? "Logging in…" : "Log in"}</button>
    </form>
  </main>`;
}

export function PasswordChangeNotice() {
  return html`<div class="notice" role="status">Your password was generated or reset by an admin: <a href="#/account">choose your own password</a>.</div>`;
}

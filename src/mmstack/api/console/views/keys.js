// API keys: make one (shown once), see when each was last used, revoke.

import { useState } from "../vendor/htm-preact.js";
import { api } from "../api.js";
import { Dialog, ErrorLine, formatDate, html, useLoad } from "../ui.js";

export function KeysPanel({ own }) {
  const [keys, error, reload] = useLoad(() => api("api/keys"));
  const [made, setMade] = useState(null);
  const [failure, setFailure] = useState(null);
  async function create(event) {
    event.preventDefault();
    const element = event.currentTarget;
    const form = new FormData(element);
    const body = { name: String(form.get("name")).trim(), access: form.get("access") };
    const days = Number(form.get("days"));
    if (days) body.expires_in_days = days;
    try {
      setMade(await api("api/keys", { method: "POST", json: body }));
      setFailure(null);
      element.reset();
      reload();
    } catch (problem) {
      setFailure(problem);
    }
  }
  async function revoke(key) {
    try {
      await api(`api/keys/${encodeURIComponent(key.id)}`, { method: "DELETE" });
      reload();
    } catch (problem) {
      setFailure(problem);
    }
  }
  return html`<section class="panel" aria-labelledby="keys-title">
    <h2 id="keys-title">${own ? "Your API keys" : "API keys"}</h2>
    <${ErrorLine} error=${error || failure} />
    <form class="inline" onSubmit=${create}>
      <label for="key-name">Name</label>
      <input id="key-name" name="name" required maxlength="128" placeholder="laptop script" />
      <label for="key-access">Access</label>
      <select id="key-access" name="access">
        <option value="write">Read and write</option>
        <option value="read">Read only</option>
      </select>
      <label for="key-days">Expires after (days, empty: never)</label>
      <input id="key-days" name="days" type="number" min="1" max="3650" />
      <button type="submit">Create key</button>
    </form>
    ${keys
      ? html`<div class="table-wrap" tabindex="0" role="region" aria-label="API keys"><table>
          <caption class="visually-hidden">API keys</caption>
          <thead><tr><th scope="col">Name</th><th scope="col">Key</th>${own ? null : html`<th scope="col">User</th>`}<th scope="col">Access</th>
            <th scope="col">Created</th><th scope="col">Last used</th><th scope="col">State</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
          <tbody>
            ${keys.data.map((k) => html`<tr key=${k.id}>
              <th scope="row">${k.name}</th><td><code>${k.prefix}…</code></td>${own ? null : html`<td>${k.user_id}</td>`}
              <td>${k.access}</td><td>${formatDate(k.created_at)}</td><td>${k.last_used_at ? formatDate(k.last_used_at) : "never"}</td>
              <td>${k.revoked_at ? "revoked" : k.expires_at && k.expires_at * 1000 < Date.now() ? "expired" : "active"}</td>
              <td>${k.revoked_at ? null : html`<button type="button" class="danger" aria-label=${`Revoke ${k.name}`} onClick=${() => revoke(k)}>Revoke</button>`}</td>
            </tr>`)}
          </tbody>
        </table></div>`
      : null}
    ${made
      ? html`<${Dialog} title="Your new API key" onClose=${() => setMade(null)}>
          <p>Copy it now: it is shown only this once.</p>
          <p><code class="secret" data-testid="new-key">${made.key}</code></p>
          <p class="muted small">Send it as <code>Authorization: Bearer …</code>, for example as the OpenAI SDK's api_key.</p>
        <//>`
      : null}
  </section>`;
}

// For admins: users, API keys, usage and quotas, the audit log.

import { useState } from "../vendor/htm-preact.js";
import { api } from "../api.js";
import { Dialog, ErrorLine, formatBytes, formatDate, html, useLoad } from "../ui.js";
import { KeysPanel } from "./keys.js";

const TABS = [
  ["users", "Users"],
  ["keys", "API keys"],
  ["usage", "Usage"],
  ["audit", "Audit log"],
];
const ROLES = ["viewer", "developer", "operator", "admin"];

export function AdminPage({ me, tab }) {
  return html`<section aria-labelledby="admin-title">
    <h1 id="admin-title">Admin</h1>
    <nav aria-label="Admin" class="tabs">
      <ul>${TABS.map(([name, label]) => html`<li key=${name}><a href=${`#/admin/${name}`} aria-current=${tab === name ? "page" : undefined}>${label}</a></li>`)}</ul>
    </nav>
    ${tab === "users" ? html`<${Users} me=${me} />` : null}
    ${tab === "keys" ? html`<${KeysPanel} own=${false} />` : null}
    ${tab === "usage" ? html`<${Usage} />` : null}
    ${tab === "audit" ? html`<${Audit} />` : null}
  </section>`;
}

function Users({ me }) {
  const [users, error, reload] = useLoad(() => api("api/users"));
  const [failure, setFailure] = useState(null);
  const [shown, setShown] = useState(null); // {username, password}
  const [quotas, setQuotas] = useState(null);
  async function act(work) {
    try {
      const answer = await work();
      setFailure(null);
      reload();
      return answer;
    } catch (problem) {
      setFailure(problem);
      return null;
    }
  }
  async function create(event) {
    event.preventDefault();
    const element = event.currentTarget;
    const form = new FormData(element);
    const made = await act(() => api("api/users", { method: "POST", json: { username: String(form.get("username")).trim(), role: form.get("role") } }));
    if (made) {
      element.reset();
      setShown({ username: made.username, password: made.password });
    }
  }
  const patch = (user, body) => act(() => api(`api/users/${encodeURIComponent(user.id)}`, { method: "PATCH", json: body }));
  async function resetPassword(user) {
    const answer = await act(() => api(`api/users/${encodeURIComponent(user.id)}/password`, { method: "POST", json: {} }));
    if (answer) setShown({ username: answer.username, password: answer.password });
  }
  return html`<div>
    <${ErrorLine} error=${error || failure} />
    <form class="inline panel" onSubmit=${create} aria-labelledby="new-user-title">
      <h2 id="new-user-title">New user</h2>
      <label for="new-username">Username</label>
      <input id="new-username" name="username" required maxlength="128" />
      <label for="new-role">Role</label>
      <select id="new-role" name="role">${ROLES.map((r) => html`<option key=${r} value=${r}>${r}</option>`)}</select>
      <button type="submit">Create user</button>
    </form>
    ${users
      ? html`<div class="table-wrap" tabindex="0" role="region" aria-label="Users"><table>
          <caption class="visually-hidden">Users</caption>
          <thead><tr><th scope="col">User</th><th scope="col">Role</th><th scope="col">Team</th><th scope="col">Two-factor</th>
            <th scope="col">State</th><th scope="col">Quotas</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
          <tbody>
            ${users.data.map((u) => html`<tr key=${u.id} data-testid="user-row" data-username=${u.username}>
              <th scope="row">${u.username}${u.id === me.id ? " (you)" : ""}</th>
              <td><label class="visually-hidden" for=${`role-${u.id}`}>Role of ${u.username}</label>
                <select id=${`role-${u.id}`} value=${u.role} onChange=${(e) => patch(u, { role: e.currentTarget.value })}>
                  ${ROLES.map((r) => html`<option key=${r} value=${r}>${r}</option>`)}</select></td>
              <td>${u.team_id}</td>
              <td>${u.mfa_enabled ? html`on <button type="button" class="secondary small" aria-label=${`Reset two-factor authentication of ${u.username}`} onClick=${() => act(() => api(`api/users/${encodeURIComponent(u.id)}/mfa/reset`, { method: "POST" }))}>Reset</button>` : "off"}</td>
              <td>${u.disabled ? "disabled" : "active"}</td>
              <td>${u.quotas ? Object.entries(u.quotas).map(([k, v]) => `${k.replace(/_/g, " ")}: ${v}`).join(", ") : "defaults"}
                <button type="button" class="secondary small" aria-label=${`Quotas of ${u.username}`} onClick=${() => setQuotas(u)}>Edit</button></td>
              <td class="actions">
                <button type="button" class="secondary" aria-label=${`Reset the password of ${u.username}`} onClick=${() => resetPassword(u)}>Reset password</button>
                ${u.id === me.id ? null : html`<button type="button" class=${u.disabled ? "secondary" : "danger"} aria-label=${`${u.disabled ? "Enable" : "Disable"} ${u.username}`}
                  onClick=${() => patch(u, { disabled: !u.disabled })}>${u.disabled ? "Enable" : "Disable"}</button>`}
              </td>
            </tr>`)}
          </tbody>
        </table></div>`
      : null}
    ${shown
      ? html`<${Dialog} title=${`Password of ${shown.username}`} onClose=${() => setShown(null)}>
          <p>Give it to them safely; it is shown only now, and they will be asked to choose their own.</p>
          <p><code class="secret" data-testid="shown-password">${shown.password}</code></p>
        <//>`
      : null}
    ${quotas ? html`<${QuotasDialog} user=${quotas} onClose=${(changed) => { setQuotas(null); if (changed) reload(); }} />` : null}
  </div>`;
}

function QuotasDialog({ user, onClose }) {
  const [error, setError] = useState(null);
  const current = user.quotas || {};
  async function submit(event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const quotas = {};
    for (const name of ["requests_per_minute", "tokens_per_day", "upload_bytes_per_day"]) {
      const value = String(form.get(name) || "").trim();
      if (value !== "") quotas[name] = Number(value);
    }
    try {
      await api(`api/users/${encodeURIComponent(user.id)}`, { method: "PATCH", json: { quotas } });
      onClose(true);
    } catch (failure) {
      setError(failure);
    }
  }
  return html`<${Dialog} title=${`Quotas of ${user.username}`} onClose=${() => onClose(false)}>
    <form method="dialog" onSubmit=${submit}>
      <p class="muted small">Empty: the configured default. 0: no limit.</p>
      <label for="q-rpm">Requests per minute</label>
      <input id="q-rpm" name="requests_per_minute" type="number" min="0" value=${current.requests_per_minute ?? ""} />
      <label for="q-tpd">Tokens per day</label>
      <input id="q-tpd" name="tokens_per_day" type="number" min="0" value=${current.tokens_per_day ?? ""} />
      <label for="q-upd">Upload bytes per day</label>
      <input id="q-upd" name="upload_bytes_per_day" type="number" min="0" value=${current.upload_bytes_per_day ?? ""} />
      <${ErrorLine} error=${error} />
      <div class="buttons"><button type="submit">Save</button></div>
    </form>
  <//>`;
}

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

function Usage() {
  const today = new Date();
  const [range, setRange] = useState({ since: isoDay(new Date(today.getTime() - 13 * 86400000)), until: isoDay(today) });
  const [rows, error] = useLoad(() => api(`api/usage?since=${range.since}&until=${range.until}`), [range.since, range.until]);
  const [users] = useLoad(() => api("api/users"));
  const names = new Map((users ? users.data : []).map((u) => [u.id, u.username]));
  const data = rows ? rows.data : [];
  const total = (key, pick) => {
    const sums = new Map();
    for (const row of data) {
      const k = pick(row);
      const old = sums.get(k) || { requests: 0, tokens: 0, upload: 0 };
      sums.set(k, { requests: old.requests + row.requests, tokens: old.tokens + row.prompt_tokens + row.completion_tokens, upload: old.upload + row.upload_bytes });
    }
    return [...sums.entries()].sort((a, b) => b[1].tokens - a[1].tokens || b[1].requests - a[1].requests);
  };
  const days = [];
  for (let t = new Date(`${range.since}T00:00:00Z`).getTime(); t <= new Date(`${range.until}T00:00:00Z`).getTime(); t += 86400000) days.push(isoDay(new Date(t)));
  const perDay = new Map(total("day", (r) => r.day));
  const peak = Math.max(1, ...days.map((d) => (perDay.get(d) || { tokens: 0 }).tokens));
  return html`<div>
    <form class="inline" onSubmit=${(e) => { e.preventDefault(); const f = new FormData(e.currentTarget); setRange({ since: f.get("since"), until: f.get("until") }); }}>
      <label for="usage-since">From</label><input id="usage-since" name="since" type="date" value=${range.since} />
      <label for="usage-until">To</label><input id="usage-until" name="until" type="date" value=${range.until} />
      <button type="submit">Show</button>
    </form>
    <${ErrorLine} error=${error} />
    <h2>Tokens per day</h2>
    <figure class="chart">
      <svg viewBox=${`0 0 ${days.length * 20} 100`} preserveAspectRatio="none" role="img"
        aria-label=${`Tokens per day from ${range.since} to ${range.until}; the table below has the figures`}>
        ${days.map((d, i) => {
          const height = (90 * (perDay.get(d) || { tokens: 0 }).tokens) / peak;
          return html`<rect key=${d} x=${i * 20 + 3} y=${100 - height} width="14" height=${height}><title>${d}: ${(perDay.get(d) || { tokens: 0 }).tokens} tokens</title></rect>`;
        })}
      </svg>
      <figcaption class="muted small">${range.since} to ${range.until}</figcaption>
    </figure>
    ${[["Per user", (r) => names.get(r.user_id) || r.user_id], ["Per key", (r) => r.key_id || "(logins)"], ["Per model", (r) => r.model || "(uploads and other calls)"], ["Per day", (r) => r.day]].map(([title, pick]) => html`<h2 key=${title}>${title}</h2>
      <div class="table-wrap" tabindex="0" role="region" aria-label=${title}><table>
        <thead><tr><th scope="col">${title.replace("Per ", "").replace(/^./, (c) => c.toUpperCase())}</th><th scope="col">Requests</th><th scope="col">Tokens</th><th scope="col">Uploaded</th></tr></thead>
        <tbody>${total(title, pick).map(([k, v]) => html`<tr key=${k}><th scope="row">${k}</th><td>${v.requests}</td><td>${v.tokens}</td><td>${formatBytes(v.upload)}</td></tr>`)}</tbody>
      </table></div>`)}
  </div>`;
}

function Audit() {
  const [filters, setFilters] = useState({ action: "", result: "" });
  const query = new URLSearchParams({ limit: "200" });
  if (filters.action) query.set("action", filters.action);
  if (filters.result) query.set("result", filters.result);
  if (filters.since) query.set("since", String(new Date(`${filters.since}T00:00:00`).getTime() / 1000));
  const [events, error] = useLoad(() => api(`api/audit?${query}`), [query.toString()]);
  return html`<div>
    <form class="inline" onSubmit=${(e) => { e.preventDefault(); const f = new FormData(e.currentTarget); setFilters({ action: String(f.get("action")).trim(), result: f.get("result"), since: f.get("since") }); }}>
      <label for="audit-action">Action (or a prefix ending in “.”)</label><input id="audit-action" name="action" placeholder="user." />
      <label for="audit-result">Result</label>
      <select id="audit-result" name="result"><option value="">any</option><option value="success">success</option><option value="failure">failure</option></select>
      <label for="audit-since">Since</label><input id="audit-since" name="since" type="date" />
      <button type="submit">Filter</button>
    </form>
    <${ErrorLine} error=${error} />
    ${events
      ? html`<div class="table-wrap" tabindex="0" role="region" aria-label="Audit events"><table>
          <caption class="visually-hidden">Audit events, oldest first</caption>
          <thead><tr><th scope="col">When</th><th scope="col">Action</th><th scope="col">Result</th><th scope="col">Who</th><th scope="col">Target</th><th scope="col">From</th><th scope="col">Detail</th></tr></thead>
          <tbody>${events.data.map((e) => html`<tr key=${e.id} data-testid="audit-row">
            <td>${formatDate(e.at)}</td><th scope="row">${e.action}</th><td>${e.result}</td><td>${e.actor_id || ""}</td>
            <td>${e.target || ""}</td><td>${e.address || ""}</td><td><code class="small">${Object.keys(e.detail).length ? JSON.stringify(e.detail) : ""}</code></td>
          </tr>`)}</tbody>
        </table></div>`
      : null}
  </div>`;
}

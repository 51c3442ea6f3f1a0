// The team's collections: their files' states, and (for those who may write) create,
// rename and delete.

import { useState } from "../vendor/htm-preact.js";
import { api } from "../api.js";
import { Dialog, ErrorLine, formatDate, html, navigate, useInterval, useLoad } from "../ui.js";

export function canWrite(me) {
  return me.permissions.includes("write");
}

export function CollectionsPage({ me }) {
  const [collections, error, reload] = useLoad(() => api("api/collections"));
  const [dialog, setDialog] = useState(null);
  const busy = collections && collections.data.some((c) => c.file_counts.queued + c.file_counts.in_progress > 0);
  useInterval(reload, 2000, Boolean(busy));
  const writer = canWrite(me);
  const close = (changed) => {
    setDialog(null);
    if (changed) reload();
  };
  return html`<section aria-labelledby="collections-title">
    <div class="page-head">
      <h1 id="collections-title">Collections</h1>
      ${writer ? html`<button type="button" onClick=${() => setDialog({ kind: "create" })}>New collection</button>` : null}
    </div>
    <${ErrorLine} error=${error} />
    ${collections && !collections.data.length
      ? html`<p class="empty">No collections yet.${writer ? " Make one, then drop files into it." : ""}</p>`
      : null}
    ${collections && collections.data.length
      ? html`<div class="table-wrap" tabindex="0" role="region" aria-label="Collections"><table>
          <caption class="visually-hidden">Collections of your team</caption>
          <thead><tr>
            <th scope="col">Name</th><th scope="col">Files</th><th scope="col">State</th>
            <th scope="col">Passages</th><th scope="col">Created</th>
            ${writer ? html`<th scope="col"><span class="visually-hidden">Actions</span></th>` : null}
          </tr></thead>
          <tbody>
            ${collections.data.map((c) => html`<tr key=${c.id}>
              <th scope="row"><a href=${`#/collection/${encodeURIComponent(c.id)}`}>${c.name}</a>
                ${c.description ? html`<div class="muted small">${c.description}</div>` : null}</th>
              <td>${c.file_counts.total}</td>
              <td><${CountsLine} counts=${c.file_counts} /></td>
              <td>${c.chunk_count}</td>
              <td>${formatDate(c.created_at)}</td>
              ${writer
                ? html`<td class="actions">
                    <button type="button" class="secondary" aria-label=${`Rename ${c.name}`} onClick=${() => setDialog({ kind: "rename", collection: c })}>Rename</button>
                    <button type="button" class="danger" aria-label=${`Delete ${c.name}`} onClick=${() => setDialog({ kind: "delete", collection: c })}>Delete</button>
                  </td>`
                : null}
            </tr>`)}
          </tbody>
        </table></div>`
      : null}
    ${dialog && dialog.kind === "create" ? html`<${CollectionForm} onClose=${close} />` : null}
    ${dialog && dialog.kind === "rename" ? html`<${CollectionForm} collection=${dialog.collection} onClose=${close} />` : null}
    ${dialog && dialog.kind === "delete" ? html`<${DeleteCollection} collection=${dialog.collection} onClose=${close} />` : null}
  </section>`;
}

export function CountsLine({ counts }) {
  const parts = [];
  if (counts.completed) parts.push(html`<span class="badge badge-completed">${counts.completed} completed</span>`);
  if (counts.in_progress) parts.push(html`<span class="badge badge-in_progress">${counts.in_progress} in progress</span>`);
  if (counts.queued) parts.push(html`<span class="badge badge-queued">${counts.queued} queued</span>`);
  if (counts.failed) parts.push(html`<span class="badge badge-failed">${counts.failed} failed</span>`);
  return parts.length ? html`<span class="badges">${parts}</span>` : html`<span class="muted">empty</span>`;
}

function CollectionForm({ collection, onClose }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function submit(event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const body = { name: String(form.get("name")).trim(), description: String(form.get("description") || "").trim() };
    setBusy(true);
    try {
      if (collection) {
        await api(`api/collections/${encodeURIComponent(collection.id)}`, { method: "PATCH", json: body });
        onClose(true);
      } else {
        if (!body.description) delete body.description;
        const made = await api("api/collections", { method: "POST", json: body });
        onClose(true);
        navigate(`#/collection/${encodeURIComponent(made.id)}`);
      }
    } catch (failure) {
      setError(failure);
      setBusy(false);
    }
  }
  return html`<${Dialog} title=${collection ? `Rename ${collection.name}` : "New collection"} onClose=${() => onClose(false)}>
    <form method="dialog" onSubmit=${submit}>
      <label for="collection-name">Name</label>
      <input id="collection-name" name="name" required maxlength="256" value=${collection ? collection.name : ""}
        aria-describedby="collection-name-help" autofocus />
      <p id="collection-name-help" class="muted small">Letters, digits, spaces and . _ - ; unique in your team.</p>
      <label for="collection-description">Description (optional)</label>
      <textarea id="collection-description" name="description" maxlength="4096" rows="2">${collection ? collection.description || "" : ""}</textarea>
      <${ErrorLine} error=${error} />
      <div class="buttons">
        <button type="submit" disabled=${busy}>${collection ? "Save" : "Create"}</button>
      </div>
    </form>
  <//>`;
}

function DeleteCollection({ collection, onClose }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function remove() {
    setBusy(true);
    try {
      await api(`api/collections/${encodeURIComponent(collection.id)}`, { method: "DELETE" });
      onClose(true);
    } catch (failure) {
      setError(failure);
      setBusy(false);
    }
  }
  const files = collection.file_counts.total;
  return html`<${Dialog} title=${`Delete ${collection.name}?`} onClose=${() => onClose(false)}>
    <p>This deletes the collection <strong>${collection.name}</strong>: its ${files} ${files === 1 ? "file" : "files"},
      their ${collection.chunk_count} indexed ${collection.chunk_count === 1 ? "passage" : "passages"} and vectors.
      Files that are also in another collection stay there. This cannot be undone.</p>
    <${ErrorLine} error=${error} />
    <div class="buttons">
      <button type="button" class="secondary" onClick=${() => onClose(false)} autofocus>Keep it</button>
      <button type="button" class="danger" disabled=${busy} onClick=${remove}>Delete collection</button>
    </div>
  <//>`;
}

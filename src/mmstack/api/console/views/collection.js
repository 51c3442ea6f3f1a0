// One collection: drop files and folders in, watch each file's upload and ingestion, see
// why one failed and retry it, open any file.

import { useEffect, useRef, useState } from "../vendor/htm-preact.js";
import { api } from "../api.js";
import {
  Dialog,
  ErrorLine,
  StatusBadge,
  formatBytes,
  formatDate,
  formatSeconds,
  html,
  useInterval,
  useLoad,
} from "../ui.js";
import { clearFinished, droppedFiles, enqueue, retryUpload, subscribe, uploadsOf } from "../uploads.js";
import { CountsLine, canWrite } from "./collections.js";
import { SourceViewer, modalityOf } from "./viewer.js";

const WAITING = new Set(["queued", "in_progress"]);

function useUploads(collectionId) {
  const [, setTick] = useState(0);
  useEffect(() => subscribe(() => setTick((t) => t + 1)), []);
  return uploadsOf(collectionId);
}

export function CollectionPage({ id, me, info }) {
  const path = `api/collections/${encodeURIComponent(id)}`;
  const [collection, error, reloadCollection] = useLoad(() => api(path), [id]);
  const [files, filesError, reloadFiles] = useLoad(() => api(`${path}/files`), [id]);
  const uploads = useUploads(collection ? collection.id : null);
  const [viewing, setViewing] = useState(null);
  const [deleting, setDeleting] = useState(null);
  const reload = () => {
    reloadCollection();
    reloadFiles();
  };
  const uploading = uploads.some((u) => u.state === "waiting" || u.state === "uploading");
  const ingesting = files && files.data.some((f) => WAITING.has(f.status));
  useInterval(reload, 1500, Boolean(uploading || ingesting));
  // A finished upload shows up in the list at once.
  const finished = uploads.filter((u) => u.state === "done").length;
  useEffect(() => {
    if (finished) reload();
  }, [finished]);

  if (error) return html`<${ErrorLine} error=${error} /><p><a href="#/collections">All collections</a></p>`;
  if (!collection) return html`<p role="status">Loading…</p>`;
  const writer = canWrite(me);
  return html`<section aria-labelledby="collection-title">
    <p class="crumbs"><a href="#/collections">Collections</a> /</p>
    <div class="page-head">
      <h1 id="collection-title">${collection.name}</h1>
      <div class="head-actions">
        <a class="button secondary" href="#/chat"
          onClick=${() => sessionStorage.setItem("mmstack.chat.collections", JSON.stringify([collection.id]))}>Ask these files</a>
      </div>
    </div>
    ${collection.description ? html`<p class="muted">${collection.description}</p>` : null}
    <p><${CountsLine} counts=${collection.file_counts} /> · ${collection.chunk_count} passages indexed</p>
    ${writer ? html`<${DropZone} collectionId=${collection.id} maxBytes=${info.max_file_bytes} />` : null}
    ${uploads.length ? html`<${UploadList} uploads=${uploads} files=${files} collectionId=${collection.id} />` : null}
    <h2>Files</h2>
    <${ErrorLine} error=${filesError} />
    ${files && !files.data.length ? html`<p class="empty">No files yet.</p>` : null}
    ${files && files.data.length
      ? html`<${FileTable} files=${files.data} writer=${writer} path=${path} reload=${reload}
          onOpen=${(file) => setViewing(file)} onDelete=${(file) => setDeleting(file)} />`
      : null}
    ${viewing
      ? html`<${SourceViewer} target=${{
          collectionId: collection.id,
          fileId: viewing.id,
          filename: viewing.filename,
          mediaType: viewing.media_type,
          thumbnailUrl: viewing.thumbnail_url,
        }} onClose=${() => setViewing(null)} />`
      : null}
    ${deleting
      ? html`<${DeleteFile} file=${deleting} path=${path} onClose=${(changed) => { setDeleting(null); if (changed) reload(); }} />`
      : null}
  </section>`;
}

function DropZone({ collectionId, maxBytes }) {
  const [over, setOver] = useState(false);
  const [note, setNote] = useState(null);
  const filesInput = useRef(null);
  const folderInput = useRef(null);
  function add(found) {
    const tooLarge = found.filter(({ file }) => file.size > maxBytes);
    const fits = found.filter(({ file }) => file.size <= maxBytes);
    if (fits.length) enqueue(collectionId, fits);
    setNote(
      tooLarge.length
        ? `${tooLarge.length} ${tooLarge.length === 1 ? "file is" : "files are"} larger than the ${formatBytes(maxBytes)} limit and ${tooLarge.length === 1 ? "was" : "were"} not sent: ${tooLarge.map((f) => f.path).join(", ")}`
        : `${fits.length} ${fits.length === 1 ? "file" : "files"} added to the uploads.`,
    );
  }
  async function drop(event) {
    event.preventDefault();
    setOver(false);
    add(await droppedFiles(event.dataTransfer));
  }
  function picked(event) {
    const chosen = [...event.currentTarget.files].map((file) => ({ file, path: file.webkitRelativePath || file.name }));
    event.currentTarget.value = "";
    add(chosen);
  }
  return html`<div class=${`dropzone${over ? " over" : ""}`} data-testid="dropzone"
      onDragOver=${(e) => { e.preventDefault(); setOver(true); }}
      onDragLeave=${() => setOver(false)} onDrop=${drop}>
    <p>Drop files or folders here, or</p>
    <div class="buttons">
      <button type="button" onClick=${() => filesInput.current.click()}>Choose files</button>
      <button type="button" class="secondary" onClick=${() => folderInput.current.click()}>Choose a folder</button>
    </div>
    <input ref=${filesInput} type="file" multiple hidden onChange=${picked} data-testid="file-input" aria-label="Files to upload" />
    <input ref=${folderInput} type="file" multiple webkitdirectory hidden onChange=${picked} data-testid="folder-input" aria-label="Folder to upload" />
    <p class="muted small">Documents (PDF, Word, text, web pages), pictures, recordings and videos, up to ${formatBytes(maxBytes)} each.</p>
    ${note ? html`<p role="status" class="small">${note}</p>` : null}
  </div>`;
}

// Each upload: its transfer, then its file's ingestion, live; and a summary.
function UploadList({ uploads, files, collectionId }) {
  const byId = new Map((files ? files.data : []).map((file) => [file.id, file]));
  const states = uploads.map((u) => {
    if (u.state === "done") {
      const file = byId.get(u.result.id) || u.result;
      return { upload: u, status: file.status, file };
    }
    return { upload: u, status: u.state === "failed" ? "failed" : u.state === "uploading" ? "uploading" : "waiting", file: null };
  });
  const count = (status) => states.filter((s) => s.status === status).length;
  const summary = [
    `${uploads.length} ${uploads.length === 1 ? "file" : "files"}`,
    count("completed") && `${count("completed")} completed`,
    count("in_progress") && `${count("in_progress")} in progress`,
    count("queued") && `${count("queued")} queued`,
    count("uploading") + count("waiting") && `${count("uploading") + count("waiting")} uploading`,
    count("failed") && `${count("failed")} failed`,
  ].filter(Boolean).join(", ");
  const finished = states.every((s) => s.status === "completed" || s.status === "failed");
  return html`<section class="uploads" aria-labelledby="uploads-title">
    <div class="page-head">
      <h2 id="uploads-title">Uploads</h2>
      ${finished ? html`<button type="button" class="secondary" onClick=${() => clearFinished(collectionId)}>Clear</button>` : null}
    </div>
    <p role="status" aria-live="polite" data-testid="upload-summary">${summary}</p>
    <ul class="upload-list">
      ${states.map(({ upload, status, file }) => html`<li key=${upload.id} data-testid="upload-item" data-status=${status}>
        <span class="name">${upload.name}</span>
        <span class="size muted">${formatBytes(upload.size)}</span>
        ${status === "uploading"
          ? html`<progress max=${upload.size || 1} value=${upload.sent} aria-label=${`Uploading ${upload.name}`}></progress>`
          : html`<${StatusBadge} status=${status === "waiting" ? "uploading" : status} />`}
        ${file && file.status === "in_progress" ? html`<progress max="1" value=${file.progress} aria-label=${`Reading ${upload.name}`}></progress>` : null}
        ${upload.error ? html`<span class="reason">${upload.error.message}</span>` : null}
        ${file && file.last_error ? html`<span class="reason">${file.last_error}</span>` : null}
        ${upload.state === "failed" ? html`<button type="button" class="secondary small" onClick=${() => retryUpload(upload.id)}>Retry upload</button>` : null}
      </li>`)}
    </ul>
  </section>`;
}

function FileTable({ files, writer, path, reload, onOpen, onDelete }) {
  const [error, setError] = useState(null);
  async function retry(file) {
    try {
      await api(`${path}/files/${encodeURIComponent(file.id)}/retry`, { method: "POST" });
      setError(null);
      reload();
    } catch (failure) {
      setError(failure);
    }
  }
  return html`<${ErrorLine} error=${error} />
    <div class="table-wrap" tabindex="0" role="region" aria-label="Files"><table class="files">
    <caption class="visually-hidden">Files in this collection</caption>
    <thead><tr>
      <th scope="col">File</th><th scope="col">Type</th><th scope="col">Size</th>
      <th scope="col">Length</th><th scope="col">Status</th><th scope="col">Added</th>
      <th scope="col"><span class="visually-hidden">Actions</span></th>
    </tr></thead>
    <tbody>
      ${files.map((file) => html`<tr key=${file.id} data-testid="file-row" data-status=${file.status} data-filename=${file.filename}>
        <th scope="row"><button type="button" class="link" onClick=${() => onOpen(file)}>${file.filename}</button></th>
        <td>${kindLabel(file.media_type)}</td>
        <td>${formatBytes(file.bytes)}</td>
        <td>${lengthOf(file)}</td>
        <td><${StatusBadge} status=${file.status} />
          ${file.status === "in_progress" ? html` <span class="muted small">${Math.round(file.progress * 100)} %</span>` : null}
          ${file.last_error ? html`<div class="reason" data-testid="file-error">${file.last_error}</div>` : null}</td>
        <td>${formatDate(file.created_at)}</td>
        <td class="actions">
          ${writer && file.status === "failed" ? html`<button type="button" class="secondary" aria-label=${`Retry ${file.filename}`} onClick=${() => retry(file)}>Retry</button>` : null}
          ${writer ? html`<button type="button" class="danger" aria-label=${`Delete ${file.filename}`} onClick=${() => onDelete(file)}>Delete</button>` : null}
        </td>
      </tr>`)}
    </tbody>
  </table></div>`;
}

// Subtypes by the name people know them by.
const FORMATS = {
  "vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCX",
  plain: "text",
  markdown: "Markdown",
  jsonl: "JSON Lines",
};

function kindLabel(mediaType) {
  const modality = modalityOf(mediaType);
  const sub = (mediaType.split("/")[1] || "").replace(/^x-/, "");
  const names = { text: "Document", image: "Picture", audio: "Recording", video: "Video" };
  return `${names[modality]} (${FORMATS[sub] || sub.toUpperCase()})`;
}

function lengthOf(file) {
  if (file.page_count) return `${file.page_count} ${file.page_count === 1 ? "page" : "pages"}`;
  if (file.duration_seconds) return formatSeconds(file.duration_seconds);
  return "";
}

function DeleteFile({ file, path, onClose }) {
  const [error, setError] = useState(null);
  async function remove() {
    try {
      await api(`${path}/files/${encodeURIComponent(file.id)}`, { method: "DELETE" });
      onClose(true);
    } catch (failure) {
      setError(failure);
    }
  }
  return html`<${Dialog} title=${`Remove ${file.filename}?`} onClose=${() => onClose(false)}>
    <p>This removes <strong>${file.filename}</strong> and its ${file.chunk_count} indexed passages from this collection.
      The file itself is deleted when no other collection uses it.</p>
    <${ErrorLine} error=${error} />
    <div class="buttons">
      <button type="button" class="secondary" onClick=${() => onClose(false)} autofocus>Keep it</button>
      <button type="button" class="danger" onClick=${remove}>Remove file</button>
    </div>
  <//>`;
}

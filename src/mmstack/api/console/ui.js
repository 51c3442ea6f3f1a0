// Pieces every page uses: the error line, a modal dialog, status badges, formatting.

import { html, useEffect, useRef, useState } from "./vendor/htm-preact.js";

export { html };

export function formatBytes(bytes) {
  if (bytes == null) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit ? value.toFixed(value < 10 ? 1 : 0) : value} ${units[unit]}`;
}

export function formatDate(seconds) {
  if (!seconds) return "";
  return new Date(seconds * 1000).toLocaleString();
}

export function formatSeconds(seconds) {
  if (seconds == null) return "";
  const whole = Math.floor(seconds);
  const m = Math.floor(whole / 60);
  const s = String(whole % 60).padStart(2, "0");
  return `${m}:${s}`;
}

export const STATUS_WORDS = {
  queued: "Queued",
  in_progress: "In progress",
  completed: "Completed",
  failed: "Failed",
  cancelled: "Cancelled",
  uploading: "Uploading",
};

export function StatusBadge({ status }) {
  return html`<span class="badge badge-${status}">${STATUS_WORDS[status] || status}</span>`;
}

// An error for the person using the console: an alert, read out by screen readers.
export function ErrorLine({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert">${error.message || String(error)}</p>`;
}

// A modal dialog (the browser's own <dialog>: focus kept inside, Escape closes it).
export function Dialog({ title, onClose, children, labelledBy = "dialog-title" }) {
  const ref = useRef(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    const closed = () => onClose && onClose();
    dialog.addEventListener("close", closed);
    return () => dialog.removeEventListener("close", closed);
  }, []);
  return html`<dialog ref=${ref} aria-labelledby=${labelledBy}>
    <div class="dialog-head">
      <h2 id=${labelledBy}>${title}</h2>
      <button type="button" class="icon" aria-label="Close" onClick=${() => ref.current.close()}>×</button>
    </div>
    ${children}
  </dialog>`;
}

// Something that loads from the API: [data, error, reload].
export function useLoad(load, deps = []) {
  const [state, setState] = useState({ data: null, error: null });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (data) => live && setState({ data, error: null }),
      (error) => live && setState((old) => ({ data: old.data, error })),
    );
    return () => {
      live = false;
    };
  }, [...deps, generation]);
  return [state.data, state.error, () => setGeneration((g) => g + 1)];
}

// Runs `tick` every `ms` while `active` is true.
export function useInterval(tick, ms, active) {
  const saved = useRef(tick);
  saved.current = tick;
  useEffect(() => {
    if (!active) return undefined;
    const id = setInterval(() => saved.current(), ms);
    return () => clearInterval(id);
  }, [ms, active]);
}

export function navigate(hash) {
  window.location.hash = hash;
}

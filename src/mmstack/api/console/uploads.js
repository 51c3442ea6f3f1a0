// Uploads in progress, kept outside any page: they go on while the person moves around the
// console. Each file is its own request (its own progress and its own failure); two run
// at a time.

import { upload } from "./api.js";

const AT_ONCE = 2;
let nextId = 1;
const items = [];
const listeners = new Set();

function changed() {
  for (const listener of listeners) listener();
}

export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function uploadsOf(collectionId) {
  return items.filter((item) => item.collectionId === collectionId);
}

export function clearFinished(collectionId) {
  for (let i = items.length - 1; i >= 0; i -= 1) {
    const item = items[i];
    if (item.collectionId === collectionId && (item.state === "done" || item.state === "failed")) items.splice(i, 1);
  }
  changed();
}

// Queue `files` ([{file, path}]) for upload into the collection.
export function enqueue(collectionId, files) {
  for (const { file, path } of files) {
    items.push({
      id: nextId++,
      collectionId,
      file,
      name: path || file.name,
      size: file.size,
      state: "waiting", // waiting, uploading, done (handed to ingestion), failed
      sent: 0,
      error: null,
      result: null,
    });
  }
  changed();
  pump();
}

export function retryUpload(id) {
  const item = items.find((candidate) => candidate.id === id);
  if (!item || item.state !== "failed") return;
  Object.assign(item, { state: "waiting", sent: 0, error: null });
  changed();
  pump();
}

function pump() {
  const running = items.filter((item) => item.state === "uploading").length;
  for (const item of items.filter((candidate) => candidate.state === "waiting").slice(0, AT_ONCE - running)) {
    send(item);
  }
}

async function send(item) {
  item.state = "uploading";
  changed();
  const form = new FormData();
  form.append("files", item.file, item.file.name);
  try {
    const answer = await upload(`api/collections/${encodeURIComponent(item.collectionId)}/files`, form, {
      onProgress: (sent) => {
        item.sent = sent;
        changed();
      },
    });
    item.result = answer.data[0];
    item.state = "done";
  } catch (error) {
    item.error = error;
    item.state = "failed";
  }
  changed();
  pump();
}

// What a drop delivers, folders walked: [{file, path}].
export async function droppedFiles(dataTransfer) {
  const entries = [];
  for (const item of dataTransfer.items || []) {
    const entry = item.webkitGetAsEntry && item.webkitGetAsEntry();
    if (entry) entries.push(entry);
  }
  if (!entries.length) return [...(dataTransfer.files || [])].map((file) => ({ file, path: file.name }));
  const found = [];
  async function walk(entry) {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      found.push({ file, path: entry.fullPath.replace(/^\//, "") });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (!batch.length) break;
        for (const child of batch) await walk(child);
      }
    }
  }
  for (const entry of entries) await walk(entry);
  return found;
}

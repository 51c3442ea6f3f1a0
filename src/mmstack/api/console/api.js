// The console's client of the mmstack API: the login's tokens, requests relative to the
// page (so a path prefix works), errors in the API's own words, uploads with progress and
// server-sent events.
//
// The tokens live in sessionStorage (this tab, until it closes) and travel only in the
// Authorization header, never in a cookie: a request another site makes the browser send
// carries no credentials, so it is refused like any other unauthenticated request.

const SESSION_KEY = "mmstack.session";
const BASE = new URL(".", document.baseURI);

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `the server answered ${status}`);
    this.status = status;
    this.code = error.code || null;
    this.param = error.param || null;
  }
}

export function url(path) {
  // The API's own URLs start with "/"; under a path prefix they are relative to the page.
  return new URL(path.replace(/^\//, ""), BASE).toString();
}

let session = load();
const listeners = new Set();

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
  } catch {
    return null;
  }
}

function save(next) {
  session = next;
  if (next) sessionStorage.setItem(SESSION_KEY, JSON.stringify(next));
  else sessionStorage.removeItem(SESSION_KEY);
  for (const listener of listeners) listener(next);
}

export function currentSession() {
  return session;
}

export function onSessionChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

async function parse(response) {
  const type = response.headers.get("content-type") || "";
  if (response.status === 204) return null;
  if (type.includes("application/json")) return response.json();
  return response.text();
}

export async function login(username, password, totpCode, recoveryCode) {
  const body = { username, password };
  if (totpCode) body.totp_code = totpCode;
  if (recoveryCode) body.recovery_code = recoveryCode;
  const response = await fetch(url("api/auth/login"), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const data = await parse(response);
  if (!response.ok) throw new ApiError(response.status, data);
  save(tokens(data));
}

function tokens(data) {
  return {
    access: data.access_token,
    refresh: data.refresh_token,
    expiresAt: data.expires_at,
    userId: data.user_id,
  };
}

let ended = null;

// The login ended on the server (expired, logged out elsewhere, the user disabled): back to
// the login form, which says why.
function endSession(reason) {
  ended = `Your login has ended${reason ? ` (${reason})` : ""}: log in again.`;
  save(null);
}

export function takeEndedReason() {
  const reason = ended;
  ended = null;
  return reason;
}

let refreshing = null;

async function refresh() {
  // One refresh at a time: the refresh token is spent by its first use.
  if (!refreshing) {
    const spent = session && session.refresh;
    refreshing = (async () => {
      if (!spent) return false;
      const response = await fetch(url("api/auth/refresh"), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ refresh_token: spent }),
      });
      if (!response.ok) {
        const answer = await response.json().catch(() => null);
        endSession(answer && answer.error ? answer.error.message : null);
        return false;
      }
      save(tokens(await response.json()));
      return true;
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

function authHeaders(extra) {
  const headers = new Headers(extra || {});
  if (session) headers.set("authorization", `Bearer ${session.access}`);
  return headers;
}

// A request to the API: `json` is sent as the body; the answer's JSON is returned, and
// an error answer is thrown as an ApiError. An expired login is refreshed once.
export async function api(path, { method = "GET", json, body, signal, raw = false } = {}) {
  const send = () => {
    const headers = authHeaders(json !== undefined ? { "content-type": "application/json" } : {});
    return fetch(url(path), {
      method,
      headers,
      body: json !== undefined ? JSON.stringify(json) : body,
      signal,
    });
  };
  let response = await send();
  if (response.status === 401 && session && (await refresh())) response = await send();
  if (response.status === 401 && session) {
    const answer = await response.clone().json().catch(() => null);
    endSession(answer && answer.error ? answer.error.message : null);
  }
  if (raw) {
    if (!response.ok) throw new ApiError(response.status, await parse(response));
    return response;
  }
  const data = await parse(response);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export async function logout() {
  try {
    await api("api/auth/logout", { method: "POST" });
  } finally {
    save(null);
  }
}

// A file the API serves (content, a thumbnail) as a blob: URL for <img>, <audio> and
// <video>, which cannot send the Authorization header themselves.
const blobs = new Map();

export async function blobUrl(path) {
  if (!blobs.has(path)) {
    blobs.set(
      path,
      api(path, { raw: true })
        .then((response) => response.blob())
        .then((blob) => URL.createObjectURL(blob))
        .catch((error) => {
          blobs.delete(path);
          throw error;
        }),
    );
  }
  return blobs.get(path);
}

// An upload with progress: `onProgress(sentBytes, totalBytes)`. Resolves with the JSON
// answer; rejects with an ApiError. `signal` aborts it.
export function upload(path, form, { onProgress, signal } = {}) {
  const attempt = () =>
    new Promise((resolve, reject) => {
      const request = new XMLHttpRequest();
      request.open("POST", url(path));
      if (session) request.setRequestHeader("authorization", `Bearer ${session.access}`);
      request.responseType = "json";
      request.upload.onprogress = (event) => {
        if (onProgress && event.lengthComputable) onProgress(event.loaded, event.total);
      };
      request.onload = () => resolve(request);
      request.onerror = () => reject(new ApiError(0, { error: { message: "the upload failed: the server could not be reached" } }));
      request.onabort = () => reject(new ApiError(0, { error: { message: "the upload was cancelled" } }));
      if (signal) signal.addEventListener("abort", () => request.abort());
      request.send(form);
    });
  return (async () => {
    let request = await attempt();
    if (request.status === 401 && session && (await refresh())) request = await attempt();
    if (request.status < 200 || request.status >= 300) throw new ApiError(request.status, request.response);
    return request.response;
  })();
}

// Server-sent events of a POST (the Responses API's stream): `onEvent(type, data)` for
// each event, in order. Resolves when the stream ends.
export async function postEvents(path, json, onEvent, { signal } = {}) {
  const response = await api(path, { method: "POST", json, signal, raw: true });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
      let type = "message";
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith("event:")) type = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (!data.length) continue;
      const text = data.join("\n");
      if (text === "[DONE]") return;
      onEvent(type, JSON.parse(text));
    }
  }
}

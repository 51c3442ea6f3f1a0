// A file opened at a place: a recording seeks to the second, a picture has its region
// outlined, a document shows its text with the passage marked and in view.

import { useEffect, useRef, useState } from "../vendor/htm-preact.js";
import { api, blobUrl } from "../api.js";
import { Dialog, ErrorLine, formatSeconds, html } from "../ui.js";

// `target`: {collectionId, fileId, filename, mediaType, modality, page, quote,
// quoteStart, startSeconds, endSeconds, region, thumbnailUrl}
export function SourceViewer({ target, onClose }) {
  const modality = target.modality || modalityOf(target.mediaType);
  const where = [];
  if (target.page) where.push(`page ${target.page}`);
  if (target.startSeconds != null) where.push(formatSeconds(target.startSeconds));
  return html`<${Dialog} title=${target.filename} onClose=${onClose} labelledBy="viewer-title">
    <div class="viewer">
      ${where.length ? html`<p class="where" data-testid="viewer-where">Opened at ${where.join(", ")}</p>` : null}
      ${modality === "audio" || modality === "video" ? html`<${Recording} target=${target} video=${modality === "video"} />` : null}
      ${modality === "image" ? html`<${Picture} target=${target} />` : null}
      ${isPdf(target) ? html`<${PdfPage} target=${target} />` : null}
      ${modality === "text" && !isPdf(target) && target.thumbnailUrl
        ? html`<${Thumbnail} path=${target.thumbnailUrl} alt=${`Preview of ${target.filename}`} />`
        : null}
      ${modality === "audio" || modality === "video" ? null : html`<${FileText} target=${target} />`}
    </div>
  <//>`;
}

export function modalityOf(mediaType) {
  if (!mediaType) return "text";
  if (mediaType.startsWith("audio/")) return "audio";
  if (mediaType.startsWith("video/")) return "video";
  if (mediaType.startsWith("image/")) return "image";
  return "text";
}

function useBlob(path) {
  const [state, setState] = useState({ src: null, error: null });
  useEffect(() => {
    let live = true;
    blobUrl(path).then(
      (src) => live && setState({ src, error: null }),
      (error) => live && setState({ src: null, error }),
    );
    return () => {
      live = false;
    };
  }, [path]);
  return state;
}

function contentPath(target) {
  return `v1/files/${encodeURIComponent(target.fileId)}/content`;
}

function usePassages(target) {
  const [passages, setPassages] = useState(null);
  useEffect(() => {
    if (!target.collectionId) return;
    api(`api/collections/${encodeURIComponent(target.collectionId)}/files/${encodeURIComponent(target.fileId)}/passages`).then(
      (answer) => setPassages(answer.data),
      () => setPassages([]),
    );
  }, [target.fileId, target.collectionId]);
  return passages;
}

// A recording with its transcript as a timeline: each part at its second, a button that
// moves the player there.
function Recording({ target, video }) {
  const media = useRef(null);
  const passages = usePassages(target);
  const parts = [];
  for (const passage of passages || []) {
    const timeline = passage.timeline.length ? passage.timeline : [[0, passage.anchor.time_start, passage.anchor.time_end]];
    timeline.forEach(([offset, start], i) => {
      const next = timeline[i + 1];
      const text = passage.text.slice(offset, next ? next[0] : undefined).trim();
      if (text && start != null && !parts.some((p) => p.start === start)) parts.push({ start, text });
    });
  }
  parts.sort((a, b) => a.start - b.start);
  const cited = target.startSeconds;
  return html`<${Player} target=${target} video=${video} media=${media} />
    ${parts.length
      ? html`<section class="transcript" aria-label="Transcript">
          <h3>Transcript</h3>
          <ol>${parts.map((part) => html`<li key=${part.start} class=${cited != null && Math.abs(part.start - cited) < 0.5 ? "cited" : ""}>
            <button type="button" class="time" data-testid="transcript-time"
              aria-label=${`Play from ${formatSeconds(part.start)}`}
              onClick=${() => { if (media.current) { media.current.currentTime = part.start; media.current.play().catch(() => {}); } }}>${formatSeconds(part.start)}</button>
            <span>${part.text}</span></li>`)}</ol>
        </section>`
      : passages && !passages.length ? html`<p class="muted">No speech was transcribed from this file yet.</p>` : null}`;
}

function Player({ target, video, media }) {
  const { src, error } = useBlob(contentPath(target));
  useEffect(() => {
    const element = media.current;
    if (!element || !src || target.startSeconds == null) return;
    const seek = () => {
      element.currentTime = target.startSeconds;
    };
    if (element.readyState >= 1) seek();
    else element.addEventListener("loadedmetadata", seek, { once: true });
  }, [src, target.startSeconds]);
  if (error) return html`<${ErrorLine} error=${error} />`;
  if (!src) return html`<p role="status">Loading the recording…</p>`;
  return video
    ? html`<video ref=${media} src=${src} controls preload="metadata" data-testid="viewer-media" aria-label=${`Video ${target.filename}`}></video>`
    : html`<audio ref=${media} src=${src} controls preload="metadata" data-testid="viewer-media" aria-label=${`Recording ${target.filename}`}></audio>`;
}

function Picture({ target }) {
  const { src, error } = useBlob(contentPath(target));
  const [size, setSize] = useState(null);
  const passages = usePassages(target);
  if (error) return html`<${ErrorLine} error=${error} />`;
  if (!src) return html`<p role="status">Loading the picture…</p>`;
  const box = (r) => ({
    left: (100 * r[0]) / size[0],
    top: (100 * r[1]) / size[1],
    width: (100 * (r[2] - r[0])) / size[0],
    height: (100 * (r[3] - r[1])) / size[1],
  });
  const region = target.region && size ? box(target.region) : null;
  const read = size ? (passages || []).filter((p) => p.anchor.region).map((p) => box(p.anchor.region)) : [];
  return html`<figure class="picture">
    <div class="picture-frame">
      <img src=${src} alt=${target.filename} onLoad=${(e) => setSize([e.currentTarget.naturalWidth, e.currentTarget.naturalHeight])} />
      ${region || read.length
        ? html`<svg class="region" viewBox="0 0 100 100" preserveAspectRatio="none" aria-hidden="true" data-testid="viewer-region">
            ${read.map((r, i) => html`<rect key=${i} class="read" x=${r.left} y=${r.top} width=${r.width} height=${r.height} />`)}
            ${region ? html`<rect class="cited" x=${region.left} y=${region.top} width=${region.width} height=${region.height} />` : null}
          </svg>`
        : null}
    </div>
    <figcaption>${region ? "The red box holds the cited text; " : ""}${read.length ? `${read.length} text ${read.length === 1 ? "region was" : "regions were"} read from the picture (outlined).` : ""}</figcaption>
  </figure>`;
}

function isPdf(target) {
  return target.mediaType ? target.mediaType === "application/pdf" : /\.pdf$/i.test(target.filename);
}

// The PDF's page as a picture with the quoted lines outlined; the reader may turn pages.
function PdfPage({ target }) {
  const [number, setNumber] = useState(target.page || 1);
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (!target.collectionId) return;
    let live = true;
    const query = number === target.page && target.quote ? `?quote=${encodeURIComponent(target.quote)}` : "";
    const path = `api/collections/${encodeURIComponent(target.collectionId)}/files/${encodeURIComponent(target.fileId)}/pages/${number}${query}`;
    api(path).then(
      (answer) => live && (setPage(answer), setError(null)),
      (failure) => live && setError(failure),
    );
    return () => {
      live = false;
    };
  }, [number, target.fileId]);
  if (!target.collectionId) return null;
  if (error) return html`<${ErrorLine} error=${error} />`;
  if (!page) return html`<p role="status">Loading page ${number}…</p>`;
  return html`<figure class="picture pdf-page">
    <div class="page-turn">
      <button type="button" class="secondary small" disabled=${number <= 1} onClick=${() => setNumber(number - 1)}>Previous page</button>
      <span data-testid="viewer-page">Page ${page.page} of ${page.page_count}</span>
      <button type="button" class="secondary small" disabled=${number >= page.page_count} onClick=${() => setNumber(number + 1)}>Next page</button>
    </div>
    <div class="picture-frame">
      <img src=${page.image} alt=${`Page ${page.page} of ${target.filename}`} width=${page.width} height=${page.height} />
      ${page.boxes.length
        ? html`<svg class="region" viewBox="0 0 100 100" preserveAspectRatio="none" aria-hidden="true" data-testid="viewer-page-quote">
            ${page.boxes.map(([left, top, right, bottom], i) => html`<rect key=${i} x=${left * 100} y=${top * 100} width=${(right - left) * 100} height=${(bottom - top) * 100} />`)}
          </svg>`
        : null}
    </div>
    ${page.boxes.length ? html`<figcaption>The outlined lines are the passage cited.</figcaption>` : null}
  </figure>`;
}

function Thumbnail({ path, alt }) {
  const { src } = useBlob(path);
  return src ? html`<img class="thumbnail" src=${src} alt=${alt} />` : null;
}

function FileText({ target }) {
  const [text, setText] = useState(null);
  const [error, setError] = useState(null);
  const mark = useRef(null);
  useEffect(() => {
    if (!target.collectionId) return;
    api(`v1/vector_stores/${encodeURIComponent(target.collectionId)}/files/${encodeURIComponent(target.fileId)}/content`).then(
      (answer) => setText(answer.data.map((part) => part.text).join("")),
      setError,
    );
  }, [target.fileId, target.collectionId]);
  useEffect(() => {
    if (mark.current) mark.current.scrollIntoView({ block: "center" });
  }, [text]);
  if (!target.collectionId) return null;
  if (error) return html`<${ErrorLine} error=${error} />`;
  if (text === null) return html`<p role="status">Loading the text…</p>`;
  if (!text) return html`<p class="muted">No text was read from this file yet.</p>`;
  const [start, end] = findQuote(text, target);
  const marked = start != null;
  return html`<section class="file-text" aria-label="Text read from the file" tabindex="0">
    ${marked
      ? html`${text.slice(0, start)}<mark ref=${mark} data-testid="viewer-quote">${text.slice(start, end)}</mark>${text.slice(end)}`
      : text}
  </section>`;
}

// Where the quoted passage is in the text: found by its words (the spaces between them may
// differ), the one nearest the offset the citation gave when it occurs more than once.
export function findQuote(text, target) {
  const quote = (target.quote || "").trim();
  if (!quote) return [null, null];
  const words = quote.split(/\s+/).map((word) => word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const pattern = new RegExp(words.join("\\s+"), "g");
  let best = null;
  for (const match of text.matchAll(pattern)) {
    const distance = Math.abs(match.index - (target.quoteStart || 0));
    if (!best || distance < best.distance) best = { start: match.index, end: match.index + match[0].length, distance };
  }
  return best ? [best.start, best.end] : [null, null];
}

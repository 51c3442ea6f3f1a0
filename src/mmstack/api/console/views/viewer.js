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
      ${modality === "audio" || modality === "video" ? html`<${Player} target=${target} video=${modality === "video"} />` : null}
      ${modality === "image" ? html`<${Picture} target=${target} />` : null}
      ${isPdf(target) ? html`<${PdfPage} target=${target} />` : null}
      ${modality === "text" && !isPdf(target) && target.thumbnailUrl
        ? html`<${Thumbnail} path=${target.thumbnailUrl} alt=${`Preview of ${target.filename}`} />`
        : null}
      <${FileText} target=${target} />
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

function Player({ target, video }) {
  const { src, error } = useBlob(contentPath(target));
  const media = useRef(null);
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
  if (error) return html`<${ErrorLine} error=${error} />`;
  if (!src) return html`<p role="status">Loading the picture…</p>`;
  const region = target.region && size
    ? {
        left: (100 * target.region[0]) / size[0],
        top: (100 * target.region[1]) / size[1],
        width: (100 * (target.region[2] - target.region[0])) / size[0],
        height: (100 * (target.region[3] - target.region[1])) / size[1],
      }
    : null;
  return html`<figure class="picture">
    <div class="picture-frame">
      <img src=${src} alt=${target.filename} onLoad=${(e) => setSize([e.currentTarget.naturalWidth, e.currentTarget.naturalHeight])} />
      ${region
        ? html`<svg class="region" viewBox="0 0 100 100" preserveAspectRatio="none" aria-hidden="true" data-testid="viewer-region">
            <rect x=${region.left} y=${region.top} width=${region.width} height=${region.height} />
          </svg>`
        : null}
    </div>
    ${region ? html`<figcaption>The outlined region holds the cited text.</figcaption>` : null}
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

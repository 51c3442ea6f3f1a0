// One search box over the team's files: results with the matching words marked, where each
// one is (page, region, second) and a picture of it; filters with counts.

import { useRef, useState } from "../vendor/htm-preact.js";
import { api } from "../api.js";
import { ErrorLine, formatSeconds, html, useLoad } from "../ui.js";
import { SourceViewer } from "./viewer.js";
import { Thumb } from "./thumb.js";

const MODALITIES = [
  ["text", "Documents"],
  ["image", "Pictures"],
  ["audio", "Recordings"],
  ["video", "Videos"],
];

export function SearchPage() {
  const [collections] = useLoad(() => api("api/collections"));
  const [results, setResults] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [viewing, setViewing] = useState(null);
  const [chosen, setChosen] = useState({ collections: new Set(), modalities: new Set() });
  const openedFrom = useRef(null); // the results a result was last opened from

  async function submit(event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const query = String(form.get("q") || "").trim();
    if (!query) return;
    const filters = {};
    if (chosen.modalities.size) filters.modalities = [...chosen.modalities];
    const tags = String(form.get("tags") || "").split(",").map((t) => t.trim()).filter(Boolean);
    if (tags.length) filters.tags = tags;
    const after = form.get("after");
    const before = form.get("before");
    if (after) filters.created_after = Math.floor(new Date(`${after}T00:00:00`).getTime() / 1000);
    if (before) filters.created_before = Math.floor(new Date(`${before}T00:00:00`).getTime() / 1000) + 86400;
    const body = { query, top_k: 30 };
    if (chosen.collections.size) body.collections = [...chosen.collections];
    if (Object.keys(filters).length) body.filters = filters;
    setBusy(true);
    try {
      setResults(await api("api/search", { method: "POST", json: body }));
      setError(null);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  function open(hit, index) {
    setViewing(targetOfHit(hit));
    // Counted for the search analytics' click-through; a count lost is not the user's concern.
    const first = openedFrom.current !== results;
    openedFrom.current = results;
    const click = { query: results.query, mode: results.mode, rank: index + 1, first };
    api("api/search/clicks", { method: "POST", json: click }).catch(() => {});
  }

  function toggle(kind, value) {
    const next = new Set(chosen[kind]);
    if (next.has(value)) next.delete(value);
    else next.add(value);
    setChosen({ ...chosen, [kind]: next });
  }

  const hits = results ? results.data : [];
  const count = (key, value) => hits.filter((hit) => hit[key] === value).length;
  const names = new Map((collections ? collections.data : []).map((c) => [c.id, c.name]));
  return html`<section aria-labelledby="search-title">
    <h1 id="search-title">Search</h1>
    <form class="search" role="search" onSubmit=${submit}>
      <label for="q" class="visually-hidden">Search your files</label>
      <input id="q" name="q" type="search" placeholder="Search documents, pictures, recordings and videos" required autofocus />
      <button type="submit" disabled=${busy}>${busy ? "Searching…" : "Search"}</button>
      <details class="filters">
        <summary>Filters</summary>
        <div class="filter-groups">
          <fieldset>
            <legend>Collections</legend>
            ${(collections ? collections.data : []).map((c) => html`<label key=${c.id} class="check">
              <input type="checkbox" checked=${chosen.collections.has(c.id)} onChange=${() => toggle("collections", c.id)} />
              ${c.name}${results ? html` <span class="count">(${count("collection_id", c.id)})</span>` : null}</label>`)}
          </fieldset>
          <fieldset>
            <legend>Kind of file</legend>
            ${MODALITIES.map(([value, label]) => html`<label key=${value} class="check">
              <input type="checkbox" checked=${chosen.modalities.has(value)} onChange=${() => toggle("modalities", value)} />
              ${label}${results ? html` <span class="count">(${count("modality", value)})</span>` : null}</label>`)}
          </fieldset>
          <fieldset>
            <legend>Tags and dates</legend>
            <label for="tags">Tags (comma separated)</label>
            <input id="tags" name="tags" />
            <label for="after">Added on or after</label>
            <input id="after" name="after" type="date" />
            <label for="before">Added on or before</label>
            <input id="before" name="before" type="date" />
          </fieldset>
        </div>
      </details>
    </form>
    <${ErrorLine} error=${error} />
    ${results
      ? html`<p role="status" class="muted">${hits.length ? `${hits.length} ${hits.length === 1 ? "result" : "results"} for “${results.query}”` : `Nothing found for “${results.query}”.`}</p>`
      : null}
    <ol class="results">
      ${hits.map((hit, index) => html`<li key=${hit.chunk_id} data-testid="search-result">
        <${Thumb} path=${hit.thumbnail_url} alt="" />
        <div class="result-body">
          <button type="button" class="link result-title" onClick=${() => open(hit, index)}>${hit.filename}</button>
          <span class="muted small">${[names.get(hit.collection_id), anchorText(hit)].filter(Boolean).map((part) => ` · ${part}`).join("")}</span>
          <p class="snippet">${highlight(hit.text, results.query)}</p>
        </div>
      </li>`)}
    </ol>
    ${viewing ? html`<${SourceViewer} target=${viewing} onClose=${() => setViewing(null)} />` : null}
  </section>`;
}

export function targetOfHit(hit) {
  const anchor = hit.anchor;
  return {
    collectionId: hit.collection_id,
    fileId: hit.file_id,
    filename: hit.filename,
    mediaType: hit.media_type,
    modality: hit.modality,
    page: anchor.page_start,
    quote: hit.text,
    quoteStart: anchor.char_start,
    startSeconds: hit.start_seconds ?? anchor.time_start,
    endSeconds: hit.end_seconds ?? anchor.time_end,
    region: anchor.region,
    thumbnailUrl: hit.thumbnail_url,
  };
}

function anchorText(hit) {
  const a = hit.anchor;
  const parts = [];
  if (a.page_start) parts.push(a.page_end && a.page_end !== a.page_start ? `pages ${a.page_start}–${a.page_end}` : `page ${a.page_start}`);
  const start = hit.start_seconds ?? a.time_start;
  if (start != null) parts.push(`at ${formatSeconds(start)}`);
  if (a.region) parts.push("a region of the picture");
  if (a.heading_path && a.heading_path.length) parts.push(a.heading_path.join(" › "));
  if (a.source && a.source !== "text") parts.push({ ocr: "read from the image", speech: "spoken", caption: "caption" }[a.source] || a.source);
  return parts.join(" · ");
}

// The text with the query's words marked (a word counts when it starts like one of them:
// "migrated" for "migration").
export function highlight(text, query) {
  const stems = query.toLowerCase().match(/[\p{L}\p{N}]+/gu) || [];
  // Short words ("for", "the") would mark half the text.
  const prefixes = [...new Set(stems.filter((w) => w.length > 3).map((w) => w.slice(0, Math.max(4, w.length - 3))))];
  if (!prefixes.length) return text;
  const escaped = prefixes.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}])(?:${escaped.join("|")})[\\p{L}\\p{N}]*`, "giu");
  const out = [];
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    out.push(text.slice(last, match.index), html`<mark>${match[0]}</mark>`);
    last = match.index + match[0].length;
  }
  out.push(text.slice(last));
  return out;
}

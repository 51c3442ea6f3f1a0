// A small picture of where a result or citation is (a page, a frame, a picture).

import { useEffect, useState } from "../vendor/htm-preact.js";
import { blobUrl } from "../api.js";
import { html } from "../ui.js";

export function Thumb({ path, alt }) {
  const [src, setSrc] = useState(null);
  useEffect(() => {
    let live = true;
    setSrc(null);
    if (path) blobUrl(path).then((url) => live && setSrc(url), () => {});
    return () => {
      live = false;
    };
  }, [path]);
  if (!path) return html`<span class="thumb placeholder" aria-hidden="true"></span>`;
  return src ? html`<img class="thumb" src=${src} alt=${alt} />` : html`<span class="thumb placeholder" aria-hidden="true"></span>`;
}

// Chat with your documents: choose collections, ask, read the answer as it is written, open
// each citation at its place. Conversations are kept; one can be shared with the team to
// read, and it updates for them while it goes on.

import { useEffect, useRef, useState } from "../vendor/htm-preact.js";
import { api, postEvents } from "../api.js";
import { Dialog, ErrorLine, formatDate, html, navigate, useInterval, useLoad } from "../ui.js";
import { SourceViewer } from "./viewer.js";
import { Thumb } from "./thumb.js";

const CHOSEN_KEY = "mmstack.chat.collections";

function chosenBefore() {
  try {
    return new Set(JSON.parse(sessionStorage.getItem(CHOSEN_KEY) || "[]"));
  } catch {
    return new Set();
  }
}

export function ChatPage({ me, info, conversationId }) {
  const [own, ownError, reloadOwn] = useLoad(() => api("api/conversations"));
  const [shared, , reloadShared] = useLoad(() => api("api/conversations?shared=true"));
  const reloadLists = () => {
    reloadOwn();
    reloadShared();
  };
  return html`<div class="chat-layout">
    <aside class="conversations" aria-labelledby="conversations-title">
      <h2 id="conversations-title" class="visually-hidden">Conversations</h2>
      <a class="button" href="#/chat" aria-current=${conversationId ? undefined : "page"}>New conversation</a>
      <${ErrorLine} error=${ownError} />
      <${ConversationList} title="Yours" items=${own ? own.data : []} current=${conversationId} />
      ${shared && shared.data.length
        ? html`<${ConversationList} title="Shared with you" items=${shared.data} current=${conversationId} />`
        : null}
    </aside>
    <${Conversation} key=${conversationId || "new"} me=${me} info=${info} id=${conversationId} onChange=${reloadLists} />
  </div>`;
}

function ConversationList({ title, items, current }) {
  return html`<nav aria-label=${title}>
    <h3>${title}</h3>
    ${items.length ? null : html`<p class="muted small">None yet.</p>`}
    <ul>
      ${items.map((c) => html`<li key=${c.id}>
        <a href=${`#/chat/${encodeURIComponent(c.id)}`} aria-current=${c.id === current ? "page" : undefined}>
          ${c.title || "Untitled"}${c.shared ? html` <span class="badge">shared</span>` : null}
        </a>
        <div class="muted small">${formatDate(c.updated_at)}</div>
      </li>`)}
    </ul>
  </nav>`;
}

const MODEL_KEY = "mmstack.chat.model";

function Conversation({ me, info, id, onChange }) {
  const [conversation, error, reload] = useLoad(
    () => (id ? api(`api/conversations/${encodeURIComponent(id)}`) : Promise.resolve(null)),
    [id],
  );
  const [collections] = useLoad(() => api("api/collections"));
  const [chosen, setChosen] = useState(chosenBefore());
  const [pending, setPending] = useState(null); // {question, text, annotations, error}
  const [viewing, setViewing] = useState(null);
  const [dialog, setDialog] = useState(null);
  const [saveError, setSaveError] = useState(null); // choosing collections did not stick
  const log = useRef(null);
  const mine = !conversation || conversation.user_id === me.id;
  // Someone else's shared conversation updates while it is open.
  useInterval(reload, 3000, Boolean(conversation && !mine));
  useEffect(() => {
    if (conversation) setChosen(new Set(conversation.collection_ids));
  }, [conversation && conversation.id]);
  useEffect(() => {
    if (log.current) log.current.scrollTop = log.current.scrollHeight;
  }, [conversation, pending && pending.text]);

  function toggle(collectionId) {
    const next = new Set(chosen);
    if (next.has(collectionId)) next.delete(collectionId);
    else next.add(collectionId);
    setChosen(next);
    sessionStorage.setItem(CHOSEN_KEY, JSON.stringify([...next]));
    if (conversation && mine) {
      api(`api/conversations/${encodeURIComponent(conversation.id)}`, { method: "PATCH", json: { collections: [...next] } }).then(
        () => setSaveError(null),
        setSaveError,
      );
    }
  }

  async function ask(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const fields = new FormData(form);
    const question = String(fields.get("question") || "").trim();
    const model = fields.get("model") || null;
    if (model) sessionStorage.setItem(MODEL_KEY, model);
    if (!question || pending) return;
    if (!chosen.size) {
      setPending({ question, text: "", annotations: [], error: new Error("Choose at least one collection to ask.") });
      return;
    }
    form.reset();
    setPending({ question, text: "", annotations: [], error: null });
    let target = conversation;
    try {
      if (!target) {
        target = await api("api/conversations", { method: "POST", json: { collections: [...chosen] } });
      }
      await postEvents(`api/conversations/${encodeURIComponent(target.id)}/messages`, { content: question, model }, (type, data) => {
        if (data.error) throw new Error(data.error.message);
        const choice = data.choices && data.choices[0];
        if (!choice) return;
        setPending((old) => ({
          ...old,
          text: old.text + (choice.delta.content || ""),
          annotations: [...old.annotations, ...(choice.delta.annotations || [])],
        }));
      });
      setPending(null);
      onChange();
      if (!conversation) navigate(`#/chat/${encodeURIComponent(target.id)}`);
      else reload();
    } catch (failure) {
      setPending((old) => ({ ...old, error: failure }));
      if (target && !conversation) {
        onChange();
      }
    }
  }

  if (id && !conversation) {
    return html`<section class="conversation">${error ? html`<${ErrorLine} error=${error} />` : html`<p role="status">Loading the conversation…</p>`}</section>`;
  }
  const names = new Map((collections ? collections.data : []).map((c) => [c.id, c.name]));
  const messages = conversation ? conversation.messages : [];
  return html`<section class="conversation" aria-labelledby="conversation-title">
    <div class="page-head">
      <h1 id="conversation-title">${conversation ? conversation.title || "Untitled" : "New conversation"}</h1>
      ${conversation && mine
        ? html`<div class="head-actions">
            <button type="button" class="secondary" onClick=${() => setDialog("rename")}>Rename</button>
            <button type="button" class="secondary" aria-pressed=${conversation.shared ? "true" : "false"}
              onClick=${() => api(`api/conversations/${encodeURIComponent(conversation.id)}`, { method: "PATCH", json: { shared: !conversation.shared } }).then(() => { reload(); onChange(); })}>
              ${conversation.shared ? "Shared with the team" : "Share with the team"}</button>
            <button type="button" class="danger" onClick=${() => setDialog("delete")}>Delete</button>
          </div>`
        : null}
    </div>
    <${ErrorLine} error=${error || saveError} />
    ${conversation && !mine ? html`<p class="notice">Shared with you to read. It updates while it goes on.</p>` : null}
    ${mine
      ? html`<fieldset class="collections-picker">
          <legend>Answer from</legend>
          ${collections && !collections.data.length ? html`<p class="muted small">No collections yet: <a href="#/collections">make one</a>.</p>` : null}
          ${(collections ? collections.data : []).map((c) => html`<label key=${c.id} class="check">
            <input type="checkbox" checked=${chosen.has(c.id)} onChange=${() => toggle(c.id)} /> ${c.name}</label>`)}
        </fieldset>`
      : html`<p class="muted small">Answered from ${[...chosen].map((c) => names.get(c) || c).join(", ")}</p>`}
    <div class="messages" role="log" aria-live="polite" aria-label="Messages" ref=${log}>
      ${messages.map((m) => html`<${Message} key=${m.id} role=${m.role} text=${m.content} annotations=${m.annotations} onOpen=${setViewing} />`)}
      ${pending
        ? html`<${Message} role="user" text=${pending.question} annotations=${[]} />
            ${pending.error
              ? html`<${ErrorLine} error=${pending.error} />`
              : html`<${Message} role="assistant" text=${pending.text} annotations=${pending.annotations} onOpen=${setViewing} streaming=${true} />`}`
        : null}
      ${!messages.length && !pending ? html`<p class="empty">Ask a question about the files in the collections you chose. Answers cite their sources; click one to open it at the place.</p>` : null}
    </div>
    ${mine
      ? html`<form class="ask" onSubmit=${ask}>
          <label for="question" class="visually-hidden">Your question</label>
          <textarea id="question" name="question" rows="2" required placeholder="Ask your documents…"
            onKeyDown=${(e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); e.currentTarget.form.requestSubmit(); } }}></textarea>
          <div class="ask-side">
            ${info.chat_models.length > 1
              ? html`<label for="model" class="visually-hidden">Model</label>
                  <select id="model" name="model">
                    ${info.chat_models.map((m) => html`<option key=${m} value=${m} selected=${m === (sessionStorage.getItem(MODEL_KEY) || info.answer_model)}>${m}</option>`)}
                  </select>`
              : null}
            <button type="submit" disabled=${Boolean(pending && !pending.error)}>Ask</button>
          </div>
        </form>`
      : null}
    ${viewing ? html`<${SourceViewer} target=${viewing} onClose=${() => setViewing(null)} />` : null}
    ${dialog === "rename" ? html`<${RenameConversation} conversation=${conversation} onClose=${(changed) => { setDialog(null); if (changed) { reload(); onChange(); } }} />` : null}
    ${dialog === "delete" ? html`<${DeleteConversation} conversation=${conversation} onClose=${(changed) => { setDialog(null); if (changed) { onChange(); navigate("#/chat"); } }} />` : null}
  </section>`;
}

function Message({ role, text, annotations, onOpen, streaming = false }) {
  if (role === "user") {
    return html`<div class="message user" data-testid="message-user"><span class="visually-hidden">You: </span>${text}</div>`;
  }
  // An answer without a single citation is the server's refusal: nothing found says it.
  const refused = !streaming && !annotations.length;
  const sources = uniqueSources(annotations);
  return html`<div class=${`message assistant${refused ? " refused" : ""}`} data-testid="message-assistant" aria-busy=${streaming ? "true" : "false"}>
    <span class="visually-hidden">Answer: </span>
    <p class="answer-text">${withMarkers(text, annotations, onOpen)}${streaming ? html`<span class="cursor" aria-hidden="true">▍</span>` : null}</p>
    ${refused ? html`<p class="refusal-note" data-testid="refusal">Your documents do not answer this: no passage found says it. Try other words or other collections.</p>` : null}
    ${sources.length
      ? html`<ol class="sources" aria-label="Sources">
          ${sources.map((a) => html`<li key=${a.passage} value=${a.passage}>
            <button type="button" class="source" data-testid="source" onClick=${() => onOpen(targetOf(a))}>
              ${a.thumbnail_url ? html`<${Thumb} path=${a.thumbnail_url} alt="" />` : null}
              <span><strong>${a.filename}</strong> <span class="muted small">${a.location || ""}</span>
              <span class="quote">“${a.quote}”</span></span>
            </button>
          </li>`)}
        </ol>`
      : null}
  </div>`;
}

function uniqueSources(annotations) {
  const seen = new Map();
  for (const a of annotations) if (!seen.has(a.passage)) seen.set(a.passage, a);
  return [...seen.values()].sort((a, b) => a.passage - b.passage);
}

// The answer's text with each "[n]" marker as a button that opens its source.
function withMarkers(text, annotations, onOpen) {
  const at = new Map(annotations.map((a) => [a.index, a]));
  const out = [];
  let last = 0;
  for (const match of text.matchAll(/\[(\d+)\]/g)) {
    const annotation = at.get(match.index);
    if (!annotation || !onOpen) continue;
    out.push(text.slice(last, match.index));
    out.push(html`<button type="button" class="marker" data-testid="citation"
      aria-label=${`Source ${match[1]}: ${annotation.filename}${annotation.location ? `, ${annotation.location}` : ""}`}
      onClick=${() => onOpen(targetOf(annotation))}>${match[0]}</button>`);
    last = match.index + match[0].length;
  }
  out.push(text.slice(last));
  return out;
}

function targetOf(a) {
  return {
    collectionId: a.collection_id,
    fileId: a.file_id,
    filename: a.filename,
    modality: a.modality,
    page: a.page_start,
    quote: a.quote,
    quoteStart: a.quote_start,
    startSeconds: a.start_seconds,
    endSeconds: a.end_seconds,
    region: a.region,
    thumbnailUrl: a.thumbnail_url,
  };
}

function RenameConversation({ conversation, onClose }) {
  const [error, setError] = useState(null);
  async function submit(event) {
    event.preventDefault();
    const title = String(new FormData(event.currentTarget).get("title")).trim();
    try {
      await api(`api/conversations/${encodeURIComponent(conversation.id)}`, { method: "PATCH", json: { title } });
      onClose(true);
    } catch (failure) {
      setError(failure);
    }
  }
  return html`<${Dialog} title="Rename the conversation" onClose=${() => onClose(false)}>
    <form method="dialog" onSubmit=${submit}>
      <label for="conversation-title-input">Title</label>
      <input id="conversation-title-input" name="title" maxlength="256" required value=${conversation.title} autofocus />
      <${ErrorLine} error=${error} />
      <div class="buttons"><button type="submit">Save</button></div>
    </form>
  <//>`;
}

function DeleteConversation({ conversation, onClose }) {
  const [error, setError] = useState(null);
  async function remove() {
    try {
      await api(`api/conversations/${encodeURIComponent(conversation.id)}`, { method: "DELETE" });
      onClose(true);
    } catch (failure) {
      setError(failure);
    }
  }
  return html`<${Dialog} title="Delete the conversation?" onClose=${() => onClose(false)}>
    <p>This deletes “${conversation.title || "Untitled"}” and its ${conversation.messages.length} messages${conversation.shared ? ", also for the team it is shared with" : ""}. This cannot be undone.</p>
    <${ErrorLine} error=${error} />
    <div class="buttons">
      <button type="button" class="secondary" onClick=${() => onClose(false)} autofocus>Keep it</button>
      <button type="button" class="danger" onClick=${remove}>Delete conversation</button>
    </div>
  <//>`;
}

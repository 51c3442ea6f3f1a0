// The team's stored agents: what each is made of, a question tried on one (through the
// Responses API, as any client calls it: the model agent/<name>), and (for those who may
// write) create, edit and delete.

import { useState } from "../vendor/htm-preact.js";
import { api } from "../api.js";
import { Dialog, ErrorLine, formatDate, html, useLoad } from "../ui.js";
import { canWrite } from "./collections.js";

function toolLabel(tool) {
  const name = tool.name || tool.server_label;
  return name ? `${tool.type}: ${name}` : tool.type;
}

export function AgentsPage({ me }) {
  const [agents, error, reload] = useLoad(() => api("api/agents"));
  const [collections] = useLoad(() => api("api/collections"));
  const [dialog, setDialog] = useState(null);
  const [trying, setTrying] = useState(null);
  const writer = canWrite(me);
  const names = new Map((collections ? collections.data : []).map((c) => [c.id, c.name]));
  const close = (changed) => {
    setDialog(null);
    if (changed) reload();
  };
  return html`<section aria-labelledby="agents-title">
    <div class="page-head">
      <h1 id="agents-title">Agents</h1>
      ${writer ? html`<button type="button" onClick=${() => setDialog({ kind: "edit" })}>New agent</button>` : null}
    </div>
    <p class="muted small">An agent answers with its own instructions, model, tools and collections. Any OpenAI client calls it as the model <code>agent/name</code>.</p>
    <${ErrorLine} error=${error} />
    ${agents && !agents.data.length
      ? html`<p class="empty">No agents yet.${writer ? " Make one: a name and instructions are enough." : ""}</p>`
      : null}
    ${agents && agents.data.length
      ? html`<div class="table-wrap" tabindex="0" role="region" aria-label="Agents"><table>
          <caption class="visually-hidden">Agents of your team</caption>
          <thead><tr>
            <th scope="col">Name</th><th scope="col">Model</th><th scope="col">Answers from</th>
            <th scope="col">Tools</th><th scope="col">Changed</th>
            <th scope="col"><span class="visually-hidden">Actions</span></th>
          </tr></thead>
          <tbody>
            ${agents.data.map((a) => html`<tr key=${a.id}>
              <th scope="row">${a.name}
                ${a.description ? html`<div class="muted small">${a.description}</div>` : null}</th>
              <td><code>${a.model || "default"}</code></td>
              <td>${a.vector_store_ids.map((id) => names.get(id) || id).join(", ") || html`<span class="muted">—</span>`}</td>
              <td>${[...a.tools.map(toolLabel), ...(a.memory ? ["memory"] : [])].join(", ") || html`<span class="muted">—</span>`}</td>
              <td>${formatDate(a.updated_at)}</td>
              <td class="actions">
                <button type="button" class="secondary" aria-label=${`Try ${a.name}`} onClick=${() => setTrying(a)}>Try</button>
                ${writer
                  ? html`<button type="button" class="secondary" aria-label=${`Edit ${a.name}`} onClick=${() => setDialog({ kind: "edit", agent: a })}>Edit</button>
                      <button type="button" class="danger" aria-label=${`Delete ${a.name}`} onClick=${() => setDialog({ kind: "delete", agent: a })}>Delete</button>`
                  : null}
              </td>
            </tr>`)}
          </tbody>
        </table></div>`
      : null}
    ${trying ? html`<${TryAgent} key=${trying.id} agent=${trying} onClose=${() => setTrying(null)} />` : null}
    ${dialog && dialog.kind === "edit"
      ? html`<${AgentForm} agent=${dialog.agent} collections=${collections ? collections.data : []} onClose=${close} />`
      : null}
    ${dialog && dialog.kind === "delete" ? html`<${DeleteAgent} agent=${dialog.agent} onClose=${close} />` : null}
  </section>`;
}

function TryAgent({ agent, onClose }) {
  const [answer, setAnswer] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function ask(event) {
    event.preventDefault();
    const question = String(new FormData(event.currentTarget).get("question")).trim();
    if (!question) return;
    setBusy(true);
    setError(null);
    setAnswer(null);
    try {
      const response = await api("v1/responses", {
        method: "POST",
        json: { model: `agent/${agent.name}`, input: question, store: false },
      });
      setAnswer(response);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }
  const text = answer
    ? answer.output.filter((item) => item.type === "message").flatMap((item) => item.content.map((part) => part.text)).join("")
    : "";
  const steps = answer ? answer.output.filter((item) => item.type !== "message") : [];
  return html`<section class="panel" aria-labelledby="try-title">
    <div class="page-head">
      <h2 id="try-title">Try ${agent.name}</h2>
      <button type="button" class="secondary" onClick=${onClose}>Close</button>
    </div>
    <form onSubmit=${ask}>
      <label for="try-question">Question</label>
      <textarea id="try-question" name="question" rows="2" required autofocus></textarea>
      <div class="buttons"><button type="submit" disabled=${busy}>${busy ? "Asking…" : "Ask"}</button></div>
    </form>
    <${ErrorLine} error=${error} />
    <div role="status" aria-live="polite" data-testid="agent-answer">
      ${busy ? html`<p class="muted">The agent is answering…</p>` : null}
      ${answer
        ? html`${steps.length
            ? html`<ul class="muted small" aria-label="Steps">${steps.map((s) => html`<li key=${s.id}>${s.type}${s.name ? `: ${s.name}` : ""}</li>`)}</ul>`
            : null}
            <p class="answer-text">${text || html`<span class="muted">(no text: the agent called a function)</span>`}</p>
            ${answer.status !== "completed" ? html`<p class="muted small">Stopped: ${answer.incomplete_details ? answer.incomplete_details.reason : answer.status}</p>` : null}`
        : null}
    </div>
  </section>`;
}

function AgentForm({ agent, collections, onClose }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [models] = useLoad(() => api("v1/models?kind=chat"));
  const chosen = new Set(agent ? agent.vector_store_ids : []);
  async function submit(event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const body = {
      name: String(form.get("name")).trim(),
      description: String(form.get("description") || "").trim(),
      instructions: String(form.get("instructions") || ""),
      model: form.get("model") || null,
      vector_store_ids: form.getAll("collections").map(String),
      memory: form.get("memory") === "on",
    };
    const tools = String(form.get("tools") || "").trim();
    try {
      body.tools = tools ? JSON.parse(tools) : [];
    } catch (problem) {
      setError(new Error(`Tools: not JSON (${problem.message})`));
      return;
    }
    setBusy(true);
    try {
      if (agent) await api(`api/agents/${encodeURIComponent(agent.id)}`, { method: "PUT", json: body });
      else await api("api/agents", { method: "POST", json: body });
      onClose(true);
    } catch (failure) {
      setError(failure);
      setBusy(false);
    }
  }
  return html`<${Dialog} title=${agent ? `Edit ${agent.name}` : "New agent"} onClose=${() => onClose(false)}>
    <form method="dialog" onSubmit=${submit}>
      <label for="agent-name">Name</label>
      <input id="agent-name" name="name" required maxlength="64"
        defaultValue=${agent ? agent.name : ""} aria-describedby="agent-name-help" autofocus />
      <p id="agent-name-help" class="muted small">Letters, digits and . _ - ; unique in your team. Clients call it as agent/name.</p>
      <label for="agent-description">Description (optional)</label>
      <input id="agent-description" name="description" maxlength="4096" defaultValue=${agent ? agent.description : ""} />
      <label for="agent-instructions">Instructions</label>
      <textarea id="agent-instructions" name="instructions" rows="4" maxlength="65536">${agent ? agent.instructions : ""}</textarea>
      <label for="agent-model">Model</label>
      <select id="agent-model" name="model">
        <option value="">The default model</option>
        ${(models ? models.data : []).map((m) => html`<option key=${m.id} value=${m.id} selected=${agent && agent.model === m.id}>${m.id}</option>`)}
        ${agent && agent.model && models && !models.data.some((m) => m.id === agent.model)
          ? html`<option value=${agent.model} selected>${agent.model}</option>`
          : null}
      </select>
      <fieldset class="collections-picker">
        <legend>Answers from (collections, optional)</legend>
        ${collections.length ? null : html`<p class="muted small">No collections yet.</p>`}
        ${collections.map((c) => html`<label key=${c.id} class="check">
          <input type="checkbox" name="collections" value=${c.id} checked=${chosen.has(c.id)} /> ${c.name}</label>`)}
      </fieldset>
      <label class="check"><input type="checkbox" name="memory" checked=${Boolean(agent && agent.memory)} aria-describedby="agent-memory-help" /> Memory</label>
      <p id="agent-memory-help" class="muted small">Recalls what each person told it in earlier conversations, and notes what they say about themselves (each person's own; they can turn it off). Not with collections.</p>
      <label for="agent-tools">Tools (optional, JSON)</label>
      <textarea id="agent-tools" name="tools" rows="3" aria-describedby="agent-tools-help" spellcheck="false">${agent && agent.tools.length ? JSON.stringify(agent.tools, null, 2) : ""}</textarea>
      <p id="agent-tools-help" class="muted small">A list of Responses API tools: function tools, or mcp tools naming a server an admin allowed. Not with collections.</p>
      <${ErrorLine} error=${error} />
      <div class="buttons">
        <button type="submit" disabled=${busy}>${agent ? "Save" : "Create"}</button>
      </div>
    </form>
  <//>`;
}

function DeleteAgent({ agent, onClose }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function remove() {
    setBusy(true);
    try {
      await api(`api/agents/${encodeURIComponent(agent.id)}`, { method: "DELETE" });
      onClose(true);
    } catch (failure) {
      setError(failure);
      setBusy(false);
    }
  }
  return html`<${Dialog} title=${`Delete ${agent.name}?`} onClose=${() => onClose(false)}>
    <p>Clients calling <code>agent/${agent.name}</code> will get "not found". Its collections and the answers it gave stay.</p>
    <${ErrorLine} error=${error} />
    <div class="buttons">
      <button type="button" class="secondary" onClick=${() => onClose(false)} autofocus>Keep it</button>
      <button type="button" class="danger" disabled=${busy} onClick=${remove}>Delete agent</button>
    </div>
  <//>`;
}

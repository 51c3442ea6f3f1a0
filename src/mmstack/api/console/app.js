// The console's shell: who is logged in, the navigation, and which page the address's
// fragment (#/...) names. Pages live in views/.

import { render, useEffect, useRef, useState } from "./vendor/htm-preact.js";
import { api, currentSession, logout, onSessionChange } from "./api.js";
import { html } from "./ui.js";
import { LoginPage, PasswordChangeNotice } from "./views/login.js";
import { CollectionsPage } from "./views/collections.js";
import { CollectionPage } from "./views/collection.js";
import { SearchPage } from "./views/search.js";
import { ChatPage } from "./views/chat.js";
import { AgentsPage } from "./views/agents.js";
import { AccountPage } from "./views/account.js";
import { AdminPage } from "./views/admin.js";

function parseRoute(hash) {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  return { name: parts[0] || "collections", args: parts.slice(1) };
}

function useRoute() {
  const [route, setRoute] = useState(parseRoute(window.location.hash));
  useEffect(() => {
    const changed = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener("hashchange", changed);
    return () => window.removeEventListener("hashchange", changed);
  }, []);
  return route;
}

const NAV = [
  { name: "collections", label: "Collections" },
  { name: "search", label: "Search" },
  { name: "chat", label: "Chat" },
  { name: "agents", label: "Agents" },
];

const TITLES = {
  collections: "Collections",
  collection: "Collection",
  search: "Search",
  chat: "Chat",
  agents: "Agents",
  account: "Account",
  admin: "Admin",
};

function Shell({ me, info, onMeChange }) {
  const route = useRoute();
  const main = useRef(null);
  const first = useRef(true);
  useEffect(() => {
    document.title = `${TITLES[route.name] || "mmstack"} · mmstack`;
    // Moving to another page moves the focus to it (as a page load would), not on the
    // first render.
    if (!first.current && main.current) main.current.focus();
    first.current = false;
  }, [route.name, route.args.join("/")]);
  const admin = me.role === "admin";
  const nav = admin ? [...NAV, { name: "admin", label: "Admin" }] : NAV;
  let page;
  switch (route.name) {
    case "collection":
      page = html`<${CollectionPage} id=${route.args[0]} me=${me} info=${info} />`;
      break;
    case "search":
      page = html`<${SearchPage} me=${me} />`;
      break;
    case "chat":
      page = html`<${ChatPage} me=${me} info=${info} conversationId=${route.args[0]} />`;
      break;
    case "agents":
      page = html`<${AgentsPage} me=${me} />`;
      break;
    case "account":
      page = html`<${AccountPage} me=${me} onMeChange=${onMeChange} />`;
      break;
    case "admin":
      page = admin
        ? html`<${AdminPage} me=${me} tab=${route.args[0] || "users"} />`
        : html`<p role="alert">This page is for admins.</p>`;
      break;
    default:
      page = html`<${CollectionsPage} me=${me} />`;
  }
  return html`
    <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); main.current.focus(); }}>Skip to content</a>
    <header class="top">
      <a class="brand" href="#/collections"><img src="console/icon.svg" alt="" width="24" height="24" /> mmstack</a>
      <nav aria-label="Main">
        <ul>
          ${nav.map((item) => html`<li key=${item.name}>
            <a href=${`#/${item.name}`} aria-current=${route.name === item.name || (item.name === "collections" && route.name === "collection") ? "page" : undefined}>${item.label}</a>
          </li>`)}
        </ul>
      </nav>
      <div class="who">
        <a href="#/account" aria-current=${route.name === "account" ? "page" : undefined}><span class="visually-hidden">Account of </span>${me.username}</a>
        <span class="role">${me.role}</span>
        <button type="button" class="secondary" onClick=${() => logout()}>Log out</button>
      </div>
    </header>
    ${me.password_change_due && route.name !== "account" ? html`<${PasswordChangeNotice} />` : null}
    <main id="main" tabindex="-1" ref=${main}>${page}</main>
  `;
}

function App() {
  const [session, setSession] = useState(currentSession());
  const [me, setMe] = useState(null);
  const [info, setInfo] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => onSessionChange(setSession), []);
  useEffect(() => {
    setMe(null);
    if (!session) return;
    Promise.all([api("api/auth/me"), api("api/info")]).then(
      ([user, server]) => {
        setMe(user);
        setInfo(server);
        setError(null);
      },
      (failure) => setError(failure),
    );
  }, [session && session.userId]);
  if (!session) return html`<${LoginPage} />`;
  if (error) {
    return html`<main id="main" class="narrow"><p role="alert" class="error">${error.message}</p>
      <button type="button" onClick=${() => logout()}>Log in again</button></main>`;
  }
  if (!me || !info) return html`<p class="loading" role="status">Loading…</p>`;
  return html`<${Shell} me=${me} info=${info} onMeChange=${setMe} />`;
}

const root = document.getElementById("app");
root.textContent = "";
render(html`<${App} />`, root);

// The mesospy dashboard: one page, its model kept live by the operator event stream
// (/api/events, server-sent events). Plain DOM, no framework, no build step.
"use strict";

const TERMINAL = new Set(["TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR",
  "TASK_LOST", "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR"]);
const STATES = ["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING",
  "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED",
  "TASK_UNREACHABLE", "TASK_GONE", "TASK_GONE_BY_OPERATOR", "TASK_UNKNOWN"];
const HISTORY = 20;          // statuses kept per task
const CHART_SECONDS = 3600;  // the overview's chart spans the last hour
const SAMPLE_SECONDS = 10;  // how often the page asks for new samples

const model = {
  session: null,
  connected: false,
  agents: new Map(),       // agent id -> AgentState
  frameworks: new Map(),   // framework id -> FrameworkState
  tasks: new Map(),        // "framework/task" -> Task (active)
  completed: new Map(),    // "framework/task" -> Task (terminal)
  history: new Map(),      // "framework/task" -> [TaskStatus], oldest first
  unreachable: [],
  full: true,              // the model holds every task (else: counts, and lists on demand)
  counts: {},              // task state -> tasks, live
  remoteVersion: 0,        // bumped on task events when lists are fetched on demand
  permissions: { drain_agents: {}, teardown_frameworks: {} },
  samples: [],             // [{t, cpus, mem, launched, ended}] for the chart, from the master
};

// ------------------------------------------------------------------ small helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const key = (frameworkId, taskId) => `${frameworkId}/${taskId}`;
const short = (state) => (state || "").replace(/^TASK_/, "");
const when = (seconds) => (seconds ? new Date(seconds * 1000).toLocaleString() : "");

function scalars(resources) {
  const out = {};
  for (const r of resources || []) {
    if ((r.type || "SCALAR") === "SCALAR") out[r.name] = (out[r.name] || 0) + (r.scalar || 0);
    else if (r.type === "RANGES") {
      let n = 0;
      for (const range of r.ranges || []) n += Number(range.end) - Number(range.begin) + 1;
      out[r.name] = (out[r.name] || 0) + n;
    } else if (r.type === "SET") out[r.name] = (out[r.name] || 0) + (r.items || []).length;
  }
  return out;
}

function fmt(name, value) {
  if (value === undefined) return "0";
  if (name === "mem" || name === "disk") return value >= 1024 ? `${(value / 1024).toFixed(1)} GB` : `${Math.round(value)} MB`;
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

function resourceText(resources) {
  const s = scalars(resources);
  return ["cpus", "mem", "disk", "gpus"].filter((n) => s[n]).map((n) => `${n} ${fmt(n, s[n])}`).join(", ") || "—";
}

function stateTag(state) { return h("span", { class: `state ${state}` }, short(state)); }

function notice(message, info) {
  const el = document.getElementById("notice");
  el.textContent = message || "";
  el.className = message ? `notice${info ? " info" : ""}` : "notice hidden";
}

// ------------------------------------------------------------------ talking to the master

async function api(path, options) {
  const response = await fetch(path, Object.assign({ credentials: "same-origin" }, options));
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (response.status === 503 && body && body.leader) {
    window.location.href = body.leader + "/" + window.location.hash;
  }
  if (!response.ok) {
    const error = new Error((body && body.error) || `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

async function post(path, body) {
  const send = () => api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": model.session.csrf_token },
    body: JSON.stringify(body),
  });
  try {
    return await send();
  } catch (e) {
    // The session ended (the master restarted, or it expired): take the new one, once.
    if (e.status !== 403 || !/CSRF/.test(e.message)) throw e;
    model.session = await api("/api/session");
    return send();
  }
}

async function act(path, body, what) {
  try {
    await post(path, body);
    notice(`${what}: done`, true);
  } catch (e) {
    notice(`${what}: ${e.message}`);
  }
}

let events = null;

function connect() {
  if (events) events.close();
  // ?lean in the page's address: never load every task, only counts (lists on demand).
  const lean = new URLSearchParams(window.location.search).has("lean");
  events = new EventSource(lean ? "/api/events?full_tasks=0" : "/api/events");
  events.addEventListener("SUBSCRIBED", (e) => {
    performance.mark("mesospy-snapshot-received");
    load(JSON.parse(e.data)); setLive(true);
    render();  // the snapshot is drawn at once; only the events that follow are batched
    performance.mark("mesospy-snapshot-drawn");
  });
  for (const type of ["TASK_ADDED", "TASK_UPDATED"]) {
    events.addEventListener(type, (e) => {
      const data = JSON.parse(e.data);
      if (data.previous_state) model.counts[data.previous_state] = (model.counts[data.previous_state] || 1) - 1;
      model.counts[data.task.state] = (model.counts[data.task.state] || 0) + 1;
      putTask(data.task, data.partial);
      model.remoteVersion++;
      changed();
    });
  }
  for (const type of ["AGENT_ADDED", "AGENT_UPDATED"]) {
    // Permissions are per agent and framework: asked again only when one comes or goes.
    events.addEventListener(type, (e) => { const a = JSON.parse(e.data).agent; const known = model.agents.has(a.agent_info.id); model.agents.set(a.agent_info.id, a); changed(!known); });
  }
  events.addEventListener("AGENT_REMOVED", (e) => { model.agents.delete(JSON.parse(e.data).agent_id); changed(true); });
  for (const type of ["FRAMEWORK_ADDED", "FRAMEWORK_UPDATED"]) {
    events.addEventListener(type, (e) => { const f = JSON.parse(e.data).framework; const known = model.frameworks.has(f.framework_info.id); model.frameworks.set(f.framework_info.id, f); changed(!known); });
  }
  events.addEventListener("FRAMEWORK_REMOVED", (e) => { model.frameworks.delete(JSON.parse(e.data).framework_id); changed(true); });
  events.addEventListener("ERROR", (e) => { notice(JSON.parse(e.data).error); });
  events.onerror = () => { setLive(false); };
}

function setLive(on) {
  model.connected = on;
  const el = document.getElementById("live");
  el.textContent = on ? "live" : "reconnecting";
  el.className = on ? "live on" : "live off";
}

// A partial task (an update: state and status only) is merged into the one the page has.
function putTask(update, partial) {
  const k = key(update.framework_id, update.task_id);
  const known = partial ? (model.tasks.get(k) || model.completed.get(k)) : null;
  const task = known ? Object.assign({}, known, update) : update;
  if (task.status) {
    const list = model.history.get(k) || [];
    const last = list[list.length - 1];
    if (!last || last.state !== task.status.state || last.timestamp !== task.status.timestamp) list.push(task.status);
    while (list.length > HISTORY) list.shift();
    model.history.set(k, list);
  }
  if (!model.full) {  // only the statuses of recent tasks are kept
    while (model.history.size > 5000) model.history.delete(model.history.keys().next().value);
    return;
  }
  if (TERMINAL.has(task.state)) { model.tasks.delete(k); model.completed.set(k, task); }
  else model.tasks.set(k, task);
}

function load(state) {
  model.agents.clear(); model.frameworks.clear(); model.tasks.clear(); model.completed.clear();
  model.full = state.tasks !== undefined;
  model.counts = Object.assign({}, state.task_counts || {});
  for (const a of state.agents || []) model.agents.set(a.agent_info.id, a);
  for (const f of state.frameworks || []) model.frameworks.set(f.framework_info.id, f);
  for (const t of state.completed_tasks || []) putTask(t);
  for (const t of state.tasks || []) putTask(t);
  model.unreachable = state.unreachable_agents || [];
  changed(true);
}

// ------------------------------------------------------------------ rendering

let renderQueued = false;
let permissionsQueued = false;

function changed(membership) {
  if (membership && !permissionsQueued) {
    permissionsQueued = true;
    setTimeout(refreshPermissions, 100);
  }
  if (!renderQueued) {
    renderQueued = true;
    setTimeout(() => { renderQueued = false; render(); }, 100);
  }
}

async function refreshPermissions() {
  permissionsQueued = false;
  try { model.permissions = await api("/api/permissions"); } catch (e) { /* shown by the page */ }
  render();
}

function route() {
  const hash = window.location.hash.replace(/^#\/?/, "");
  const [path, query] = hash.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || "overview", parts: parts.slice(1), query: new URLSearchParams(query || "") };
}

const pages = {};
let currentPage = null;
let pageCleanup = null;

function render() {
  const r = route();
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("current", a.dataset.page === r.page);
  renderWho();
  const main = document.getElementById("main");
  const session = model.session;
  if (!session) return;
  if (r.page === "login" || (session.login_required && !session.principal)) {
    if (currentPage !== "login") { main.replaceChildren(loginForm()); currentPage = "login"; }
    return;
  }
  const page = pages[r.page];
  if (!page) { main.replaceChildren(h("p", {}, `No page ${r.page}.`)); return; }
  const pageKey = `${r.page}/${r.parts.join("/")}`;
  if (page.keep && currentPage === pageKey) { page.update(r); return; }
  if (pageCleanup) { pageCleanup(); pageCleanup = null; }
  currentPage = pageKey;
  const view = page(r);
  main.replaceChildren(...[view].flat());
}

function renderWho() {
  const who = document.getElementById("who");
  const s = model.session;
  if (!s) return;
  const items = [];
  if (s.principal) {
    items.push(h("span", { id: "principal", title: s.via === "certificate" ? "by its client certificate" : "" }, s.principal));
    if (s.via !== "certificate") items.push(h("button", { id: "logout", onclick: logout }, "Log out"));
  } else if (s.login_possible) {
    items.push(h("a", { href: "#/login", id: "login-link" }, "Log in"));
  }
  who.replaceChildren(...items);
}

function loginForm() {
  const principal = h("input", { name: "principal", id: "login-principal", autocomplete: "username", required: true });
  const secret = h("input", { name: "secret", id: "login-secret", type: "password", autocomplete: "current-password", required: true });
  const error = h("div", { class: "muted", id: "login-error" });
  const form = h("form", { class: "login", id: "login-form", onsubmit: async (e) => {
    e.preventDefault();
    try {
      model.session = await post("/api/login", { principal: principal.value, secret: secret.value });
      secret.value = "";
      fetchHistory();
      currentPage = null;
      window.location.hash = "#/";
      connect();
      render();
    } catch (err) { error.textContent = err.message; secret.value = ""; }
  } },
  h("h1", {}, "Log in"),
  h("label", {}, "Principal", h("br"), principal),
  h("label", {}, "Secret", h("br"), secret),
  h("button", { type: "submit", id: "login-submit" }, "Log in"), error);
  return form;
}

async function logout() {
  model.session = await post("/api/logout", {});
  if (events) events.close();
  currentPage = null;
  window.location.hash = "#/";
  if (!model.session.login_required) connect();
  render();
}

// Tasks matching a filter ({state, framework_id, agent_id, task_id, active}): from the
// model when it holds every task, else one page fetched with GetTasks (again at most every
// REMOTE_SECONDS while tasks change). null while a fetch is on its way.
const REMOTE_SECONDS = 2;
const remote = { key: null, version: -1, at: 0, tasks: null, pending: false };

function tasksFor(filter) {
  if (model.full) {
    const pool = filter.active ? [...model.tasks.values()] : [...model.tasks.values(), ...model.completed.values()];
    return pool.filter((t) => (!filter.state || t.state === filter.state)
      && (!filter.framework_id || t.framework_id === filter.framework_id)
      && (!filter.agent_id || t.agent_id === filter.agent_id)
      && (!filter.task_id || t.task_id === filter.task_id));
  }
  const k = JSON.stringify(filter);
  const now = Date.now() / 1000;
  if (remote.key !== k) { remote.key = k; remote.tasks = null; remote.version = -1; remote.at = 0; }
  const stale = remote.version !== model.remoteVersion && now - remote.at >= REMOTE_SECONDS;
  if (stale && !remote.pending) {
    remote.pending = true;
    const version = model.remoteVersion;
    const states = filter.state ? [filter.state] : (filter.active ? STATES.filter((x) => !TERMINAL.has(x)) : []);
    const query = new URLSearchParams({ include_completed: filter.active ? "0" : "1", limit: "1000" });
    if (states.length) query.set("state", states.join(","));
    for (const name of ["framework_id", "agent_id", "task_id"]) if (filter[name]) query.set(name, filter[name]);
    api(`/api/tasks?${query}`).then((answer) => {
      if (remote.key === k) { remote.tasks = answer.tasks || []; remote.total = answer.total || 0; remote.version = version; remote.at = Date.now() / 1000; }
    }).catch((e) => notice(e.message)).finally(() => { remote.pending = false; changed(); });
  } else if (remote.version !== model.remoteVersion && !remote.pending) {
    setTimeout(changed, REMOTE_SECONDS * 1000);
  }
  return remote.tasks;
}

function loadingOr(tasks, view) { return tasks === null ? h("p", { class: "muted" }, "Loading tasks…") : view(tasks); }

function table(columns, rows, attrs) {
  return h("table", attrs || {},
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : "" }, c.title)))),
    h("tbody", {}, rows));
}

function cell(value, num) { return h("td", { class: num ? "num" : "" }, value); }

// ------------------------------------------------------------------ overview

function totals() {
  const total = {}, used = {};
  for (const a of model.agents.values()) {
    for (const [n, v] of Object.entries(scalars(a.agent_info.resources))) total[n] = (total[n] || 0) + v;
    for (const [n, v] of Object.entries(scalars(a.used_resources))) used[n] = (used[n] || 0) + v;
  }
  return { total, used };
}

// The chart's samples come from the master (it keeps the last hour, one every
// `interval` seconds): all of them when the page opens, then only the newer ones.
let historyPending = false;

async function fetchHistory() {
  if (historyPending || !model.session || (model.session.login_required && !model.session.principal)) return;
  historyPending = true;
  try {
    const last = model.samples.length ? model.samples[model.samples.length - 1].t : 0;
    const answer = await api(`/api/history?since=${last}`);
    model.samples.push(...(answer.samples || []));
    const now = Date.now() / 1000;
    while (model.samples.length && model.samples[0].t < now - CHART_SECONDS) model.samples.shift();
    if (route().page === "overview") render();
  } catch (e) { /* the page shows the error of its own calls */ }
  finally { historyPending = false; }
}

function polyline(svg, cls, points) {
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("class", cls);
  line.setAttribute("points", points.join(" "));
  svg.append(line);
}

function chart() {
  const width = 600, height = 120, now = Date.now() / 1000;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("id", "chart");
  svg.setAttribute("width", width); svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const x = (t) => Math.max(0, ((t - (now - CHART_SECONDS)) / CHART_SECONDS) * width).toFixed(1);
  const y = (v) => (height - 4 - v * (height - 8)).toFixed(1);
  const samples = model.samples;
  const top = Math.max(1, ...samples.map((s) => Math.max(s.launched, s.ended)));
  polyline(svg, "cpus", samples.map((s) => `${x(s.t)},${y(s.cpus)}`));
  polyline(svg, "mem", samples.map((s) => `${x(s.t)},${y(s.mem)}`));
  polyline(svg, "rate", samples.slice(1).map((s) => `${x(s.t)},${y(s.launched / top)}`));
  polyline(svg, "ended", samples.slice(1).map((s) => `${x(s.t)},${y(s.ended / top)}`));
  const first = samples.length ? samples[0].t : now;
  const span = Math.round((now - first) / 60);
  return h("div", {}, svg, h("div", { class: "legend" },
    h("span", { class: "cpus" }, "— cpus allocated"),
    h("span", { class: "mem" }, "— mem allocated (0–100 %)"),
    h("span", { class: "rate" }, "— tasks launched/s"),
    h("span", { class: "ended" }, `— tasks ended/s (top ${top.toFixed(1)})`),
    h("span", { class: "muted", id: "chart-span" }, `${samples.length} samples, the last ${span} min (of at most 60)`)));
}

pages.overview = function () {
  const { total, used } = totals();
  const byState = model.counts;
  const active = Object.entries(byState).filter(([s]) => !TERMINAL.has(s)).reduce((n, [, c]) => n + c, 0);
  const draining = [...model.agents.values()].filter((a) => a.drain_state && a.drain_state !== "NOT_DRAINING").length;
  const resourceCards = ["cpus", "mem", "disk", "gpus"].filter((n) => total[n]).map((n) => {
    const share = total[n] ? Math.min(1, (used[n] || 0) / total[n]) : 0;
    const bar = h("span", {});
    bar.style.width = `${(share * 100).toFixed(1)}%`;
    return h("div", { class: "card", id: `resource-${n}` },
      h("div", { class: "label" }, `${n} used / total`),
      h("div", { class: "value" }, `${fmt(n, used[n] || 0)} / ${fmt(n, total[n])}`),
      h("div", { class: "bar" }, bar));
  });
  const card = (id, label, value) => h("div", { class: "card", id }, h("div", { class: "label" }, label), h("div", { class: "value" }, value));
  return [
    h("h1", {}, "Cluster"),
    h("div", { class: "cards" },
      card("count-agents", "agents", model.agents.size),
      card("count-unreachable", "unreachable agents", model.unreachable.length),
      card("count-draining", "draining or drained", draining),
      card("count-frameworks", "frameworks", model.frameworks.size),
      card("count-tasks", "active tasks", active),
      ...resourceCards),
    h("h2", {}, "Allocation and task rate"),
    chart(),
    h("h2", {}, "Tasks by state"),
    table([{ title: "state" }, { title: "tasks", num: true }],
      STATES.filter((s) => byState[s]).map((s) => h("tr", { "data-state": s },
        h("td", {}, h("a", { href: `#/tasks?state=${s}` }, stateTag(s))), cell(byState[s], true))),
      { id: "tasks-by-state" }),
    h("h2", {}, "Frameworks"),
    frameworksTable(),
  ];
};

// ------------------------------------------------------------------ agents

function drainState(a) { return a.drain_state || "NOT_DRAINING"; }

function agentButtons(a) {
  const id = a.agent_info.id;
  if (!model.permissions.drain_agents[id]) return h("span", { class: "muted" }, "");
  const state = drainState(a);
  const buttons = [];
  if (state === "NOT_DRAINING") {
    buttons.push(h("button", { class: "drain danger", onclick: () => {
      if (confirm(`Drain agent ${a.agent_info.hostname} (${id})? Its tasks are killed.`)) act("/api/agents/drain", { agent_id: id }, `drain ${id}`);
    } }, "Drain"));
    if (a.active) buttons.push(h("button", { class: "deactivate", onclick: () => act("/api/agents/deactivate", { agent_id: id }, `deactivate ${id}`) }, "Deactivate"));
  }
  if (state !== "NOT_DRAINING" || !a.active) {
    buttons.push(h("button", { class: "reactivate", onclick: () => act("/api/agents/reactivate", { agent_id: id }, `reactivate ${id}`) }, "Reactivate"));
  }
  return h("div", { class: "actions" }, buttons);
}

pages.agents = function (r) {
  if (r.parts.length) return agentPage(r.parts[0]);
  const rows = [...model.agents.values()].sort((a, b) => a.agent_info.hostname.localeCompare(b.agent_info.hostname) || a.agent_info.id.localeCompare(b.agent_info.id))
    .map((a) => h("tr", { "data-agent-id": a.agent_info.id },
      h("td", {}, h("a", { href: `#/agents/${encodeURIComponent(a.agent_info.id)}` }, a.agent_info.id)),
      cell(`${a.agent_info.hostname}:${a.agent_info.port}`),
      h("td", { class: "active-state" }, h("span", { class: `state ${a.active ? "active" : "inactive"}` }, a.active ? "active" : "inactive")),
      h("td", { class: "drain-state" }, stateTag(drainState(a))),
      cell(resourceText(a.agent_info.resources)),
      cell(resourceText(a.used_resources)),
      cell(a.active_tasks || 0, true),
      cell(Object.entries(a.agent_info.attributes || {}).map(([k, v]) => `${k}:${v}`).join(", ")),
      h("td", {}, agentButtons(a))));
  const unreachable = model.unreachable.length
    ? [h("h2", {}, "Unreachable agents"), table([{ title: "id" }, { title: "host" }],
      model.unreachable.map((u) => h("tr", {}, cell(u.id || ""), cell(u.hostname || ""))))]
    : [];
  return [h("h1", {}, `Agents (${model.agents.size})`),
    table([{ title: "id" }, { title: "address" }, { title: "offers" }, { title: "maintenance" }, { title: "resources" },
      { title: "used" }, { title: "tasks", num: true }, { title: "attributes" }, { title: "" }], rows, { id: "agents" }),
    ...unreachable];
};

function agentPage(id) {
  const a = model.agents.get(id);
  if (!a) return h("p", {}, `Agent ${id} is not connected to this master (or not yet loaded).`);
  const tasks = tasksFor({ agent_id: id, active: true });
  return [
    h("h1", {}, `Agent ${a.agent_info.hostname}`),
    h("dl", { class: "props", id: "agent-props" },
      h("dt", {}, "id"), h("dd", {}, id),
      h("dt", {}, "address"), h("dd", {}, `${a.agent_info.hostname}:${a.agent_info.port}`),
      h("dt", {}, "version"), h("dd", {}, a.agent_info.version || ""),
      h("dt", {}, "registered"), h("dd", {}, when(a.registered_time)),
      h("dt", {}, "offers"), h("dd", {}, a.active ? "active" : "inactive"),
      h("dt", {}, "maintenance"), h("dd", { class: "drain-state" }, stateTag(drainState(a)),
        a.drain_started_time ? ` since ${when(a.drain_started_time)}` : ""),
      h("dt", {}, "resources"), h("dd", {}, resourceText(a.agent_info.resources)),
      h("dt", {}, "used"), h("dd", {}, resourceText(a.used_resources)),
      h("dt", {}, "offered"), h("dd", {}, resourceText(a.offered_resources)),
      h("dt", {}, "attributes"), h("dd", {}, Object.entries(a.agent_info.attributes || {}).map(([k, v]) => `${k}:${v}`).join(", ") || "—"),
      h("dt", {}, "actions"), h("dd", { "data-agent-id": id }, agentButtons(a))),
    h("h2", {}, `Tasks (${tasks === null ? "…" : tasks.length})`),
    loadingOr(tasks, tasksTable),
  ];
}

// ------------------------------------------------------------------ frameworks

function frameworksTable() {
  const rows = [...model.frameworks.values()].map((f) => {
    const info = f.framework_info;
    const teardown = model.permissions.teardown_frameworks[info.id]
      ? h("button", { class: "teardown danger", onclick: () => {
        if (confirm(`Tear down framework ${info.name} (${info.id})? All its tasks are killed.`)) act("/api/frameworks/teardown", { framework_id: info.id }, `teardown ${info.name}`);
      } }, "Teardown")
      : "";
    return h("tr", { "data-framework-id": info.id },
      h("td", {}, h("a", { href: `#/frameworks/${encodeURIComponent(info.id)}` }, info.name)),
      cell(info.id), cell((info.roles || ["*"]).join(", ")), cell(info.principal || ""),
      h("td", {}, h("span", { class: `state ${f.connected ? "active" : "inactive"}` }, f.connected ? "connected" : "disconnected")),
      cell(f.active_tasks || 0, true), cell(resourceText(f.used_resources)), h("td", {}, teardown));
  });
  return table([{ title: "name" }, { title: "id" }, { title: "roles" }, { title: "principal" }, { title: "state" },
    { title: "tasks", num: true }, { title: "used" }, { title: "" }], rows, { id: "frameworks" });
}

pages.frameworks = function (r) {
  if (r.parts.length) {
    const f = model.frameworks.get(r.parts[0]);
    if (!f) return h("p", {}, `Framework ${r.parts[0]} is not registered with this master.`);
    const info = f.framework_info;
    const all = tasksFor({ framework_id: info.id }) || [];
    const tasks = all.filter((t) => !TERMINAL.has(t.state));
    const done = all.filter((t) => TERMINAL.has(t.state));
    return [h("h1", {}, `Framework ${info.name}`),
      h("dl", { class: "props" },
        h("dt", {}, "id"), h("dd", {}, info.id), h("dt", {}, "user"), h("dd", {}, info.user || ""),
        h("dt", {}, "roles"), h("dd", {}, (info.roles || ["*"]).join(", ")),
        h("dt", {}, "principal"), h("dd", {}, info.principal || ""),
        h("dt", {}, "registered"), h("dd", {}, when(f.registered_time)),
        h("dt", {}, "used"), h("dd", {}, resourceText(f.used_resources)),
        h("dt", {}, "offered"), h("dd", {}, resourceText(f.offered_resources)),
        h("dt", {}, "web UI"), h("dd", {}, info.webui_url ? h("a", { href: info.webui_url }, info.webui_url) : "—")),
      h("h2", {}, `Active tasks (${tasks.length})`), tasksTable(tasks),
      h("h2", {}, `Completed tasks (${done.length})`), tasksTable(done.slice(-200))];
  }
  return [h("h1", {}, `Frameworks (${model.frameworks.size})`), frameworksTable()];
};

// ------------------------------------------------------------------ tasks

function tasksTable(tasks) {
  const rows = tasks.slice(0, 1000).map((t) => h("tr", { "data-task-id": t.task_id, "data-framework-id": t.framework_id },
    h("td", {}, h("a", { href: `#/tasks/${encodeURIComponent(t.framework_id)}/${encodeURIComponent(t.task_id)}` }, t.task_id)),
    cell(t.name || ""), h("td", { class: "task-state" }, stateTag(t.state)),
    cell(frameworkName(t.framework_id)), cell(agentName(t.agent_id)), cell(t.role || ""),
    cell(resourceText(t.resources)),
    h("td", {}, h("a", { class: "sandbox-link", href: `#/sandbox/${encodeURIComponent(t.framework_id)}/${encodeURIComponent(t.task_id)}` }, "sandbox"))));
  const more = tasks.length > 1000 ? h("p", { class: "muted" }, `${tasks.length - 1000} more not shown; filter to narrow.`) : "";
  return [table([{ title: "id" }, { title: "name" }, { title: "state" }, { title: "framework" }, { title: "agent" },
    { title: "role" }, { title: "resources" }, { title: "" }], rows, { class: "tasks" }), more];
}

function frameworkName(id) { const f = model.frameworks.get(id); return f ? f.framework_info.name : id; }
function agentName(id) { const a = model.agents.get(id); return a ? a.agent_info.hostname + ":" + a.agent_info.port : id; }

function labelText(t) { return (t.labels || []).map((l) => `${l.key}=${l.value}`).join(" "); }

// The list keeps its filter controls across live updates (only the results are redrawn),
// so typing in the search box is never interrupted.
const tasksView = { title: null, list: null, controls: {} };

pages.tasks = function (r) {
  if (r.parts.length >= 2) return taskPage(r.parts[0], r.parts.slice(1).join("/"));
  const q = r.query;
  const setQuery = (name, value) => {
    const next = new URLSearchParams(route().query);
    if (value) next.set(name, value); else next.delete(name);
    window.location.hash = `#/tasks?${next.toString()}`;
  };
  const select = (name, options) => h("select", { id: `filter-${name}`, onchange: (e) => setQuery(name, e.target.value) },
    h("option", { value: "" }, `any ${name}`),
    options.map(([value, text]) => h("option", { value, selected: q.get(name) === value }, text)));
  tasksView.controls = {
    state: select("state", STATES.map((x) => [x, short(x)])),
    framework: select("framework", [...model.frameworks.values()].map((f) => [f.framework_info.id, f.framework_info.name])),
    agent: select("agent", [...model.agents.values()].map((a) => [a.agent_info.id, `${a.agent_info.hostname}:${a.agent_info.port}`])),
    q: h("input", { id: "filter-search", placeholder: "id, name or label", value: q.get("q") || "",
      oninput: (e) => setQuery("q", e.target.value) }),
  };
  tasksView.title = h("h1", {});
  tasksView.list = h("div", { id: "task-list" });
  fillTasks(r);
  const c = tasksView.controls;
  return [tasksView.title, h("div", { class: "filters" }, c.state, c.framework, c.agent, c.q), tasksView.list];
};
pages.tasks.keep = true;
pages.tasks.update = function (r) {
  if (r.parts.length >= 2) { document.getElementById("main").replaceChildren(...[taskPage(r.parts[0], r.parts.slice(1).join("/"))].flat()); return; }
  for (const [name, control] of Object.entries(tasksView.controls)) {
    const want = r.query.get(name) || "";
    if (control.value !== want && document.activeElement !== control) control.value = want;
  }
  fillTasks(r);
};

function fillTasks(r) {
  const q = r.query;
  const text = (q.get("q") || "").toLowerCase();
  const all = Object.values(model.counts).reduce((n, c) => n + c, 0);
  const matching = tasksFor({ state: q.get("state") || "", framework_id: q.get("framework") || "", agent_id: q.get("agent") || "" });
  const tasks = matching === null ? null : matching.filter((t) => !text || t.task_id.toLowerCase().includes(text)
    || (t.name || "").toLowerCase().includes(text) || labelText(t).toLowerCase().includes(text));
  tasksView.title.textContent = `Tasks (${tasks === null ? "…" : tasks.length} of ${all})`;
  tasksView.list.replaceChildren(...[loadingOr(tasks, tasksTable)].flat());
}

function taskPage(frameworkId, taskId) {
  const k = key(frameworkId, taskId);
  const found = tasksFor({ framework_id: frameworkId, task_id: taskId });
  if (found === null) return h("p", { class: "muted" }, "Loading…");
  const t = found[0];
  if (!t) return h("p", {}, `Task ${taskId} of framework ${frameworkId} is unknown to this master.`);
  const history = model.history.get(k) || (t.status ? [t.status] : []);
  const command = t.command ? (t.command.shell || (t.command.argv || []).join(" ")) : "";
  return [h("h1", {}, `Task ${taskId}`),
    h("dl", { class: "props", id: "task-props" },
      h("dt", {}, "state"), h("dd", { class: "task-state" }, stateTag(t.state)),
      h("dt", {}, "name"), h("dd", {}, t.name || ""),
      h("dt", {}, "framework"), h("dd", {}, h("a", { href: `#/frameworks/${encodeURIComponent(frameworkId)}` }, frameworkName(frameworkId))),
      h("dt", {}, "agent"), h("dd", {}, h("a", { href: `#/agents/${encodeURIComponent(t.agent_id)}` }, agentName(t.agent_id))),
      h("dt", {}, "role"), h("dd", {}, t.role || ""),
      h("dt", {}, "resources"), h("dd", {}, resourceText(t.resources)),
      h("dt", {}, "command"), h("dd", {}, h("code", {}, command)),
      h("dt", {}, "labels"), h("dd", {}, labelText(t) || "—"),
      h("dt", {}, "sandbox"), h("dd", {}, h("a", { class: "sandbox-link", href: `#/sandbox/${encodeURIComponent(frameworkId)}/${encodeURIComponent(taskId)}` }, "browse files, follow the log"))),
    h("h2", {}, "Status history"),
    h("p", { class: "muted" }, "The newest status the master had when this page loaded, then every update since."),
    table([{ title: "time" }, { title: "state" }, { title: "reason" }, { title: "source" }, { title: "message" }, { title: "healthy" }],
      history.slice().reverse().map((s) => h("tr", {}, cell(when(s.timestamp)), h("td", {}, stateTag(s.state)),
        cell((s.reason || "").replace(/^REASON_/, "")), cell((s.source || "").replace(/^SOURCE_/, "")), cell(s.message || ""),
        cell(s.healthy === undefined ? "" : String(s.healthy))))
      , { id: "status-history" })];
}

// ------------------------------------------------------------------ sandbox

pages.sandbox = function (r) {
  const [frameworkId, ...rest] = r.parts;
  const taskId = rest.join("/");
  const params = `framework_id=${encodeURIComponent(frameworkId)}&task_id=${encodeURIComponent(taskId)}`;
  let file = r.query.get("path") || "stdout";
  const listing = h("div", { id: "sandbox-files" }, h("p", { class: "muted" }, "Listing…"));
  const log = h("pre", { class: "log", id: "log" });
  const status = h("span", { class: "muted", id: "log-status" });
  const follow = h("input", { type: "checkbox", id: "follow", checked: true });
  let offset = 0, timer = null, stopped = false;

  async function list(dir) {
    try {
      const answer = await api(`/api/files?${params}&path=${encodeURIComponent(dir || "")}`);
      const rows = (answer.files || []).map((f) => h("tr", {},
        h("td", {}, f.is_dir
          ? h("a", { href: "#", onclick: (e) => { e.preventDefault(); list(f.path); } }, f.path + "/")
          : h("a", { href: "#", class: "file", "data-path": f.path, onclick: (e) => { e.preventDefault(); open(f.path); } }, f.path)),
        cell(f.is_dir ? "" : String(f.size || 0), true), cell(when(f.mtime))));
      listing.replaceChildren(table([{ title: "file" }, { title: "bytes", num: true }, { title: "modified" }], rows));
    } catch (e) { listing.replaceChildren(h("p", { class: "notice" }, e.message)); }
  }

  async function tail() {
    timer = null;
    if (stopped) return;
    try {
      const answer = await api(`/api/file?${params}&path=${encodeURIComponent(file)}&offset=${offset}&length=65536`);
      if (answer.data) {
        const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
        log.append(document.createTextNode(answer.data));
        if (atBottom || follow.checked) log.scrollTop = log.scrollHeight;
      }
      offset = answer.next_offset;
      status.textContent = `${file}: ${answer.size} bytes${answer.task_terminal ? ", the task has ended" : ""}`;
      const more = answer.next_offset < answer.size;
      if (!stopped && (more || (follow.checked && !answer.task_terminal))) timer = setTimeout(tail, more ? 0 : 1000);
    } catch (e) { status.textContent = e.message; }
  }

  function open(path) {
    file = path; offset = 0; log.textContent = "";
    if (timer) clearTimeout(timer);
    tail();
  }

  follow.addEventListener("change", () => { if (follow.checked && !timer) tail(); });
  pageCleanup = () => { stopped = true; if (timer) clearTimeout(timer); };
  list("");
  open(file);
  return [h("h1", {}, `Sandbox of ${taskId}`),
    h("p", {}, h("a", { href: `#/tasks/${encodeURIComponent(frameworkId)}/${encodeURIComponent(taskId)}` }, "task details")),
    listing,
    h("div", { class: "filters" },
      h("button", { onclick: () => open("stdout"), id: "show-stdout" }, "stdout"),
      h("button", { onclick: () => open("stderr"), id: "show-stderr" }, "stderr"),
      h("label", {}, follow, " follow"), status),
    log];
};
pages.sandbox.keep = true;
pages.sandbox.update = function () { /* the log follows on its own; the model does not change it */ };

// ------------------------------------------------------------------ roles

// Roles are read when the page opens (GetRoles), then again at most every ROLES_SECONDS
// while events arrive (allocation and quota consumption follow the tasks), and every
// ROLES_IDLE_SECONDS when nothing happens (quota and weights change without events).
const ROLES_SECONDS = 2, ROLES_IDLE_SECONDS = 10;
const rolesView = { holder: null, answer: null, permissions: null, at: 0, pending: false, timer: null };

pages.roles = function () {
  rolesView.holder = h("div", { id: "roles" }, h("p", { class: "muted" }, "Loading…"));
  rolesView.answer = null;
  fetchRoles();
  rolesView.timer = setInterval(fetchRoles, ROLES_IDLE_SECONDS * 1000);
  pageCleanup = () => { clearInterval(rolesView.timer); rolesView.timer = null; };
  return [h("h1", {}, "Roles, weights and quota"), rolesView.holder,
    h("p", { class: "muted" }, "Quota (Mesos 1.9 style): the guarantee is kept free for the role, the limit caps what it is "
      + "offered; consumed counts the role and its children. Set it with `mesospy quota set`.")];
};

function fetchRoles() {
  if (rolesView.pending) return;
  rolesView.pending = true;
  rolesView.at = Date.now() / 1000;
  api("/api/roles").then((answer) => { rolesView.answer = answer; drawRoles(); })
    .catch((e) => rolesView.holder.replaceChildren(h("p", { class: "notice" }, e.message)))
    .finally(() => { rolesView.pending = false; });
}

function quotaText(amounts) {
  const entries = Object.entries(amounts || {}).sort(([a], [b]) => a.localeCompare(b));
  return entries.map(([n, v]) => `${n} ${fmt(n, v)}`).join(", ") || "—";
}

// What the role consumes against each limited resource, as "cpus 1.5 / 4" with a bar.
function consumedCell(role) {
  const consumed = scalars(role.consumed);
  const limits = (role.quota && role.quota.limits) || {};
  const names = Object.keys(limits).length ? Object.keys(limits).sort() : Object.keys(consumed).sort();
  if (!names.length) return h("td", { class: "consumed" }, "—");
  return h("td", { class: "consumed" }, names.map((n) => {
    const used = consumed[n] || 0;
    if (limits[n] === undefined) return h("div", {}, `${n} ${fmt(n, used)}`);
    const bar = h("span", {});
    bar.style.width = `${Math.min(100, (100 * used) / Math.max(limits[n], 1e-9)).toFixed(1)}%`;
    return h("div", { "data-resource": n }, `${n} ${fmt(n, used)} / ${fmt(n, limits[n])}`, h("div", { class: "bar small" }, bar));
  }));
}

function drawRoles() {
  const answer = rolesView.answer;
  if (!answer) return;
  rolesView.permissions = model.permissions;
  rolesView.holder.replaceChildren(table([{ title: "role" }, { title: "weight", num: true }, { title: "frameworks", num: true },
    { title: "tasks", num: true }, { title: "allocated" }, { title: "offered" }, { title: "quota guarantee" },
    { title: "quota limit" }, { title: "consumed" }],
    (answer.roles || []).map((role) => h("tr", { "data-role": role.name }, cell(role.name), h("td", { class: "num weight-cell" }, weightCell(role)),
      cell((role.frameworks || []).length, true), cell(role.active_tasks || 0, true),
      cell(resourceText(role.allocated)), cell(resourceText(role.offered)),
      h("td", { class: "guarantee" }, quotaText(role.quota && role.quota.guarantees)),
      h("td", { class: "limit" }, quotaText(role.quota && role.quota.limits)),
      consumedCell(role)))));
}

function weightCell(role) {
  const weight = role.weight === undefined ? 1 : role.weight;
  if (!(model.permissions.update_weights || {})[role.name]) return String(weight);
  const input = h("input", { class: "weight", type: "number", min: "0.001", step: "any", value: weight });
  const set = h("button", { class: "set-weight", onclick: async () => {
    await act("/api/weights", { role: role.name, weight: input.value }, `weight of ${role.name}`);
    currentPage = null;  // read the roles again
    render();
  } }, "Set");
  return h("span", { class: "actions" }, input, set);
}
pages.roles.keep = true;
pages.roles.update = function () {
  if (Date.now() / 1000 - rolesView.at >= ROLES_SECONDS) fetchRoles();
  else if (rolesView.permissions !== model.permissions) drawRoles();
};

// ------------------------------------------------------------------ frameworks' own pages

// The jobs and apps pages show what the batch and service frameworks' APIs answer (the
// dashboard calls them for the page). They are read again at most every LIVE_SECONDS while
// the master's events show tasks changing, and every IDLE_SECONDS otherwise (a schedule's
// next run moves on without any event).
const LIVE_SECONDS = 1, IDLE_SECONDS = 5;

function livePage(holder, paths, draw) {
  const view = { at: 0, pending: false, version: -1, answers: null };
  async function fetchAll() {
    if (view.pending) return;
    view.pending = true;
    view.at = Date.now() / 1000;
    view.version = model.remoteVersion;
    try {
      view.answers = await Promise.all(paths.map((p) => api(p)));
      // Not while the user types into a field of the page (e.g. the instances to scale to).
      const typing = holder.contains(document.activeElement) && document.activeElement.tagName === "INPUT";
      if (!typing) holder.replaceChildren(...[draw(...view.answers)].flat());
    } catch (e) {
      holder.replaceChildren(h("p", { class: "notice", id: "framework-error" }, e.message));
    } finally { view.pending = false; }
  }
  const timer = setInterval(fetchAll, IDLE_SECONDS * 1000);
  pageCleanup = () => clearInterval(timer);
  fetchAll();
  view.update = () => {
    if (model.remoteVersion !== view.version && Date.now() / 1000 - view.at >= LIVE_SECONDS) fetchAll();
    else if (model.remoteVersion !== view.version) setTimeout(() => changed(), LIVE_SECONDS * 1000);
  };
  view.refresh = fetchAll;
  return view;
}

let framesView = null;

async function frameworkAct(path, body, what) {
  await act(path, body, what);
  if (framesView) framesView.refresh();
}

const ago = (seconds) => (seconds ? when(seconds) : "—");
const duration = (a, b) => (a && b ? `${(b - a).toFixed(1)} s` : "");
const runState = (state) => h("span", { class: `state run-${state}` }, state || "");

// ------------------------------------------------------------------ batch jobs

function jobButtons(job) {
  const suspended = !!job.suspended;
  return h("div", { class: "actions" },
    h("button", { class: "run-now", onclick: () => frameworkAct("/api/batch/run", { job: job.name }, `run ${job.name}`) }, "Run now"),
    h("button", { class: suspended ? "resume" : "suspend",
      onclick: () => frameworkAct("/api/batch/suspend", { job: job.name, suspended: suspended ? "false" : "true" },
        `${suspended ? "resume" : "suspend"} ${job.name}`) }, suspended ? "Resume" : "Suspend"));
}

function jobsTable(answer) {
  const jobs = (answer.jobs || []).slice().sort((a, b) => a.name.localeCompare(b.name));
  if (!jobs.length) return h("p", { class: "muted" }, "No jobs. Submit one with `mesospy job submit FILE`.");
  return table([{ title: "job" }, { title: "schedule" }, { title: "next run" }, { title: "state" }, { title: "runs", num: true },
    { title: "last run" }, { title: "" }],
  jobs.map((j) => h("tr", { "data-job": j.name },
    h("td", {}, h("a", { href: `#/jobs/${encodeURIComponent(j.name)}` }, j.name)),
    cell(j.schedule || (j.parents || []).length ? j.schedule || `after ${(j.parents || []).join(", ")}` : "manual"),
    cell(j.suspended ? "—" : ago(j.next_tick)),
    h("td", { class: "job-state" }, h("span", { class: `state ${j.suspended ? "inactive" : "active"}` }, j.suspended ? "suspended" : "active")),
    cell(`${j.active_runs || 0} active / ${j.total_runs || 0}`, true),
    h("td", { class: "last-run" }, j.last_run ? [runState(j.last_run.state), " ", when(j.last_run.finished || j.last_run.created)] : "—"),
    h("td", {}, jobButtons(j)))), { id: "jobs" });
}

function instancesTable(run) {
  return table([{ title: "#", num: true }, { title: "state" }, { title: "attempt", num: true }, { title: "exit", num: true },
    { title: "task" }, { title: "agent" }, { title: "took" }, { title: "message" }],
  (run.instances || []).map((i) => h("tr", { "data-instance": i.index || 0 },
    cell(i.index || 0, true), h("td", { class: "instance-state" }, runState(i.state)), cell(i.attempt || 0, true),
    cell(i.exit_code === undefined ? "" : i.exit_code, true),
    h("td", {}, i.task_id ? h("a", { href: `#/sandbox/${encodeURIComponent(run.framework_id)}/${encodeURIComponent(i.task_id)}` }, i.task_id) : ""),
    cell(i.agent_id ? agentName(i.agent_id) : ""), cell(duration(i.started, i.finished)),
    cell(i.message || i.unplaced || ""))), { class: "instances" });
}

function runsList(answer) {
  const runs = (answer.runs || []).slice().sort((a, b) => (b.created || 0) - (a.created || 0));
  if (!runs.length) return h("p", { class: "muted" }, "No runs yet.");
  return runs.slice(0, 50).map((r) => h("div", { class: "run", "data-run": r.id },
    h("h3", {}, runState(r.state), ` ${r.id} `, h("span", { class: "muted" },
      `${r.trigger || ""}, created ${when(r.created)}${r.finished ? `, took ${duration(r.started || r.created, r.finished)}` : ""}`
      + `${r.exit_code === undefined ? "" : `, exit ${r.exit_code}`}${r.message ? ` — ${r.message}` : ""}`)),
    instancesTable(r)));
}

pages.jobs = function (r) {
  const holder = h("div", { id: "jobs-page" }, h("p", { class: "muted" }, "Loading…"));
  if (r.parts.length) {
    const name = r.parts.join("/");
    const q = encodeURIComponent(name);
    framesView = livePage(holder, [`/api/batch/jobs`, `/api/batch/runs?job=${q}`], (jobs, runs) => {
      const job = (jobs.jobs || []).find((j) => j.name === name);
      if (!job) return h("p", {}, `The batch framework has no job ${name}.`);
      return [h("dl", { class: "props", id: "job-props" },
        h("dt", {}, "schedule"), h("dd", {}, job.schedule || "—"),
        h("dt", {}, "parents"), h("dd", {}, (job.parents || []).join(", ") || "—"),
        h("dt", {}, "next run"), h("dd", { id: "next-run" }, job.suspended ? "suspended" : ago(job.next_tick)),
        h("dt", {}, "runs"), h("dd", {}, `${job.active_runs || 0} active, ${job.total_runs || 0} in all`),
        h("dt", {}, "actions"), h("dd", { "data-job": job.name }, jobButtons(job))),
      h("h2", {}, "Runs, newest first"), h("div", { id: "runs" }, runsList(runs))];
    });
    return [h("h1", {}, `Job ${name}`), h("p", {}, h("a", { href: "#/jobs" }, "all jobs")), holder];
  }
  framesView = livePage(holder, ["/api/batch/jobs"], jobsTable);
  return [h("h1", {}, "Batch jobs"), holder];
};
pages.jobs.keep = true;
pages.jobs.update = function () { if (framesView) framesView.update(); };

// ------------------------------------------------------------------ service apps

function deploymentText(app) {
  const d = app.deployment;
  if (!d || !d.id) return "—";
  const wanted = app.instances || 0;
  const done = (app.instance_list || []).filter((i) => i.version === d.to_version && !i.killing && i.ready
    && (i.health === "healthy" || i.health === "none")).length;
  return `${d.kind} ${d.from_version ? `${d.from_version} → ` : ""}${d.to_version}: ${d.status}, ${done} of ${wanted} new instances available`
    + (d.message ? ` — ${d.message}` : "");
}

function appsTable(answer) {
  const apps = (answer.apps || []).slice().sort((a, b) => a.id.localeCompare(b.id));
  if (!apps.length) return h("p", { class: "muted" }, "No apps. Deploy one with `mesospy app deploy FILE`.");
  return table([{ title: "app" }, { title: "version" }, { title: "instances" }, { title: "deployment" }, { title: "VIP" }],
    apps.map((a) => h("tr", { "data-app": a.id },
      h("td", {}, h("a", { href: `#/apps/${encodeURIComponent(a.id)}` }, a.id)),
      cell(a.version || ""),
      cell(`${a.running || 0} running / ${a.instances || 0} wanted, ${a.healthy || 0} serving`),
      h("td", { class: "deployment" }, deploymentText(a)), cell(a.vip || "—"))), { id: "apps" });
}

function appPage(app, versions) {
  const scale = h("input", { id: "scale-instances", type: "number", min: "0", step: "1", value: app.instances || 0 });
  const framework = [...model.frameworks.values()].find((f) => f.framework_info.name === "mesospy-service");
  const frameworkId = framework ? framework.framework_info.id : "";
  const health = (i) => h("span", { class: `state health-${i.health}` }, i.health + (i.ready ? "" : ", not ready"));
  return [h("dl", { class: "props", id: "app-props" },
    h("dt", {}, "version"), h("dd", { id: "app-version" }, app.version || ""),
    h("dt", {}, "last healthy"), h("dd", {}, app.last_healthy_version || "—"),
    h("dt", {}, "instances"), h("dd", { id: "app-instances" }, `${app.running || 0} running, ${app.instances || 0} wanted, ${app.healthy || 0} serving (healthy, ready endpoints)`),
    h("dt", {}, "deployment"), h("dd", { id: "app-deployment" }, deploymentText(app)),
    h("dt", {}, "VIP"), h("dd", {}, app.vip || "—"),
    h("dt", {}, "notes"), h("dd", {}, (app.notes || []).join("; ") || "—"),
    h("dt", {}, "scale"), h("dd", { class: "actions" }, scale, h("button", { id: "scale", onclick: () =>
      frameworkAct("/api/service/scale", { app_id: app.id, instances: scale.value }, `scale ${app.id} to ${scale.value}`) }, "Scale"))),
  h("h2", {}, "Instances"),
  table([{ title: "task" }, { title: "version" }, { title: "state" }, { title: "health" }, { title: "host" }, { title: "ports" }, { title: "launched" }],
    (app.instance_list || []).map((i) => h("tr", { "data-task-id": i.task_id },
      h("td", {}, frameworkId ? h("a", { href: `#/tasks/${encodeURIComponent(frameworkId)}/${encodeURIComponent(i.task_id)}` }, i.task_id) : i.task_id),
      cell(i.version), cell(i.killing ? `killing (${i.kill_reason || ""})` : i.state), h("td", { class: "health" }, health(i)),
      cell(i.hostname || ""), cell((i.ports || []).join(", ")), cell(when(i.launched_at))))
    , { id: "instances" }),
  h("h2", {}, "Versions"),
  table([{ title: "version" }, { title: "created" }, { title: "" }, { title: "" }],
    (versions.versions || []).slice().reverse().map((v) => h("tr", { "data-version": v.version },
      cell(v.version), cell(when(v.created_at)),
      cell([v.current ? "current" : "", v.last_healthy ? "last healthy" : "", v.failed ? "failed, rolled back" : ""].filter(Boolean).join(", ")),
      h("td", {}, v.current ? "" : h("button", { class: "rollback", onclick: () => {
        if (confirm(`Roll ${app.id} back to version ${v.version}?`)) frameworkAct("/api/service/rollback", { app_id: app.id, version: v.version }, `roll ${app.id} back to ${v.version}`);
      } }, "Roll back to this")))), { id: "versions" })];
}

pages.apps = function (r) {
  const holder = h("div", { id: "apps-page" }, h("p", { class: "muted" }, "Loading…"));
  if (r.parts.length) {
    const id = r.parts.join("/");
    framesView = livePage(holder, ["/api/service/apps", `/api/service/versions?app_id=${encodeURIComponent(id)}`], (apps, versions) => {
      const app = (apps.apps || []).find((a) => a.id === id);
      return app ? appPage(app, versions) : h("p", {}, `The service framework has no app ${id}.`);
    });
    return [h("h1", {}, `App ${id}`), h("p", {}, h("a", { href: "#/apps" }, "all apps")), holder];
  }
  framesView = livePage(holder, ["/api/service/apps"], appsTable);
  return [h("h1", {}, "Service apps"), holder];
};
pages.apps.keep = true;
pages.apps.update = function () { if (framesView) framesView.update(); };

// ------------------------------------------------------------------ start

async function start() {
  try {
    model.session = await api("/api/session");
  } catch (e) {
    notice(e.message);
    return;
  }
  window.addEventListener("hashchange", render);
  render();
  if (!model.session.login_required || model.session.principal) connect();
  fetchHistory();
  setInterval(fetchHistory, SAMPLE_SECONDS * 1000);
}

document.addEventListener("DOMContentLoaded", start);

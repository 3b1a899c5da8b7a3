// The status page the agent serves at `/`: one self-contained HTML document (no external assets:
// many clusters reach no network) that pages through the jobs API (jobs_api.h) rather than
// reading the whole status: a search box and filters (namespace, team, sync state, health) that
// the agent applies, one page of rows at a time, and a per-job view (click a row, or open
// `#/job/<key>`). It polls every two seconds with If-None-Match, so an unchanged status costs a
// 304 without a body, and a changed one the page shown.
//
// It shows the agent's state as well as the jobs': a banner when the agent does not answer
// within 5 s (the rows are then the last ones read), a standby label when this replica is not
// the leader, the Ready condition when it is False, and error rows (a job with a last error, in
// red with its error). The filters and the page live in the URL (`#/?q=...&page=2`), so a view
// can be shared and survives a reload.
#ifndef JOBSYNC_AGENT_SERVER_STATUS_PAGE_H_
#define JOBSYNC_AGENT_SERVER_STATUS_PAGE_H_

namespace jobsync {

inline constexpr const char* kStatusPageHtml = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>jobsync</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1d2330; }
  h1 { font-size: 1.3em; margin: 0 0 .3em; }
  h2 { font-size: 1.1em; margin: 1.2em 0 .4em; }
  #summary, #counts { color: #4a5568; margin-bottom: .4em; }
  #standby { background: #ebf4ff; color: #2b6cb0; border-radius: 3px; padding: 0 .4em;
             font-size: .8em; vertical-align: middle; display: none; }
  #stale, #notready { background: #fff5f5; color: #c53030; border: 1px solid #feb2b2;
                      padding: .4em .7em; margin: .4em 0; display: none; }
  #filters { display: flex; flex-wrap: wrap; gap: .5em; margin: .8em 0; align-items: center; }
  #filters input, #filters select, button { font: inherit; padding: .2em .4em; }
  #q { min-width: 16em; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid #e2e8f0;
           vertical-align: top; }
  th { background: #f7fafc; font-weight: 600; }
  #jobs tr { cursor: pointer; } #jobs tr:hover { background: #f7fafc; }
  #jobs tr.error-row { background: #fff5f5; }
  .Synced { color: #276749; } .OutOfSync, .Drifted, .Unknown { color: #975a16; }
  .Error { color: #c53030; } .Kept { color: #2b6cb0; }
  .Healthy, .Succeeded { color: #276749; } .Degraded, .Failed, .Missing { color: #c53030; }
  .Progressing, .Suspended, .Queued { color: #2b6cb0; }
  .error { color: #c53030; font-size: .92em; }
  #pager { margin: .6em 0; color: #4a5568; }
  code, pre { font-family: ui-monospace, monospace; font-size: .92em; }
  pre { background: #f7fafc; padding: .8em; overflow-x: auto; }
  #job { display: none; }
  #job dl { display: grid; grid-template-columns: max-content 1fr; gap: .3em 1em; }
  #job dt { font-weight: 600; } #job dd { margin: 0; }
</style>
</head>
<body>
<h1>jobsync <span id="instance"></span> <span id="standby">standby</span></h1>
<div id="stale"></div>
<div id="notready"></div>
<div id="summary">loading…</div>
<div id="counts"></div>
<div id="list">
  <div id="filters">
    <input id="q" type="search" placeholder="search job names" aria-label="search job names">
    <select id="namespace" aria-label="namespace"><option value="">all namespaces</option></select>
    <select id="team" aria-label="team"><option value="">all teams</option></select>
    <select id="sync" aria-label="sync state"><option value="">any sync state</option></select>
    <select id="health" aria-label="health"><option value="">any health</option></select>
  </div>
  <table>
    <thead><tr><th>Job</th><th>Backend</th><th>Namespace</th><th>Sync</th><th>Health</th>
    <th>Replicas live / desired</th><th>Applied commit</th><th>Last error</th></tr></thead>
    <tbody id="jobs"></tbody>
  </table>
  <div id="pager"><button id="prev">‹ previous</button> <span id="pageinfo"></span>
    <button id="next">next ›</button></div>
  <h2>Last plan</h2>
  <pre id="plan"></pre>
</div>
<div id="job">
  <p><a href="#/" id="back">‹ all jobs</a></p>
  <h2 id="jobkey"></h2>
  <dl id="jobfields"></dl>
  <h2>Last plan step</h2>
  <pre id="jobstep"></pre>
  <h2>Applied spec</h2>
  <pre id="jobspec"></pre>
</div>
<script>
"use strict";
const $ = id => document.getElementById(id);
const FILTERS = ["q", "namespace", "team", "sync", "health"];
// seq numbers the refreshes: an answer that a later refresh overtook is dropped.
const state = {page: 1, etag: "", url: "", summary: null, lastOk: 0, seq: 0};

function text(tag, value, cls) {
  const node = document.createElement(tag);
  node.textContent = value == null ? "" : String(value);
  if (cls) node.className = cls;
  return node;
}
function replicas(map) {
  const keys = Object.keys(map || {});
  return keys.length ? keys.map(k => k + "=" + map[k]).join(", ") : "-";
}
function commitText(job) {
  const commit = (job.appliedRevision || "").slice(0, 7);
  return commit ? commit + " " + (job.appliedAuthor || "") +
      (job.appliedSummary ? ": " + job.appliedSummary : "") : "-";
}
function ago(seconds) {
  if (!seconds) return "-";
  const s = Math.max(0, Math.round(Date.now() / 1000 - seconds));
  return s < 120 ? s + " s ago" : s < 7200 ? Math.round(s / 60) + " min ago"
      : Math.round(s / 3600) + " h ago";
}

// The route in the URL's fragment: {job: key} or {params} of the list.
function route() {
  const hash = location.hash.replace(/^#/, "");
  if (hash.startsWith("/job/")) return {job: decodeURIComponent(hash.slice(5))};
  const query = hash.indexOf("?");
  return {params: new URLSearchParams(query < 0 ? "" : hash.slice(query + 1))};
}
function listParams() {
  const params = new URLSearchParams();
  for (const name of FILTERS) if ($(name).value) params.set(name, $(name).value);
  if (state.page > 1) params.set("page", state.page);
  return params;
}
function setListRoute() {
  const query = listParams().toString();
  history.replaceState(null, "", "#/" + (query ? "?" + query : ""));
}

// GET with the ETag of the last answer to the same URL; null when it did not change (304).
async function getJson(url) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 5000);
  const headers = url === state.url && state.etag ? {"If-None-Match": state.etag} : {};
  try {
    const response = await fetch(url, {cache: "no-store", headers, signal: controller.signal});
    if (response.status === 304) return null;
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || "HTTP " + response.status);
    state.url = url;
    state.etag = response.headers.get("ETag") || "";
    return body;
  } finally {
    clearTimeout(timer);
  }
}

function fillSelect(id, values, counts) {
  const select = $(id);
  const chosen = select.value || (route().params || new URLSearchParams()).get(id) || "";
  const all = new Set(values);
  if (chosen) all.add(chosen);
  const keep = select.options[0];
  const options = [...all].sort().map(v => {
    const option = text("option", counts && v in counts ? v + " (" + counts[v] + ")" : v);
    option.value = v;
    return option;
  });
  select.replaceChildren(keep, ...options);
  select.value = chosen;
}

function renderSummary(s) {
  state.summary = s;
  $("instance").textContent = s.instance || "";
  const leader = s.leaderElection || {};
  $("standby").style.display = s.writer === false ? "inline" : "none";
  $("standby").textContent = "standby (not the leader" +
      (leader.holder ? "; leader: " + leader.holder : "") + ")";
  const rev = s.revision || {};
  const last = s.lastSync || {};
  $("summary").textContent = (s.repo || "") + (s.branch ? " @ " + s.branch : "") +
      " · revision " + (rev.short || "-") + (rev.author ? " by " + rev.author : "") +
      (rev.summary ? ": " + rev.summary : "") +
      " · last sync " + (last.result || "-") + ", " + ago(last.time) +
      (last.message ? " (" + last.message + ")" : "");
  const counts = s.counts || {};
  const parts = Object.entries(counts.sync || {}).map(([k, v]) => k + " " + v)
      .concat(Object.entries(counts.health || {}).map(([k, v]) => k + " " + v));
  $("counts").textContent = parts.join(" · ") +
      (counts.errors ? " · " + counts.errors + " with errors" : "");
  const ready = (s.conditions || []).find(c => c.type === "Ready");
  $("notready").style.display = ready && ready.status === "False" ? "block" : "none";
  $("notready").textContent = ready ? "not ready: " + ready.reason + ": " + ready.message : "";
  fillSelect("namespace", s.namespaces || []);
  fillSelect("team", s.teams || []);
  fillSelect("sync", Object.keys(counts.sync || {}), counts.sync);
  fillSelect("health", Object.keys(counts.health || {}), counts.health);
  const plan = s.plan || {};
  $("plan").textContent = plan.text || "";
}

function renderRow(job) {
  const row = document.createElement("tr");
  row.dataset.key = job.key;
  if (job.lastError) row.className = "error-row";
  row.appendChild(text("td", job.name));
  row.appendChild(text("td", job.backend));
  row.appendChild(text("td", job.namespace));
  row.appendChild(text("td", job.sync, job.sync));
  row.appendChild(text("td", job.health + (job.healthMessage ? " (" + job.healthMessage + ")" : ""),
      job.health));
  row.appendChild(text("td", replicas(job.liveReplicas) + " / " + replicas(job.desiredReplicas)));
  row.appendChild(text("td", commitText(job)));
  row.appendChild(text("td", job.lastError, "error"));
  row.addEventListener("click", () => { location.hash = "#/job/" + encodeURIComponent(job.key); });
  return row;
}

function renderList(body) {
  renderSummary(body.summary || {});
  state.page = body.page;
  $("jobs").replaceChildren(...(body.jobs || []).map(renderRow));
  $("pageinfo").textContent = body.matched === 0 ? "no job matches" :
      "page " + body.page + " of " + body.pages + " · " + body.matched + " of " + body.total +
      " jobs";
  $("prev").disabled = body.page <= 1;
  $("next").disabled = body.page >= body.pages;
}

function field(name, value, cls) {
  return [text("dt", name), value instanceof Node ? wrap(value) : text("dd", value, cls)];
}
function wrap(node) {
  const dd = document.createElement("dd");
  dd.appendChild(node);
  return dd;
}
function renderJob(body) {
  const job = body.job || {};
  const detail = body.detail || {};
  $("jobkey").textContent = job.key || "";
  const history = body.history || {};
  let link = text("code", history.command || "");
  if (history.url) {
    link = text("a", "commits of " + (job.source || "the manifest"));
    link.href = history.url;
    link.rel = "noopener";
  }
  const labels = Object.entries(job.labels || {}).map(([k, v]) => k + "=" + v).join(", ");
  $("jobfields").replaceChildren(
      ...field("Sync", job.sync, job.sync),
      ...field("Health", job.health + (job.healthMessage ? " (" + job.healthMessage + ")" : ""),
          job.health),
      ...field("Live replicas", replicas(job.liveReplicas)),
      ...field("Desired replicas", replicas(job.desiredReplicas)),
      ...field("Applied commit", commitText(job)),
      ...field("Manifest", job.source || "-"),
      ...field("Labels", labels || "-"),
      ...field("Last action", job.lastAction || "-"),
      ...field("Last error", job.lastError || "-", job.lastError ? "error" : ""),
      ...field("History", link));
  const step = detail.step;
  $("jobstep").textContent = step ? JSON.stringify(step, null, 2) : "not in the last plan";
  const spec = detail.appliedSpec;
  $("jobspec").textContent = spec ? JSON.stringify(spec, null, 2) :
      "no applied spec: the job does not run" +
      (detail.desiredSpec ? "; Git has:\n" + JSON.stringify(detail.desiredSpec, null, 2) : "");
}

function showView() {
  const current = route();
  $("list").style.display = current.job ? "none" : "block";
  $("job").style.display = current.job ? "block" : "none";
}

async function refresh() {
  const current = route();
  const seq = ++state.seq;
  showView();
  try {
    if (current.job) {
      const body = await getJson("api/v1/jobs/" + current.job.split("/").map(encodeURIComponent)
          .join("/"));
      if (seq !== state.seq) return;
      if (body) {
        renderJob(body);
        if (!state.summary) renderSummary((await getJson("api/v1/jobs?limit=1")).summary);
      }
    } else {
      const query = listParams();
      query.set("limit", "50");
      const body = await getJson("api/v1/jobs?" + query);
      if (seq !== state.seq) return;
      if (body) renderList(body);
    }
    state.lastOk = Date.now();
    $("stale").style.display = "none";
  } catch (e) {
    if (seq !== state.seq && e.name !== "AbortError") return;
    $("stale").style.display = "block";
    $("stale").textContent = "the agent is not answering (" + (e.name === "AbortError" ?
        "no answer within 5 s" : e.message) + ")" + (state.lastOk ? " since " +
        new Date(state.lastOk).toLocaleTimeString() : "") + "; showing the last status read";
  }
}

let typing = 0;
function filtersChanged() {
  state.page = 1;
  setListRoute();
  refresh();
}
$("q").addEventListener("input", () => {
  clearTimeout(typing);
  typing = setTimeout(filtersChanged, 250);
});
for (const name of FILTERS.slice(1)) $(name).addEventListener("change", filtersChanged);
$("prev").addEventListener("click", () => { state.page--; setListRoute(); refresh(); });
$("next").addEventListener("click", () => { state.page++; setListRoute(); refresh(); });
window.addEventListener("hashchange", refresh);

const initial = route();
if (initial.params) {
  $("q").value = initial.params.get("q") || "";
  state.page = Number(initial.params.get("page")) || 1;
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
)html";

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_SERVER_STATUS_PAGE_H_

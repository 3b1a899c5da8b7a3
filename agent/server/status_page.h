// The status page the agent serves at `/`: one self-contained HTML document (no external assets:
// many clusters reach no network) that reads /api/v1/status every two seconds and redraws the
// job table and the last plan without reloading.
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
  #summary { color: #4a5568; margin-bottom: 1em; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid #e2e8f0; vertical-align: top; }
  th { background: #f7fafc; font-weight: 600; }
  .Synced { color: #276749; } .OutOfSync, .Drifted, .Unknown { color: #975a16; }
  .Error { color: #c53030; } .Kept { color: #2b6cb0; }
  .Healthy, .Succeeded { color: #276749; } .Degraded, .Failed, .Missing { color: #c53030; }
  .Progressing, .Suspended, .Queued { color: #2b6cb0; }
  .error { color: #c53030; font-size: .92em; }
  code, pre { font-family: ui-monospace, monospace; font-size: .92em; }
  pre { background: #f7fafc; padding: .8em; overflow-x: auto; }
  #stale { color: #c53030; display: none; }
</style>
</head>
<body>
<h1>jobsync <span id="instance"></span></h1>
<div id="summary">loading…</div>
<div id="stale">the agent is not answering; showing the last status read</div>
<table>
  <thead><tr><th>Job</th><th>Backend</th><th>Namespace</th><th>Sync</th><th>Health</th>
  <th>Replicas live / desired</th><th>Applied commit</th><th>Last error</th></tr></thead>
  <tbody id="jobs"></tbody>
</table>
<h2>Last plan</h2>
<pre id="plan"></pre>
<script>
"use strict";
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
function render(status) {
  document.getElementById("instance").textContent = status.instance || "";
  const rev = status.revision || {};
  const last = status.lastSync || {};
  document.getElementById("summary").textContent =
      (status.repo || "") + (status.branch ? " @ " + status.branch : "") +
      " · revision " + (rev.short || "-") + (rev.author ? " by " + rev.author : "") +
      (rev.summary ? ": " + rev.summary : "") +
      " · last sync " + (last.result || "-") + (last.message ? " (" + last.message + ")" : "") +
      (status.writer === false ? " · standby (not the leader)" : "");
  const body = document.getElementById("jobs");
  const rows = (status.jobs || []).map(job => {
    const row = document.createElement("tr");
    row.dataset.key = job.key;
    row.appendChild(text("td", job.name));
    row.appendChild(text("td", job.backend));
    row.appendChild(text("td", job.namespace));
    row.appendChild(text("td", job.sync, job.sync));
    row.appendChild(text("td", job.health + (job.healthMessage ? " (" + job.healthMessage + ")" : ""),
        job.health));
    row.appendChild(text("td", replicas(job.liveReplicas) + " / " + replicas(job.desiredReplicas)));
    const commit = (job.appliedRevision || "").slice(0, 7);
    row.appendChild(text("td", commit ? commit + " " + (job.appliedAuthor || "") +
        (job.appliedSummary ? ": " + job.appliedSummary : "") : "-"));
    row.appendChild(text("td", job.lastError, "error"));
    return row;
  });
  body.replaceChildren(...rows);
  document.getElementById("plan").textContent = (status.plan && status.plan.text) || "";
}
async function refresh() {
  try {
    const response = await fetch("api/v1/status", {cache: "no-store"});
    if (!response.ok) throw new Error("HTTP " + response.status);
    render(await response.json());
    document.getElementById("stale").style.display = "none";
  } catch (e) {
    document.getElementById("stale").style.display = "block";
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
)html";

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_SERVER_STATUS_PAGE_H_

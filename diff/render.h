// Renderings of a Plan for people and programs: terminal text, a pull-request comment in
// Markdown, and JSON. Pure functions of the plan: the same plan renders to the same bytes, and
// steps appear in plan order. Every rendering carries the plan's manifest problems
// (Plan::diagnostics: file:line:column, message, hint), so that a pull-request comment says why a
// check failed, and ends with the resource impact of the plan (diff/impact.h). Field values are
// shown as compact JSON ("trainer:v2" quoted, 6 not), so a string "1" and a number 1 stay
// distinguishable.
#ifndef JOBSYNC_DIFF_RENDER_H_
#define JOBSYNC_DIFF_RENDER_H_

#include <cstddef>
#include <string>

#include "diff/plan.h"

namespace jobsync {

// The most a Markdown plan may hold: GitHub refuses comments over 65,536 characters (GitLab's
// notes have a limit too). 64,000 bytes leaves room for the marker line and heading a CI job
// adds to find and update its comment. Counted in bytes, which are never fewer than characters.
inline constexpr size_t kMarkdownCommentLimit = 64000;

// Text like `terraform plan`: one line per step, "<symbol> <job>: <action> (<reason>)", with
// symbols '+' create, '~' scale, patch, update and rerun, '-' delete, '!' a step held back by an
// error, ' ' other none steps; each field change indented below it ("~ field: from -> to",
// "+ field: to", "- field: from"); then the manifest problems and warnings, a summary line, and
// the resource impact per namespace ("vision: +32 GPUs (0 -> 32)", or "no change in requested
// resources"). `colour` adds ANSI colours (green adds, yellow changes and warnings, red deletes
// and errors, a bold summary); the caller decides, e.g. from whether stdout is a terminal.
//
// `impact_of`, when given, is the plan whose resource impact ends the rendering, for a caller that
// renders part of it (the agent's status lists only the steps that do something, but the totals
// before and after are those of every job); null: `plan` itself. RenderJson takes it too.
std::string RenderText(const Plan& plan, bool colour, const Plan* impact_of = nullptr);

// A pull-request comment: a heading, a table of step counts per action, the manifest problems
// (each with file:line:column, message and hint), the manifest warnings (fields not honoured,
// likewise), the jobs held back by errors, one section per changed job with its reason and a
// ```diff block of its field changes, a collapsed list of the jobs without changes, and the
// resource impact.
//
// At most `max_bytes` long (a plan that fits is rendered in full). A bigger plan is summarised,
// deterministically: the heading, counts, every manifest problem and warning, every job with an
// error, the resource impact and every delete are listed, then the other changed jobs one line
// each in plan order as long as they fit, and a line counting those left out. Should even the
// problems, warnings, errors and deletes not fit, they too are cut at the limit with a count of
// what was left out.
std::string RenderMarkdown(const Plan& plan, size_t max_bytes = kMarkdownCommentLimit);

// JSON for programs, pretty-printed with two-space indents and a final newline:
//   {"steps": [{"action": "create|scale|patch|update|rerun|delete|none",
//               "job": "<backend>/<namespace>/<name>",
//               "reason": "...", "error": false, "drift": false, "held": false,
//               "changes": [{"field": "...", "from": <json>, "to": <json>}]}],
//    "diagnostics": [{"file": "...", "line": n, "column": n, "message": "...", "hint": "..."}],
//    "summary": {"create": n, "scale": n, "patch": n, "update": n, "rerun": n, "delete": n,
//                "none": n,
//                "errors": n, "held": n, "diagnostics": n, "changes": true|false,
//                "warnings": n},
//    "warnings": [{"file": ..., as diagnostics}],
//    "impact": [{"namespace": "...", "queue": "",
//                "before": {"gpus": n, "cpus": "0.5", "memory": "64Gi"}, "after": {...},
//                "beforeElasticMax": {...}, "afterElasticMax": {...}}]}
// "from" is left out for an added field, "to" for a removed one; "hint" when there is none;
// "warnings" and "summary.warnings" when the manifests have none (Plan::warnings).
// "drift" is PlanStep::drift: the live job was changed outside Git (a none step with it was held
// back by the drift policy). "held" is PlanStep::held: a delete the mass-delete guard held back
// (an error step; "summary.held" counts them, and they count among "errors" too).
// "cpus" and "memory" are exact Kubernetes quantities; "gpus" a number (a string past 2^63).
std::string RenderJson(const Plan& plan, const Plan* impact_of = nullptr);

}  // namespace jobsync

#endif  // JOBSYNC_DIFF_RENDER_H_

// Renderings of a Plan for people and programs: terminal text, a pull-request comment in
// Markdown, and JSON. Pure functions of the plan: the same plan renders to the same bytes, and
// steps appear in plan order. Field values are shown as compact JSON ("trainer:v2" quoted, 6 not),
// so a string "1" and a number 1 stay distinguishable.
#ifndef JOBSYNC_DIFF_RENDER_H_
#define JOBSYNC_DIFF_RENDER_H_

#include <string>

#include "diff/plan.h"

namespace jobsync {

// Text like `terraform plan`: one line per step, "<symbol> <job>: <action> (<reason>)", with
// symbols '+' create, '~' scale and update, '-' delete, '!' a step held back by an error, ' ' other
// none steps; each field change indented below it ("~ field: from -> to", "+ field: to",
// "- field: from"); then a summary line. `colour` adds ANSI colours (green adds, yellow changes,
// red deletes and errors, a bold summary); the caller decides, e.g. from whether stdout is a
// terminal.
std::string RenderText(const Plan& plan, bool colour);

// A pull-request comment: a heading, a table of step counts per action, the errors, one section
// per changed job with its reason and a ```diff block of its field changes, and a collapsed list
// of the jobs without changes.
std::string RenderMarkdown(const Plan& plan);

// JSON for programs, pretty-printed with two-space indents and a final newline:
//   {"steps": [{"action": "create|scale|update|delete|none", "job": "<backend>/<namespace>/<name>",
//               "reason": "...", "error": false,
//               "changes": [{"field": "...", "from": <json>, "to": <json>}]}],
//    "summary": {"create": n, "scale": n, "update": n, "delete": n, "none": n, "errors": n,
//                "changes": true|false}}
// "from" is left out for an added field, "to" for a removed one.
std::string RenderJson(const Plan& plan);

}  // namespace jobsync

#endif  // JOBSYNC_DIFF_RENDER_H_

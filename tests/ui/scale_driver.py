"""Checks the agent's status page at 10,000 jobs in headless Chromium (see
status_page_scale_test.sh, which starts the agent).

    scale_driver.py CHROMIUM URL AGENT_PID NAMESPACE

NAMESPACE is the one namespace the agent may manage: it holds the created job "page-ok" and the
invalid manifest "broken"; every other job is refused (an error row). Checks, printing one
"ok"/"FAIL" line each and "measured NAME=VALUE" lines:
  - first paint: from navigation to the first table rows (recorded in the page by a
    MutationObserver installed before the page loads), under 1 s;
  - bytes per refresh: the encoded bytes (headers and body, as the DevTools Network domain counts
    them) of every poll of the jobs API after the first load, each under 100 KB;
  - the search, the sync filter with its error rows, the per-job view (by clicking a row and by a
    #/job/ URL), and the stale banner while the agent is stopped with SIGSTOP (then SIGCONT).
Exit status 0 when all passed.
"""
import asyncio
import os
import signal
import sys
import time

from page_driver import Checks, browser_page

FIRST_ROWS = """
window.__firstRows = 0;
new MutationObserver((changes, observer) => {
  const rows = document.querySelectorAll('#jobs tr');
  if (rows.length) { window.__firstRows = performance.now(); observer.disconnect(); }
}).observe(document, {childList: true, subtree: true});
"""

ROWS_MATCH = ("(() => { const rows = [...document.querySelectorAll('#jobs tr')];"
              " return rows.length > 0 && rows.every(r => %s) && rows.length; })()")


def api_polls(page):
    """(url, status, encoded bytes) of every answered request of the jobs API, in order. A 304's
    bytes are its headers' (Chromium ends it as aborted, since the page reads no body)."""
    polls = {}
    for event in page.events:
        params = event.get("params", {})
        if event.get("method") == "Network.responseReceived":
            response = params["response"]
            if "/api/v1/jobs" in response["url"]:
                polls[params["requestId"]] = [response["url"], response["status"],
                                              int(response.get("encodedDataLength", 0))]
        elif event.get("method") == "Network.loadingFinished" and params["requestId"] in polls:
            polls[params["requestId"]][2] = int(params["encodedDataLength"])
    return [tuple(poll) for poll in polls.values()]


async def set_filter(page, element, value, event):
    await page.evaluate("(() => { const e = document.getElementById(%r); e.value = %r;"
                        " e.dispatchEvent(new Event(%r)); })()" % (element, value, event))


async def first_paint_and_refreshes(page, check):
    painted = await page.wait_until("window.__firstRows", 15, interval=0.05)
    print("measured first_paint_ms=%.0f" % (painted or -1), flush=True)
    check("first rows painted under 1 s after navigation", painted and painted < 1000,
          "first rows at %s ms" % painted)
    # A few polls: the agent syncs every 5 s, so some answer 200 with a page, the others 304.
    await asyncio.sleep(9)
    polls = api_polls(page)
    refreshes = polls[1:]
    sizes = [size for _, _, size in refreshes]
    changed = [size for _, status, size in refreshes if status == 200]
    print("measured refreshes=%d not_modified=%d changed=%d bytes_per_refresh_max=%d "
          "bytes_changed_mean=%.0f first_load_bytes=%d" % (
              len(refreshes), len(refreshes) - len(changed), len(changed), max(sizes or [0]),
              sum(changed) / len(changed) if changed else 0, polls[0][2] if polls else 0),
          flush=True)
    check("the page polls the jobs API", len(refreshes) >= 2, "polls: %s" % polls)
    check("each refresh is under 100 KB", sizes and max(sizes) < 100 * 1024, "polls: %s" % polls)
    check("an unchanged status costs a 304",
          any(status == 304 for _, status, _ in refreshes), "polls: %s" % polls)


async def search_and_errors(page, check, namespace):
    await set_filter(page, "q", "job-0042", "input")
    rows = await page.wait_until(ROWS_MATCH % "r.cells[0].textContent.startsWith('job-0042')", 10)
    check("the search lists the 10 jobs whose name has job-0042", rows == 10, "rows: %s" % rows)
    info = await page.evaluate("document.getElementById('pageinfo').textContent")
    check("the pager counts the matches of 10,002 jobs", "10 of 10002" in (info or ""), info)
    await set_filter(page, "q", "", "input")
    await set_filter(page, "sync", "Error", "change")
    info = await page.wait_until(
        "document.getElementById('pageinfo').textContent.includes(' 10001 of 10002')", 10)
    check("the Error filter counts the 10,001 jobs with errors", info, info)
    rows = await page.wait_until(
        ROWS_MATCH % "r.classList.contains('error-row') && r.cells[7].textContent.length > 0", 10)
    check("the Error filter shows error rows with their errors", rows == 50, "rows: %s" % rows)
    await set_filter(page, "sync", "", "change")
    await set_filter(page, "q", "broken", "input")
    error = await page.wait_until(
        "(() => { const r = document.querySelector('#jobs tr');"
        " return r && r.cells[0].textContent === 'broken' && r.classList.contains('error-row')"
        " && r.cells[7].textContent; })()", 10)
    check("an invalid manifest is an error row with its error", bool(error), "error: %r" % error)
    print("       broken: %s" % error, flush=True)


async def job_view(page, check, namespace):
    listed = await page.evaluate("document.querySelector('#jobs tr').cells[0].textContent")
    await page.evaluate("document.querySelector('#jobs tr').click()")
    key = await page.wait_until(
        "getComputedStyle(document.getElementById('job')).display === 'block' &&"
        " document.getElementById('jobkey').textContent", 10)
    check("clicking a row opens its job", key == "kubernetes/%s/broken" % namespace,
          "row %r, job view %r, URL %r" % (listed, key, await page.evaluate("location.hash")))
    await page.evaluate("location.hash = '#/job/kubernetes/%s/page-ok'" % namespace)
    spec = await page.wait_until(
        "document.getElementById('jobkey').textContent.endsWith('/page-ok') &&"
        " document.getElementById('jobspec').textContent", 15)
    check("a #/job/ URL shows the job's applied spec", spec and '"image"' in spec, spec)
    fields = await page.evaluate("document.getElementById('jobfields').textContent")
    check("the job view has replicas, commit and the history command",
          fields and "Live replicas" in fields and "jobsync history %s/page-ok" % namespace
          in fields, fields)
    step = await page.evaluate("document.getElementById('jobstep').textContent")
    check("the job view shows its last plan step", step and '"action"' in step, step)
    await page.evaluate("location.hash = '#/'")


async def stale_banner(page, check, pid):
    os.kill(pid, signal.SIGSTOP)
    try:
        start = time.monotonic()
        banner = await page.wait_until(
            "getComputedStyle(document.getElementById('stale')).display === 'block' &&"
            " document.getElementById('stale').textContent", 15)
        print("measured stale_banner_s=%.1f" % (time.monotonic() - start), flush=True)
        check("a stopped agent shows the stale banner", banner and "not answering" in banner,
              banner)
    finally:
        os.kill(pid, signal.SIGCONT)
    gone = await page.wait_until(
        "getComputedStyle(document.getElementById('stale')).display === 'none'", 15)
    check("the banner goes once the agent answers again", gone)


async def main(chromium, url, pid, namespace):
    check = Checks()

    async def before_load(page):
        await page.send("Page.enable")
        await page.send("Network.enable")
        await page.send("Page.addScriptToEvaluateOnNewDocument", source=FIRST_ROWS)

    async with browser_page(chromium, url, check, before_load) as page:
        if page is None:
            return 1
        await first_paint_and_refreshes(page, check)
        await search_and_errors(page, check, namespace)
        await job_view(page, check, namespace)
        await stale_banner(page, check, int(pid))
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:5])))

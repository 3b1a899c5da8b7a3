"""Drives the agent's status page in headless Chromium over the DevTools protocol.

    page_driver.py CHROMIUM URL EXPECT_BEFORE COMMAND EXPECT_AFTER [STANDBY_URL]

Opens URL once, waits until the job table shows a row containing EXPECT_BEFORE, runs COMMAND (a
shell command: the test's commit), then waits, without reloading the page, until a row contains
EXPECT_AFTER. In the expectations, cells are joined by " | " and "*" matches anything. With
STANDBY_URL (a replica that is not the leader), opens it and checks the standby label. Prints one
"ok"/"FAIL" line per check; exit status 0 when all passed. Needs aiohttp (it comes with
ray[default], whose venv runs this script). scale_driver.py uses Browser and Page too.
"""
import asyncio
import contextlib
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import aiohttp


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Checks:
    """Prints one line per check and counts the failures."""

    def __init__(self):
        self.failures = 0

    def __call__(self, name, ok, detail=""):
        print(("ok   " if ok else "FAIL ") + name + ("" if ok else "\n  " + str(detail)), flush=True)
        self.failures += 0 if ok else 1
        return ok


class Page:
    """One page target: commands by id, and the events it sends kept in `events`."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.pending = {}
        self.events = []
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self):
        async for message in self.ws:
            data = json.loads(message.data)
            if "id" in data:
                future = self.pending.pop(data["id"], None)
                if future and not future.done():
                    future.set_result(data)
            else:
                self.events.append(data)

    async def send(self, method, **params):
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        return await asyncio.wait_for(future, 30)

    async def evaluate(self, expression):
        answer = await self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                                 awaitPromise=True)
        return answer.get("result", {}).get("result", {}).get("value")

    async def rows(self):
        text = await self.evaluate(
            "JSON.stringify([...document.querySelectorAll('#jobs tr')]"
            ".map(r => [...r.cells].map(c => c.textContent).join(' | ')))")
        return json.loads(text) if text else []

    async def wait_until(self, expression, seconds, interval=0.1):
        """Polls `expression` until it is truthy; returns its last value."""
        deadline = time.monotonic() + seconds
        value = None
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(interval)
        return value

    async def wait_for_row(self, needle, seconds):
        pattern = re.compile(".*".join(re.escape(part) for part in needle.split("*")))
        deadline = time.monotonic() + seconds
        rows = []
        while time.monotonic() < deadline:
            rows = await self.rows()
            if any(pattern.search(row) for row in rows):
                return True, rows
            await asyncio.sleep(0.5)
        return False, rows


@contextlib.asynccontextmanager
async def browser_page(chromium, url, checks, before_load=None):
    """Headless Chromium showing `url` in one page; yields the Page (None when it did not open).
    `before_load`, when given, is run on the page (about:blank) before it navigates to `url`."""
    port = free_port()
    profile = tempfile.mkdtemp()
    browser = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--remote-debugging-port=%d" % port, "--user-data-dir=" + profile, "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession() as session:
            targets = []
            for _ in range(100):
                try:
                    async with session.get("http://127.0.0.1:%d/json/list" % port) as response:
                        targets = [t for t in await response.json() if t.get("type") == "page"]
                    if targets:
                        break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
            checks("Chromium opened a page", bool(targets), "no page target on port %d" % port)
            if not targets:
                yield None
                return
            async with session.ws_connect(targets[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                page = Page(ws)
                if before_load:
                    await before_load(page)
                await page.send("Page.navigate", url=url)
                yield page
                page.reader.cancel()
    finally:
        browser.terminate()
        browser.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)


async def main(chromium, url, before, command, after, standby_url=None):
    checks = Checks()
    async with browser_page(chromium, url, checks) as page:
        if page is None:
            return 1
        found, rows = await page.wait_for_row(before, 30)
        checks("the page lists the jobs of the sync (%s)" % before, found, "rows: %s" % rows)
        checks("every row is a job with backend, sync state and health",
               len(rows) > 0 and all(row.count(" | ") == 7 for row in rows), "rows: %s" % rows)
        label = await page.evaluate("getComputedStyle(document.getElementById('standby')).display")
        checks("the leader shows no standby label", label == "none", "display: %r" % label)
        await page.evaluate("window.jobsyncMarker = 'same page'")
        subprocess.run(command, shell=True, check=True)
        found, rows = await page.wait_for_row(after, 60)
        checks("the page updates after the commit (%s)" % after, found, "rows: %s" % rows)
        checks("without reloading", await page.evaluate("window.jobsyncMarker") == "same page")
        plan = await page.evaluate("document.getElementById('plan').textContent")
        checks("the last plan is shown", bool(plan) and "Plan:" in plan, "plan: %r" % plan)
    if standby_url:
        async with browser_page(chromium, standby_url, checks) as page:
            if page is None:
                return 1
            label = await page.wait_until(
                "(() => { const s = document.getElementById('standby');"
                " return getComputedStyle(s).display !== 'none' && s.textContent; })()", 30)
            checks("a replica that is not the leader shows the standby label",
                   bool(label) and label.startswith("standby (not the leader"), "label: %r" % label)
            found, rows = await page.wait_for_row(after, 30)
            checks("the standby lists the jobs too", found, "rows: %s" % rows)
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:7])))

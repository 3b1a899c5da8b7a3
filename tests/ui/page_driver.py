"""Drives the agent's status page in headless Chromium over the DevTools protocol.

    page_driver.py CHROMIUM URL EXPECT_BEFORE COMMAND EXPECT_AFTER

Opens URL once, waits until the job table shows a row containing EXPECT_BEFORE, runs COMMAND (a
shell command: the test's commit), then waits, without reloading the page, until a row contains
EXPECT_AFTER. In the expectations, cells are joined by " | " and "*" matches anything. Prints one "ok"/"FAIL" line per check; exit status 0 when all passed. Needs aiohttp
(it comes with ray[default], whose venv runs this script).
"""
import asyncio
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


class Page:
    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0

    async def evaluate(self, expression):
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "method": "Runtime.evaluate",
                                 "params": {"expression": expression, "returnByValue": True}})
        while True:
            message = await self.ws.receive_json()
            if message.get("id") == self.next_id:
                return message.get("result", {}).get("result", {}).get("value")

    async def rows(self):
        text = await self.evaluate(
            "JSON.stringify([...document.querySelectorAll('#jobs tr')]"
            ".map(r => [...r.cells].map(c => c.textContent).join(' | ')))")
        return json.loads(text) if text else []

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


async def main(chromium, url, before, command, after):
    failures = 0

    def check(name, ok, detail=""):
        nonlocal failures
        print(("ok   " if ok else "FAIL ") + name + ("" if ok else "\n  " + detail))
        failures += 0 if ok else 1

    port = free_port()
    profile = tempfile.mkdtemp()
    browser = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--remote-debugging-port=%d" % port, "--user-data-dir=" + profile, url],
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
            check("Chromium opened the page", bool(targets), "no page target on port %d" % port)
            if not targets:
                return 1
            async with session.ws_connect(targets[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                page = Page(ws)
                found, rows = await page.wait_for_row(before, 30)
                check("the page lists the jobs of the sync (%s)" % before, found, "rows: %s" % rows)
                check("every row is a job with backend, sync state and health",
                      len(rows) > 0 and all(row.count(" | ") == 7 for row in rows), "rows: %s" % rows)
                await page.evaluate("window.jobsyncMarker = 'same page'")
                subprocess.run(command, shell=True, check=True)
                found, rows = await page.wait_for_row(after, 60)
                check("the page updates after the commit (%s)" % after, found, "rows: %s" % rows)
                check("without reloading", await page.evaluate("window.jobsyncMarker") == "same page")
                plan = await page.evaluate("document.getElementById('plan').textContent")
                check("the last plan is shown", bool(plan) and "Plan:" in plan, "plan: %r" % plan)
    finally:
        browser.terminate()
        browser.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:6])))

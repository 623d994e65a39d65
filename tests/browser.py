"""Headless Chromium driven over the DevTools protocol (on a pipe, no extra package): what a page ran and fetched.

``open_page`` loads one file and records every network request, every script Chromium compiled for the
page, console messages, exceptions, dialogs and log entries (a Content-Security-Policy violation is one),
then evaluates a few expressions in the loaded page and can take a screenshot.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--mute-audio",
    # Nothing resolves: a request the page tries is recorded, never answered.
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail(
            "headless Chromium is needed for the browser test: apt-get install chromium (make test does it as root)"
        )
    return found


@dataclass
class PageRecord:
    """What happened while a page loaded."""

    requests: list[str] = field(default_factory=list)
    """Every URL the page asked for but data: URLs (its embedded images), the page itself first."""
    scripts: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    log_entries: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    screenshot: bytes = b""


class _DevTools:
    """One CDP connection over --remote-debugging-pipe: we write fd 3, Chromium writes fd 4."""

    def __init__(self, profile: Path, window: tuple[int, int]):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire() -> None:
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.process = subprocess.Popen(
            [
                chromium(),
                *FLAGS,
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                f"--window-size={window[0]},{window[1]}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire,
            pass_fds=(3, 4),
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def pump(self, seconds: float) -> None:
        """Read events for ``seconds`` (a page's timers and late handlers get their chance)."""
        import select

        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if b"\0" not in self._buffer and not select.select([self._from_browser], [], [], left)[0]:
                break
            event = self._read()
            self.events.append(event)
            if event.get("method") == "Page.javascriptDialogOpening":  # an open alert() would stall the page
                self.send("Page.handleJavaScriptDialog", {"accept": True}, session=self.session)

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


def open_page(
    path: Path,
    profile: Path,
    evaluate: dict[str, str] | None = None,
    screenshot: bool = False,
    window: tuple[int, int] = (1280, 900),
    media: str = "",
    full_page: bool = False,
) -> PageRecord:
    """Load ``path`` in a fresh headless Chromium and record what the page did.

    ``media`` ("print") lays the page out as for paper; ``full_page`` screenshots it whole, not the window.
    """
    tools = _DevTools(profile, window)
    record = PageRecord()
    try:
        page = next(t for t in tools.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
        session = tools.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]
        tools.session = session
        for domain in ("Page", "Network", "Runtime", "Log", "Debugger"):
            tools.send(f"{domain}.enable", session=session)
        if media:
            tools.send("Emulation.setEmulatedMedia", {"media": media}, session=session)
        tools.send("Page.navigate", {"url": path.as_uri()}, session=session)
        deadline = time.monotonic() + 60
        while not any(e.get("method") == "Page.loadEventFired" for e in tools.events):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{path.name} did not finish loading in 60 s")
            tools.pump(0.5)
        tools.pump(1.5)
        for name, expression in (evaluate or {}).items():
            result = tools.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session)
            record.values[name] = result["result"].get("value")
        if screenshot:
            options: dict[str, Any] = {"format": "png"}
            if full_page:
                size = tools.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
                clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
                options.update(captureBeyondViewport=True, clip=clip)
            shot = tools.send("Page.captureScreenshot", options, session=session)
            record.screenshot = base64.b64decode(shot["data"])
        for event in tools.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Network.requestWillBeSent" and not params["request"]["url"].startswith("data:"):
                record.requests.append(params["request"]["url"])
            elif method == "Debugger.scriptParsed" and params.get("url"):
                record.scripts.append(params["url"])
            elif method == "Runtime.consoleAPICalled":
                record.console.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Runtime.exceptionThrown":
                record.exceptions.append(params["exceptionDetails"].get("text", ""))
            elif method == "Page.javascriptDialogOpening":
                record.dialogs.append(params.get("message", ""))
            elif method == "Log.entryAdded":
                entry = params["entry"]
                record.log_entries.append(f"{entry['level']}: {entry.get('text', '')}")
    finally:
        tools.close()
    return record

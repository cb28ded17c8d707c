"""The web dashboard in a real browser (Debian's chromium through Selenium + chromium-driver),
against a running devnet: requests are sent through the public API so that traces exist, then
every tab must render real data with no console error, and nodes added, disabled, enabled and
deleted from the page must show so through the admin API.

Run by scripts/ci.d/63-dashboard.sh, which starts the devnet. Environment:
  GONKA_PUBLIC_URL, GONKA_ADMIN_URL   the devnet's listeners
  GONKA_ADMIN_TOKEN                   its admin token
  GONKA_API_KEY                       an API key of its public API
  CHROMIUM, CHROMEDRIVER              the browser and its driver
  GONKA_DASHBOARD_SCREENSHOT          optional: where to save a screenshot of the page
Every wait is bounded; a failure prints what the page showed.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import httpx
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

PUBLIC = os.environ["GONKA_PUBLIC_URL"]
ADMIN = os.environ["GONKA_ADMIN_URL"]
TOKEN = os.environ["GONKA_ADMIN_TOKEN"]
API_KEY = os.environ["GONKA_API_KEY"]
MODEL = os.environ.get("GONKA_MODEL", "Qwen/Qwen3-32B-FP8")
POLICY = os.environ.get("GONKA_POLICY", "")
APP_TAG = "dashboard-test"
WAIT_S = 30

# Endpoints other modules serve: the page shows an empty state where a gateway lacks one, and
# this test asks for real data from each one the gateway serves.
OPTIONAL = {
    "fleet": "/fleet/status",
    "health": "/dashboard/api/health",
    "inventory": "/dashboard/api/model-management",
    "performance": "/dashboard/api/performance",
    "traces": "/dashboard/api/traces",
    "trends": "/dashboard/api/trends",
    "usage": "/dashboard/api/usage",
}


def admin_call(method, path, body=None):
    """One admin API call with the token: (status, parsed JSON or None)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(ADMIN + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {TOKEN}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            text = res.read()
            return res.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        return e.code, None


def served():
    """Which of OPTIONAL this gateway serves."""
    return {name for name, path in OPTIONAL.items() if admin_call("GET", path)[0] != 404}


def wait_for_validated_epoch(timeout=90):
    """Waits (bounded) until the devnet validated its first PoC epoch: then the nodes are back in
    the inference phase for the rest of the epoch."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, poc = admin_call("GET", "/dashboard/api/poc")
        assert status == 200, status
        if poc["validated_epoch"] is not None and poc["phase"]["phase"] == "inference":
            print(f"PoC epoch {poc['validated_epoch']} validated, total weight {poc['total_weight']}")
            return
        time.sleep(0.5)
    raise AssertionError(f"no validated PoC epoch within {timeout} s: {poc}")


def send_requests(n=12, ollama=2):
    """`n` chat completions (plain and streamed) and `ollama` Ollama chats through the public API,
    tagged with the app tag; each must succeed."""
    headers = {"Authorization": f"Bearer {API_KEY}", "X-App-Tag": APP_TAG}
    with httpx.Client(base_url=PUBLIC, headers=headers, timeout=30) as client:
        for i in range(n):
            body = {
                "model": MODEL,
                "stream": i % 3 == 0,
                "max_tokens": 8,
                "messages": [{"role": "user", "content": f"dashboard test {i}"}],
            }
            r = client.post("/v1/chat/completions", json=body)
            assert r.status_code == 200, (r.status_code, r.text)
        # Ollama's native API goes through the same routing (and traces).
        for i in range(ollama):
            body = {"model": MODEL, "stream": False,
                    "messages": [{"role": "user", "content": f"ollama dashboard test {i}"}]}
            r = client.post("/api/chat", json=body)
            assert r.status_code == 200, (r.status_code, r.text)
    print(f"sent {n} OpenAI chat completions and {ollama} Ollama chats")


def browser():
    opts = Options()
    opts.binary_location = os.environ["CHROMIUM"]
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1440,1000",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(os.environ["CHROMEDRIVER"]), options=opts)
    driver.set_page_load_timeout(WAIT_S)
    driver.set_script_timeout(WAIT_S)
    return driver


class Check:
    def __init__(self, driver):
        self.driver = driver
        self.console = []

    def wait(self, what, predicate, timeout=WAIT_S):
        try:
            # The page redraws every few seconds: an element may go stale between two looks.
            return WebDriverWait(self.driver, timeout, poll_frequency=0.2,
                                 ignored_exceptions=(StaleElementReferenceException,)).until(
                lambda d: predicate(d)
            )
        except TimeoutException:
            body = self.driver.find_element(By.TAG_NAME, "body").text
            raise AssertionError(f"timed out ({timeout} s) waiting for: {what}\n--- page:\n{body[:3000]}")

    def click(self, what, selector):
        """Clicks the first element matching `selector` (retried while the page redraws it)."""
        def go(_):
            found = self.css(selector)
            if not found:
                return False
            found[0].click()
            return True
        self.wait(what, go)

    def text(self, selector):
        """The rendered text of the first element matching `selector` ('' when none), read in one
        step so that a redraw cannot leave a stale element in between."""
        return self.driver.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : ''", selector)

    def css(self, selector):
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def tab(self, name):
        """Opens tab `name` and waits until it rendered data fetched after the click."""
        clicked = int(time.time() * 1000)
        self.driver.find_element(By.CSS_SELECTOR, f'#tabs button[data-tab="{name}"]').click()
        self.wait(
            f"tab {name} rendered",
            lambda d: int(d.find_element(By.ID, f"tab-{name}").get_attribute("data-updated") or 0) >= clicked,
        )
        return self.driver.find_element(By.ID, f"tab-{name}")

    def collect_console(self):
        for entry in self.driver.get_log("browser"):
            self.console.append(entry)

    def console_errors(self, expected_404):
        """SEVERE console entries but the expected ones: the 401 of the first API calls (the
        token dialog is how the page handles it) and the 404 of a path in `expected_404` (an
        endpoint not served, whose part shows its empty state, or an action meant to fail)."""
        self.collect_console()
        bad = []
        for e in self.console:
            if e["level"] != "SEVERE":
                continue
            message = e["message"]
            if e.get("source") == "network":
                url = message.split(" ", 1)[0]
                path = urllib.parse.urlsplit(url).path
                if "status of 401" in message:
                    continue
                if "status of 404" in message and path in expected_404:
                    continue
            bad.append(e)
        return bad


def main():
    have = served()
    missing = sorted(set(OPTIONAL) - have)
    if missing:
        print(f"note: this gateway does not serve {', '.join(OPTIONAL[m] for m in missing)}; "
              "those parts must show their empty state")
    wait_for_validated_epoch()
    send_requests()
    # 404 answers the page asks for on purpose (the console shows each as an error).
    expected_404 = {OPTIONAL[m] for m in missing}

    driver = browser()
    c = Check(driver)
    try:
        driver.get(ADMIN + "/dashboard")
        # The page asks for the token once.
        c.wait("the token dialog", lambda d: d.find_element(By.ID, "login").get_attribute("open") is not None)
        driver.find_element(By.ID, "login-token").send_keys(TOKEN)
        driver.find_element(By.ID, "login-submit").click()
        c.wait("the token dialog to close", lambda d: d.find_element(By.ID, "login").get_attribute("open") is None)
        stored = driver.execute_script("return sessionStorage.getItem('gonka-admin-token')")
        assert stored == TOKEN, "the token is not kept in sessionStorage"

        # Fleet overview: the three devnet nodes.
        tab = c.tab("overview")
        c.wait("3 node rows", lambda d: len(c.css("#overview-nodes tr[data-node]")) == 3)
        text = tab.text
        for node in ("devnet-0", "devnet-1", "devnet-2"):
            assert node in text, text
        if "fleet" in have:
            # Live topology: in-flight of max_concurrent and the engine of every node.
            c.wait("live fleet columns", lambda d: c.text("#overview-nodes").count("/16") == 3
                   and c.text("#overview-nodes").count("simulator") == 3)

        # Models: the devnet model on every node.
        tab = c.tab("models")
        c.wait("the model row", lambda d: len(c.css(f'#models-matrix tr[data-model="{MODEL}"]')) == 1)
        row = c.text(f'#models-matrix tr[data-model="{MODEL}"]')
        assert row.count("hot") + row.count("warm") + row.count("cold") >= 3, row
        if "fleet" in have:
            # The simulator reports its model loaded: hot on every node.
            c.wait("hot on 3 nodes", lambda d: c.text(f'#models-matrix tr[data-model="{MODEL}"]').count("hot") == 3)
        if "performance" in have:
            c.wait("performance rows", lambda d: MODEL in d.find_element(By.ID, "models-performance").text)
        if "inventory" in have:
            c.wait("3 inventory rows", lambda d: len(c.css("#models-inventory tr[data-node]")) == 3)
            # Model lifecycle from the page: deleting a model the node does not have shows the
            # agent's own answer (through POST /dashboard/api/delete).
            form = driver.find_element(By.ID, "model-action")
            form.find_element(By.NAME, "model").send_keys("no-org/no-such-model")
            Select(form.find_element(By.NAME, "node_id")).select_by_value("devnet-0")
            form.find_element(By.CSS_SELECTOR, 'button[value="delete"]').click()
            c.wait("the agent's answer to a delete",
                   lambda d: "not found" in c.text("#model-action-result"))
            expected_404.add("/dashboard/api/delete")

        # Traces: one row per request, filterable, each with its breakdown.
        tab = c.tab("traces")
        if "traces" in have:
            rows = "#traces-table tr[data-request-id]"
            c.wait("12 trace rows", lambda d: len(c.css(rows)) >= 12)
            # Live: a new request shows up without a reload.
            before = len(c.css(rows))
            send_requests(1, 0)
            c.wait("the new request's trace, live", lambda d: len(c.css(rows)) > before)
            c.click("a trace row", rows)
            c.wait("the breakdown of a trace", lambda d: len(c.css("#traces-table tr.detail")) == 1)
            detail = c.text("#traces-table tr.detail")
            assert "Score breakdown" in detail and "request id" in detail, detail
            signals = c.css("#traces-table tr.detail tr[data-signal]")
            print(f"trace breakdown shows {len(signals)} signals")
            if POLICY == "model-aware":
                assert len(signals) == 7, detail
            status = driver.find_element(By.CSS_SELECTOR, '#trace-filters select[name="status"]')
            status.find_element(By.CSS_SELECTOR, 'option[value="failed"]').click()
            c.wait("no failed traces", lambda d: "No traces match" in d.find_element(By.ID, "traces-table").text)
            status.find_element(By.CSS_SELECTOR, 'option[value="completed"]').click()
            c.wait("completed traces back", lambda d: len(c.css(rows)) >= 12)
            node_id = c.text(f"{rows} td:nth-child(3)")
            node = driver.find_element(By.CSS_SELECTOR, '#trace-filters input[name="node_id"]')
            node.send_keys(node_id)
            driver.execute_script("document.getElementById('trace-filters').dispatchEvent(new Event('change'))")
            only = """const cells = [...document.querySelectorAll(arguments[0])].map((td) => td.innerText);
                      return cells.length > 0 && cells.every((c) => c === arguments[1]);"""
            c.wait(f"only {node_id}'s traces",
                   lambda d: d.execute_script(only, f"{rows} td:nth-child(3)", node_id))
        else:
            c.wait("the traces empty state", lambda d: "not served" in tab.text)

        # Trends: four charts with data.
        tab = c.tab("trends")
        if "trends" in have:
            c.wait("4 charts", lambda d: len(c.css("#trend-charts .uplot canvas")) == 4)
            points = driver.execute_script(
                "return document.querySelectorAll('#trend-charts .uplot').length")
            assert points == 4
        else:
            c.wait("the trends empty state", lambda d: "not served" in tab.text)

        # Usage: the tagged requests.
        tab = c.tab("usage")
        if "usage" in have:
            c.wait("the app tag's row", lambda d: APP_TAG in d.find_element(By.ID, "usage-table").text)
        else:
            c.wait("the usage empty state", lambda d: "not served" in tab.text)

        # PoC: the epoch, and after the first validated epoch each node's outcome.
        tab = c.tab("poc")
        c.wait("3 validation outcomes", lambda d: len(c.css("#poc-outcomes tr[data-node]")) == 3)
        assert "valid" in tab.text, tab.text

        # Node management: add, disable, enable, delete, each seen through the admin API.
        c.tab("nodes")
        c.wait("3 registered nodes", lambda d: len(c.css("#nodes-table tr[data-node]")) == 3)
        form = driver.find_element(By.ID, "add-node")
        for name, value in (("id", "dash-extra"), ("host", "127.0.0.1"), ("inference_port", "9"),
                            ("poc_port", "9"), ("model", MODEL), ("max_concurrent", "2")):
            field = form.find_element(By.NAME, name)
            field.clear()
            field.send_keys(value)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        c.wait("the added node's row", lambda d: len(c.css('#nodes-table tr[data-node="dash-extra"]')) == 1)
        status, record = admin_call("GET", "/admin/v1/nodes/dash-extra")
        assert status == 200 and record["node"]["max_concurrent"] == 2, (status, record)

        def press(node, action):
            c.click(f"the {action} button of {node}",
                    f'#nodes-table tr[data-node="{node}"] button[data-action="{action}"]')

        press("devnet-1", "disable")
        c.wait("devnet-1 disabled on the page",
               lambda d: c.css('#nodes-table tr[data-node="devnet-1"][data-enabled="false"]'))
        status, record = admin_call("GET", "/admin/v1/nodes/devnet-1")
        assert status == 200 and record["state"]["admin_state"]["enabled"] is False, record
        print("devnet-1 disabled from the page: the admin API says enabled=false")
        press("devnet-1", "enable")
        c.wait("devnet-1 enabled on the page",
               lambda d: c.css('#nodes-table tr[data-node="devnet-1"][data-enabled="true"]'))
        assert admin_call("GET", "/admin/v1/nodes/devnet-1")[1]["state"]["admin_state"]["enabled"] is True

        press("dash-extra", "delete")
        press("dash-extra", "confirm-delete")
        c.wait("the deleted node's row gone", lambda d: not c.css('#nodes-table tr[data-node="dash-extra"]'))
        assert admin_call("GET", "/admin/v1/nodes/dash-extra")[0] == 404

        # The overview again (fleet live data after all that), then the screenshot.
        c.tab("overview")
        c.wait("3 node rows", lambda d: len(c.css("#overview-nodes tr[data-node]")) == 3)
        shot = os.environ.get("GONKA_DASHBOARD_SCREENSHOT")
        if shot:
            # A trace with its score breakdown where the gateway records traces.
            if "traces" in have:
                c.tab("traces")
                if not c.css("#traces-table tr.detail"):
                    c.click("a trace row", "#traces-table tr[data-request-id]")
                c.wait("a breakdown", lambda d: len(c.css("#traces-table tr.detail")) == 1)
            else:
                c.tab("poc")
            driver.save_screenshot(shot)
            print(f"screenshot: {shot}")

        errors = c.console_errors(expected_404)
        assert not errors, "console errors:\n" + "\n".join(e["message"] for e in errors)
        print("dashboard: every tab rendered real data, no console error")
    finally:
        driver.quit()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)

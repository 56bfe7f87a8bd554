"""A reference integrator application for `noon-connect check`, in Python with the standard library only; the
RS256 login JWT is signed by the `openssl` command, the key handed to it through a pipe, never a file.

APP_DEFECT turns on one deliberate mistake, so the tests can show the checker catches each and nothing else:
  no-state-check  never looks at the state (it does refuse a code it has already redeemed)
  crash-on-5xx    lets a 5xx from Noon escape the handler, so the browser gets no answer at all
  key-in-log      writes token/exchange's answer, private key included, to its log

Configuration: NOON_AUTHORIZE_URL, NOON_GATEWAY_URL, NOON_CLIENT_ID, NOON_CLIENT_SECRET, NOON_KEY_FILE, PORT,
APP_TIMEOUT_MS (how long to wait for Noon, default 5000).
"""

import base64
import hmac
import html
import http.client
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFECTS = ("none", "no-state-check", "crash-on-5xx", "key-in-log")
AUTHORIZE_URL = os.environ["NOON_AUTHORIZE_URL"]
GATEWAY = os.environ["NOON_GATEWAY_URL"].rstrip("/")
CLIENT_ID = os.environ["NOON_CLIENT_ID"]
CLIENT_SECRET = os.environ["NOON_CLIENT_SECRET"]
PORT = int(os.environ.get("PORT", "8000"))
TIMEOUT_S = int(os.environ.get("APP_TIMEOUT_MS", "5000")) / 1000
DEFECT = os.environ.get("APP_DEFECT", "none")
if DEFECT not in DEFECTS:
    raise SystemExit(f"unknown APP_DEFECT {DEFECT}")
USER_AGENT = "acme-connect-reference-py/1.0"
STATE_TTL_S = 600

with open(os.environ["NOON_KEY_FILE"], encoding="utf-8") as f:
    INTEGRATOR_KEY = json.load(f)

lock = threading.Lock()
pending = {}  # state -> {"binding", "created", "used"}
redeemed_codes = set()
credentials = {}  # seller project -> key file, in memory only
integrator_session = {"cookie": None}


def log(line):
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}", file=sys.stderr, flush=True)


# --- Noon ------------------------------------------------------------------------------------------------------


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def rs256(private_pem, data):
    """Signs with `openssl dgst`, reading the key from a pipe so it never touches the disk."""
    r, w = os.pipe()
    try:
        os.write(w, private_pem.encode("ascii"))
        os.close(w)
        w = None
        out = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", f"/dev/fd/{r}"],
            input=data,
            capture_output=True,
            pass_fds=(r,),
            check=True,
        )
        return out.stdout
    finally:
        os.close(r)
        if w is not None:
            os.close(w)


def login_jwt(key):
    now = int(time.time())
    header = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": key["key_id"]}).encode())
    claims = {"sub": key["key_id"], "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
    signing_input = f"{header}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(rs256(key['private_key'], signing_input.encode('ascii')))}"


class NoonError(Exception):
    pass


def noon(method, path, body=None, cookie=None):
    """One call to Noon's gateway: (status, parsed JSON or None, raw text, Set-Cookie pairs)."""
    headers = {"User-Agent": USER_AGENT}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    if cookie:
        headers["Cookie"] = cookie
    req = urllib.request.Request(GATEWAY + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as res:
            status, raw, set_cookies = res.status, res.read(), res.headers.get_all("Set-Cookie") or []
    except urllib.error.HTTPError as e:
        if DEFECT == "crash-on-5xx" and e.code >= 500:
            raise RuntimeError(f"{path} answered {e.code}")
        status, raw, set_cookies = e.code, e.read(), []
    text = raw.decode("utf-8", "replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    pairs = "; ".join(c.split(";")[0] for c in set_cookies)
    return status, parsed if isinstance(parsed, dict) else None, text, pairs


def login(key):
    status, _, _, cookie = noon(
        "POST", "/identity/public/v1/api/login", {"token": login_jwt(key), "default_project_code": key["project_code"]}
    )
    if status != 200:
        raise NoonError(f"login answered {status}")
    return cookie


def as_integrator(path, body):
    """A call with the integrator's session: logged in on first use and once more when Noon says it ended."""
    if integrator_session["cookie"] is None:
        integrator_session["cookie"] = login(INTEGRATOR_KEY)
    reply = noon("POST", path, body, integrator_session["cookie"])
    if reply[0] != 401:
        return reply
    integrator_session["cookie"] = login(INTEGRATOR_KEY)
    return noon("POST", path, body, integrator_session["cookie"])


# --- the connect flow --------------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    server_version = "acme-connect"

    def log_message(self, fmt, *args):
        # The default line holds the query string, and with it the code and state: log the path only.
        pass

    def log_request(self, code="-", size="-"):
        log(f"{self.command} {urllib.parse.urlsplit(self.path).path} {code}")

    def page(self, status, title, line, headers=None):
        body = f"<!doctype html><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1><p>{html.escape(line)}</p>"
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body.encode())))
        self.end_headers()
        self.wfile.write(body.encode())

    def redirect(self, location, headers=None):
        self.send_response(303)
        self.send_header("Location", location)
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def cookies(self):
        out = {}
        for part in (self.headers.get("Cookie") or "").split(";"):
            if "=" in part:
                k, v = part.split("=", 1)
                out[k.strip()] = v.strip()
        return out

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/connect/start":
            return self.start()
        if url.path == "/connect/callback":
            try:
                return self.callback(query)
            except (NoonError, OSError, ValueError, http.client.HTTPException) as e:
                # Noon timed out, reset or answered something unreadable: say so, with nothing that could be a secret.
                log(f"callback failed: {type(e).__name__}")
                return self.page(502, "Not connected", "noon could not be reached. Start again in a moment.")
        if url.path == "/connect/done":
            project = query.get("project", [""])[0]
            return self.page(200, "Connected", f"Your noon project {project} is connected.")
        return self.page(404, "Not found", "No such page.")

    def start(self):
        state = secrets.token_urlsafe(32)
        binding = self.cookies().get("acme_bind") or secrets.token_urlsafe(32)
        with lock:
            pending[state] = {"binding": binding, "created": time.time(), "used": False}
        consent = AUTHORIZE_URL + ("&" if "?" in AUTHORIZE_URL else "?") + urllib.parse.urlencode(
            {"client_id": CLIENT_ID, "state": state}
        )
        self.redirect(consent, {"Set-Cookie": f"acme_bind={binding}; Path=/; HttpOnly; SameSite=Lax; Max-Age=600"})

    def callback(self, query):
        state = query.get("state", [""])[0]
        code = query.get("code", [None])[0]
        if DEFECT != "no-state-check":
            binding = self.cookies().get("acme_bind", "")
            with lock:
                rec = pending.get(state)
                valid = (
                    rec is not None
                    and hmac.compare_digest(rec["binding"], binding)
                    and time.time() - rec["created"] < STATE_TTL_S
                )
                fresh = valid and not rec["used"]
                if fresh:
                    rec["used"] = True
            if not valid:
                return self.page(400, "Not connected", "This connect link was not issued to this browser. Start again.")
            if not fresh:
                return self.page(400, "Not connected", "This connect link was already used. Start again.")
        if "error" in query:
            return self.page(200, "Not connected", "You chose not to give access on noon, so nothing was connected.")
        if not code:
            return self.page(400, "Not connected", "noon sent no code. Start again.")
        if DEFECT == "no-state-check":
            with lock:
                if code in redeemed_codes:
                    return self.page(400, "Not connected", "This code was already used. Start again.")
                redeemed_codes.add(code)
        status, created, _, _ = as_integrator(
            "/identity/oauth/v1/token/create",
            {"grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        )
        if status != 200 or not isinstance((created or {}).get("access_token"), str):
            return self.page(502, "Not connected", f"noon answered {status} to token/create. Start again.")
        status, exchanged, text, _ = as_integrator(
            "/identity/oauth/v1/token/exchange", {"access_token": created["access_token"]}
        )
        if DEFECT == "key-in-log":
            log(f"token/exchange answered {status}: {text}")
        if status != 200:
            return self.page(502, "Not connected", f"noon answered {status} to token/exchange. Start again.")
        result = (exchanged or {}).get("result")
        if (exchanged or {}).get("status", {}).get("code") != 0 or not isinstance(result, dict):
            return self.page(502, "Not connected", "noon could not create the credential.")
        with lock:
            credentials[result["project_code"]] = result
        # The key works: log in with it and ask who we are.
        session = login(result)
        if noon("GET", "/identity/v1/whoami", cookie=session)[0] != 200:
            return self.page(502, "Not connected", "The new credential did not work. Start again.")
        project = urllib.parse.quote(str(exchanged.get("project_code", "")))
        return self.redirect(f"/connect/done?project={project}")


class Server(ThreadingHTTPServer):
    daemon_threads = True


if __name__ == "__main__":
    server = Server(("127.0.0.1", PORT), Handler)
    log(f"listening on http://127.0.0.1:{PORT} (defect: {DEFECT})")
    server.serve_forever()

#!/usr/bin/env python3
"""The REST API from Python with the standard library only.

    NOON_CONNECT_URL=http://127.0.0.1:8787 NOON_CONNECT_API_TOKEN=... python3 connect.py link acme
    python3 connect.py list acme
    python3 connect.py health <connection id>

Errors come back as {"error": {"code": ..., "message": ...}}; decide on the code, never on the message.
"""

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

BASE = os.environ["NOON_CONNECT_URL"].rstrip("/")
TOKEN = os.environ["NOON_CONNECT_API_TOKEN"]


def api(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("authorization", "Bearer " + TOKEN)
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return json.load(res)
    except urllib.error.HTTPError as e:
        err = json.load(e).get("error", {})
        sys.exit("noon-connect %s: %s (%s)" % (e.code, err.get("message"), err.get("code")))


def main(argv):
    if len(argv) == 3 and argv[1] == "link":
        # Send the seller's browser to the link's "url"; it is single use and short-lived.
        out = api("POST", "/api/connect-links", {"tenant": argv[2], "return_to": "/"})
    elif len(argv) == 3 and argv[1] == "list":
        out = api("GET", "/api/connections?" + urllib.parse.urlencode({"tenant": argv[2]}))
    elif len(argv) == 3 and argv[1] == "health":
        out = api("POST", "/api/connections/%s/health-check" % urllib.parse.quote(argv[2]))
    else:
        sys.exit("usage: connect.py link <tenant> | list <tenant> | health <connection id>")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main(sys.argv)

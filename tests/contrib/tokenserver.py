#!/usr/bin/env python3
"""tokenserver.py DIR - a fake OAuth2 token endpoint on 127.0.0.1 for the
tests of contrib/oauth2-token.

Listens on a free port of 127.0.0.1 and writes it to DIR/port once ready.
Every request is appended to DIR/requests as one JSON line: method, path,
content type and the form fields.  The answer comes from DIR/answer, read
anew for each request (so a test changes it between runs):

    {"status": 200, "body": {...}}     the body sent as JSON
    {"status": 502, "raw": "text"}     a body that is not JSON
    {"delay": 5, ...}                  wait that many seconds first

Serves until killed, or for an hour at most.
"""

import http.server
import json
import os
import sys
import threading
import time
import urllib.parse


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("ascii", "replace")
        record = {"method": "POST", "path": self.path,
                  "content_type": self.headers.get("Content-Type"),
                  "form": dict(urllib.parse.parse_qsl(body))}
        with open(os.path.join(DIR, "requests"), "a") as f:
            f.write(json.dumps(record) + "\n")
        with open(os.path.join(DIR, "answer")) as f:
            answer = json.load(f)
        time.sleep(answer.get("delay", 0))
        if "raw" in answer:
            data = answer["raw"].encode("utf-8")
            ctype = "text/plain"
        else:
            data = json.dumps(answer.get("body", {})).encode("utf-8")
            ctype = "application/json"
        self.send_response(answer.get("status", 200))
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        pass


DIR = sys.argv[1]
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
tmp = os.path.join(DIR, "port.tmp")
with open(tmp, "w") as f:
    f.write("%d\n" % server.server_address[1])
os.rename(tmp, os.path.join(DIR, "port"))
threading.Timer(3600, server.shutdown).start()
server.serve_forever()

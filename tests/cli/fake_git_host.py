#!/usr/bin/env python3
"""A stand-in for the comment endpoints of GitHub's and GitLab's REST APIs, on loopback, for the
CI examples' test. It keeps comments in memory and refuses any request that does not have the
documented shape: the method and path, the token header, the JSON body with a "body" string.

  GitHub: GET/POST /repos/{owner}/{repo}/issues/{n}/comments, PATCH /repos/{o}/{r}/issues/comments/{id}
          Authorization: Bearer TOKEN; Accept: application/vnd.github+json
  GitLab: GET/POST /api/v4/projects/{id}/merge_requests/{iid}/notes, PUT .../notes/{note_id}
          PRIVATE-TOKEN: TOKEN

Usage: fake_git_host.py PORT_FILE TOKEN LOG_FILE. Writes the port it listens on to PORT_FILE and
one line per request to LOG_FILE ("METHOD PATH STATUS").
"""
import json
import os
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs

PORT_FILE, TOKEN, LOG = sys.argv[1], sys.argv[2], sys.argv[3]
threads = {}  # "github:o/r#n" or "gitlab:id!iid" -> list of {"id", "body"}
next_id = [1000]

GITHUB_LIST = re.compile(r"^/repos/([^/]+/[^/]+)/issues/(\d+)/comments$")
GITHUB_EDIT = re.compile(r"^/repos/([^/]+/[^/]+)/issues/comments/(\d+)$")
GITLAB_LIST = re.compile(r"^/api/v4/projects/([^/]+)/merge_requests/(\d+)/notes$")
GITLAB_EDIT = re.compile(r"^/api/v4/projects/([^/]+)/merge_requests/(\d+)/notes/(\d+)$")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        with open(LOG, "a") as log:
            log.write(f"{self.command} {urlparse(self.path).path} {status}\n")

    def body(self):
        length = int(self.headers.get("Content-Length", "0"))
        try:
            payload = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("body"), str):
            return None
        return payload["body"]

    def handle_any(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        page = int(query.get("page", ["1"])[0])
        per_page = int(query.get("per_page", ["30"])[0])
        github = url.path.startswith("/repos/")
        if github:
            if self.headers.get("Authorization") != "Bearer " + TOKEN:
                return self.reply(401, {"message": "Bad credentials"})
            if self.headers.get("Accept") != "application/vnd.github+json":
                return self.reply(415, {"message": "Accept must be application/vnd.github+json"})
            listing, edit = GITHUB_LIST.match(url.path), GITHUB_EDIT.match(url.path)
        else:
            if self.headers.get("PRIVATE-TOKEN") != TOKEN:
                return self.reply(401, {"message": "401 Unauthorized"})
            listing, edit = GITLAB_LIST.match(url.path), GITLAB_EDIT.match(url.path)
        if listing:
            key = ("github:%s#%s" if github else "gitlab:%s!%s") % listing.groups()
            comments = threads.setdefault(key, [])
            if self.command == "GET":
                return self.reply(200, comments[(page - 1) * per_page:page * per_page])
            if self.command == "POST":
                text = self.body()
                if text is None:
                    return self.reply(422, {"message": "body is missing"})
                next_id[0] += 1
                comments.append({"id": next_id[0], "body": text})
                return self.reply(201, comments[-1])
        if edit and self.command == ("PATCH" if github else "PUT"):
            text = self.body()
            if text is None:
                return self.reply(422, {"message": "body is missing"})
            wanted = int(edit.groups()[-1])
            for comments in threads.values():
                for comment in comments:
                    if comment["id"] == wanted:
                        comment["body"] = text
                        return self.reply(200, comment)
            return self.reply(404, {"message": "Not Found"})
        if url.path == "/state" and self.command == "GET":
            return self.reply(200, threads)
        return self.reply(404, {"message": "no such endpoint: %s %s" % (self.command, url.path)})

    do_GET = do_POST = do_PATCH = do_PUT = handle_any


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()

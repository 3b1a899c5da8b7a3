#!/usr/bin/env python3
"""A TLS-terminating reverse proxy on loopback, for testing jobsync's https support against the
Ray dashboard (which serves plain http): requests arriving over TLS are forwarded to UPSTREAM and
the answers sent back. Python's standard library only.

Usage: tls_proxy.py --cert PEM --key PEM --upstream http://HOST:PORT --port-file FILE

Listens on 127.0.0.1 at a free port and writes that port to FILE once it accepts connections.
Logs one line per request, and per failed TLS handshake, on stderr. Runs until SIGTERM.
"""
import argparse
import http.client
import http.server
import os
import signal
import ssl
import sys
import urllib.parse

# Hop-by-hop headers (RFC 9110 7.6.1) are not forwarded; Content-Length is set anew.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
              "transfer-encoding", "upgrade", "content-length", "host"}


def make_handler(context, upstream):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            # The handshake runs on this connection's thread, so a client that stalls in it does
            # not hold up the others.
            self.request = context.wrap_socket(self.request, server_side=True)
            super().setup()

        def forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                answer = connection.getresponse()
                data = answer.read()
            except OSError as error:
                self.send_error(502, "upstream %s: %s" % (upstream.geturl(), error))
                return
            finally:
                connection.close()
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = forward

        def log_message(self, format, *args):  # noqa: A002 (the base class's name)
            sys.stderr.write("tls_proxy: %s\n" % (format % args))

    return Handler


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        sys.stderr.write("tls_proxy: connection from %s failed: %s\n" %
                         (client_address[0], sys.exc_info()[1]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args()

    upstream = urllib.parse.urlsplit(args.upstream)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server = Server(("127.0.0.1", 0), make_handler(context, upstream))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    temporary = args.port_file + ".tmp"
    with open(temporary, "w") as out:
        out.write("%d\n" % server.server_address[1])
    os.replace(temporary, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()

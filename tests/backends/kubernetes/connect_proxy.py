#!/usr/bin/env python3
"""A minimal HTTP CONNECT proxy on loopback for jobsync's proxy tests (Python stdlib only).

Usage: connect_proxy.py PORT_FILE LOG_FILE [--map NAME=ADDRESS]... [--auth USER:PASSWORD]

Listens on 127.0.0.1 (a free port, written to PORT_FILE once listening), answers each
"CONNECT host:port" with a tunnel to host:port (host replaced by ADDRESS when --map names it, so
a test can use a server name the machine cannot resolve), and appends one line per tunnel to
LOG_FILE: "CONNECT host:port sni=<server name of the TLS ClientHello> auth=<yes|no>". With
--auth, a request without that Proxy-Authorization (Basic) gets 407. The password is never logged.
"""
import base64
import os
import socket
import sys
import threading


def client_hello_sni(data):
    """The server_name of a TLS ClientHello record, or '-' when there is none."""
    try:
        if data[0] != 0x16 or data[5] != 0x01:
            return "-"
        pos = 5 + 4 + 2 + 32  # record header, handshake header, version, random
        pos += 1 + data[pos]  # session id
        pos += 2 + int.from_bytes(data[pos:pos + 2], "big")  # cipher suites
        pos += 1 + data[pos]  # compression methods
        end = pos + 2 + int.from_bytes(data[pos:pos + 2], "big")
        pos += 2
        while pos + 4 <= end:
            kind = int.from_bytes(data[pos:pos + 2], "big")
            size = int.from_bytes(data[pos + 2:pos + 4], "big")
            if kind == 0:  # server_name: list length, type, name length, name
                name_size = int.from_bytes(data[pos + 7:pos + 9], "big")
                return data[pos + 9:pos + 9 + name_size].decode("ascii", "replace")
            pos += 4 + size
    except IndexError:
        pass
    return "-"


def pipe(source, target):
    try:
        while True:
            chunk = source.recv(65536)
            if not chunk:
                break
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        for s in (source, target):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def handle(conn, mapping, auth, log_file, lock):
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = conn.recv(4096)
        if not chunk:
            conn.close()
            return
        head += chunk
    lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    method, target = lines[0].split(" ")[:2]
    headers = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip()
               for l in lines[1:] if ":" in l}
    given = headers.get("proxy-authorization", "")
    if method != "CONNECT":
        conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
        conn.close()
        return
    if auth and given != "Basic " + base64.b64encode(auth.encode()).decode():
        conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                     b"Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
        with lock, open(log_file, "a") as log:
            log.write(f"REFUSED {target} auth={'yes' if given else 'no'}\n")
        conn.close()
        return
    host, port = target.rsplit(":", 1)
    try:
        upstream = socket.create_connection((mapping.get(host, host), int(port)), timeout=10)
        upstream.settimeout(None)
    except OSError:
        conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        conn.close()
        return
    conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    first = conn.recv(65536)
    with lock, open(log_file, "a") as log:
        log.write(f"CONNECT {target} sni={client_hello_sni(first)} "
                  f"auth={'yes' if given else 'no'}\n")
    upstream.sendall(first)
    threading.Thread(target=pipe, args=(upstream, conn), daemon=True).start()
    pipe(conn, upstream)


def main():
    port_file, log_file = sys.argv[1], sys.argv[2]
    mapping, auth = {}, ""
    args = sys.argv[3:]
    while args:
        flag, value = args[0], args[1]
        args = args[2:]
        if flag == "--map":
            name, address = value.split("=", 1)
            mapping[name] = address
        elif flag == "--auth":
            auth = value
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    open(log_file, "a").close()
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.getsockname()[1]))
    os.rename(port_file + ".tmp", port_file)
    lock = threading.Lock()
    while True:
        conn, _ = server.accept()
        threading.Thread(target=handle, args=(conn, mapping, auth, log_file, lock),
                         daemon=True).start()


if __name__ == "__main__":
    main()

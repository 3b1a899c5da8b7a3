#!/usr/bin/env python3
"""A loopback TCP proxy that can stop forwarding without closing, for the stalled-watch tests.

Usage: stall_proxy.py TARGET_HOST:TARGET_PORT PORT_FILE

Listens on 127.0.0.1 on two free ports, forwards each connection to the target (TLS passes
through untouched), and writes "PROXY_PORT CONTROL_PORT" to PORT_FILE once both listen. A client
of the control port sends one command per line and reads "ok N" back (N: connections accepted
so far):
  freeze     connections open now stop forwarding in both directions; nothing is closed, so
             their peers see a silent, half-open connection. New connections are forwarded.
  blackhole  as freeze, and new connections are frozen too: the target is unreachable without a
             refusal.
  heal       new connections are forwarded again; frozen ones stay frozen (their clients are
             expected to give up on them).
  count      nothing changes.
Runs until killed.
"""

import os
import select
import socket
import sys
import threading

_lock = threading.Lock()
_connections = []  # every _Connection accepted
_mode = {"blackhole": False, "accepted": 0}


class _Connection:
    def __init__(self, client, upstream, frozen):
        self.client = client
        self.upstream = upstream
        self.frozen = frozen

    def pump(self, source, sink):
        try:
            while True:
                ready, _, _ = select.select([source], [], [], 0.1)
                if self.frozen:
                    return  # stop reading and writing; keep both sockets open
                if not ready:
                    continue
                data = source.recv(65536)
                if not data:
                    break
                if self.frozen:
                    return  # what arrived once frozen is lost, as on a dead path
                sink.sendall(data)
        except OSError:
            pass
        if not self.frozen:
            for sock in (self.client, self.upstream):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def _serve(listener, target):
    while True:
        client, _ = listener.accept()
        try:
            upstream = socket.create_connection(target)
        except OSError:
            client.close()
            continue
        with _lock:
            connection = _Connection(client, upstream, _mode["blackhole"])
            _connections.append(connection)
            _mode["accepted"] += 1
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=connection.pump, args=(source, sink), daemon=True).start()


def _control(listener):
    while True:
        sock, _ = listener.accept()
        with sock, sock.makefile("rw") as stream:
            for line in stream:
                command = line.strip()
                with _lock:
                    if command in ("freeze", "blackhole"):
                        for connection in _connections:
                            connection.frozen = True
                        _mode["blackhole"] = command == "blackhole"
                    elif command == "heal":
                        _mode["blackhole"] = False
                    elif command != "count":
                        stream.write("error unknown command %r\n" % command)
                        stream.flush()
                        continue
                    stream.write("ok %d\n" % _mode["accepted"])
                    stream.flush()


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: stall_proxy.py TARGET_HOST:TARGET_PORT PORT_FILE")
    host, port = sys.argv[1].rsplit(":", 1)
    target = (host, int(port))
    listeners = []
    for _ in range(2):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listeners.append(listener)
    threading.Thread(target=_control, args=(listeners[1],), daemon=True).start()
    ports = " ".join(str(listener.getsockname()[1]) for listener in listeners)
    temporary = sys.argv[2] + ".tmp"
    with open(temporary, "w") as out:
        out.write(ports + "\n")
    os.rename(temporary, sys.argv[2])
    _serve(listeners[0], target)


if __name__ == "__main__":
    main()

"""A local HTTP proxy in front of the embedded emulator that adds a fixed latency to every call and,
when asked, injects the faults of a real AWS endpoint (throttling, 500/503, dropped connections) on a
seeded random share of calls. The benchmark uses it for latency; the fault tests for resilience.
It sits outside the tool's clients, so waiter polls, pages and retries all pay and all count.
"""
from __future__ import annotations

import http.client
import http.server
import random
import socket
import threading
import time

FAULTS = ("throttle", "500", "503", "reset")

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
              "upgrade", "expect", "proxy-authorization", "proxy-authenticate"}


class LatencyProxy(http.server.ThreadingHTTPServer):
    """Forwards every request to `upstream` after sleeping `latency` seconds; counts the requests.

    With fault_rate, a seeded random share of requests never reaches the emulator and is answered
    with a fault AWS clients meet in practice: a throttling error, a 500 or 503, or a dropped connection.
    """

    daemon_threads = True
    # socketserver's default backlog is 5: a run opening more connections at once than that would see
    # SYNs dropped and retried a second later, a delay no AWS endpoint adds
    request_queue_size = 128

    def __init__(self, upstream_port: int, latency: float, fault_rate: float = 0.0, seed: int = 0):
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        self.upstream_port = upstream_port
        self.latency = latency
        self.fault_rate = fault_rate
        self.random = random.Random(seed)
        self.requests = 0
        self.faults: dict[str, int] = {}
        self._lock = threading.Lock()

    def draw_fault(self) -> str | None:
        with self._lock:
            if self.random.random() >= self.fault_rate:
                return None
            fault = self.random.choice(FAULTS)
            self.faults[fault] = self.faults.get(fault, 0) + 1
            return fault

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self) -> None:
        with self._lock:
            self.requests += 1

    def take_count(self) -> int:
        with self._lock:
            n, self.requests = self.requests, 0
            return n


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    """One instance per client connection; HTTP/1.1 keep-alive, one upstream connection per client one."""

    protocol_version = "HTTP/1.1"
    # a response goes out as headers then body: with Nagle's algorithm on, the body waits for the
    # client's delayed ACK of the headers, about 40 ms more per call on a kept-alive connection
    disable_nagle_algorithm = True
    upstream: http.client.HTTPConnection | None = None

    def log_message(self, *args):    # quiet
        pass

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):   # trailers
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else None

    def _forward(self, body, headers) -> http.client.HTTPResponse:
        for attempt in (1, 2):    # a kept-alive upstream connection may have been closed by moto: retry once
            if self.upstream is None:
                self.upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=120)
                self.upstream.connect()
                self.upstream.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self.upstream.request(self.command, self.path, body=body, headers=headers)
                return self.upstream.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.upstream.close()
                self.upstream = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _fault(self, fault: str) -> None:
        """Answer as AWS does when it throttles or fails, without forwarding the request."""
        if fault == "reset":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault == "throttle" and "X-Amz-Target" in self.headers:   # JSON protocols
            status, body, kind = 400, b'{"__type":"ThrottlingException","message":"Rate exceeded"}', \
                "application/x-amz-json-1.0"
        elif fault == "throttle" and "x-www-form-urlencoded" in self.headers.get("Content-Type", ""):   # query
            status, kind = 400, "text/xml"
            body = (b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
                    b"<Message>Rate exceeded</Message></Error><RequestId>0</RequestId></ErrorResponse>")
        else:   # REST protocols, and the plain server errors
            status, body, kind = (500 if fault == "500" else 503), b"", "text/plain"
        self.send_response_only(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _proxy(self):
        self.server.count()
        time.sleep(self.server.latency)
        body = self._read_body()
        fault = self.server.draw_fault() if self.server.fault_rate else None
        if fault:
            self._fault(fault)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        if body is not None:
            headers["Content-Length"] = str(len(body))
        response = self._forward(body, headers)
        self.send_response_only(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        has_body = self.command != "HEAD" and response.status >= 200 and response.status not in (204, 304)
        chunked = has_body and response.getheader("Content-Length") is None
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while has_body:    # stream the answer back as it comes
            data = response.read1(65536)
            if not data:
                break
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        response.read()
        if response.will_close:
            self.upstream.close()
            self.upstream = None
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _proxy

    def finish(self):
        super().finish()
        if self.upstream is not None:
            self.upstream.close()

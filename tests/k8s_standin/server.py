"""The HTTP side: HTTP/1.1 keep-alive, request → (verb, resource) → RBAC → operation, JSON
Status errors, chunked watch streams.  Loopback only."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import yaml

from .rbac import Attributes
from .store import KINDS, ApiError, parse_field_selector, parse_label_selector, status_body

if TYPE_CHECKING:
    from .standin import KubeStandIn

WS_ANSWER = 200
NOT_FOUND = "the server could not find the requested resource"
VERSION = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.0-k8s-standin",
    "gitCommit": "0" * 40,
    "gitTreeState": "clean",
    "buildDate": "2024-04-17T00:00:00Z",
    "goVersion": "go1.22.2",
    "compiler": "gc",
    "platform": "linux/amd64",
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, kube: KubeStandIn):
        self.kube = kube
        self.stopping = threading.Event()
        self.conns: set[socket.socket] = set()
        self.conns_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="k8s-standin-api",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        with self.conns_lock:
            conns = list(self.conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        self.server_close()
        self._thread.join(5)


def start_server(kube: KubeStandIn) -> tuple[_Server, int]:
    srv = _Server(kube)
    return srv, srv.server_address[1]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "k8s-standin/1.30"
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.conns_lock:
            self.server.conns.add(self.connection)

    def finish(self) -> None:
        with self.server.conns_lock:
            self.server.conns.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = lambda self: self._api()

    # -- plumbing
    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(
        self, code: int, body: Any, content_type: str = "application/json", close: bool = False
    ) -> None:
        raw = (
            body
            if isinstance(body, bytes)
            else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
        )
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("Cache-Control", "no-cache, private")
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(raw)
        self.wfile.flush()

    # -- dispatch
    def _api(self) -> None:
        kube = self.server.kube
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        raw = self._read_body()
        ctype = self.headers.get("Content-Type", "")
        body: Any = None
        rec: dict[str, Any] = {
            "method": self.command,
            "path": path,
            "query": query,
            "user": "",
            "verb": self.command.lower(),
            "resource": None,
            "name": None,
            "namespace": None,
            "api_group": "",
            "content_type": ctype,
        }
        try:
            if raw:
                try:
                    body = yaml.safe_load(raw) if "yaml" in ctype else json.loads(raw)
                except ValueError:
                    raise ApiError(
                        400, "BadRequest", "the body of the request was in an unknown format"
                    ) from None
            rec["body"] = body
            user = kube.rbac.user_for(self.headers.get("Authorization"))
            if user is None:
                rec["user"] = "?"
                raise ApiError(401, "Unauthorized", "Unauthorized")
            rec["user"] = user
            route = _route(self.command, path, query)
            rec.update(
                verb=route["verb"],
                resource=route.get("rbac_resource"),
                name=route.get("name"),
                namespace=route.get("namespace"),
                api_group=route.get("group", ""),
            )
            attrs = Attributes(
                user=user,
                verb=route["verb"],
                namespace=route.get("namespace") or "",
                api_group=route.get("group", ""),
                resource=route.get("rbac_resource") or "",
                name=route.get("name") or "",
                path=path if route.get("rbac_resource") is None else "",
            )
            allowed, _ = kube.rbac.authorize(attrs)
            if not allowed:
                details = {"kind": attrs.resource.split("/")[0]} if attrs.resource else None
                if details is not None and attrs.name:
                    details = {"name": attrs.name, **details}
                if details is not None and attrs.api_group:
                    details["group"] = attrs.api_group
                raise ApiError(403, "Forbidden", kube.rbac.forbidden_message(attrs), details)
            self._serve(route, query, body, ctype, rec)
        except ApiError as e:
            self._finish(rec, e.code, e.body())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:
            traceback.print_exc()
            self._finish(
                rec,
                500,
                status_body(500, "InternalError", f"k8s stand-in: {type(e).__name__}: {e}"),
            )

    def _finish(
        self,
        rec: dict[str, Any],
        code: int,
        body: Any,
        content_type: str = "application/json",
        close: bool = False,
    ) -> None:
        from .standin import Request

        self.server.kube.record(Request(status=code, allowed=code != 403, **rec))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._send(code, body, content_type, close)

    def _serve(
        self,
        route: dict[str, Any],
        query: dict[str, str],
        body: Any,
        ctype: str,
        rec: dict[str, Any],
    ) -> None:
        kube = self.server.kube
        op = route["op"]
        if op == "discovery":
            return self._finish(rec, 200, _discovery(route["path"]))
        if op == "ssar":
            return self._finish(rec, 201, _ssar(kube, rec["user"], body or {}))
        if op == "notfound":
            kube.unknown_paths.append(f"{self.command} {route['path']}")
            print(f"[k8s-standin] 404 for unknown path {self.command} {self.path}", flush=True)
            return self._finish(rec, 404, status_body(404, "NotFound", NOT_FOUND, {}))
        resource, ns, name = route["resource"], route.get("namespace"), route.get("name")
        if resource not in KINDS or op == "namespace":
            kube.unknown_paths.append(f"{self.command} {route['path']}")
            return self._finish(rec, 404, status_body(404, "NotFound", NOT_FOUND, {}))
        verb = route["verb"]
        if route.get("sub") == "log":
            if resource != "pods" or verb != "get":
                return self._finish(
                    rec,
                    405,
                    status_body(
                        405,
                        "MethodNotAllowed",
                        "the server does not allow this method on the requested resource",
                    ),
                )
            kube.store.get("pods", ns, name)
            text = kube.kubelet.log(ns, name)
            if query.get("tailLines"):
                text = "".join(text.splitlines(keepends=True)[-int(query["tailLines"]) :])
            return self._finish(rec, 200, text, "text/plain")
        if route.get("sub"):
            return self._finish(rec, 404, status_body(404, "NotFound", NOT_FOUND, {}))
        if verb == "get":
            return self._finish(rec, 200, kube.store.get(resource, ns, name))
        if verb == "list":
            return self._finish(rec, 200, _list(kube, resource, ns, query))
        if verb == "watch":
            return self._watch(rec, resource, ns, query)
        if verb == "create":
            if ns is None:
                raise ApiError(
                    405,
                    "MethodNotAllowed",
                    "the server does not allow this method on the requested resource",
                )
            return self._finish(rec, 201, kube.create(resource, ns, body))
        if verb == "update":
            return self._finish(rec, 200, kube.update(resource, ns, name, body))
        if verb == "patch":
            return self._finish(rec, 200, kube.patch(resource, ns, name, ctype, body))
        options = dict(body or {}) if isinstance(body, dict) else {}
        for k in ("gracePeriodSeconds", "propagationPolicy", "orphanDependents"):
            if k in query:
                options[k] = int(query[k]) if k == "gracePeriodSeconds" else query[k]
        if verb == "delete":
            obj = kube.delete(resource, ns, name, options)
            if resource == "pods":
                return self._finish(rec, 200, obj)
            return self._finish(
                rec,
                200,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": {"name": name, "kind": resource, "uid": obj["metadata"]["uid"]},
                },
            )
        if verb == "deletecollection":
            items = kube.delete_collection(
                resource, ns, query.get("labelSelector"), query.get("fieldSelector"), options
            )
            for i in items:
                i.pop("kind", None)
                i.pop("apiVersion", None)
            return self._finish(
                rec,
                200,
                {
                    "kind": KINDS[resource] + "List",
                    "apiVersion": "v1",
                    "metadata": {"resourceVersion": kube.store.resource_version},
                    "items": items,
                },
            )
        raise ApiError(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )

    def _watch(
        self, rec: dict[str, Any], resource: str, ns: str | None, query: dict[str, str]
    ) -> None:
        kube = self.server.kube
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), resource)
        if self.headers.get("Upgrade", "").lower() == "websocket":
            # fabric8 asks for a WebSocket first and falls back to a chunked HTTP watch when the
            # upgrade is answered 200 or 503 (503 is retried with backoff first: 200 is faster)
            return self._finish(
                rec,
                WS_ANSWER,
                status_body(
                    WS_ANSWER,
                    "ServiceUnavailable",
                    "k8s stand-in: watches are served as chunked HTTP streams, not WebSockets",
                ),
                close=True,
            )
        w = kube.store.watch(resource, ns, labels, fields, query.get("resourceVersion"))
        from .standin import Request

        kube.record(Request(status=200, allowed=True, **rec))
        timeout = float(query.get("timeoutSeconds") or 0) or None
        deadline = time.monotonic() + timeout if timeout else None
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache, private")
            self.end_headers()
            self.wfile.flush()
            while not self.server.stopping.is_set():
                if deadline and time.monotonic() >= deadline:
                    break
                try:
                    ev = w.events.get(timeout=0.5)
                except Exception:
                    if self._peer_closed():
                        self.close_connection = True
                        return
                    continue
                if ev is None:
                    break
                line = json.dumps({"type": ev[0], "object": ev[1]}).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            if self.server.stopping.is_set():
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        finally:
            kube.store.unwatch(w)

    def _peer_closed(self) -> bool:
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if not r:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


def _route(method: str, path: str, query: dict[str, str]) -> dict[str, Any]:
    parts = [p for p in path.split("/") if p]
    watch = query.get("watch", "").lower() in ("true", "1")
    if method == "POST" and path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews":
        return {
            "op": "ssar",
            "verb": "create",
            "group": "authorization.k8s.io",
            "rbac_resource": "selfsubjectaccessreviews",
            "path": path,
        }
    if parts[:2] == ["api", "v1"] and len(parts) > 2:
        rest = parts[2:]
        if parts[2] == "watch":  # legacy /api/v1/watch/... paths
            rest, watch = parts[3:], True
        ns = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        elif rest[0] == "namespaces" and len(rest) == 2:
            return {
                "op": "namespace",
                "verb": "get" if method == "GET" else method.lower(),
                "resource": "namespaces",
                "rbac_resource": "namespaces",
                "name": rest[1],
                "path": path,
            }
        resource = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        verb = {
            "GET": ("watch" if watch else "list") if name is None else "get",
            "POST": "create",
            "PUT": "update",
            "PATCH": "patch",
            "DELETE": "deletecollection" if name is None else "delete",
        }.get(method, method.lower())
        return {
            "op": "resource",
            "verb": verb,
            "resource": resource,
            "namespace": ns,
            "name": name,
            "sub": sub,
            "path": path,
            "rbac_resource": f"{resource}/{sub}" if sub else resource,
        }
    if method == "GET" and (
        path in ("/api", "/apis", "/api/v1", "/version")
        or path.startswith(("/healthz", "/livez", "/readyz"))
    ):
        return {"op": "discovery", "verb": "get", "path": path}
    return {"op": "notfound", "verb": method.lower(), "path": path}


def _discovery(path: str) -> Any:
    if path == "/version":
        return VERSION
    if path == "/api":
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}
            ],
        }
    if path == "/apis":
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [
                {
                    "name": "authorization.k8s.io",
                    "versions": [{"groupVersion": "authorization.k8s.io/v1", "version": "v1"}],
                    "preferredVersion": {
                        "groupVersion": "authorization.k8s.io/v1",
                        "version": "v1",
                    },
                }
            ],
        }
    if path == "/api/v1":
        verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        return {
            "kind": "APIResourceList",
            "groupVersion": "v1",
            "resources": [
                {
                    "name": r,
                    "singularName": k.lower(),
                    "namespaced": True,
                    "kind": k,
                    "verbs": verbs,
                }
                for r, k in KINDS.items()
            ]
            + [
                {
                    "name": "pods/log",
                    "singularName": "",
                    "namespaced": True,
                    "kind": "Pod",
                    "verbs": ["get"],
                }
            ],
        }
    return "ok"


def _list(kube: KubeStandIn, resource: str, ns: str | None, query: dict[str, str]) -> Any:
    with kube.store.lock:
        items = kube.store.list(
            resource,
            ns,
            parse_label_selector(query.get("labelSelector")),
            parse_field_selector(query.get("fieldSelector"), resource),
        )
        rv = kube.store.resource_version
    meta: dict[str, Any] = {"resourceVersion": rv}
    limit = int(query.get("limit") or 0)
    if limit:
        start = int(query.get("continue") or 0)
        rest = items[start + limit :]
        items = items[start : start + limit]
        if rest:
            meta["continue"] = str(start + limit)
            meta["remainingItemCount"] = len(rest)
    for i in items:  # list items carry no kind/apiVersion, as the real API sends them
        i.pop("kind", None)
        i.pop("apiVersion", None)
    return {"kind": KINDS[resource] + "List", "apiVersion": "v1", "metadata": meta, "items": items}


def _ssar(kube: KubeStandIn, user: str, body: dict[str, Any]) -> Any:
    spec = body.get("spec") or {}
    ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if ra:
        res = ra.get("resource", "") + (f"/{ra['subresource']}" if ra.get("subresource") else "")
        attrs = Attributes(
            user=user,
            verb=ra.get("verb", ""),
            namespace=ra.get("namespace", ""),
            api_group=ra.get("group", ""),
            resource=res,
            name=ra.get("name", ""),
        )
    elif nra:
        attrs = Attributes(
            user=user, verb=nra.get("verb", ""), namespace="", path=nra.get("path", "")
        )
    else:
        raise ApiError(
            422,
            "Invalid",
            'SelfSubjectAccessReview.authorization.k8s.io "" is '
            'invalid: spec.resourceAttributes: Invalid value: "null": exactly one '
            "of nonResourceAttributes or resourceAttributes must be specified",
        )
    allowed, why = kube.rbac.authorize(attrs)
    status: dict[str, Any] = {"allowed": allowed}
    if why:
        status["reason"] = why
    return {
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": spec,
        "status": status,
    }

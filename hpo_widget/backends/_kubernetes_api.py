"""The few Kubernetes API calls hpo_widget makes itself, on the standard library only.

Spark's own client (fabric8) does the real work; the driver needs the API for three things Spark
does not do: remove executor pods and ConfigMaps a killed kernel left behind, check before
starting that the service account may do what Spark will do (and say which verb is missing), and
tell the user why executors are pending.  A client library (``kubernetes``, ~30 MB with its
dependencies) for six REST calls is not worth it.

Credentials, like client-go: ``$KUBECONFIG`` (or ``~/.kube/config`` outside a pod) when set,
else the pod's service account.  The token is read again for every request, because
Kubernetes rotates projected service-account tokens (a long kernel must not keep a stale one).
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .spark_kubernetes import SERVICE_ACCOUNT_DIR, api_server

__all__ = ["KubeApiError", "KubernetesApi", "bearer_token", "service_account_name"]

_TIMEOUT = 10.0


class KubeApiError(RuntimeError):
    """An API call answered with an error status (``status`` 403: forbidden, 404: missing)."""

    def __init__(self, status: int, method: str, path: str, message: str) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.message = message
        super().__init__(f"Kubernetes API {method} {path}: {status} {message}")


@dataclass
class _Credentials:
    server: str | None = None
    namespace: str | None = None
    token: Callable[[], str | None] = field(default=lambda: None)
    ca_file: str | None = None
    ca_data: str | None = None
    insecure: bool = False
    client_cert: tuple[str, str] | None = None


def _in_pod(environ: Mapping[str, str]) -> bool:
    return bool(environ.get("KUBERNETES_SERVICE_HOST")) and os.path.exists(
        os.path.join(SERVICE_ACCOUNT_DIR, "token")
    )


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


def _kubeconfig_path(environ: Mapping[str, str]) -> str | None:
    given = environ.get("KUBECONFIG")
    if given:
        # A colon-separated list: client-go merges them; the first one with a context is enough.
        for path in given.split(os.pathsep):
            if path and os.path.exists(path):
                return path
        return None
    if _in_pod(environ):
        return None
    home = os.path.join(os.path.expanduser("~"), ".kube", "config")
    return home if os.path.exists(home) else None


def _kubeconfig(path: str) -> _Credentials:
    import yaml

    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    base = os.path.dirname(os.path.abspath(path))

    def named(kind: str, name: str | None) -> dict[str, Any]:
        for entry in data.get(kind + "s") or ():
            if entry.get("name") == name:
                return dict(entry.get(kind) or {})
        return {}

    def local(p: str | None) -> str | None:
        return None if not p else p if os.path.isabs(p) else os.path.join(base, p)

    context = named("context", data.get("current-context"))
    cluster = named("cluster", context.get("cluster"))
    user = named("user", context.get("user"))
    if user.get("exec") or user.get("auth-provider"):
        raise RuntimeError(
            f"{path}: the current context's user authenticates through an exec plugin or auth "
            "provider, which hpo_widget does not run; use a token (kubectl create token ...)"
        )
    creds = _Credentials(
        server=cluster.get("server"),
        namespace=context.get("namespace"),
        ca_file=local(cluster.get("certificate-authority")),
        ca_data=cluster.get("certificate-authority-data"),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
    )
    token, token_file = user.get("token"), local(user.get("tokenFile"))
    creds.token = (lambda: _read(token_file)) if token_file else (lambda: token)
    cert, key = user.get("client-certificate"), user.get("client-key")
    cert_data, key_data = user.get("client-certificate-data"), user.get("client-key-data")
    if cert_data and key_data:
        cert, key = _temp_pem(cert_data), _temp_pem(key_data)
    if cert and key:
        creds.client_cert = (str(local(cert)), str(local(key)))
    return creds


def _temp_pem(data: str) -> str:
    """ssl wants client certificates as files; the kubeconfig has them inline (base64)."""
    fd, path = tempfile.mkstemp(prefix="hpo-widget-kube-", suffix=".pem")
    with os.fdopen(fd, "wb") as f:
        f.write(base64.b64decode(data))
    return path


def bearer_token(environ: Mapping[str, str] = os.environ) -> Callable[[], str | None]:
    """Where the token comes from, the one place to change that rule: ``$KUBECONFIG``'s (or
    ``~/.kube/config``'s) current user when there is one, else the pod's service account.

    fabric8 (Spark's client) takes its token the same way, while ``spark.master`` decides the
    server, so the driver and hpo_widget act as the same user.
    """
    path = _kubeconfig_path(environ)
    if path is not None:
        return _kubeconfig(path).token
    return lambda: _read(os.path.join(SERVICE_ACCOUNT_DIR, "token"))


def service_account_name(token: str | None) -> str | None:
    """``system:serviceaccount:NS:NAME`` from a service-account JWT (not verified: it only
    names the account in messages), else None."""
    if not token or token.count(".") != 2:
        return None
    body = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return sub if isinstance(sub, str) else None


class KubernetesApi:
    """Namespaced core-API calls with one user's credentials (see the module doc)."""

    def __init__(
        self,
        server: str,
        namespace: str,
        *,
        token: Callable[[], str | None] = lambda: None,
        context: ssl.SSLContext | None = None,
        timeout: float = _TIMEOUT,
    ) -> None:
        self.server = server.rstrip("/")
        self.namespace = namespace
        self._token = token
        self._context = context
        self.timeout = timeout

    @classmethod
    def for_master(
        cls, master: str, namespace: str, environ: Mapping[str, str] = os.environ
    ) -> KubernetesApi:
        """The API server of a ``k8s://`` master with the credentials of :func:`bearer_token`
        (CA and client certificate from the kubeconfig, else the service account's CA)."""
        path = _kubeconfig_path(environ)
        creds = _kubeconfig(path) if path else _Credentials()
        if path is None:
            creds.token = bearer_token(environ)
            ca = os.path.join(SERVICE_ACCOUNT_DIR, "ca.crt")
            creds.ca_file = ca if os.path.exists(ca) else None
        server = api_server(master)
        context = None
        if server.startswith("https://"):
            context = ssl.create_default_context(
                cafile=creds.ca_file,
                cadata=base64.b64decode(creds.ca_data).decode() if creds.ca_data else None,
            )
            if creds.insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if creds.client_cert:
                context.load_cert_chain(*creds.client_cert)
        return cls(server, namespace, token=creds.token, context=context)

    # -- HTTP ---------------------------------------------------------------------------------
    def token(self) -> str | None:
        return self._token()

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> Any:
        url = self.server + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        token = self._token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self._context) as r:
                raw = r.read()
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            try:
                message = json.loads(text).get("message") or text
            except (ValueError, AttributeError):
                message = text
            raise KubeApiError(exc.code, method, path, str(message).strip()) from None
        return json.loads(raw) if raw else None

    def _ns(self, resource: str, name: str | None = None) -> str:
        path = f"/api/v1/namespaces/{urllib.parse.quote(self.namespace)}/{resource}"
        return path + (f"/{urllib.parse.quote(name)}" if name else "")

    # -- resources ----------------------------------------------------------------------------
    def get_pod(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", self._ns("pods", name))
        return result

    def list(self, resource: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        query = {"labelSelector": label_selector} if label_selector else None
        answer = self.request("GET", self._ns(resource), query=query) or {}
        return list(answer.get("items") or [])

    def delete(self, resource: str, name: str) -> None:
        """Delete one object; already gone counts as done."""
        try:
            self.request(
                "DELETE",
                self._ns(resource, name),
                body={"kind": "DeleteOptions", "apiVersion": "v1"},
            )
        except KubeApiError as exc:
            if exc.status != 404:
                raise

    def can_i(self, verb: str, resource: str) -> bool | None:
        """SelfSubjectAccessReview: may this user ``verb`` ``resource`` (core group) here?
        None when the server does not answer reviews or lets nobody ask (the check is then
        skipped: Spark's own 403s are still translated)."""
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {
                    "namespace": self.namespace,
                    "verb": verb,
                    "group": "",
                    "resource": resource,
                }
            },
        }
        try:
            answer = self.request(
                "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=review
            )
        except KubeApiError as exc:
            if exc.status in (403, 404, 405, 501):  # not served, or asking is not allowed
                return None
            raise
        status = (answer or {}).get("status") or {}
        return bool(status.get("allowed"))

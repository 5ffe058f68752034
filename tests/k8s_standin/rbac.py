"""Authentication (bearer tokens of service accounts) and RBAC authorization (RoleBinding →
Role rules), read from the manifests rendered by `kubectl kustomize`."""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BASE = REPO / "k8s-spark" / "base"
DRIVER_SA = "hpo-widget-driver"
ANONYMOUS = "system:anonymous"
# Non-resource paths the default ClusterRoles (system:discovery, system:public-info-viewer) open.
DISCOVERY_PREFIXES = ("/api", "/apis", "/version", "/healthz", "/livez", "/readyz", "/openapi")
PUBLIC_PATHS = ("/version", "/healthz", "/livez", "/readyz")
RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount")


def render(source: Path) -> list[dict[str, Any]]:
    """The objects of a kustomize directory (via `kubectl kustomize`) or of a YAML file."""
    if source.is_dir():
        out = subprocess.run(
            ["kubectl", "kustomize", str(source)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"kubectl kustomize {source} failed: {out.stderr.strip()}")
        text = out.stdout
    else:
        text = source.read_text()
    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]


@dataclass(frozen=True)
class Attributes:
    user: str
    verb: str
    namespace: str  # "" for cluster-scoped requests
    api_group: str = ""
    resource: str = ""  # "pods" or "pods/log"
    name: str = ""
    path: str = ""  # non-resource requests only


class Rbac:
    def __init__(self, namespace: str, rbac: Path | str | list[dict[str, Any]] | None):
        self.namespace = namespace
        if isinstance(rbac, list):
            docs: list[dict[str, Any]] = [
                {"kind": "ServiceAccount", "metadata": {"name": sa}}
                for sa in ("default", DRIVER_SA, "hpo-widget-executor")
            ]
            docs += [
                {"kind": "Role", "metadata": {"name": DRIVER_SA}, "rules": rbac},
                {
                    "kind": "RoleBinding",
                    "metadata": {"name": DRIVER_SA},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "Role",
                        "name": DRIVER_SA,
                    },
                    "subjects": [{"kind": "ServiceAccount", "name": DRIVER_SA}],
                },
            ]
        else:
            source = Path(rbac) if rbac is not None else DEFAULT_BASE
            if not source.exists():
                raise FileNotFoundError(f"RBAC source {source} does not exist")
            docs = [d for d in render(source) if d.get("kind") in RBAC_KINDS]
        self.docs = docs
        self.service_accounts = {"default"} | {
            d["metadata"]["name"]
            for d in docs
            if d["kind"] == "ServiceAccount" and self._ns(d) == namespace
        }
        self._tokens = {sa: f"standin.{sa}.{secrets.token_hex(12)}" for sa in self.service_accounts}
        self._users = {
            tok: f"system:serviceaccount:{namespace}:{sa}" for sa, tok in self._tokens.items()
        }

    def _ns(self, doc: dict[str, Any]) -> str:
        return doc.get("metadata", {}).get("namespace") or self.namespace

    # -- authentication
    def token(self, sa: str) -> str:
        if sa not in self._tokens:
            raise KeyError(
                f"no ServiceAccount {sa!r} in namespace {self.namespace} "
                f"(known: {sorted(self._tokens)})"
            )
        return self._tokens[sa]

    def user_for(self, authorization: str | None) -> str | None:
        """The user a request authenticates as; None = a token the server does not know (401)."""
        if not authorization:
            return ANONYMOUS
        scheme, _, tok = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self._users.get(tok.strip())

    @staticmethod
    def groups(user: str) -> set[str]:
        if user == ANONYMOUS:
            return {"system:unauthenticated"}
        out = {"system:authenticated"}
        if user.startswith("system:serviceaccount:"):
            ns = user.split(":")[2]
            out |= {"system:serviceaccounts", f"system:serviceaccounts:{ns}"}
        return out

    # -- authorization
    def _binds(self, binding: dict[str, Any], user: str) -> bool:
        groups = self.groups(user)
        for s in binding.get("subjects") or []:
            kind = s.get("kind")
            if kind == "ServiceAccount":
                ns = s.get("namespace") or self._ns(binding)
                if user == f"system:serviceaccount:{ns}:{s.get('name')}":
                    return True
            elif (kind == "User" and s.get("name") == user) or (
                kind == "Group" and s.get("name") in groups
            ):
                return True
        return False

    def rules_for(self, user: str, namespace: str) -> list[tuple[str, dict[str, Any]]]:
        """(description, rule) for every rule bound to ``user`` that applies in ``namespace``."""
        roles = {
            (d["kind"], self._ns(d) if d["kind"] == "Role" else "", d["metadata"]["name"]): d
            for d in self.docs
            if d["kind"] in ("Role", "ClusterRole")
        }
        out = []
        for b in self.docs:
            if b["kind"] not in ("RoleBinding", "ClusterRoleBinding") or not self._binds(b, user):
                continue
            if b["kind"] == "RoleBinding" and self._ns(b) != namespace:
                continue
            ref = b.get("roleRef") or {}
            rns = self._ns(b) if ref.get("kind") == "Role" else ""
            role = roles.get((ref.get("kind"), rns, ref.get("name")))
            if role is None:
                continue
            why = (
                f'RBAC: allowed by {b["kind"]} "{b["metadata"]["name"]}/{self._ns(b)}" of '
                f'{ref.get("kind")} "{ref.get("name")}" to {user}'
            )
            out += [(why, r) for r in role.get("rules") or []]
        return out

    def authorize(self, a: Attributes) -> tuple[bool, str]:
        if a.path:  # non-resource URL
            if a.path.startswith(PUBLIC_PATHS):
                return True, "public-info-viewer"
            if a.user != ANONYMOUS and a.path.startswith(DISCOVERY_PREFIXES):
                return True, "system:discovery"
            return False, ""
        if (a.api_group, a.resource) == ("authorization.k8s.io", "selfsubjectaccessreviews"):
            return (a.user != ANONYMOUS and a.verb == "create"), "system:basic-user"
        if not a.namespace:
            return False, ""  # only Roles are modelled: nothing grants cluster-scoped access
        for why, rule in self.rules_for(a.user, a.namespace):
            if _rule_allows(rule, a):
                return True, why
        return False, ""

    @staticmethod
    def forbidden_message(a: Attributes) -> str:
        if a.path:
            return f'forbidden: User "{a.user}" cannot {a.verb} path "{a.path}"'
        base = a.resource.split("/")[0]
        group = a.api_group
        what = (
            f'{base} "{a.name}" is forbidden'
            if a.name
            else f"{base}.{group} is forbidden"
            if group
            else f"{base} is forbidden"
        )
        where = f'in the namespace "{a.namespace}"' if a.namespace else "at the cluster scope"
        return (
            f'{what}: User "{a.user}" cannot {a.verb} resource "{a.resource}" '
            f'in API group "{group}" {where}'
        )


def _rule_allows(rule: dict[str, Any], a: Attributes) -> bool:
    groups = rule.get("apiGroups") or []
    resources = rule.get("resources") or []
    verbs = rule.get("verbs") or []
    names = rule.get("resourceNames") or []
    if not ("*" in groups or a.api_group in groups):
        return False
    sub = a.resource.partition("/")[2]
    if not ("*" in resources or a.resource in resources or (sub and f"*/{sub}" in resources)):
        return False
    if not ("*" in verbs or a.verb in verbs):
        return False
    return not names or (bool(a.name) and a.name in names)

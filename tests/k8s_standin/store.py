"""Objects, resourceVersions, label/field selectors and watches: the etcd + watch-cache part of
the stand-in.  Everything here is plain data (dicts as the JSON API shows them) under one lock."""

from __future__ import annotations

import copy
import queue
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]

KINDS = {
    "pods": "Pod",
    "configmaps": "ConfigMap",
    "persistentvolumeclaims": "PersistentVolumeClaim",
    "services": "Service",
    "secrets": "Secret",
    "serviceaccounts": "ServiceAccount",
    "events": "Event",
}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_body(code: int, reason: str, message: str, details: dict | None = None) -> Obj:
    body: Obj = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


class ApiError(Exception):
    """An error the API answers with a Status body."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def body(self) -> Obj:
        return status_body(self.code, self.reason, self.message, self.details)


def not_found(resource: str, name: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'{resource} "{name}" not found', {"name": name, "kind": resource}
    )


# ------------------------------------------------------------------------------------------
# Selectors (apimachinery labels.Parse / fields.ParseSelector semantics)

_KEY = r"[A-Za-z0-9](?:[-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        has = self.key in labels
        if self.op == "exists":
            return has
        if self.op == "!":
            return not has
        if self.op in ("=", "in"):
            return has and labels[self.key] in self.values
        # "!=" and "notin" match objects without the key too
        return not has or labels[self.key] not in self.values


def _split_top_level(s: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _bad_selector(kind: str, s: str, why: str) -> ApiError:
    return ApiError(400, "BadRequest", f'unable to parse requirement: {kind} "{s}": {why}')


def parse_label_selector(s: str | None) -> list[Requirement]:
    if not s or not s.strip():
        return []
    reqs = []
    for raw in _split_top_level(s):
        part = raw.strip()
        if not part:
            raise _bad_selector("labelSelector", s, "empty requirement")
        m = re.fullmatch(rf"({_KEY})\s+(in|notin)\s*\(([^()]*)\)", part)
        if m:
            values = tuple(v.strip() for v in m.group(3).split(",") if v.strip())
            for v in values:
                if not re.fullmatch(_VALUE, v):
                    raise _bad_selector("labelSelector", s, f"invalid value {v!r}")
            reqs.append(Requirement(m.group(1), m.group(2), values))
            continue
        m = re.fullmatch(rf"!\s*({_KEY})", part)
        if m:
            reqs.append(Requirement(m.group(1), "!"))
            continue
        m = re.fullmatch(rf"({_KEY})\s*(==|!=|=)\s*({_VALUE})", part)
        if m:
            op = "!=" if m.group(2) == "!=" else "="
            reqs.append(Requirement(m.group(1), op, (m.group(3),)))
            continue
        m = re.fullmatch(_KEY, part)
        if m:
            reqs.append(Requirement(part, "exists"))
            continue
        raise _bad_selector("labelSelector", s, f"cannot parse {part!r}")
    return reqs


FIELDS = {
    "pods": {
        "metadata.name",
        "metadata.namespace",
        "status.phase",
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.podIP",
    },
}
_DEFAULT_FIELDS = {"metadata.name", "metadata.namespace"}


def parse_field_selector(s: str | None, resource: str) -> list[tuple[str, str, str]]:
    if not s or not s.strip():
        return []
    allowed = FIELDS.get(resource, _DEFAULT_FIELDS)
    out = []
    for part in s.split(","):
        m = re.fullmatch(r"\s*([A-Za-z.]+)\s*(==|!=|=)\s*([^,]*?)\s*", part)
        if not m:
            raise ApiError(
                400, "BadRequest", f'invalid selector: "{s}"; can\'t understand "{part}"'
            )
        key, op, value = m.group(1), m.group(2), m.group(3)
        if key not in allowed:
            raise ApiError(400, "BadRequest", f"field label not supported: {key}")
        out.append((key, "!=" if op == "!=" else "=", value))
    return out


def field_value(obj: Obj, path: str) -> str:
    cur: Any = obj
    for p in path.split("."):
        cur = cur.get(p) if isinstance(cur, dict) else None
    return "" if cur is None else str(cur)


def matches(obj: Obj, labels: list[Requirement], fields: list[tuple[str, str, str]]) -> bool:
    lab = obj.get("metadata", {}).get("labels") or {}
    if not all(r.matches(lab) for r in labels):
        return False
    for key, op, value in fields:
        equal = field_value(obj, key) == value
        if equal != (op == "="):
            return False
    return True


# ------------------------------------------------------------------------------------------
# Watches


@dataclass
class Watch:
    resource: str
    namespace: str | None
    labels: list[Requirement]
    fields: list[tuple[str, str, str]]
    events: queue.Queue = field(default_factory=queue.Queue)  # (type, obj) | None = end

    def offer(self, etype: str, old: Obj | None, new: Obj) -> None:
        """Real watch-cache semantics: an object that starts or stops matching the selector is
        seen as ADDED / DELETED by this watch."""
        ns = new["metadata"].get("namespace")
        if self.namespace is not None and ns != self.namespace:
            return
        new_m = matches(new, self.labels, self.fields)
        old_m = old is not None and matches(old, self.labels, self.fields)
        if etype == "MODIFIED":
            if new_m and not old_m:
                etype = "ADDED"
            elif old_m and not new_m:
                etype = "DELETED"
            elif not new_m:
                return
        elif etype == "DELETED":
            if not (old_m or new_m):
                return
        elif not new_m:
            return
        self.events.put((etype, new))


@dataclass
class _Event:
    rv: int
    resource: str
    etype: str
    old: Obj | None
    new: Obj


class Store:
    """All objects by (resource, namespace, name); one resourceVersion counter, as etcd has."""

    MAX_LOG = 20000

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._objects: dict[tuple[str, str, str], Obj] = {}
        self._rv = 1000
        self._log: list[_Event] = []
        self._watches: list[Watch] = []
        self.on_removed: list[Callable[[str, Obj], None]] = []

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def _bump(self, resource: str, etype: str, old: Obj | None, new: Obj) -> None:
        self._rv += 1
        new["metadata"]["resourceVersion"] = str(self._rv)
        event = _Event(self._rv, resource, etype, copy.deepcopy(old), copy.deepcopy(new))
        self._log.append(event)
        if len(self._log) > self.MAX_LOG:
            del self._log[: len(self._log) - self.MAX_LOG]
        for w in self._watches:
            if w.resource == resource:
                w.offer(etype, event.old, copy.deepcopy(event.new))

    def create(self, resource: str, namespace: str, obj: Obj) -> Obj:
        with self.lock:
            meta = obj.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            name = meta.get("name")
            if not name:
                raise ApiError(
                    422,
                    "Invalid",
                    f'{KINDS.get(resource, resource)} "" is invalid: '
                    "metadata.name: Required value: name or generateName is required",
                    {"kind": KINDS.get(resource, resource)},
                )
            key = (resource, namespace, name)
            if key in self._objects:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{resource} "{name}" already exists',
                    {"name": name, "kind": resource},
                )
            meta["namespace"] = namespace
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now()
            meta.pop("deletionTimestamp", None)
            obj["kind"] = KINDS.get(resource, obj.get("kind"))
            obj["apiVersion"] = "v1"
            self._objects[key] = obj
            self._bump(resource, "ADDED", None, obj)
            return copy.deepcopy(obj)

    def get(self, resource: str, namespace: str, name: str) -> Obj:
        with self.lock:
            obj = self._objects.get((resource, namespace, name))
            if obj is None:
                raise not_found(resource, name)
            return copy.deepcopy(obj)

    def find(self, resource: str, namespace: str, name: str) -> Obj | None:
        with self.lock:
            obj = self._objects.get((resource, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(
        self,
        resource: str,
        namespace: str | None,
        labels: list[Requirement] | None = None,
        fields: list[tuple[str, str, str]] | None = None,
    ) -> list[Obj]:
        with self.lock:
            return [
                copy.deepcopy(o)
                for (r, ns, _), o in sorted(self._objects.items())
                if r == resource
                and (namespace is None or ns == namespace)
                and matches(o, labels or [], fields or [])
            ]

    def all_objects(self) -> list[tuple[str, Obj]]:
        with self.lock:
            return [(r, copy.deepcopy(o)) for (r, _, _), o in self._objects.items()]

    def update(
        self, resource: str, namespace: str, name: str, mutate: Callable[[Obj], None]
    ) -> Obj:
        """Apply ``mutate`` to a copy of the object and store it (MODIFIED) if it changed."""
        with self.lock:
            cur = self._objects.get((resource, namespace, name))
            if cur is None:
                raise not_found(resource, name)
            new = copy.deepcopy(cur)
            mutate(new)
            for k in ("uid", "name", "namespace", "creationTimestamp"):
                new["metadata"][k] = cur["metadata"][k]
            new["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
            if new == cur:
                return copy.deepcopy(cur)
            self._objects[(resource, namespace, name)] = new
            self._bump(resource, "MODIFIED", cur, new)
            return copy.deepcopy(new)

    def remove(self, resource: str, namespace: str, name: str) -> Obj | None:
        with self.lock:
            cur = self._objects.pop((resource, namespace, name), None)
            if cur is None:
                return None
            final = copy.deepcopy(cur)
            self._bump(resource, "DELETED", cur, final)
            out = copy.deepcopy(final)
        for cb in self.on_removed:
            cb(resource, copy.deepcopy(out))
        return out

    def watch(
        self,
        resource: str,
        namespace: str | None,
        labels: list[Requirement],
        fields: list[tuple[str, str, str]],
        since: str | None,
    ) -> Watch:
        """Without ``since`` (or "0"): ADDED for every matching object, then changes (the API's
        "get state and start at most recent").  With ``since``: every change after it."""
        with self.lock:
            w = Watch(resource, namespace, labels, fields)
            if since in (None, "", "0"):
                for (r, ns, _), o in sorted(self._objects.items()):
                    if (
                        r == resource
                        and (namespace is None or ns == namespace)
                        and matches(o, labels, fields)
                    ):
                        w.events.put(("ADDED", copy.deepcopy(o)))
            else:
                try:
                    rv = int(since)
                except ValueError:
                    raise ApiError(
                        400, "BadRequest", f"invalid resource version: {since}"
                    ) from None
                if self._log and rv < self._log[0].rv - 1:
                    raise ApiError(
                        410, "Expired", f"too old resource version: {rv} ({self._log[0].rv - 1})"
                    )
                for e in self._log:
                    if e.rv > rv and e.resource == resource:
                        w.offer(e.etype, e.old, copy.deepcopy(e.new))
            self._watches.append(w)
            return w

    def unwatch(self, w: Watch) -> None:
        with self.lock:
            if w in self._watches:
                self._watches.remove(w)

    def close_watches(self) -> None:
        with self.lock:
            for w in self._watches:
                w.events.put(None)
            self._watches.clear()

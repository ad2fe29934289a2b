#!/usr/bin/python3
"""brownoutd over a real socket: every endpoint, every JSON answer checked
against docs/openapi.yaml, sweep results checked against `brownout sweep`.

    BO_BUILD=build /usr/bin/python3 tests/daemon/test_api.py [-v] [TestClass.test_name ...]

(tests/daemon/run.sh BUILD does that.) Debian's python3-yaml and
python3-jsonschema are needed; python3-onnx is used, when present, to build a
3x32x32 model and a model with an unsupported operator. BO_KEEP_TMP=1 keeps
the data directories and daemon logs.
"""
import base64
import collections
import csv as csv_module
import gzip
import hashlib
import http.client
import importlib.util
import io
import json
import math
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

import jsonschema
import yaml

from harness import (DATASETS_ROOT, FIXTURES, FMNIST, REPO, STOP_DEADLINE, TOKEN_RE,
                     UPLOAD_LIMIT, WEB, Daemon, admin_cmd, build_dir, http_request)

BUILD = build_dir()
DAEMON = os.path.join(BUILD, "brownoutd")
CLI = os.path.join(BUILD, "brownout")
OPENAPI_PATH = os.path.join(REPO, "docs", "openapi.yaml")
F8 = os.path.join(FIXTURES, "fmnist_preact_f8.onnx")
F6 = os.path.join(FIXTURES, "fmnist_preact_f6.onnx")
F4 = os.path.join(FIXTURES, "fmnist_preact_f4.onnx")
NPY_IMAGES = os.path.join(FIXTURES, "fmnist_first64.npy")
NPY_LABELS = os.path.join(FIXTURES, "fmnist_first64_labels.npy")

JOB_DEADLINE = 120     # s for a small job to finish
POLL = 0.1             # s between polls
TIMESTAMP_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def rel_close(a, b, rel=1e-12):
    if a is None or b is None:
        return a is None and b is None
    if a == b:
        return True
    return abs(a - b) <= rel * max(abs(a), abs(b))


# ---------------------------------------------------------------- OpenAPI

class OpenAPI:
    """docs/openapi.yaml as a validator of answers: (path, method, status)
    -> the documented response, whose JSON schema (OpenAPI 3.0: nullable,
    $ref) is turned into a draft-4 JSON Schema."""

    SKIP_KEYS = {"nullable", "example", "description", "format", "default", "readOnly",
                 "writeOnly", "deprecated", "xml", "externalDocs", "discriminator"}

    def __init__(self, path):
        with open(path, "rb") as f:
            self.raw = f.read()
        self.doc = yaml.safe_load(self.raw)
        self.templates = []
        for tmpl in self.doc.get("paths", {}):
            rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(tmpl)) + "$"
            self.templates.append((tmpl.count("{"), tmpl, re.compile(rx)))
        self.templates.sort()
        self._validators = {}

    def ref(self, ref):
        if not ref.startswith("#/"):
            raise AssertionError("openapi.yaml: only local $refs are supported: %s" % ref)
        node = self.doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise AssertionError("openapi.yaml: $ref %s does not resolve" % ref)
            node = node[part]
        return node

    def deref(self, node):
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            node = self.ref(node["$ref"])
            seen += 1
            if seen > 20:
                raise AssertionError("openapi.yaml: $ref loop")
        return node

    def to_jsonschema(self, node, depth=0):
        if depth > 50:
            raise AssertionError("openapi.yaml: schema nested too deeply (recursive $ref?)")
        if isinstance(node, list):
            return [self.to_jsonschema(n, depth + 1) for n in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return self.to_jsonschema(self.ref(node["$ref"]), depth + 1)
        out = {}
        for k, v in node.items():
            if k in self.SKIP_KEYS:
                continue
            if k == "properties":
                out[k] = {name: self.to_jsonschema(s, depth + 1) for name, s in v.items()}
            elif k in ("items", "additionalProperties", "not") and isinstance(v, dict):
                out[k] = self.to_jsonschema(v, depth + 1)
            elif k in ("allOf", "oneOf", "anyOf"):
                out[k] = [self.to_jsonschema(s, depth + 1) for s in v]
            else:
                out[k] = v
        if node.get("nullable") is True:
            if "type" in out:
                out["type"] = [out["type"], "null"]
                if "enum" in out:
                    out["enum"] = list(out["enum"]) + [None]
            else:
                out = {"anyOf": [out, {"type": "null"}]}
        return out

    def template(self, path):
        path = path.split("?", 1)[0]
        for _, tmpl, rx in self.templates:
            if rx.match(path):
                return tmpl
        return None

    def response(self, method, path, status):
        """The documented response object, or raise AssertionError."""
        method = method.lower()
        tmpl = self.template(path)
        common = self.doc.get("components", {}).get("responses", {})
        if tmpl is None:
            # not an endpoint of the document: a 404/400 from the router or
            # the static files; its JSON body, if any, must be an Error
            fallback = {404: "NotFound", 400: "BadRequest", 405: "MethodNotAllowed"}
            if status in fallback:
                return "(no documented path)", common[fallback[status]]
            raise AssertionError("%s %s: no path of openapi.yaml matches and status %d is not "
                                 "a router error" % (method.upper(), path, status))
        item = self.doc["paths"][tmpl]
        op = item.get(method)
        if op is None:
            if status == 405:
                return tmpl, common["MethodNotAllowed"]
            raise AssertionError("%s %s (%s): method not documented, answered %d (want 405)"
                                 % (method.upper(), path, tmpl, status))
        responses = op.get("responses", {})
        resp = responses.get(str(status))
        if resp is None:
            resp = responses.get("%dXX" % (status // 100))
        if resp is None:
            raise AssertionError("%s %s: status %d is not documented for %s %s in openapi.yaml "
                                 "(documented: %s)" % (method.upper(), path, status,
                                                       method.upper(), tmpl,
                                                       ", ".join(sorted(responses))))
        return "%s %s" % (method.upper(), tmpl), self.deref(resp)

    def validator(self, schema_node, key):
        v = self._validators.get(key)
        if v is None:
            schema = self.to_jsonschema(schema_node)
            jsonschema.Draft4Validator.check_schema(schema)
            v = jsonschema.Draft4Validator(schema)
            self._validators[key] = v
        return v

    def check(self, method, path, status, headers, raw):
        """Validate one answer; returns the parsed body (JSON object, text,
        bytes or None). Raises AssertionError on any mismatch."""
        where, resp = self.response(method, path, status)
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        content = resp.get("content")
        label = "%s %s -> %d" % (method.upper(), path, status)
        if status in (204, 304):
            if raw:
                raise AssertionError("%s: body must be empty, got %r" % (label, raw[:200]))
            return None
        if not content:
            if where.startswith("(no documented") and ctype != "application/json":
                return raw
            raise AssertionError("%s: openapi.yaml documents no content for %s %d"
                                 % (label, where, status))
        if ctype == "application/json" or "application/json" in content and not ctype:
            if "application/json" not in content:
                raise AssertionError("%s: JSON answer, but %s %d documents only %s"
                                     % (label, where, status, ", ".join(content)))
            try:
                body = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
            except (ValueError, UnicodeDecodeError) as e:
                raise AssertionError("%s: body is not valid JSON (%s): %r" % (label, e, raw[:300]))
            if ctype != "application/json":
                raise AssertionError("%s: JSON body without Content-Type application/json (%r)"
                                     % (label, headers.get("Content-Type")))
            media = content["application/json"]
            if "schema" not in media:
                raise AssertionError("%s: openapi.yaml has no schema for %s %d application/json"
                                     % (label, where, status))
            v = self.validator(media["schema"], (where, status))
            errors = sorted(v.iter_errors(body), key=lambda e: list(e.absolute_path))
            if errors:
                msgs = ["  at /%s: %s" % ("/".join(str(p) for p in e.absolute_path), e.message)
                        for e in errors[:8]]
                raise AssertionError("%s: body does not match the schema of %s %d:\n%s\nbody: %s"
                                     % (label, where, status, "\n".join(msgs),
                                        json.dumps(body)[:1500]))
            return body
        if where.startswith("(no documented"):
            return raw
        if ctype not in content:
            raise AssertionError("%s: Content-Type %r is not among the documented %s"
                                 % (label, headers.get("Content-Type"), ", ".join(content)))
        if ctype.startswith("text/") or ctype in ("application/yaml",):
            return raw.decode("utf-8")
        return raw


def _no_constants(name):
    raise ValueError("JSON has %s, which is not JSON" % name)


SPEC = OpenAPI(OPENAPI_PATH)


# ---------------------------------------------------------------- HTTP

class Ctx:
    port = None
    tokens = {}      # user name -> token
    seen = collections.Counter()   # HTTP status -> answers received from the daemon


ALICE = object()     # default token: alice's


def request(method, path, body=None, token=ALICE, headers=None, port=None, timeout=60):
    """One HTTP request; (status, headers, raw body bytes)."""
    if token is ALICE:
        token = Ctx.tokens.get("alice")
    port = port or Ctx.port
    status, hdrs, raw = http_request(port, method, path, body, token, headers, timeout)
    if port == Ctx.port:
        Ctx.seen[status] += 1
    return status, hdrs, raw


def api(method, path, body=None, token=ALICE, headers=None, port=None):
    """A request whose answer is validated against docs/openapi.yaml for
    (path template, method, status); (status, headers, parsed body)."""
    status, hdrs, raw = request(method, path, body, token, headers, port)
    parsed = SPEC.check(method, path, status, hdrs, raw)
    return status, hdrs, parsed


def declared_only(method, path, length, content_type, token=ALICE, port=None):
    """Send only the headers, with Content-Length: length, and read the
    answer: the daemon must refuse an oversized body before reading it."""
    if token is ALICE:
        token = Ctx.tokens.get("alice")
    conn = http.client.HTTPConnection("127.0.0.1", port or Ctx.port, timeout=15)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        conn.putheader("Authorization", "Bearer " + token)
        conn.putheader("Content-Type", content_type)
        conn.putheader("Content-Length", str(length))
        conn.endheaders()
        try:
            resp = conn.getresponse()
        except TimeoutError:
            raise AssertionError("%s %s with Content-Length %d: no answer within 15 s without "
                                 "the body (the limit must be checked from Content-Length)"
                                 % (method, path, length))
        raw = resp.read()
        if (port or Ctx.port) == Ctx.port:
            Ctx.seen[resp.status] += 1
        return resp.status, resp.headers, SPEC.check(method, path, resp.status, resp.headers, raw)
    finally:
        conn.close()


def multipart(files):
    """files: [(field, filename, bytes)] -> (body, content type)."""
    boundary = "brownout-test-" + os.urandom(12).hex()
    out = []
    for field, filename, data in files:
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                    "Content-Type: application/octet-stream\r\n\r\n"
                    % (boundary, field, filename)).encode())
        out.append(data)
        out.append(b"\r\n")
    out.append(("--%s--\r\n" % boundary).encode())
    return b"".join(out), "multipart/form-data; boundary=" + boundary


def q(path, **params):
    return path + ("?" + urllib.parse.urlencode(params) if params else "")


def cli_json(args):
    r = subprocess.run([CLI] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    if r.returncode != 0:
        raise AssertionError("brownout %s: exit %d: %s" % (" ".join(args), r.returncode,
                                                          r.stderr.decode()))
    return r.stdout.decode()


# ---------------------------------------------------------------- test data

def idx_first(n):
    """The first n Fashion-MNIST test images and labels as IDX files (gzip)."""
    with gzip.open(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz")) as f:
        img = f.read()
    with gzip.open(os.path.join(FMNIST, "t10k-labels-idx1-ubyte.gz")) as f:
        lab = f.read()
    images = img[:4] + n.to_bytes(4, "big") + img[8:16] + img[16:16 + n * 784]
    labels = lab[:4] + n.to_bytes(4, "big") + lab[8:8 + n]
    return gzip.compress(images), gzip.compress(labels)


def cifar_batch(n, seed=3):
    """n CIFAR-10 binary records (label byte + 3x32x32 pixels), random pixels."""
    r = random.Random(seed)
    return b"".join(bytes([i % 10]) + bytes(r.randrange(256) for _ in range(3072))
                    for i in range(n))


def tiny_onnx(c, h, w, act="Relu"):
    """Conv(4, 3x3) -> act -> Flatten -> Gemm(10) on [N, c, h, w] (python3-onnx)."""
    from onnx import TensorProto, helper
    r = random.Random(1)
    nodes = [
        helper.make_node("Conv", ["input", "conv.w"], ["c"], name="conv1",
                         pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node(act, ["c"], ["r"], name="act"),
        helper.make_node("Flatten", ["r"], ["f"], name="flat", axis=1),
        helper.make_node("Gemm", ["f", "fc.w"], ["logits"], name="linear", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", c, h, w])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        [helper.make_tensor("conv.w", TensorProto.FLOAT, [4, c, 3, 3],
                            [r.uniform(-0.1, 0.1) for _ in range(4 * c * 9)]),
         helper.make_tensor("fc.w", TensorProto.FLOAT, [10, 4 * h * w],
                            [r.uniform(-0.1, 0.1) for _ in range(40 * h * w)])])
    m = helper.make_model(graph, producer_name="brownout-tests",
                          opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    return m.SerializeToString()


def have_onnx():
    return importlib.util.find_spec("onnx") is not None


# ---------------------------------------------------------------- the document

EXPECTED_OPERATIONS = {
    ("get", "/api/v1/health"), ("get", "/api/v1/openapi.yaml"), ("get", "/metrics"),
    ("get", "/api/v1/me"),
    ("get", "/api/v1/models"), ("post", "/api/v1/models"),
    ("get", "/api/v1/models/{id}"), ("delete", "/api/v1/models/{id}"),
    ("get", "/api/v1/datasets"), ("post", "/api/v1/datasets"),
    ("get", "/api/v1/datasets/{id}"), ("delete", "/api/v1/datasets/{id}"),
    ("get", "/api/v1/jobs"), ("post", "/api/v1/jobs"),
    ("get", "/api/v1/jobs/{id}"), ("delete", "/api/v1/jobs/{id}"), ("patch", "/api/v1/jobs/{id}"),
    ("post", "/api/v1/jobs/{id}/cancel"), ("get", "/api/v1/jobs/{id}/results"),
    ("get", "/api/v1/analysis"), ("get", "/"),
    # tokens and users (issue 12)
    ("get", "/api/v1/tokens"), ("post", "/api/v1/tokens"), ("delete", "/api/v1/tokens/{id}"),
    ("get", "/api/v1/users"), ("post", "/api/v1/users"), ("delete", "/api/v1/users/{id}"),
    # remote workers (daemon/remote.c)
    ("get", "/api/v1/workers"), ("post", "/api/v1/worker/claim"),
    ("post", "/api/v1/worker/leases/{lease}/heartbeat"),
    ("post", "/api/v1/worker/leases/{lease}/results"), ("get", "/api/v1/worker/blobs/{sha256}"),
}
PUBLIC_OPERATIONS = {("get", "/api/v1/health"), ("get", "/api/v1/openapi.yaml"),
                     ("get", "/metrics"), ("get", "/")}


class T00Document(unittest.TestCase):
    """docs/openapi.yaml itself (needs no daemon)."""

    def walk(self, node, path=""):
        if isinstance(node, dict):
            yield path, node
            for k, v in node.items():
                yield from self.walk(v, path + "/" + str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from self.walk(v, path + "/" + str(i))

    def test_version_and_operations(self):
        d = SPEC.doc
        self.assertEqual(d.get("openapi"), "3.0.3")
        self.assertIn("title", d["info"])
        self.assertIn("version", d["info"])
        ops = set()
        ids = []
        for tmpl, item in d["paths"].items():
            for method, op in item.items():
                if method in ("get", "put", "post", "delete", "patch", "head", "options"):
                    ops.add((method, tmpl))
                    ids.append(op.get("operationId"))
                    self.assertTrue(op.get("responses"), "%s %s has no responses" % (method, tmpl))
                    public = op.get("security", d.get("security")) == []
                    self.assertEqual(public, (method, tmpl) in PUBLIC_OPERATIONS,
                                     "%s %s: security" % (method, tmpl))
                    if not public:
                        self.assertIn("401", op["responses"], "%s %s: no 401" % (method, tmpl))
        self.assertEqual(ops, EXPECTED_OPERATIONS)
        self.assertNotIn(None, ids)
        self.assertEqual(len(ids), len(set(ids)), "operationIds must be unique")

    def test_refs_resolve_and_schemas_compile(self):
        for path, node in self.walk(SPEC.doc):
            if "$ref" in node:
                SPEC.ref(node["$ref"])  # raises if it does not resolve
        for name, schema in SPEC.doc["components"]["schemas"].items():
            js = SPEC.to_jsonschema(schema)
            jsonschema.Draft4Validator.check_schema(js)

    def test_every_json_response_has_a_schema(self):
        for tmpl, item in SPEC.doc["paths"].items():
            for method, op in item.items():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                for status, resp in op["responses"].items():
                    resp = SPEC.deref(resp)
                    for media, m in (resp.get("content") or {}).items():
                        self.assertIn("schema", m, "%s %s %s %s" % (method, tmpl, status, media))
                    if status.startswith(("4", "5")):
                        self.assertIn("application/json", resp.get("content", {}),
                                      "%s %s %s: errors are JSON" % (method, tmpl, status))

    def test_objects_are_closed(self):
        # every object schema with properties forbids unknown ones, except the
        # allOf refinements of Error (they only narrow error.code)
        for path, node in self.walk(SPEC.doc["components"]["schemas"], "#/components/schemas"):
            if "properties" in node and node.get("type") == "object":
                self.assertIs(node.get("additionalProperties"), False,
                              "%s: additionalProperties: false missing" % path)

    def test_error_schema_examples(self):
        v = SPEC.validator(SPEC.doc["components"]["schemas"]["Error"], "Error")
        v.validate({"error": {"code": "invalid", "message": "unknown field 'trails'",
                              "field": "trails"}})
        v.validate({"error": {"code": "not_found", "message": "no such job", "field": None}})
        self.assertFalse(v.is_valid({"error": {"code": "nope", "message": "x", "field": None}}))
        self.assertFalse(v.is_valid({"error": {"code": "invalid", "message": "x"}}))
        self.assertFalse(v.is_valid({"error": {"code": "invalid", "message": "x", "field": None,
                                               "extra": 1}}))


# ---------------------------------------------------------------- the daemon

class ApiCase(unittest.TestCase):
    """Assertions on answers of api(), and polling."""

    def assertError(self, answer, status, code, field=Ellipsis, message_has=None):
        st, hdrs, body = answer
        self.assertEqual(st, status, "want %d %s, got %d: %s" % (status, code, st, body))
        self.assertEqual(body["error"]["code"], code, body)
        if field is not Ellipsis:
            self.assertEqual(body["error"]["field"], field, body)
        if message_has:
            self.assertIn(message_has, body["error"]["message"])
        return body

    def assertOk(self, answer, status=200):
        st, hdrs, body = answer
        self.assertEqual(st, status, "want %d, got %d: %s" % (status, st, body))
        return body

    def wait_until(self, what, fn, timeout, poll=POLL):
        deadline = time.monotonic() + timeout
        while True:
            v = fn()
            if v:
                return v
            if time.monotonic() > deadline:
                self.fail("%s: not within %d s" % (what, timeout))
            time.sleep(poll)


class DaemonCase(ApiCase):
    """A test class with a daemon of its own (cls.daemon) in a temporary
    data directory (cls.data), stopped and removed after the class; a
    failing test shows the end of the daemon's log."""

    tmp = None
    data = None
    daemon = None

    @classmethod
    def make_data_dir(cls, prefix):
        if not os.access(DAEMON, os.X_OK):
            raise unittest.SkipTest("%s is not built" % DAEMON)
        cls.tmp = tempfile.mkdtemp(prefix=prefix)
        cls.data = os.path.join(cls.tmp, "data")
        os.mkdir(cls.data)

    @classmethod
    def tearDownClass(cls):
        if cls.daemon is not None:
            if cls.daemon.stop() is None:
                cls.daemon.kill()
        if cls.tmp and not os.environ.get("BO_KEEP_TMP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)
        elif cls.tmp:
            print("\nkept %s" % cls.tmp, file=sys.stderr)

    def run(self, result=None):
        n = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result is not None and len(result.failures) + len(result.errors) > n \
                and self.daemon is not None:
            sys.stderr.write("\n" + self.daemon.log_tail(25) + "\n")
        return out


class T10Api(DaemonCase):
    """One daemon for the whole class; the tests run in name order and
    share what they create through the cached helpers below."""

    cache = {}

    @classmethod
    def setUpClass(cls):
        cls.make_data_dir("brownoutd-test-")
        Ctx.tokens = {
            "alice": admin_cmd(cls.data, "user", "add", "alice"),
            "root": admin_cmd(cls.data, "user", "add", "root", "--admin"),
            "bob": admin_cmd(cls.data, "user", "add", "bob"),
        }
        Ctx.tokens["alice2"] = admin_cmd(cls.data, "token", "create", "alice")
        cls.daemon = Daemon(cls.data, "brownoutd.log").start()
        Ctx.port = cls.daemon.port
        Ctx.seen = collections.Counter()
        cls.cache = {}

    # ---- resources, created once

    def model(self, key):
        """Upload (once) a fixture model as alice."""
        if key not in self.cache:
            path = {"f8": F8, "f6": F6, "f4": F4}[key]
            params = {"name": key}
            if key == "f8":
                params.update(mean="0.286", std="0.353", description="PreActResNet18 F=8")
            st, hdrs, body = api("POST", q("/api/v1/models", **params), read(path))
            self.assertEqual(st, 201, body)
            self.cache[key] = body
        return self.cache[key]

    def npy_dataset(self):
        if "npy" not in self.cache:
            data, ctype = multipart([("images", "images.npy", read(NPY_IMAGES)),
                                     ("labels", "labels.npy", read(NPY_LABELS))])
            st, hdrs, body = api("POST", q("/api/v1/datasets", name="first64", format="npy",
                                           description="first 64 test images, normalised"),
                                 data, headers={"Content-Type": ctype})
            self.assertEqual(st, 201, body)
            self.cache["npy"] = body
        return self.cache["npy"]

    def need_fmnist(self):
        if not os.path.exists(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz")):
            self.skipTest("%s is not installed (dataset-fashion-mnist)" % FMNIST)

    def path_dataset(self, name="fmnist-test", split="test"):
        self.need_fmnist()
        key = "path:" + name
        if key not in self.cache:
            st, hdrs, body = api("POST", "/api/v1/datasets",
                                 {"name": name, "path": FMNIST, "split": split})
            self.assertEqual(st, 201, body)
            self.cache[key] = body
        return self.cache[key]

    def submit(self, spec, token=ALICE, headers=None):
        st, hdrs, body = api("POST", "/api/v1/jobs", spec, token=token, headers=headers)
        self.assertEqual(st, 202, body)
        self.assertEqual(hdrs.get("Location"), "/api/v1/jobs/%d" % body["id"])
        return body

    def job(self, jid, token=ALICE):
        return self.assertOk(api("GET", "/api/v1/jobs/%d" % jid, token=token))

    def wait_job(self, jid, states=("done", "failed", "cancelled"), timeout=JOB_DEADLINE):
        deadline = time.monotonic() + timeout
        while True:
            j = self.job(jid)
            if j["state"] in states:
                return j
            if time.monotonic() > deadline:
                self.fail("job %d still %s after %d s (want %s): %s"
                          % (jid, j["state"], timeout, "/".join(states), j["progress"]))
            time.sleep(POLL)

    def tiny_spec(self, model_id, dataset_id, **over):
        spec = {"model": model_id, "dataset": dataset_id, "p": [0.0], "trials": 1, "limit": 8,
                "calib": 8, "mean": [0], "std": [1]}
        spec.update(over)
        return spec

    def walk(self, path, limit, token=ALICE, **params):
        """Every page of a list with ?limit=; checks the paging rules and
        returns the items in order."""
        items, after, pages = [], None, 0
        while True:
            p = dict(params, limit=limit)
            if after is not None:
                p["after"] = after
            page = self.assertOk(api("GET", q(path, **p), token=token))
            pages += 1
            self.assertLessEqual(len(page["items"]), limit)
            for it in page["items"]:
                if after is not None:
                    self.assertLess(it["id"], after, "after=%s returned id %d" % (after, it["id"]))
            items += page["items"]
            if page["next_after"] is None:
                break
            self.assertEqual(len(page["items"]), limit, "a page before the last is full")
            self.assertEqual(page["next_after"], page["items"][-1]["id"])
            after = page["next_after"]
            self.assertLess(pages, 1000)
        ids = [it["id"] for it in items]
        self.assertEqual(len(ids), len(set(ids)), "an item was listed twice: %s" % ids)
        self.assertEqual(ids, sorted(ids, reverse=True), "not newest first: %s" % ids)
        return items

    # ---------------------------------------------------------------- service

    def test_000_tokens(self):
        for name, tok in Ctx.tokens.items():
            self.assertRegex(tok, TOKEN_RE)
        self.assertEqual(len(set(Ctx.tokens.values())), 4, "every token is new")
        me = self.assertOk(api("GET", "/api/v1/me", token=Ctx.tokens["alice2"]))
        self.assertEqual(me["name"], "alice")

    def test_010_health(self):
        st, hdrs, h = api("GET", "/api/v1/health", token=None)
        self.assertEqual(st, 200)
        self.assertEqual(h["status"], "ok")
        self.assertEqual(h["workers"], 2)
        version = subprocess.run([CLI, "version"], stdout=subprocess.PIPE).stdout.decode().split()
        self.assertEqual(h["version"], version[-1])
        schema = [int(f[:3]) for f in os.listdir(os.path.join(REPO, "schema"))
                  if re.match(r"^[0-9]{3}_.*\.sql$", f)]
        self.assertEqual(h["schema_version"], max(schema))
        h2 = api("GET", "/api/v1/health", token=None)[2]
        self.assertGreaterEqual(h2["uptime_seconds"], h["uptime_seconds"])

    def test_011_openapi_served(self):
        st, hdrs, raw = request("GET", "/api/v1/openapi.yaml", token=None)
        self.assertEqual(st, 200)
        self.assertEqual(hdrs.get("Content-Type", "").split(";")[0].strip(), "application/yaml")
        self.assertEqual(raw, SPEC.raw, "the daemon serves another openapi.yaml than docs/")
        SPEC.check("GET", "/api/v1/openapi.yaml", st, hdrs, raw)

    def test_012_me(self):
        for name, admin in (("alice", False), ("bob", False), ("root", True)):
            me = self.assertOk(api("GET", "/api/v1/me", token=Ctx.tokens[name]))
            self.assertEqual((me["name"], me["admin"]), (name, admin))
        ids = {api("GET", "/api/v1/me", token=Ctx.tokens[n])[2]["id"]
               for n in ("alice", "bob", "root")}
        self.assertEqual(len(ids), 3)

    def test_013_auth(self):
        bogus = "bo_" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
        self.assertRegex(bogus, TOKEN_RE)
        for method, path, body in (("GET", "/api/v1/me", None), ("GET", "/api/v1/models", None),
                                   ("GET", "/api/v1/jobs", None), ("GET", "/api/v1/datasets", None),
                                   ("GET", "/api/v1/jobs/1", None),
                                   ("POST", "/api/v1/jobs", {"model": 1, "dataset": 1, "p": [0]}),
                                   ("DELETE", "/api/v1/models/1", None)):
            for token in (None, bogus, "nonsense"):
                ans = api(method, path, body, token=token)
                self.assertError(ans, 401, "unauthorized")
                self.assertTrue(ans[1].get("WWW-Authenticate", "").startswith("Bearer"),
                                "%s %s: WWW-Authenticate: %r" % (method, path,
                                                                  ans[1].get("WWW-Authenticate")))
        # another scheme, or the token without a scheme
        for value in ("Basic " + base64.b64encode(b"alice:x").decode(), Ctx.tokens["alice"]):
            self.assertError(api("GET", "/api/v1/me", token=None,
                                 headers={"Authorization": value}), 401, "unauthorized")
        # the public endpoints need no token
        for path in ("/api/v1/health", "/api/v1/openapi.yaml", "/metrics"):
            self.assertEqual(api("GET", path, token=None)[0], 200, path)

    def test_014_router_errors(self):
        self.assertError(api("GET", "/api/v1/nope"), 404, "not_found")
        self.assertError(api("GET", "/api/v1/models/1/nope"), 404, "not_found")
        self.assertError(api("PUT", "/api/v1/models"), 405, "method_not_allowed")
        self.assertError(api("PATCH", "/api/v1/me"), 405, "method_not_allowed")
        self.assertError(api("DELETE", "/api/v1/jobs"), 405, "method_not_allowed")
        st, hdrs, body = api("GET", "/api/v1/models/abc")
        self.assertIn(st, (400, 404), body)

    def test_015_port_clash_and_help(self):
        """issue 16: a port in use is said once, by brownoutd, with the port
        and the reason (not libmicrohttpd's "Failed to bind to port 0");
        --help does not end with "stopped"."""
        other = os.path.join(self.tmp, "clash")
        os.mkdir(other)
        r = subprocess.run([DAEMON, "--listen", "127.0.0.1:%d" % Ctx.port, "--data", other,
                            "--workers", "1", "--web", WEB], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=60)
        err = r.stderr.decode("utf-8", "replace")
        self.assertEqual(r.returncode, 1, err)
        self.assertNotIn("Failed to bind", err)
        self.assertRegex(err, r"brownoutd: error: cannot listen on 127\.0\.0\.1:%d: "
                              r"Address already in use" % Ctx.port)
        self.assertNotIn("stopped", err)
        r = subprocess.run([DAEMON, "--help"], stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stdout.startswith(b"usage: brownoutd"), r.stdout[:200])
        self.assertNotIn(b"stopped", r.stdout + r.stderr)

    # ---------------------------------------------------------------- models

    def test_100_model_upload(self):
        m = self.model("f8")
        onnx = read(F8)
        self.assertEqual(m["name"], "f8")
        self.assertEqual(m["description"], "PreActResNet18 F=8")
        self.assertEqual(m["owner"], "alice")
        self.assertEqual(m["sha256"], hashlib.sha256(onnx).hexdigest())
        self.assertEqual(m["size"], len(onnx))
        self.assertEqual(len(m["mean"]), 1)
        self.assertTrue(rel_close(m["mean"][0], 0.286, 1e-6), m["mean"])
        self.assertTrue(rel_close(m["std"][0], 0.353, 1e-6), m["std"])
        self.assertIsNone(m["blocks"])
        info = json.loads(cli_json(["info", F8, "--json"]))
        del info["model"]
        # the file's own normalisation in the CLI's; the one in force here
        self.assertEqual(info.pop("normalisation")["source"], "metadata")
        norm = m["info"].pop("normalisation")
        self.assertEqual(norm["source"], "upload")
        self.assertTrue(rel_close(norm["mean"][0], 0.286, 1e-6) and
                        rel_close(norm["std"][0], 0.353, 1e-6), norm)
        self.assertEqual(m["info"]["activation_sites"], "activations")
        self.assertEqual(m["info"]["warnings"], [])
        self.assertEqual(m["info"], info, "info differs from `brownout info --json`")
        m["info"]["normalisation"] = norm
        self.assertEqual(m["info"]["parameters"], 176034)
        self.assertEqual(m["info"]["activations"], 54272)
        got = self.assertOk(api("GET", "/api/v1/models/%d" % m["id"], token=Ctx.tokens["bob"]))
        self.assertEqual(got, m)
        listed = self.assertOk(api("GET", "/api/v1/models"))
        self.assertIn(m["id"], [it["id"] for it in listed["items"]])

    def test_101_model_upload_with_blocks(self):
        blocks = "/layer1=early,/layer2=early"
        st, hdrs, m = api("POST", q("/api/v1/models", name="f4-blocks", blocks=blocks), read(F4))
        self.assertEqual(st, 201, m)
        self.assertEqual(hdrs.get("Location"), "/api/v1/models/%d" % m["id"])
        self.assertEqual(m["blocks"], blocks)
        self.assertIsNone(m["mean"])
        self.assertIsNone(m["std"])
        self.assertEqual(m["description"], "")
        info = json.loads(cli_json(["info", F4, "--blocks", blocks, "--json"]))
        del info["model"]
        self.assertEqual(m["info"]["normalisation"]["source"], "metadata")
        self.assertEqual(m["info"], info)
        self.assertIn("early", [b["name"] for b in m["info"]["blocks"]])

    def test_102_model_upload_errors(self):
        onnx = read(F4)
        self.assertError(api("POST", "/api/v1/models", onnx), 400, "invalid", "name")
        self.assertError(api("POST", q("/api/v1/models", name="empty"), b""), 400, "malformed")
        self.assertError(api("POST", q("/api/v1/models", name="junk"), b"this is not ONNX" * 8),
                         400, "malformed")
        self.assertError(api("POST", q("/api/v1/models", name="trunc"), onnx[:1000]),
                         400, "malformed")
        self.assertError(api("POST", q("/api/v1/models", name="m", mean="abc"), onnx),
                         400, "invalid", "mean")
        self.assertError(api("POST", q("/api/v1/models", name="negstd", std="0.5,-1"), onnx),
                         400, "invalid", "std")
        self.assertError(api("POST", q("/api/v1/models", name="m"), onnx, token=None),
                         401, "unauthorized")
        self.assertError(declared_only("POST", q("/api/v1/models", name="big"), UPLOAD_LIMIT + 1,
                                       "application/octet-stream"), 413, "too_large")
        if have_onnx():
            # every unsupported operator is named, with its count and first node
            self.assertError(api("POST", q("/api/v1/models", name="erf"),
                                 tiny_onnx(1, 28, 28, act="Tan")), 422, "unsupported",
                             message_has="unsupported operators: Tan x1 (first: act)")
        listed = self.assertOk(api("GET", "/api/v1/models?limit=200"))["items"]
        names = [it["name"] for it in listed]
        for bad in ("empty", "junk", "trunc", "big", "erf", "negstd"):
            self.assertNotIn(bad, names, "a refused upload was stored")

    def test_102a_model_normalisation_required(self):
        """A file without brownout.mean/std needs mean/std or normalize=none
        at upload; the model says where its normalisation comes from."""
        if not have_onnx():
            self.skipTest("python3-onnx is not installed")
        onnx = tiny_onnx(1, 28, 28)
        st, hdrs, body = api("POST", q("/api/v1/models", name="nonorm"), onnx)
        self.assertError((st, hdrs, body), 400, "invalid", "mean")
        for way in ("mean=M&std=S", "brownout.mean/brownout.std", "normalize=none"):
            self.assertIn(way, body["error"]["message"])
        self.assertError(api("POST", q("/api/v1/models", name="nonorm", mean="0.5"), onnx),
                         400, "invalid", "std")
        self.assertError(api("POST", q("/api/v1/models", name="nonorm", normalize="yes"), onnx),
                         400, "invalid", "normalize")
        self.assertError(api("POST", q("/api/v1/models", name="nonorm", normalize="none",
                                       mean="0.5", std="0.5"), onnx),
                         400, "invalid", "normalize")
        listed = [it["name"] for it in self.assertOk(api("GET", "/api/v1/models?limit=200"))["items"]]
        self.assertNotIn("nonorm", listed, "a refused upload was stored")
        st, hdrs, raw = api("POST", q("/api/v1/models", name="raw", normalize="none"), onnx)
        self.assertEqual(st, 201, raw)
        self.assertEqual(raw["info"]["normalisation"],
                         {"source": "none (raw pixels)", "mean": [0.0], "std": [1.0]})
        self.assertEqual((raw["mean"], raw["std"]), ([0.0], [1.0]))
        st, hdrs, given = api("POST", q("/api/v1/models", name="given", mean="0.25,0.25",
                                        std="0.5"), onnx)
        self.assertEqual(st, 201, given)
        self.assertEqual(given["info"]["normalisation"],
                         {"source": "upload", "mean": [0.25, 0.25], "std": [0.5, 0.5]})

    def test_102b_no_activation_site_warns(self):
        """A model with no site under the job's rule: a warning in the
        model's info (default rule) and in the job."""
        if not have_onnx():
            self.skipTest("python3-onnx is not installed")
        st, hdrs, m = api("POST", q("/api/v1/models", name="sigmoid-only", normalize="none"),
                          tiny_onnx(1, 28, 28, act="Sigmoid"))
        self.assertEqual(st, 201, m)
        self.assertEqual(m["info"]["warnings"], [])  # Sigmoid is an activation
        self.assertEqual(m["info"]["activations"], 4 * 28 * 28)
        ds = self.npy_dataset()
        job = self.assertOk(api("POST", "/api/v1/jobs",
                                self.tiny_spec(m["id"], ds["id"], activation_sites="relu")), 202)
        done = self.wait_job(job["id"])
        self.assertEqual(done["state"], "done", done)
        self.assertEqual(done["spec"]["activation_sites"], "relu")
        self.assertEqual(len(done["warnings"]), 1, done["warnings"])
        self.assertIn("no activation site under the rule 'relu'", done["warnings"][0])
        job = self.assertOk(api("POST", "/api/v1/jobs", self.tiny_spec(m["id"], ds["id"])), 202)
        done = self.wait_job(job["id"])
        self.assertEqual(done["spec"]["activation_sites"], "activations")
        self.assertEqual(done["warnings"], [])
        # no activation function at all: the model's info warns at upload
        st, hdrs, lin = api("POST", q("/api/v1/models", name="linear-only", normalize="none"),
                            tiny_onnx(1, 28, 28, act="Identity"))
        self.assertEqual(st, 201, lin)
        self.assertEqual(lin["info"]["activations"], 0)
        self.assertEqual(len(lin["info"]["warnings"]), 1, lin["info"])
        self.assertIn("no activation site under the rule 'activations'", lin["info"]["warnings"][0])

    def test_102c_model_upload_as_form(self):
        """issue 16: `curl -F file=@model.onnx` sends a form; the answer says to
        send the raw file, whether or not the Content-Type says multipart."""
        boundary = "------------------------d74496d66958873e"
        form = (("--%s\r\nContent-Disposition: form-data; name=\"file\"; "
                 "filename=\"model.onnx\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                 % boundary).encode() + read(F4) + ("\r\n--%s--\r\n" % boundary).encode())
        for name, ctype in (("form1", "multipart/form-data; boundary=" + boundary),
                            ("form2", "application/x-www-form-urlencoded")):
            body = self.assertError(api("POST", q("/api/v1/models", name=name), form,
                                        headers={"Content-Type": ctype}),
                                    400, "malformed", message_has="--data-binary")
            self.assertIn("not as a form", body["error"]["message"])
        names = [it["name"] for it in self.assertOk(api("GET", "/api/v1/models?limit=200"))["items"]]
        self.assertNotIn("form1", names)
        self.assertNotIn("form2", names)

    def test_103_model_get_missing(self):
        self.assertError(api("GET", "/api/v1/models/999999"), 404, "not_found")
        self.assertError(api("DELETE", "/api/v1/models/999999"), 404, "not_found")

    def test_104_model_pagination(self):
        made = []
        onnx = read(F4)
        for i in range(5):
            st, hdrs, m = api("POST", q("/api/v1/models", name="page-%d" % i), onnx)
            self.assertEqual(st, 201, m)
            made.append(m["id"])
        self.assertEqual(made, sorted(made), "ids grow")
        full = self.assertOk(api("GET", "/api/v1/models?limit=200"))
        self.assertIsNone(full["next_after"])
        for limit in (1, 2, 3):
            walked = self.walk("/api/v1/models", limit)
            self.assertEqual([m["id"] for m in walked], [m["id"] for m in full["items"]])
        self.assertTrue(set(made) <= {m["id"] for m in full["items"]})
        # after=: strictly below
        page = self.assertOk(api("GET", "/api/v1/models?after=%d&limit=200" % made[2]))
        self.assertEqual([m["id"] for m in page["items"]],
                         [m["id"] for m in full["items"] if m["id"] < made[2]])
        # the default page size is 50: with fewer, everything and no next_after
        dflt = self.assertOk(api("GET", "/api/v1/models"))
        self.assertEqual(dflt, full)
        for bad in ("0", "201", "-1", "x", ""):
            self.assertError(api("GET", "/api/v1/models?limit=" + bad), 400, "invalid", "limit")
        self.assertError(api("GET", "/api/v1/models?after=x"), 400, "invalid", "after")

    def test_105_model_delete_and_ownership(self):
        onnx = read(F4)
        ids = []
        for i in range(2):
            st, hdrs, m = api("POST", q("/api/v1/models", name="doomed-%d" % i), onnx)
            self.assertEqual(st, 201, m)
            ids.append(m["id"])
        bob = Ctx.tokens["bob"]
        self.assertError(api("DELETE", "/api/v1/models/%d" % ids[0], token=bob), 403, "forbidden")
        self.assertOk(api("GET", "/api/v1/models/%d" % ids[0]))
        # the admin may
        self.assertOk(api("DELETE", "/api/v1/models/%d" % ids[0], token=Ctx.tokens["root"]), 204)
        # and so may the owner
        self.assertOk(api("DELETE", "/api/v1/models/%d" % ids[1]), 204)
        for mid in ids:
            self.assertError(api("GET", "/api/v1/models/%d" % mid), 404, "not_found")
            self.assertError(api("DELETE", "/api/v1/models/%d" % mid), 404, "not_found")
        listed = [m["id"] for m in self.assertOk(api("GET", "/api/v1/models?limit=200"))["items"]]
        self.assertFalse(set(ids) & set(listed))
        # bob's own model: bob may delete it, alice may not
        st, hdrs, m = api("POST", q("/api/v1/models", name="bobs"), onnx, token=bob)
        self.assertEqual(st, 201, m)
        self.assertEqual(m["owner"], "bob")
        self.assertError(api("DELETE", "/api/v1/models/%d" % m["id"]), 403, "forbidden")
        self.assertOk(api("DELETE", "/api/v1/models/%d" % m["id"], token=bob), 204)

    # ---------------------------------------------------------------- datasets

    def test_200_dataset_upload_npy(self):
        d = self.npy_dataset()
        self.assertEqual((d["name"], d["owner"], d["source"], d["format"], d["split"]),
                         ("first64", "alice", "upload", "npy", "test"))
        self.assertEqual(d["description"], "first 64 test images, normalised")
        self.assertIsNone(d["path"])
        self.assertEqual(d["images"], 64)
        self.assertEqual(d["shape"], [1, 28, 28])
        self.assertGreater(d["size"], 0)
        self.assertIsNotNone(d["sha256"])
        self.assertEqual(self.assertOk(api("GET", "/api/v1/datasets/%d" % d["id"])), d)

    def test_201_dataset_upload_idx_and_cifar(self):
        self.need_fmnist()
        images, labels = idx_first(64)
        data, ctype = multipart([("images", "t10k-images-idx3-ubyte.gz", images),
                                 ("labels", "t10k-labels-idx1-ubyte.gz", labels)])
        st, hdrs, d = api("POST", q("/api/v1/datasets", name="idx64", format="idx"), data,
                          headers={"Content-Type": ctype})
        self.assertEqual(st, 201, d)
        self.assertEqual(hdrs.get("Location"), "/api/v1/datasets/%d" % d["id"])
        self.assertEqual((d["format"], d["images"], d["shape"], d["source"]),
                         ("idx", 64, [1, 28, 28], "upload"))
        data, ctype = multipart([("images", "test_batch.bin", cifar_batch(64))])
        st, hdrs, d = api("POST", q("/api/v1/datasets", name="cifar64", format="cifar",
                                    split="test"), data, headers={"Content-Type": ctype})
        self.assertEqual(st, 201, d)
        self.assertEqual((d["format"], d["images"], d["shape"]), ("cifar", 64, [3, 32, 32]))
        self.cache["cifar"] = d

    def test_202_dataset_upload_errors(self):
        img, lab = read(NPY_IMAGES), read(NPY_LABELS)

        def up(files, **params):
            data, ctype = multipart(files)
            return api("POST", q("/api/v1/datasets", **params), data,
                       headers={"Content-Type": ctype})
        self.assertError(up([("images", "i.npy", img[:len(img) // 2]), ("labels", "l.npy", lab)],
                            name="trunc", format="npy"), 400, "malformed")
        self.assertError(up([("images", "i.npy", b"garbage" * 100), ("labels", "l.npy", lab)],
                            name="junk", format="npy"), 400, "malformed")
        self.assertError(up([("images", "i.npy", img), ("labels", "l.npy", lab)], format="npy"),
                         400, "invalid", "name")
        self.assertError(up([("images", "i.npy", img), ("labels", "l.npy", lab)], name="x",
                            format="zip"), 400, "invalid", "format")
        self.assertError(up([("images", "i.npy", img)], name="nolabels", format="npy"),
                         400, "invalid", "labels")
        self.assertError(declared_only("POST", q("/api/v1/datasets", name="big", format="npy"),
                                       UPLOAD_LIMIT + 1, "multipart/form-data; boundary=xyz"),
                         413, "too_large")
        listed = self.assertOk(api("GET", "/api/v1/datasets?limit=200"))["items"]
        names = [d["name"] for d in listed]
        for bad in ("trunc", "junk", "nolabels", "big"):
            self.assertNotIn(bad, names)

    def test_203_dataset_register_path(self):
        d = self.path_dataset()
        self.assertEqual((d["source"], d["format"], d["split"], d["owner"]),
                         ("path", "idx", "test", "alice"))
        self.assertEqual(os.path.realpath(d["path"]), os.path.realpath(FMNIST))
        self.assertEqual((d["images"], d["shape"]), (10000, [1, 28, 28]))
        st, hdrs, tr = api("POST", "/api/v1/datasets",
                           {"name": "fmnist-train", "path": FMNIST, "format": "idx",
                            "split": "train", "description": "60k"})
        self.assertEqual(st, 201, tr)
        self.assertEqual(hdrs.get("Location"), "/api/v1/datasets/%d" % tr["id"])
        self.assertEqual((tr["split"], tr["images"], tr["description"]), ("train", 60000, "60k"))

    def test_204_dataset_register_errors(self):
        self.need_fmnist()
        post = lambda body: api("POST", "/api/v1/datasets", body)  # noqa: E731
        for path in ("/etc", os.path.join(FIXTURES, "..", "..", "daemon"),
                     os.path.join(DATASETS_ROOT, "..", "..", "etc")):
            self.assertError(post({"name": "x", "path": path}), 403, "forbidden", "path")
        self.assertError(post({"name": "x", "path": os.path.join(FIXTURES, "no-such-dir")}),
                         404, "not_found", "path")
        self.assertError(post({"name": "x", "path": FMNIST, "colour": "red"}), 400, "invalid",
                         "colour")
        self.assertError(post({"name": "x"}), 400, "invalid", "path")
        self.assertError(post({"name": "x", "path": FMNIST, "format": "zip"}), 400, "invalid",
                         "format")
        self.assertError(post({"name": "x", "path": FMNIST, "split": "dev"}), 400, "invalid",
                         "split")
        self.assertError(post('{"name": "x", "path": '), 400, "malformed")
        self.assertError(api("POST", "/api/v1/datasets", {"name": "x", "path": FMNIST},
                             token=None), 401, "unauthorized")

    def test_205_dataset_delete_and_pagination(self):
        self.need_fmnist()
        made = []
        for i in range(3):
            st, hdrs, d = api("POST", "/api/v1/datasets", {"name": "tmp-%d" % i, "path": FMNIST})
            self.assertEqual(st, 201, d)
            made.append(d["id"])
        full = self.assertOk(api("GET", "/api/v1/datasets?limit=200"))
        self.assertGreaterEqual(len(full["items"]), 5)
        self.assertEqual([d["id"] for d in self.walk("/api/v1/datasets", 2)],
                         [d["id"] for d in full["items"]])
        self.assertError(api("DELETE", "/api/v1/datasets/%d" % made[0], token=Ctx.tokens["bob"]),
                         403, "forbidden")
        self.assertOk(api("DELETE", "/api/v1/datasets/%d" % made[0], token=Ctx.tokens["root"]), 204)
        self.assertOk(api("DELETE", "/api/v1/datasets/%d" % made[1]), 204)
        for did in made[:2]:
            self.assertError(api("GET", "/api/v1/datasets/%d" % did), 404, "not_found")
        listed = [d["id"] for d in self.assertOk(api("GET", "/api/v1/datasets?limit=200"))["items"]]
        self.assertNotIn(made[0], listed)
        self.assertIn(made[2], listed)
        self.assertTrue(os.path.isdir(FMNIST), "deleting a registered path left the files")

    # ---------------------------------------------------------------- jobs

    def test_300_job_validation(self):
        f8, ds = self.model("f8"), self.npy_dataset()
        good = {"model": f8["id"], "dataset": ds["id"], "p": [1e-3], "trials": 1, "limit": 8}
        post = lambda body, **kw: api("POST", "/api/v1/jobs", body, **kw)  # noqa: E731
        before = self.assertOk(api("GET", "/api/v1/jobs?limit=1"))["items"]
        self.assertError(post('{"model": 1, "dataset": '), 400, "malformed")
        self.assertError(post("not json at all"), 400, "malformed")
        self.assertError(post(dict(good, trails=3)), 400, "invalid", "trails",
                         message_has="trails")
        for p in ([1.5], [-0.1], [0.1, 2], [], "1e-3:2:3", "0:1e-2:3", "a:b:c", "nonsense", 0.1):
            self.assertError(post(dict(good, p=p)), 400, "invalid", "p")
        no_p = dict(good)
        del no_p["p"]
        self.assertError(post(no_p), 400, "invalid", "p")
        no_ds = dict(good)
        del no_ds["dataset"]
        self.assertError(post(no_ds), 400, "invalid", "dataset")
        for field, value in (("bits", 17), ("bits", 1), ("trials", 0), ("trials", "five"),
                             ("deviation", "gauss"), ("target", "bias"), ("priority", 11),
                             ("priority", -11), ("activation_sites", "all"), ("seed", -1),
                             ("limit", -1), ("energy_a", 0), ("ci_target", 1.5),
                             ("model", "f8"), ("references", [f8["id"], "x"]),
                             ("mean", "0.5")):
            self.assertError(post(dict(good, **{field: value})), 400, "invalid", field)
        self.assertError(post(dict(good, model=999999)), 404, "not_found", "model")
        self.assertError(post(dict(good, dataset=999999)), 404, "not_found", "dataset")
        if "cifar" in self.cache:  # 3x32x32 images for a 1x28x28 model
            self.assertError(post(dict(good, dataset=self.cache["cifar"]["id"])), 422,
                             "shape_mismatch", "dataset")
        if have_onnx():  # a 3x32x32 model for the 1x28x28 images
            st, hdrs, c3 = api("POST", q("/api/v1/models", name="c3x32x32", normalize="none"),
                               tiny_onnx(3, 32, 32))
            self.assertEqual(st, 201, c3)
            self.assertEqual(c3["info"]["input_shape"], [3, 32, 32])
            self.assertError(post(dict(good, model=c3["id"])), 422, "shape_mismatch", "dataset")
        self.assertError(declared_only("POST", "/api/v1/jobs", (1 << 20) + 1, "application/json"),
                         413, "too_large")
        self.assertError(post(good, token=None), 401, "unauthorized")
        after = self.assertOk(api("GET", "/api/v1/jobs?limit=1"))["items"]
        self.assertEqual([j["id"] for j in after], [j["id"] for j in before],
                         "a refused job was queued")

    def test_301_job_refusals_at_submit(self):
        """What used to fail only when the job ran is refused at submit: a
        mean or std that is infinite as a float, a block_p rule naming a
        block the model does not have (under the job's block map)."""
        f8, ds = self.model("f8"), self.npy_dataset()
        good = {"model": f8["id"], "dataset": ds["id"], "p": [1e-3], "trials": 1, "limit": 8}
        post = lambda body: api("POST", "/api/v1/jobs", body)  # noqa: E731
        before = self.assertOk(api("GET", "/api/v1/jobs?limit=1"))["items"]
        for field, value in (("mean", [1e39]), ("std", [1e39]), ("mean", [-3.5e38]),
                             ("std", [1e-50])):
            self.assertError(post(dict(good, **{field: value})), 400, "invalid", field)
        b = self.assertError(post(dict(good, block_p="layer1=2p,layer9=0")), 400, "invalid",
                             "block_p", message_has="'layer9'")
        self.assertIn("layer1, layer2", b["error"]["message"], "the model's blocks are listed")
        # the job's own map renames blocks: layer1 is gone, early exists
        self.assertError(post(dict(good, blocks="/layer1=early", block_p="layer1=2p")), 400,
                         "invalid", "block_p", message_has="'layer1'")
        self.assertError(post(dict(good, block_p="Layer1=2p")), 400, "invalid", "block_p")
        after = self.assertOk(api("GET", "/api/v1/jobs?limit=1"))["items"]
        self.assertEqual([j["id"] for j in after], [j["id"] for j in before],
                         "a refused job was queued")
        # what the model has passes, and still runs (the rule is checked again there)
        j = self.submit(dict(good, blocks="/layer1=early", block_p="early=2p,*=p",
                             mean=[3.4e38], std=[1]))
        self.assertEqual(self.wait_job(j["id"])["state"], "done")

    def check_against_cli(self, job, cli, model, dataset, trials_key=True):
        """The finished job's results (JSON and CSV) against `brownout sweep`."""
        jid = job["id"]
        self.assertEqual(job["state"], "done", job)
        self.assertIsNone(job["error"])
        self.assertIsNotNone(job["started_at"])
        self.assertIsNotNone(job["finished_at"])
        self.assertLessEqual(job["created_at"], job["started_at"])
        self.assertLessEqual(job["started_at"], job["finished_at"])
        self.assertTrue(rel_close(job["clean_accuracy"], cli["clean_accuracy"]))
        pr = job["progress"]
        self.assertEqual(pr["points_total"], len(cli["points"]))
        self.assertEqual(pr["points_done"], pr["points_total"])
        self.assertEqual(pr["trials_total"], sum(pt["trials"] for pt in cli["points"]))
        self.assertEqual(pr["trials_done"], pr["trials_total"])
        self.assertEqual(pr["images_total"], sum(pt["images"] for pt in cli["points"]))
        self.assertEqual(pr["images_done"], pr["images_total"])
        self.assertEqual(pr["fraction"], 1)

        res = self.assertOk(api("GET", "/api/v1/jobs/%d/results" % jid, token=Ctx.tokens["bob"]))
        self.assertEqual((res["job"], res["state"], res["complete"]), (jid, "done", True))
        self.assertEqual(res["model"], model["name"])
        self.assertEqual(res["dataset"], dataset["name"])
        self.assertEqual(set(res["config"]), set(cli["config"]),
                         "config keys differ from `brownout sweep --json`")
        for k in ("deviation", "target", "activation_sites", "blocks", "block_p", "trials",
                  "min_trials", "max_trials", "seed", "bits", "calib", "limit"):
            if k in cli["config"]:
                self.assertEqual(res["config"][k], cli["config"][k], "config." + k)
        for k in ("energy_a", "ci_target"):
            if k in cli["config"]:
                self.assertTrue(rel_close(res["config"][k], cli["config"][k]), "config." + k)
        for k in ("mean", "std"):  # the CLI keeps them as float32
            self.assertEqual(len(res["config"][k]), len(cli["config"][k]))
            for a, b in zip(res["config"][k], cli["config"][k]):
                self.assertTrue(rel_close(a, b, 1e-6), "config.%s %s vs %s" % (k, a, b))
        self.assertTrue(rel_close(res["clean_accuracy"], cli["clean_accuracy"]))
        self.assertEqual(res["parameters"], cli["parameters"])
        self.assertEqual(res["activations"], cli["activations"])
        self.assertEqual(len(res["points"]), len(cli["points"]))
        for i, (a, b) in enumerate(zip(res["points"], cli["points"])):
            for k in ("p", "accuracy_mean", "accuracy_std", "eta", "energy", "energy_reduction"):
                self.assertTrue(rel_close(a[k], b[k]),
                                "point %d %s: API %r, CLI %r" % (i, k, a[k], b[k]))
            self.assertTrue(rel_close(a["ci95"][0], b["ci95"][0]) and
                            rel_close(a["ci95"][1], b["ci95"][1]),
                            "point %d ci95: API %r, CLI %r" % (i, a["ci95"], b["ci95"]))
            self.assertEqual((a["trials"], a["images"]), (b["trials"], b["images"]), "point %d" % i)
            self.assertEqual(len(a["trial_accuracies"]), len(b["trial_accuracies"]))
            for x, y in zip(a["trial_accuracies"], b["trial_accuracies"]):
                self.assertTrue(rel_close(x, y), "point %d trial_accuracies: API %r, CLI %r"
                                % (i, a["trial_accuracies"], b["trial_accuracies"]))
            self.assertEqual(a["seed"], job["spec"]["seed"])
            # designs and yield (spec 4a, 4c): the same numbers as the CLI
            self.assertEqual(a["n"], b["n"], "point %d n" % i)
            for k in ("std_between", "std_within", "q05", "q50", "q95", "yield", "yield_lo",
                      "yield_hi", "accuracy_floor"):
                self.assertTrue(rel_close(a[k], b[k], 1e-9),
                                "point %d %s: API %r, CLI %r" % (i, k, a[k], b[k]))
            self.assertEqual(a["yield_note"], b["yield_note"], "point %d yield_note" % i)
        self.assertEqual(len(res["references"]), len(cli["references"]))
        for i, (a, b) in enumerate(zip(res["references"], cli["references"])):
            name = self.find_model(job["spec"]["references"][i])["name"]
            self.assertEqual(a["model"], name)
            self.assertTrue(rel_close(a["energy"], b["energy"]) and
                            rel_close(a["accuracy"], b["accuracy"]),
                            "reference %d: API %r, CLI %r" % (i, a, b))
        return res

    def find_model(self, mid):
        return self.assertOk(api("GET", "/api/v1/models/%d" % mid))

    def check_csv(self, jid, cli_args):
        st, hdrs, csv = api("GET", "/api/v1/jobs/%d/results?format=csv" % jid)
        self.assertEqual(st, 200)
        self.assertEqual(hdrs.get("Content-Type", "").split(";")[0].strip(), "text/csv")
        want = cli_json(cli_args + ["--csv"])
        # the CLI's columns first, then the provenance columns (issue 12)
        prov = ("job,model,model_version,model_sha256,dataset,dataset_sha256,deviation,"
                "target,sites,seed,bits,design").split(",")
        rows = list(csv_module.reader(io.StringIO(csv)))
        self.assertEqual(rows[0][-len(prov):], prov)
        got = "".join(",".join(r[:-len(prov)]) + "\n" for r in rows)
        self.assertEqual(got, want)
        res = self.assertOk(api("GET", "/api/v1/jobs/%d/results" % jid))
        for r in rows[1:]:
            self.assertEqual(dict(zip(prov, r[-len(prov):])),
                             {k: "" if res["provenance"][k] is None else str(res["provenance"][k])
                              for k in prov})
        self.assertError(api("GET", "/api/v1/jobs/%d/results?format=xml" % jid), 400, "invalid",
                         "format")

    def test_310_job_matches_cli(self):
        """bm on weights and activations, references for the energy
        reduction, explicit normalisation, on the uploaded NumPy images."""
        f8, f4, f6, ds = self.model("f8"), self.model("f4"), self.model("f6"), self.npy_dataset()
        spec = {"model": f8["id"], "dataset": ds["id"], "p": [1e-3, 1e-2], "trials": 2,
                "limit": 64, "seed": 7, "mean": [0], "std": [1],
                "references": [f4["id"], f6["id"]]}
        job = self.submit(spec)
        self.assertEqual(job["owner"], "alice")
        self.assertEqual((job["model"], job["model_name"]), (f8["id"], "f8"))
        self.assertEqual((job["dataset"], job["dataset_name"]), (ds["id"], "first64"))
        self.assertIn(job["state"], ("queued", "running"))
        self.assertEqual(job["priority"], 0)
        self.assertIsNone(job["finished_at"])
        resolved = dict(job["spec"])
        self.assertEqual(resolved.pop("p"), [1e-3, 1e-2])
        self.assertEqual(resolved.pop("energy_a"), 12.8)
        self.assertEqual([float(x) for x in resolved.pop("mean")], [0.0])
        self.assertEqual([float(x) for x in resolved.pop("std")], [1.0])
        self.assertEqual(resolved, {
            "model": f8["id"], "dataset": ds["id"], "deviation": "bm", "target": "both",
            "blocks": None, "block_p": None, "trials": 2, "ci_target": None, "min_trials": 3,
            "max_trials": 100, "activation_sites": "activations", "seed": 7, "bits": 8,
            "calib": 256, "limit": 64, "references": [f4["id"], f6["id"]], "priority": 0,
            "images_per_trial": "all", "accuracy_floor": None, "weight_faults": "independent"})
        args = ["sweep", F8, "--images", NPY_IMAGES, "--labels", NPY_LABELS, "--p", "1e-3,1e-2",
                "--trials", "2", "--limit", "64", "--seed", "7", "--threads", "1", "--mean", "0",
                "--std", "1", "--references", F4 + "," + F6]
        cli = json.loads(cli_json(args + ["--json"]))
        done = self.wait_job(job["id"])
        res = self.check_against_cli(done, cli, f8, ds)
        self.assertAlmostEqual(done["clean_accuracy"], 58 / 64)
        # the references make the energy reduction defined at 1e-3 (fixture facts)
        self.assertIsNotNone(res["points"][0]["energy_reduction"])
        self.assertIsNone(res["points"][1]["energy_reduction"])
        self.check_csv(job["id"], args)
        self.cache["done_job"] = done

    def test_311_job_matches_cli_variants(self):
        """erasure on weights with a block map and per-block p, p as LO:HI:N,
        on a registered IDX directory; and adaptive trials."""
        f8, ds, npy = self.model("f8"), self.path_dataset(), self.npy_dataset()
        blocks, block_p = "/layer1=early,/layer2=early", "early=2p,*=p"
        j2 = self.submit({"model": f8["id"], "dataset": ds["id"], "p": "1e-3:1e-2:2",
                          "deviation": "erasure", "target": "weights", "blocks": blocks,
                          "block_p": block_p, "activation_sites": "conv-inputs", "bits": 6,
                          "calib": 32, "seed": 11, "energy_a": 10, "limit": 64, "trials": 2,
                          "priority": 3})
        j3 = self.submit({"model": f8["id"], "dataset": npy["id"], "p": [0.02], "ci_target": 0.2,
                          "min_trials": 2, "max_trials": 3, "seed": 3, "limit": 64,
                          "mean": [0], "std": [1]})
        self.assertEqual(len(j2["spec"]["p"]), 2)
        self.assertTrue(rel_close(j2["spec"]["p"][0], 1e-3) and rel_close(j2["spec"]["p"][1], 1e-2),
                        j2["spec"]["p"])
        self.assertEqual((j2["spec"]["deviation"], j2["spec"]["target"], j2["spec"]["bits"],
                          j2["spec"]["blocks"], j2["spec"]["block_p"], j2["priority"]),
                         ("erasure", "weights", 6, blocks, block_p, 3))
        self.assertEqual((j3["spec"]["ci_target"], j3["spec"]["min_trials"],
                          j3["spec"]["max_trials"]), (0.2, 2, 3))
        a2 = ["sweep", F8, FMNIST, "--p", "1e-3:1e-2:2", "--deviation", "erasure", "--target",
              "weights", "--blocks", blocks, "--block-p", block_p, "--activation-sites",
              "conv-inputs", "--bits", "6", "--calib", "32", "--seed", "11", "--energy-a", "10",
              "--limit", "64", "--trials", "2", "--threads", "1"]
        a3 = ["sweep", F8, "--images", NPY_IMAGES, "--labels", NPY_LABELS, "--p", "0.02",
              "--ci-target", "0.2", "--min-trials", "2", "--max-trials", "3", "--seed", "3",
              "--limit", "64", "--mean", "0", "--std", "1", "--threads", "1"]
        self.check_against_cli(self.wait_job(j2["id"]), json.loads(cli_json(a2 + ["--json"])),
                               f8, ds)
        self.check_csv(j2["id"], a2)
        self.check_against_cli(self.wait_job(j3["id"]), json.loads(cli_json(a3 + ["--json"])),
                               f8, npy)
        self.check_csv(j3["id"], a3)

    def test_312_job_images_per_trial(self):
        """images_per_trial (spec 4a) in a job spec: each trial sees n of the
        N images, the results (n, quantiles, yield and its interval at the
        spec's floor) equal `brownout sweep --images-per-trial`'s, JSON and
        CSV; n > N is refused naming the field."""
        f8, npy = self.model("f8"), self.npy_dataset()
        good = {"model": f8["id"], "dataset": npy["id"], "p": [0.01, 0.03], "trials": 3,
                "limit": 64, "seed": 5, "mean": [0], "std": [1]}
        post = lambda body: api("POST", "/api/v1/jobs", body)  # noqa: E731
        before = self.assertOk(api("GET", "/api/v1/jobs?limit=1"))["items"]
        self.assertError(post(dict(good, images_per_trial=65)), 400, "invalid",
                         "images_per_trial", message_has="65")
        self.assertError(post(dict(good, images_per_trial=17, limit=16)), 400, "invalid",
                         "images_per_trial")
        for bad in (0, -3, "some", 1.5, [16]):
            self.assertError(post(dict(good, images_per_trial=bad)), 400, "invalid",
                             "images_per_trial")
        for bad in (0, 1.5, "high"):
            self.assertError(post(dict(good, accuracy_floor=bad)), 400, "invalid",
                             "accuracy_floor")
        after = self.assertOk(api("GET", "/api/v1/jobs?limit=1"))["items"]
        self.assertEqual([j["id"] for j in after], [j["id"] for j in before],
                         "a refused job was queued")
        job = self.submit(dict(good, images_per_trial=16, accuracy_floor=0.75))
        self.assertEqual((job["spec"]["images_per_trial"], job["spec"]["accuracy_floor"]),
                         (16, 0.75))
        args = ["sweep", F8, "--images", NPY_IMAGES, "--labels", NPY_LABELS, "--p", "0.01,0.03",
                "--trials", "3", "--limit", "64", "--seed", "5", "--mean", "0", "--std", "1",
                "--threads", "1", "--images-per-trial", "16", "--accuracy-floor", "0.75"]
        res = self.check_against_cli(self.wait_job(job["id"]),
                                     json.loads(cli_json(args + ["--json"])), f8, npy)
        self.assertEqual(res["config"]["images_per_trial"], 16)
        for pt in res["points"]:
            self.assertEqual((pt["n"], pt["images"], pt["accuracy_floor"]), (16, 48, 0.75))
            self.assertTrue(all(abs(a * 16 - round(a * 16)) < 1e-9 for a in pt["trial_accuracies"]))
            self.assertEqual(pt["yield"], sum(a >= 0.75 for a in pt["trial_accuracies"]) / 3)
            self.assertIsNotNone(pt["yield_note"])
        self.check_csv(job["id"], args)

    def test_313_job_weight_faults_nested(self):
        """weight_faults (spec 4b): nested in a job spec gives the CLI's
        chips (each trial's accuracy at every point, its minimum energy)
        and yield curve, JSON and CSV, whatever the pool's task split; a
        bad value is refused naming the field, and nothing is queued."""
        f8, npy = self.model("f8"), self.npy_dataset()
        good = {"model": f8["id"], "dataset": npy["id"], "p": [0.005, 0.01, 0.03], "trials": 4,
                "limit": 64, "seed": 5, "mean": [0], "std": [1], "target": "weights"}
        post = lambda body: api("POST", "/api/v1/jobs", body)  # noqa: E731
        before = self.assertOk(api("GET", "/api/v1/jobs?limit=1"))["items"]
        for bad in ("sometimes", "Nested", 1, None, ["nested"]):
            self.assertError(post(dict(good, weight_faults=bad)), 400, "invalid", "weight_faults")
        after = self.assertOk(api("GET", "/api/v1/jobs?limit=1"))["items"]
        self.assertEqual([j["id"] for j in after], [j["id"] for j in before],
                         "a refused job was queued")
        job = self.submit(dict(good, weight_faults="nested"))
        self.assertEqual(job["spec"]["weight_faults"], "nested")
        args = ["sweep", F8, "--images", NPY_IMAGES, "--labels", NPY_LABELS, "--p",
                "0.005,0.01,0.03", "--trials", "4", "--limit", "64", "--seed", "5", "--mean", "0",
                "--std", "1", "--threads", "1", "--target", "weights", "--weight-faults", "nested"]
        cli = json.loads(cli_json(args + ["--json"]))
        res = self.check_against_cli(self.wait_job(job["id"]), cli, f8, npy)
        self.assertEqual(res["config"]["weight_faults"], "nested")
        a, b = res["chips"], cli["chips"]
        self.assertEqual((a["count"], len(a["trials"])), (4, 4))
        self.assertEqual((a["count"], a["p"], a["yield_note"]), (b["count"], b["p"], b["yield_note"]))
        for ca, cb in zip(a["trials"], b["trials"]):
            self.assertEqual(ca["trial"], cb["trial"])
            self.assertEqual(len(ca["accuracy"]), 3)
            for x, y in zip(ca["accuracy"], cb["accuracy"]):
                self.assertTrue(rel_close(x, y), "chip %d: API %r, CLI %r" % (ca["trial"], ca, cb))
            for k in ("min_energy", "min_p", "min_eta"):
                self.assertTrue(ca[k] is None and cb[k] is None or rel_close(ca[k], cb[k]),
                                "chip %d %s: API %r, CLI %r" % (ca["trial"], k, ca, cb))
        self.assertEqual(len(res["yield_curve"]), 3)
        for ya, yb in zip(res["yield_curve"], cli["yield_curve"]):
            for k in ("p", "eta", "energy", "yield", "yield_lo", "yield_hi"):
                self.assertTrue(rel_close(ya[k], yb[k], 1e-9), "yield_curve %s: %r vs %r" % (k, ya, yb))
        self.check_csv(job["id"], args)
        # the default spec has no chips
        done = self.cache.get("done_job")
        if done:
            r0 = self.assertOk(api("GET", "/api/v1/jobs/%d/results" % done["id"]))
            self.assertEqual((r0["chips"], r0["yield_curve"], r0["config"]["weight_faults"]),
                             (None, None, "independent"))

    def test_316_job_images_per_trial_auto(self):
        """images_per_trial = auto (spec 4a) in a job: a pilot of min_trials
        trials at n0 = min(N, 256) per point, then the point's trials at the
        n of bo_design_auto_n. Each point equals `brownout sweep` at that n
        (the CLI's auto reproduces its fixed-n run, spec 4a), its pilot is
        the CLI's trials at n0, n follows the formula from that pilot and the
        costs the results report, and the result has the CLI auto's keys."""
        f8, npy = self.model("f8"), self.npy_dataset()
        ps = [0.01, 0.03, 0.05]
        spec = {"model": f8["id"], "dataset": npy["id"], "p": ps, "trials": 4,
                "limit": 64, "seed": 11, "mean": [0], "std": [1], "images_per_trial": "auto"}
        self.assertError(api("POST", "/api/v1/jobs", dict(spec, images_per_trial="Auto")), 400,
                         "invalid", "images_per_trial", message_has="auto")
        job = self.submit(spec)
        self.assertEqual(job["spec"]["images_per_trial"], "auto")
        job = self.wait_job(job["id"])
        self.assertEqual(job["state"], "done", job)
        res = self.assertOk(api("GET", "/api/v1/jobs/%d/results" % job["id"]))
        self.assertEqual(res["config"]["images_per_trial"], "auto")
        self.assertEqual(res["provenance"]["design"], "auto")
        base = ["sweep", F8, "--images", NPY_IMAGES, "--labels", NPY_LABELS, "--trials", "4",
                "--limit", "64", "--seed", "11", "--mean", "0", "--std", "1",
                "--threads", "1"]
        auto = json.loads(cli_json(base + ["--p", ",".join(map(str, ps)), "--images-per-trial",
                                           "auto", "--json"]))
        # the pilot: trials 0..2 at n0 = min(64, 256) = 64, the CLI's at 64
        n0 = json.loads(cli_json(base + ["--p", ",".join(map(str, ps)), "--images-per-trial",
                                         "64", "--json"]))
        want = dict(auto)
        want["points"] = []
        for i, pt in enumerate(res["points"]):
            self.assertEqual(set(pt), set(auto["points"][i]), "point keys differ from the CLI's")
            self.assertEqual(set(pt["pilot"]), set(auto["points"][i]["pilot"]))
            pl = pt["pilot"]
            self.assertEqual((pl["trials"], pl["images_per_trial"]), (3, 64), pt)
            self.assertTrue(pl["seconds_per_trial"] > 0 and pl["seconds_per_image"] > 0, pl)
            a = n0["points"][i]["trial_accuracies"][:3]
            m = sum(a) / 3
            w = sum(x * (1 - x) for x in a) / 3 * 64 / 63
            b = max(sum((x - m) ** 2 for x in a) / 2 - w / 64, 1e-6)
            n = min(64, max(32, round(math.sqrt(pl["seconds_per_trial"] / pl["seconds_per_image"]
                                                 * w / b))))
            self.assertEqual(pt["n"], n, "point %d: n from its pilot %r and costs %r" % (i, a, pl))
            fixed = json.loads(cli_json(base + ["--p", str(ps[i]), "--images-per-trial",
                                                str(n), "--json"]))["points"][0]
            self.assertEqual(pt["trial_accuracies"], fixed["trial_accuracies"], "point %d" % i)
            if auto["points"][i]["n"] == n:
                self.assertEqual(pt["trial_accuracies"], auto["points"][i]["trial_accuracies"])
            want["points"].append(fixed)
        # everything else as the CLI computes it at each point's n
        self.check_against_cli(job, want, f8, npy)

    # issue 14: the energy optimizer as a job (daemon/optjob.c)
    OPT_CLI = ["--max-loss", "0.01", "--limit", "64", "--calib", "32", "--block-p-grid",
               "1e-3,1e-2", "--curve-trials", "1", "--min-trials", "2", "--max-trials", "4",
               "--budget-trials", "40", "--verify-trials", "3", "--baseline-trials", "1",
               "--baseline-p", "1e-3,1e-2", "--seed", "3", "--mean", "0", "--std", "1"]

    def opt_spec(self, **over):
        """The tiny optimize job of OPT_CLI on the first 64 images."""
        f8, npy = self.model("f8"), self.npy_dataset()
        spec = {"kind": "optimize", "model": f8["id"], "dataset": npy["id"], "max_loss": 0.01,
                "limit": 64, "calib": 32, "block_p_grid": [1e-3, 1e-2], "curve_trials": 1,
                "min_trials": 2, "max_trials": 4, "budget_trials": 40, "verify_trials": 3,
                "baseline_trials": 1, "baseline_p": "1e-3,1e-2", "seed": 3, "mean": [0],
                "std": [1]}
        spec.update(over)
        return spec

    def test_317_optimize_job(self):
        """An optimize job finishes with a verified allocation whose fields
        agree (E/E_o in (0, 1], meets_floor exactly when the CI reaches the
        floor, shares adding to 1), its progress at "done" within the
        budget, and the same allocation, search and verification as
        `brownout optimize --json` with the same options and seed."""
        job = self.submit(self.opt_spec())
        self.assertEqual(job["kind"], "optimize")
        sp = job["spec"]
        self.assertEqual((sp["kind"], sp["block_p_grid"], sp["baseline_p"], sp["max_loss"],
                          sp["accuracy_floor"], sp["min_trials"], sp["max_trials"]),
                         ("optimize", [1e-3, 1e-2], [1e-3, 1e-2], 0.01, None, 2, 4))
        self.assertNotIn("p", sp)
        done = self.wait_job(job["id"])
        self.assertEqual(done["state"], "done", done["error"])
        pr = done["optimize"]
        self.assertEqual((pr["phase"], pr["phase_name"], pr["budget"], pr["cached"]),
                         (5, "done", 40, 0))
        self.assertGreater(pr["candidates"], 0)
        self.assertLessEqual(pr["trials"], 40)
        res = self.assertOk(api("GET", "/api/v1/jobs/%d/results" % job["id"]))
        self.assertTrue(res["complete"])
        self.assertEqual((res["job"], res["kind"], res["state"]), (job["id"], "optimize", "done"))
        v = res["verification"]
        self.assertTrue(0 < v["energy_ratio"] <= 1, v)
        self.assertEqual(v["meets_floor"], v["ci_hi"] >= res["accuracy_floor"], v)
        self.assertTrue(v["ci_lo"] <= v["accuracy"] <= v["ci_hi"], v)
        self.assertEqual(len(v["trial_accuracies"]), 3)
        self.assertEqual([b["name"] for b in v["baselines"]], ["uniform", "paper"])
        self.assertAlmostEqual(sum(a["energy_share"] for a in res["allocation"]), 1, places=9)
        self.assertAlmostEqual(res["accuracy_floor"], done["clean_accuracy"] - 0.01, places=12)
        # every trial the search and the verification ran was evaluated once
        self.assertEqual(pr["evaluated"], res["evaluations"])
        cli = json.loads(cli_json(["optimize", F8, "--images", NPY_IMAGES, "--labels", NPY_LABELS,
                                   "--threads", "1", "--json"] + self.OPT_CLI))
        for k in ("allocation", "energy", "energy_o", "energy_ratio", "accuracy_floor",
                  "clean_accuracy", "images", "search", "verification", "evaluations"):
            self.assertEqual(res[k], cli[k], k)
        # JSON only
        self.assertError(api("GET", "/api/v1/jobs/%d/results?format=csv" % job["id"]), 400,
                         "invalid", "format")
        self.assertError(api("GET", "/api/v1/jobs/%d/results?per_trial=1" % job["id"]), 400,
                         "invalid", "per_trial")
        self.cache["opt_job"] = done

    def test_318_optimize_refusals(self):
        """Bad optimize options are refused up front, naming the field; a
        floor above the clean accuracy (known once it runs) fails the job
        with an error naming accuracy_floor; so does a budget below what
        the curves need (budget_trials)."""
        post = lambda body: api("POST", "/api/v1/jobs", body)  # noqa: E731
        spec = self.opt_spec
        for body, field in [
                (spec(kind="optimise"), "kind"),
                (spec(p=[0.1]), "p"),
                (spec(trials=3), "trials"),
                (spec(references=[1]), "references"),
                (spec(accuracy_floor=0.5), "max_loss"),
                (spec(max_loss=None), "max_loss"),
                (spec(max_loss=1.5), "max_loss"),
                (spec(budget_trials=10 ** 9), "budget_trials"),
                (spec(budget_trials=-1), "budget_trials"),
                (spec(curve_trials=0), "curve_trials"),
                (spec(verify_trials=1), "verify_trials"),
                (spec(baseline_trials=5000), "baseline_trials"),
                (spec(max_trials=5000), "max_trials"),
                (spec(min_trials=8, max_trials=4), "min_trials"),
                (spec(block_p_grid="1e-2,1e-3"), "block_p_grid"),
                (spec(block_p_grid=[0, 1e-3]), "block_p_grid"),
                (spec(block_p_grid=[1e-3] * 65), "block_p_grid"),
                (spec(baseline_p="x"), "baseline_p"),
                (spec(policy_blocks=""), "policy_blocks"),
                (self.tiny_spec(self.model("f8")["id"], self.npy_dataset()["id"],
                                max_loss=0.01), "max_loss")]:
            self.assertError(post(body), 400, "invalid", field)
        job = self.submit(spec(max_loss=None, accuracy_floor=0.9999))
        failed = self.wait_job(job["id"])
        self.assertEqual(failed["state"], "failed")
        self.assertRegex(failed["error"], r"^'accuracy_floor': .*above the clean accuracy")
        job = self.submit(spec(budget_trials=5))
        failed = self.wait_job(job["id"])
        self.assertEqual(failed["state"], "failed")
        self.assertRegex(failed["error"], r"^'budget_trials': ")

    def test_314_job_auto_adaptive(self):
        """images_per_trial = auto with a CI target: after each point's pilot
        its adaptive rounds stay at its n, and every point stops where
        `brownout sweep --ci-target` at that n stops, trial for trial."""
        f8, npy = self.model("f8"), self.npy_dataset()
        ps = [0.02, 0.04]
        job = self.wait_job(self.submit({
            "model": f8["id"], "dataset": npy["id"], "p": ps, "ci_target": 0.04,
            "min_trials": 3, "max_trials": 9, "limit": 64, "seed": 3, "mean": [0], "std": [1],
            "images_per_trial": "auto"})["id"])
        self.assertEqual(job["state"], "done", job)
        res = self.assertOk(api("GET", "/api/v1/jobs/%d/results" % job["id"]))
        self.assertTrue(res["complete"])
        for i, pt in enumerate(res["points"]):
            cli = json.loads(cli_json([
                "sweep", F8, "--images", NPY_IMAGES, "--labels", NPY_LABELS, "--p", str(ps[i]),
                "--ci-target", "0.04", "--min-trials", "3", "--max-trials", "9", "--limit",
                "64", "--seed", "3", "--mean", "0", "--std", "1", "--threads", "1",
                "--images-per-trial", str(pt["n"]), "--json"]))["points"][0]
            for k in ("trials", "images", "n", "trial_accuracies", "accuracy_mean", "ci95"):
                self.assertEqual(pt[k], cli[k], "point %d %s" % (i, k))
            self.assertEqual((pt["pilot"]["trials"], pt["pilot"]["images_per_trial"]), (3, 64))
        pr = job["progress"]
        # every stored trial at its point's n, and the plan met
        self.assertEqual((pr["trials_done"], pr["images_done"], pr["fraction"]),
                         (pr["trials_total"], pr["images_total"], 1))
        self.assertGreaterEqual(pr["images_done"], sum(pt["images"] for pt in res["points"]))

    def test_320_etag(self):
        done = self.cache.get("done_job") or self.wait_job(self.submit(self.tiny_spec(
            self.model("f4")["id"], self.npy_dataset()["id"]))["id"])
        path = "/api/v1/jobs/%d" % done["id"]
        st, hdrs, body = api("GET", path)
        etag = hdrs.get("ETag")
        self.assertTrue(etag, "no ETag header")
        self.assertEqual(api("GET", path)[1].get("ETag"), etag, "ETag of an unchanged job moved")
        st, hdrs, body = api("GET", path, headers={"If-None-Match": etag})
        self.assertEqual(st, 304)
        self.assertIsNone(body)
        st, hdrs, body = api("GET", path, headers={"If-None-Match": '"something-else"'})
        self.assertEqual(st, 200)
        self.assertEqual(body["id"], done["id"])

    def test_330_idempotency(self):
        spec = self.tiny_spec(self.model("f4")["id"], self.npy_dataset()["id"], seed=42)
        body = json.dumps(spec)
        key = "test-key-" + os.urandom(6).hex()
        a = self.submit(body, headers={"Idempotency-Key": key})
        newest = self.assertOk(api("GET", "/api/v1/jobs?limit=1"))["items"][0]["id"]
        b = self.submit(body, headers={"Idempotency-Key": key})
        self.assertEqual(b["id"], a["id"], "same key and body: the same job")
        self.assertEqual(self.assertOk(api("GET", "/api/v1/jobs?limit=1"))["items"][0]["id"],
                         newest, "the replay queued a new job")
        self.assertError(api("POST", "/api/v1/jobs", json.dumps(dict(spec, seed=43)),
                             headers={"Idempotency-Key": key}), 422, "mismatch")
        c = self.submit(body, headers={"Idempotency-Key": key + "-other"})
        self.assertNotEqual(c["id"], a["id"])
        d = self.submit(body)
        self.assertNotIn(d["id"], (a["id"], c["id"]), "without a key every POST is a new job")
        for jid in (a["id"], c["id"], d["id"]):
            self.assertEqual(self.wait_job(jid)["state"], "done")

    def test_340_job_lists(self):
        ds = self.npy_dataset()
        st, hdrs, m = api("POST", q("/api/v1/models", name="listing"), read(F4))
        self.assertEqual(st, 201, m)
        alice_ids = [self.submit(self.tiny_spec(m["id"], ds["id"], seed=s))["id"]
                     for s in (1, 2, 3)]
        bob_ids = [self.submit(self.tiny_spec(m["id"], ds["id"], seed=s),
                               token=Ctx.tokens["bob"])["id"] for s in (4, 5)]
        mine = alice_ids + bob_ids
        for jid in mine:
            self.wait_job(jid)
        full = self.assertOk(api("GET", "/api/v1/jobs?limit=200"))
        self.assertIsNone(full["next_after"])
        ids = [j["id"] for j in full["items"]]
        self.assertTrue(set(mine) <= set(ids))
        for limit in (2, 3):
            self.assertEqual([j["id"] for j in self.walk("/api/v1/jobs", limit)], ids)
        by_model = self.walk("/api/v1/jobs", 2, model=m["id"])
        self.assertEqual([j["id"] for j in by_model], sorted(mine, reverse=True))
        by_bob = self.walk("/api/v1/jobs", 200, owner="bob")
        self.assertTrue(all(j["owner"] == "bob" for j in by_bob))
        self.assertTrue(set(bob_ids) <= {j["id"] for j in by_bob})
        both = self.walk("/api/v1/jobs", 2, owner="alice", model=m["id"], state="done")
        self.assertEqual([j["id"] for j in both], sorted(alice_ids, reverse=True))
        done = self.walk("/api/v1/jobs", 200, state="done")
        self.assertTrue(all(j["state"] == "done" for j in done))
        self.assertTrue(set(mine) <= {j["id"] for j in done})
        self.assertEqual(self.assertOk(api("GET", "/api/v1/jobs?state=running&model=%d" % m["id"])),
                         {"items": [], "next_after": None})
        self.assertEqual(self.assertOk(api("GET", "/api/v1/jobs?owner=nobody-here")),
                         {"items": [], "next_after": None})
        self.assertEqual(self.walk("/api/v1/jobs", 1, owner="bob", token=Ctx.tokens["root"]),
                         by_bob)
        self.assertError(api("GET", "/api/v1/jobs?state=bogus"), 400, "invalid", "state")
        self.assertError(api("GET", "/api/v1/jobs?limit=500"), 400, "invalid", "limit")
        self.assertError(api("GET", "/api/v1/jobs?model=x"), 400, "invalid", "model")
        self.cache["listing"] = (m, alice_ids, bob_ids)

    # ---------------------------------------------------------------- analysis

    def refs_job(self):
        """A done job of f8 on the 64 NumPy images with references f4, f6
        (test_310's, or the same spec again)."""
        if "done_job" not in self.cache:
            f8, f4, f6, ds = (self.model("f8"), self.model("f4"), self.model("f6"),
                              self.npy_dataset())
            job = self.submit({"model": f8["id"], "dataset": ds["id"], "p": [1e-3, 1e-2],
                               "trials": 2, "limit": 64, "seed": 7, "mean": [0], "std": [1],
                               "references": [f4["id"], f6["id"]]})
            self.cache["done_job"] = self.wait_job(job["id"])
        return self.cache["done_job"]

    def analysis(self, jobs, refs, **kw):
        path = "/api/v1/analysis"
        params = []
        if jobs is not None:
            params.append("jobs=" + (jobs if isinstance(jobs, str) else ",".join(map(str, jobs))))
        if refs is not None:
            params.append("references=" +
                          (refs if isinstance(refs, str) else ",".join(map(str, refs))))
        return api("GET", path + ("?" + "&".join(params) if params else ""), **kw)

    def check_analysis_entry(self, a, job, res, refs):
        """One entry of /analysis against the job's results and the
        frontier of refs ([(model id, name, energy, accuracy)]) computed here."""
        self.assertEqual((a["job"], a["state"], a["model"]),
                         (job["id"], res["state"], job["model_name"]))
        self.assertEqual(a["clean_accuracy"], res["clean_accuracy"])
        self.assertEqual([(r["model"], r["name"]) for r in a["references"]],
                         [(r[0], r[1]) for r in refs])
        for r, want in zip(a["references"], refs):
            self.assertTrue(rel_close(r["energy"], want[2]) and rel_close(r["accuracy"], want[3]),
                            "reference %s: %r, want %r" % (want[1], r, want))
        self.assertEqual(len(a["points"]), len(res["points"]))
        defined = []
        for i, (pt, rp) in enumerate(zip(a["points"], res["points"])):
            self.assertEqual((pt["p"], pt["accuracy_mean"], pt["energy"]),
                             (rp["p"], rp["accuracy_mean"], rp["energy"]), "point %d" % i)
            eref = frontier_energy([(r[2], r[3]) for r in refs], rp["accuracy_mean"])
            want = eref / rp["energy"] if eref is not None and rp["energy"] else None
            self.assertTrue(rel_close(pt["energy_reduction"], want, 1e-9),
                            "point %d energy_reduction: API %r, frontier here %r"
                            % (i, pt["energy_reduction"], want))
            if pt["energy_reduction"] is not None:
                defined.append(pt["energy_reduction"])
        self.assertEqual(a["best_energy_reduction"], max(defined) if defined else None)
        return defined

    def test_342_analysis(self):
        """The iso-accuracy energy reduction of finished jobs against
        references: the job's own numbers when it listed the same
        references, the frontier rule for any other job."""
        f8, f4, f6, ds = self.model("f8"), self.model("f4"), self.model("f6"), self.npy_dataset()
        done = self.refs_job()
        res = self.assertOk(api("GET", "/api/v1/jobs/%d/results" % done["id"]))
        self.assertEqual([r["model"] for r in res["references"]], ["f4", "f6"])
        refs = [(m["id"], m["name"], r["energy"], r["accuracy"])
                for m, r in zip((f4, f6), res["references"])]
        an = self.assertOk(self.analysis([done["id"]], [f4["id"], f6["id"]],
                                         token=Ctx.tokens["bob"]))
        self.assertEqual(len(an["jobs"]), 1)
        a = an["jobs"][0]
        defined = self.check_analysis_entry(a, done, res, refs)
        # exactly the job's own results, which listed the same references
        for i, (pt, rp) in enumerate(zip(a["points"], res["points"])):
            self.assertTrue(rel_close(pt["energy_reduction"], rp["energy_reduction"]),
                            "point %d: analysis %r, results %r"
                            % (i, pt["energy_reduction"], rp["energy_reduction"]))
        self.assertTrue(defined, "fixture fact: the reduction is defined at p=1e-3")
        # the references in another order: listed in that order, same numbers
        b = self.assertOk(self.analysis([done["id"]], [f6["id"], f4["id"]]))["jobs"][0]
        self.assertEqual([r["model"] for r in b["references"]], [f6["id"], f4["id"]])
        self.assertEqual(b["points"], a["points"])
        self.assertEqual(b["best_energy_reduction"], a["best_energy_reduction"])
        # a job without references, on the same images: the references are
        # known from the first job; several jobs answer in the order given
        other = self.wait_job(self.submit({
            "model": f8["id"], "dataset": ds["id"], "p": [0.0, 1e-3, 3e-2], "trials": 2,
            "limit": 64, "seed": 5, "mean": [0], "std": [1]})["id"])
        ores = self.assertOk(api("GET", "/api/v1/jobs/%d/results" % other["id"]))
        self.assertEqual(ores["references"], [])
        self.assertTrue(all(pt["energy_reduction"] is None for pt in ores["points"]))
        an = self.assertOk(self.analysis([other["id"], done["id"], other["id"]],
                                         [f4["id"], f6["id"]]))
        self.assertEqual([e["job"] for e in an["jobs"]], [other["id"], done["id"], other["id"]])
        self.check_analysis_entry(an["jobs"][0], other, ores, refs)
        self.assertEqual(an["jobs"][1], a)
        self.assertEqual(an["jobs"][2], an["jobs"][0])
        # one reference alone
        one = self.assertOk(self.analysis([done["id"]], [f6["id"]]))["jobs"][0]
        self.check_analysis_entry(one, done, res, refs[1:])
        # 64 jobs is the most
        many = self.assertOk(self.analysis([done["id"]] * 64, [f4["id"]]))
        self.assertEqual(len(many["jobs"]), 64)

    def test_343_analysis_conflict(self):
        """A reference without a clean accuracy on the job's images: 409
        until a job on the same dataset with as many images sweeps it."""
        f4, ds = self.model("f4"), self.npy_dataset()
        done = self.refs_job()
        st, hdrs, fresh = api("POST", q("/api/v1/models", name="f6-fresh"), read(F6))
        self.assertEqual(st, 201, fresh)
        self.assertError(self.analysis([done["id"]], [f4["id"], fresh["id"]]), 409, "conflict",
                         "references")
        # a sweep of it on other images (32, not 64) does not count
        on32 = self.wait_job(self.submit(self.tiny_spec(fresh["id"], ds["id"], limit=32))["id"])
        self.assertEqual(on32["state"], "done", on32)
        self.assertError(self.analysis([done["id"]], [fresh["id"]]), 409, "conflict",
                         "references")
        # a sweep of it on the job's 64 images does
        on64 = self.wait_job(self.submit(self.tiny_spec(fresh["id"], ds["id"], limit=64))["id"])
        self.assertEqual(on64["state"], "done", on64)
        r64 = self.assertOk(api("GET", "/api/v1/jobs/%d/results" % on64["id"]))
        a = self.assertOk(self.analysis([done["id"]], [f4["id"], fresh["id"]]))["jobs"][0]
        ref = a["references"][1]
        self.assertEqual((ref["model"], ref["name"]), (fresh["id"], "f6-fresh"))
        self.assertEqual(ref["accuracy"], on64["clean_accuracy"])
        self.assertEqual(ref["energy"], r64["parameters"] + r64["activations"])
        # the same file as f6: the same numbers as with f6
        b = self.assertOk(self.analysis([done["id"]], [f4["id"], self.model("f6")["id"]]))
        b = b["jobs"][0]
        self.assertEqual(a["points"], b["points"])
        for x, y in zip(a["references"], b["references"]):
            self.assertTrue(rel_close(x["energy"], y["energy"]) and
                            rel_close(x["accuracy"], y["accuracy"]), (x, y))

    def test_346_analysis_peers_share_the_evaluation_set(self):
        """With images_per_trial, "the same images" is the evaluation set N
        (limit), not the n each trial sees: a reference measured on 32
        images does not serve a job on 64 that shows its chips 32 each; one
        measured by a job on the same 64 images whose chips saw 16 does
        (a job's clean accuracy is over its N images)."""
        f8, ds = self.model("f8"), self.npy_dataset()
        st, hdrs, fresh = api("POST", q("/api/v1/models", name="f4-peers"), read(F4))
        self.assertEqual(st, 201, fresh)
        job = self.wait_job(self.submit({
            "model": f8["id"], "dataset": ds["id"], "p": [1e-3], "trials": 2, "limit": 64,
            "images_per_trial": 32, "calib": 8, "mean": [0], "std": [1]})["id"])
        self.assertEqual(job["state"], "done", job)
        on32 = self.wait_job(self.submit(self.tiny_spec(fresh["id"], ds["id"], limit=32))["id"])
        self.assertEqual(on32["state"], "done", on32)
        self.assertError(self.analysis([job["id"]], [fresh["id"]]), 409, "conflict",
                         "references")
        on64 = self.wait_job(self.submit(self.tiny_spec(fresh["id"], ds["id"], limit=64,
                                                        images_per_trial=16))["id"])
        self.assertEqual(on64["state"], "done", on64)
        a = self.assertOk(self.analysis([job["id"]], [fresh["id"]]))["jobs"][0]
        self.assertEqual(a["references"][0]["accuracy"], on64["clean_accuracy"])

    def test_344_analysis_errors(self):
        f4 = self.model("f4")
        done = self.refs_job()
        jid, mid = str(done["id"]), str(f4["id"])
        for bad in ("", "abc", "0", "-1", "1.5", jid + ",,", ",," + jid, jid + ";" + jid,
                    jid + ",x", ",".join([jid] * 65), "9" * 70):
            self.assertError(self.analysis(bad, mid), 400, "invalid", "jobs")
        self.assertError(self.analysis(None, mid), 400, "invalid", "jobs")
        for bad in ("", "x", "0", "-3", mid + ",,", ",".join([mid] * 33)):
            self.assertError(self.analysis(jid, bad), 400, "invalid", "references")
        self.assertError(self.analysis(jid, None), 400, "invalid", "references")
        self.assertError(self.analysis(None, None), 400, "invalid", "jobs")
        self.assertError(self.analysis([999999], [f4["id"]]), 404, "not_found", "jobs")
        self.assertError(self.analysis([done["id"], 999999], [f4["id"]]), 404, "not_found",
                         "jobs")
        self.assertError(self.analysis([done["id"]], [f4["id"], 999999]), 404, "not_found",
                         "references")
        self.assertError(self.analysis([done["id"]], [f4["id"]], token=None), 401,
                         "unauthorized")
        self.assertError(api("POST", "/api/v1/analysis?jobs=%s&references=%s" % (jid, mid)),
                         405, "method_not_allowed")

    def test_345_analysis_own_references_other_sites(self):
        """A job whose spec lists the references, with activation sites
        (hence reference energies) other than an earlier job's on the same
        images: /analysis gives its own results' numbers."""
        f8, f4, f6, ds = self.model("f8"), self.model("f4"), self.model("f6"), self.npy_dataset()
        self.refs_job()  # an earlier job with these references, sites "relu"
        job = self.wait_job(self.submit({
            "model": f8["id"], "dataset": ds["id"], "p": [1e-3, 1e-2], "trials": 2, "limit": 64,
            "seed": 7, "mean": [0], "std": [1], "activation_sites": "conv-inputs",
            "references": [f4["id"], f6["id"]]})["id"])
        res = self.assertOk(api("GET", "/api/v1/jobs/%d/results" % job["id"]))
        a = self.assertOk(self.analysis([job["id"]], [f4["id"], f6["id"]]))["jobs"][0]
        for r, rr in zip(a["references"], res["references"]):
            self.assertTrue(rel_close(r["energy"], rr["energy"]) and
                            rel_close(r["accuracy"], rr["accuracy"]),
                            "reference %s: analysis %r, the job's results %r" % (rr["model"], r, rr))
        for i, (pt, rp) in enumerate(zip(a["points"], res["points"])):
            self.assertTrue(rel_close(pt["energy_reduction"], rp["energy_reduction"]),
                            "point %d: analysis %r, results %r"
                            % (i, pt["energy_reduction"], rp["energy_reduction"]))

    def test_350_job_ownership(self):
        m, alice_ids, bob_ids = self.cache.get("listing") or (None, None, None)
        if m is None:
            ds = self.npy_dataset()
            m = self.model("f4")
            alice_ids = [self.wait_job(self.submit(self.tiny_spec(m["id"], ds["id"]))["id"])["id"]]
            bob_ids = [self.wait_job(self.submit(self.tiny_spec(m["id"], ds["id"]),
                                                 token=Ctx.tokens["bob"])["id"])["id"]]
        bob, root = Ctx.tokens["bob"], Ctx.tokens["root"]
        # everybody reads everything
        self.assertEqual(self.job(alice_ids[0], token=bob)["owner"], "alice")
        self.assertOk(api("GET", "/api/v1/jobs/%d/results" % alice_ids[0], token=bob))
        # only the owner or an admin deletes
        self.assertError(api("DELETE", "/api/v1/jobs/%d" % alice_ids[0], token=bob), 403,
                         "forbidden")
        self.assertError(api("DELETE", "/api/v1/jobs/%d" % bob_ids[0]), 403, "forbidden")
        self.assertOk(api("DELETE", "/api/v1/jobs/%d" % alice_ids[0], token=root), 204)
        self.assertOk(api("DELETE", "/api/v1/jobs/%d" % bob_ids[0], token=bob), 204)
        for jid in (alice_ids[0], bob_ids[0]):
            self.assertError(api("GET", "/api/v1/jobs/%d" % jid), 404, "not_found")
            self.assertError(api("GET", "/api/v1/jobs/%d/results" % jid), 404, "not_found")
            self.assertError(api("DELETE", "/api/v1/jobs/%d" % jid), 404, "not_found")
            self.assertError(api("POST", "/api/v1/jobs/%d/cancel" % jid), 404, "not_found")
        ids = [j["id"] for j in self.assertOk(api("GET", "/api/v1/jobs?limit=200"))["items"]]
        self.assertNotIn(alice_ids[0], ids)
        self.assertNotIn(bob_ids[0], ids)

    def drop_job(self, jid):
        """Cleanup after a failed test: no long job may keep the workers."""
        if self.daemon.proc.poll() is None:
            st = request("DELETE", "/api/v1/jobs/%d" % jid, token=Ctx.tokens["root"])[0]
            if st not in (204, 404):
                sys.stderr.write("cleanup: DELETE job %d answered %d\n" % (jid, st))

    def long_spec(self, model_id, dataset_id):
        # about 8000 trials of 10,000 images: it runs until it is stopped
        return {"model": model_id, "dataset": dataset_id, "p": [1e-3, 1e-2, 1e-1, 0.2],
                "trials": 2000, "limit": 0, "calib": 64}

    def test_360_cancel_and_conflicts(self):
        ds = self.path_dataset("fmnist-busy")
        st, hdrs, m = api("POST", q("/api/v1/models", name="busy"), read(F4))
        self.assertEqual(st, 201, m)
        job = self.submit(self.long_spec(m["id"], ds["id"]))
        jid = job["id"]
        self.addCleanup(self.drop_job, jid)
        etag0 = api("GET", "/api/v1/jobs/%d" % jid)[1].get("ETag")

        def running():
            j = self.job(jid)
            self.assertIn(j["state"], ("queued", "running"), j)
            return j if j["state"] == "running" and j["progress"]["images_done"] > 0 else None
        j = self.wait_until("job %d running with images done" % jid, running, JOB_DEADLINE)
        pr = j["progress"]
        self.assertEqual(pr["points_total"], 4)
        self.assertEqual(pr["trials_total"], 4 * 2000)
        self.assertEqual(pr["images_total"], 4 * 2000 * 10000)
        self.assertGreater(pr["fraction"], 0)
        self.assertLess(pr["fraction"], 1)
        self.assertGreater(pr["images_per_second"], 0)
        self.assertIsNotNone(pr["seconds_left"])
        self.assertNotIn("eta_seconds", pr)  # the time left is not "eta", the energy
        self.assertIsNotNone(j["started_at"])
        self.assertIsNone(j["finished_at"])
        h = self.assertOk(api("GET", "/api/v1/health", token=None))
        self.assertGreaterEqual(h["running_jobs"], 1)
        metrics = parse_metrics(self.assertOk(api("GET", "/metrics", token=None)))
        self.assertGreaterEqual(metrics[("brownout_running_jobs", "")], 1)
        self.assertGreater(metrics[("brownout_images_per_second", "")], 0)
        res = self.assertOk(api("GET", "/api/v1/jobs/%d/results" % jid))
        self.assertFalse(res["complete"])
        self.assertEqual(len(res["points"]), 4)

        # in use: neither model nor dataset can go
        self.assertError(api("DELETE", "/api/v1/models/%d" % m["id"]), 409, "conflict")
        self.assertError(api("DELETE", "/api/v1/datasets/%d" % ds["id"]), 409, "conflict")
        self.assertError(api("DELETE", "/api/v1/models/%d" % m["id"], token=Ctx.tokens["root"]),
                         409, "conflict")
        # not bob's to cancel
        self.assertError(api("POST", "/api/v1/jobs/%d/cancel" % jid, token=Ctx.tokens["bob"]),
                         403, "forbidden")
        self.assertError(api("DELETE", "/api/v1/jobs/%d" % jid, token=Ctx.tokens["bob"]),
                         403, "forbidden")
        c = self.assertOk(api("POST", "/api/v1/jobs/%d/cancel" % jid))
        self.assertEqual(c["id"], jid)
        self.assertIn(c["state"], ("running", "cancelled"))
        j = self.wait_job(jid, states=("cancelled",), timeout=30)
        self.assertIsNotNone(j["finished_at"])
        self.assertLess(j["progress"]["images_done"], j["progress"]["images_total"])
        self.assertNotEqual(api("GET", "/api/v1/jobs/%d" % jid)[1].get("ETag"), etag0)
        self.assertError(api("POST", "/api/v1/jobs/%d/cancel" % jid), 409, "conflict")
        res = self.assertOk(api("GET", "/api/v1/jobs/%d/results" % jid))
        self.assertEqual((res["state"], res["complete"]), ("cancelled", False))
        # no longer in use
        self.assertOk(api("DELETE", "/api/v1/models/%d" % m["id"]), 204)
        self.assertOk(api("DELETE", "/api/v1/datasets/%d" % ds["id"]), 204)
        self.cache.pop("path:fmnist-busy")
        j = self.job(jid)
        self.assertEqual((j["state"], j["model_name"]), ("cancelled", "busy"))
        # a job naming the deleted model
        self.assertError(api("POST", "/api/v1/jobs",
                             self.tiny_spec(m["id"], self.npy_dataset()["id"])),
                         404, "not_found", "model")

    def test_361_cancel_finished(self):
        done = self.cache.get("done_job")
        if done is None:
            done = self.wait_job(self.submit(self.tiny_spec(self.model("f4")["id"],
                                                            self.npy_dataset()["id"]))["id"])
        self.assertError(api("POST", "/api/v1/jobs/%d/cancel" % done["id"]), 409, "conflict")
        self.assertEqual(self.job(done["id"])["state"], "done")

    def test_362_delete_running_job(self):
        ds, m = self.path_dataset(), self.model("f4")
        jid = self.submit(self.long_spec(m["id"], ds["id"]))["id"]
        self.addCleanup(self.drop_job, jid)
        self.wait_until("job %d running" % jid, lambda: self.job(jid)["state"] == "running",
                        JOB_DEADLINE)
        self.assertOk(api("DELETE", "/api/v1/jobs/%d" % jid), 204)
        self.assertError(api("GET", "/api/v1/jobs/%d" % jid), 404, "not_found")
        self.assertError(api("GET", "/api/v1/jobs/%d/results" % jid), 404, "not_found")
        ids = [j["id"] for j in self.assertOk(api("GET", "/api/v1/jobs?limit=200"))["items"]]
        self.assertNotIn(jid, ids)

        def idle():
            h = self.assertOk(api("GET", "/api/v1/health", token=None))
            return h["running_jobs"] == 0 and h["queue_depth"] == 0
        self.wait_until("workers idle after deleting a running job", idle, 30)
        # ids are never reused, and nothing of the deleted job leaks into a new one
        new = self.submit(self.tiny_spec(m["id"], self.npy_dataset()["id"]))
        self.assertGreater(new["id"], jid, "the id of a deleted job was given again")
        self.assertEqual(new["progress"]["images_done"], 0, new["progress"])
        done = self.wait_job(new["id"])
        self.assertEqual(done["state"], "done", done)
        self.assertEqual(done["progress"]["images_done"], done["progress"]["images_total"])

    # ---------------------------------------------------------------- web

    def test_400_static(self):
        index = os.path.join(WEB, "index.html")
        for path in ("/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc%2fpasswd",
                     "/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/static/../../../../etc/passwd",
                     "/....//....//etc/passwd", "/%252e%252e/etc/passwd",
                     "/" + "/".join([".."] * 12) + os.path.join(REPO, "Makefile")):
            st, hdrs, raw = request("GET", path, token=None)
            self.assertIn(st, (400, 404), "%s answered %d" % (path, st))
            self.assertNotIn(b"root:", raw)
            self.assertNotIn(b"SANITIZER", raw)
            SPEC.check("GET", path, st, hdrs, raw)
        st, hdrs, raw = request("GET", "/no-such-file.html", token=None)
        self.assertEqual(st, 404)
        SPEC.check("GET", "/no-such-file.html", st, hdrs, raw)
        if not os.path.exists(index):
            self.skipTest("web/index.html does not exist yet")
        st, hdrs, page = api("GET", "/", token=None)
        self.assertEqual(st, 200)
        self.assertEqual(hdrs.get("Content-Type", "").split(";")[0].strip(), "text/html")
        self.assertTrue(hdrs.get("Content-Security-Policy"), "no Content-Security-Policy header")
        self.assertEqual(page.encode(), read(index))
        st, hdrs, raw = request("GET", "/index.html", token=None)
        self.assertEqual((st, raw), (200, read(index)))

    # ---------------------------------------------------------------- metrics

    def test_900_metrics(self):
        st, hdrs, text = api("GET", "/metrics", token=None)
        self.assertEqual(st, 200)
        ctype = hdrs.get("Content-Type", "")
        self.assertTrue(ctype.startswith("text/plain"), ctype)
        self.assertIn("version=0.0.4", ctype.replace(" ", ""))
        for name, kind in (("brownout_queue_depth", "gauge"), ("brownout_running_jobs", "gauge"),
                           ("brownout_images_per_second", "gauge"),
                           ("brownout_http_requests_total", "counter")):
            self.assertRegex(text, r"(?m)^# HELP %s \S" % name)
            self.assertRegex(text, r"(?m)^# TYPE %s %s$" % (name, kind))
        m = parse_metrics(text)
        for (name, labels), value in m.items():
            if name == "brownout_http_requests_total":
                self.assertRegex(labels, r'^\{status="[1-5][0-9][0-9]"\}$')
                self.assertEqual(value, int(value))
        self.assertGreaterEqual(m[("brownout_queue_depth", "")], 0)
        self.assertGreaterEqual(m[("brownout_running_jobs", "")], 0)
        # the counters count exactly the answers this client received (the
        # scrape's own 200 may or may not be in yet); polled, as a daemon may
        # count an answer just after sending it
        self.assertError(api("GET", "/api/v1/me", token=None), 401, "unauthorized")
        self.assertError(api("GET", "/api/v1/models/999999"), 404, "not_found")
        last = {}

        def counted():
            got = parse_metrics(api("GET", "/metrics", token=None)[2])
            last.clear()
            for status, n in Ctx.seen.items():
                v = got.get(("brownout_http_requests_total", '{status="%d"}' % status))
                if v is None or not (n - 1 <= v <= n if status == 200 else v == n):
                    last[status] = (v, n)
            return not last
        deadline = time.monotonic() + 10
        while not counted():
            if time.monotonic() > deadline:
                self.fail("brownout_http_requests_total differs from the answers received "
                          "{status: (metric, received)}: %s" % last)
            time.sleep(POLL)
        self.assertTrue({200, 401, 404} <= set(Ctx.seen))

    # ---------------------------------------------------------------- shutdown

    def test_990_sigterm_restart_public_read(self):
        """SIGTERM exits 0; the data survives a restart; --public-read opens
        the GETs, not the writes."""
        done = self.cache.get("done_job")
        models = self.assertOk(api("GET", "/api/v1/models?limit=200"))
        results = done and self.assertOk(api("GET", "/api/v1/jobs/%d/results" % done["id"]))
        code = self.daemon.stop()
        self.assertEqual(code, 0, "brownoutd exit status after SIGTERM: %s (None: still running "
                         "after %d s)" % (code, STOP_DEADLINE))
        d = Daemon(self.data, "brownoutd-public.log", extra=["--public-read"]).start()
        type(self).daemon = d
        Ctx.port = d.port
        Ctx.seen = collections.Counter()
        self.assertEqual(self.assertOk(api("GET", "/api/v1/models?limit=200", token=None)), models)
        if done:
            self.assertEqual(self.assertOk(api("GET", "/api/v1/jobs/%d/results" % done["id"],
                                               token=None)), results)
            j = self.assertOk(api("GET", "/api/v1/jobs/%d" % done["id"], token=None))
            self.assertEqual(j["state"], "done")
            self.assertOk(api("GET", "/api/v1/jobs/%d/results?format=csv" % done["id"], token=None))
        for path in ("/api/v1/jobs", "/api/v1/datasets",
                     "/api/v1/models/%d" % models["items"][0]["id"]):
            self.assertOk(api("GET", path, token=None))
        self.assertError(api("POST", q("/api/v1/models", name="anon"), read(F4), token=None),
                         401, "unauthorized")
        self.assertError(api("DELETE", "/api/v1/models/%d" % models["items"][0]["id"], token=None),
                         401, "unauthorized")
        self.assertError(api("POST", "/api/v1/jobs", {"model": 1, "dataset": 1, "p": [0]},
                             token=None), 401, "unauthorized")
        # a token still works, for reads and writes
        self.assertEqual(api("GET", "/api/v1/me")[2]["name"], "alice")
        st, hdrs, m = api("POST", q("/api/v1/models", name="after-restart"), read(F4))
        self.assertEqual(st, 201, m)
        self.assertGreater(m["id"], max(it["id"] for it in models["items"]))
        code = d.stop()
        self.assertEqual(code, 0, "brownoutd --public-read exit status after SIGTERM: %s" % code)


# ---------------------------------------------------------------- scheduling

class T20Scheduler(DaemonCase):
    """A second daemon with one worker: the order tasks run in (fair share
    over owners, then priority) and how fast a cancellation frees the
    worker. Jobs are read one GET at a time, so an invariant "X ran only
    after Y finished" reads X before Y: progress only grows, so X seen
    progressed and Y, read later, seen unfinished means X ran first."""

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz")):
            raise unittest.SkipTest("%s is not installed (dataset-fashion-mnist)" % FMNIST)
        cls.make_data_dir("brownoutd-sched-")
        cls.tokens = {u: admin_cmd(cls.data, "user", "add", u) for u in ("alice", "bob")}
        cls.daemon = Daemon(cls.data, "brownoutd-sched.log", extra=["--workers", "1"]).start()
        cls.port = cls.daemon.port

    def call(self, method, path, body=None, user="alice"):
        return api(method, path, body, token=self.tokens[user] if user else None, port=self.port)

    def setUp(self):
        if not hasattr(type(self), "model_id"):
            st, hdrs, m = self.call("POST", q("/api/v1/models", name="f4"), read(F4))
            self.assertEqual(st, 201, m)
            st, hdrs, d = self.call("POST", "/api/v1/datasets", {"name": "fm", "path": FMNIST})
            self.assertEqual(st, 201, d)
            type(self).model_id, type(self).dataset_id = m["id"], d["id"]
        self.wait_until("the worker idle", self.idle, 30)

    def idle(self):
        h = self.assertOk(self.call("GET", "/api/v1/health", user=None))
        return h["running_jobs"] == 0 and h["queue_depth"] == 0

    def spec(self, trials, seed, limit=600, **over):
        # f4 on 600 images: a trial takes ~0.07 s here, a job switch (the
        # clean pass) about as long
        s = {"model": self.model_id, "dataset": self.dataset_id, "p": [1e-3], "trials": trials,
             "limit": limit, "calib": 64, "seed": seed}
        s.update(over)
        return s

    def submit(self, spec, user="alice"):
        st, hdrs, j = self.call("POST", "/api/v1/jobs", spec, user=user)
        self.assertEqual(st, 202, j)
        self.addCleanup(self.drop, j["id"], user)
        return j["id"]

    def drop(self, jid, user):
        """Cleanup: no job of a test may keep the worker for the next."""
        if self.daemon.proc.poll() is None:
            st = request("DELETE", "/api/v1/jobs/%d" % jid, token=self.tokens[user],
                         port=self.port)[0]
            if st not in (204, 404):
                sys.stderr.write("cleanup: DELETE job %d answered %d\n" % (jid, st))

    def job(self, jid):
        return self.assertOk(self.call("GET", "/api/v1/jobs/%d" % jid))

    def wait_job(self, jid, timeout=JOB_DEADLINE):
        def ended():
            j = self.job(jid)
            return j if j["state"] in ("done", "failed", "cancelled") else None
        return self.wait_until("job %d finished" % jid, ended, timeout)

    def images_total(self):
        text = self.assertOk(self.call("GET", "/metrics", user=None))
        return parse_metrics(text)[("brownout_images_total", "")]

    def test_000_one_worker(self):
        h = self.assertOk(self.call("GET", "/api/v1/health", user=None))
        self.assertEqual(h["workers"], 1)

    def test_100_fair_share(self):
        """alice's A1 runs, A2 waits; bob's B1, submitted later, takes every
        other task and finishes before A2 gets more than one trial."""
        a1 = self.submit(self.spec(6, 1))
        a2 = self.submit(self.spec(4, 2))
        def started():
            st = self.job(a1)["state"]
            return None if st == "queued" else st
        state = self.wait_until("A1 started", started, JOB_DEADLINE, poll=0.02)
        self.assertEqual(state, "running", "A1 ended before bob could submit")
        b1 = self.submit(self.spec(4, 3), user="bob")
        deadline = time.monotonic() + JOB_DEADLINE
        interleaved = False
        while True:
            ja2, jb1, ja1 = self.job(a2), self.job(b1), self.job(a1)
            if ja2["progress"]["trials_done"] > 1:
                self.assertEqual(jb1["state"], "done",
                                 "A2 ran %d trials before B1 finished (B1: %s, A1: %s): bob "
                                 "waits behind alice's queue" % (
                                     ja2["progress"]["trials_done"], jb1["progress"],
                                     ja1["progress"]))
            if jb1["progress"]["trials_done"] >= 1 and ja1["state"] != "done":
                interleaved = True
            if jb1["state"] == "done":
                break
            self.assertIn(jb1["state"], ("queued", "running"), jb1)
            if time.monotonic() > deadline:
                self.fail("B1 not done within %d s: %s" % (JOB_DEADLINE, jb1["progress"]))
            time.sleep(0.02)
        self.assertTrue(interleaved, "B1 finished a trial only after A1 had finished")
        self.assertLessEqual(self.job(a2)["progress"]["trials_done"], 1)

    def test_200_priority(self):
        """Same owner: a priority-5 job submitted after a priority-0 one
        runs first."""
        x = self.submit(self.spec(4, 4, priority=10))
        p0 = self.submit(self.spec(4, 5))
        p5 = self.submit(self.spec(2, 6, priority=5))
        deadline = time.monotonic() + JOB_DEADLINE
        while True:
            j0, j5, jx = self.job(p0), self.job(p5), self.job(x)
            if j0["progress"]["trials_done"] > 0:
                self.assertEqual(j5["state"], "done", "the priority-0 job ran before the "
                                 "priority-5 one finished: %s / %s" % (j0["progress"],
                                                                       j5["progress"]))
            if j5["progress"]["trials_done"] > 0:
                self.assertEqual(jx["state"], "done", "the priority-5 job ran before the "
                                 "priority-10 one finished")
            if j5["state"] == "done":
                break
            if time.monotonic() > deadline:
                self.fail("priority-5 job not done within %d s" % JOB_DEADLINE)
            time.sleep(0.02)
        self.assertNotEqual(self.job(p0)["state"], "done", "the priority-0 job finished first")
        self.assertEqual(self.wait_job(p0)["state"], "done")

    def test_250_queued_job_results(self):
        """Results and analysis of a job still queued: they match the
        schema (config.mean and config.std are arrays) and say no energy
        yet (null, as openapi.yaml documents ResultPoint.energy)."""
        x = self.submit(self.spec(4, 9, priority=10))
        qd = self.submit(self.spec(2, 10))
        # the reference (the same model) needs a clean accuracy on these
        # images: x records it when its first task has calibrated
        self.wait_until("the running job's clean accuracy",
                        lambda: self.job(x)["clean_accuracy"] is not None, JOB_DEADLINE)
        res = self.assertOk(self.call("GET", "/api/v1/jobs/%d/results" % qd))
        an = self.assertOk(self.call("GET", "/api/v1/analysis?jobs=%d&references=%d"
                                     % (qd, self.model_id)))["jobs"][0]
        self.assertEqual(self.job(qd)["state"], "queued", "wanted a job still queued")
        self.assertEqual((res["state"], res["complete"], res["clean_accuracy"]),
                         ("queued", False, None))
        self.assertEqual((an["job"], an["state"], an["clean_accuracy"],
                          an["best_energy_reduction"]), (qd, "queued", None, None))
        for pt in res["points"]:
            self.assertEqual((pt["trials"], pt["accuracy_mean"], pt["energy_reduction"]),
                             (0, None, None))
        for pt in an["points"]:
            self.assertEqual((pt["accuracy_mean"], pt["energy_reduction"]), (None, None))
        self.assertEqual([pt["energy"] for pt in res["points"]], [None],
                         "results of a queued job: energy must be null before the job's "
                         "first task ran")
        self.assertEqual([pt["energy"] for pt in an["points"]], [None],
                         "analysis of a queued job: energy must be null")
        self.assertEqual(self.wait_job(x)["state"], "done")

    def test_300_cancel_latency(self):
        """A trial of 10,000 images stops within a batch of the cancel: no
        image is evaluated 3 s after it, and the worker takes the next job."""
        big = self.submit(self.spec(100, 7, limit=10000, p=[1e-3, 1e-2]))
        self.wait_until("the big job running with images done",
                        lambda: self.job(big)["progress"]["images_done"] > 0, JOB_DEADLINE)
        t0 = time.monotonic()
        c = self.assertOk(self.call("POST", "/api/v1/jobs/%d/cancel" % big))
        self.assertEqual(c["state"], "cancelled")
        self.assertLess(time.monotonic() - t0, 2, "the cancel took that long to answer")
        while True:
            h = self.assertOk(self.call("GET", "/api/v1/health", user=None))
            n0 = self.images_total()
            time.sleep(0.5)
            n1 = self.images_total()
            if h["running_jobs"] == 0 and h["queue_depth"] == 0 and n0 == n1:
                break
            if time.monotonic() - t0 > 3:
                self.fail("3 s after the cancel: running_jobs %d, queue_depth %d, "
                          "brownout_images_total %d -> %d in 0.5 s" % (
                              h["running_jobs"], h["queue_depth"], n0, n1))
        j = self.job(big)
        self.assertEqual(j["state"], "cancelled")
        self.assertLess(j["progress"]["trials_done"], 2, j["progress"])
        # the worker is free for the next job
        nxt = self.submit(self.spec(1, 8), user="bob")
        self.assertEqual(self.wait_job(nxt, timeout=30)["state"], "done")
        self.assertGreater(self.images_total(), n1)
        self.assertEqual(self.job(big)["state"], "cancelled")

    def test_310_optimize_cancel(self):
        """Cancelling an optimize job mid-search (issue 14) frees the only
        worker within a batch: the next job runs to done (the search alone
        would hold the worker for minutes), and the cancelled job stays
        cancelled, its search stopped short of its budget."""
        spec = {"kind": "optimize", "model": self.model_id, "dataset": self.dataset_id,
                "max_loss": 0.01, "limit": 2000, "calib": 64, "block_p_grid": "1e-4:1e-1:10",
                "curve_trials": 3, "budget_trials": 5000, "seed": 2}
        big = self.submit(spec)

        def searching():
            j = self.job(big)
            self.assertIn(j["state"], ("queued", "running"), j)
            return j["optimize"] is not None and j["optimize"]["trials"] > 0
        self.wait_until("the optimize job searching", searching, JOB_DEADLINE)
        c = self.assertOk(self.call("POST", "/api/v1/jobs/%d/cancel" % big))
        self.assertEqual(c["state"], "cancelled")
        nxt = self.submit(self.spec(1, 9), user="bob")
        self.assertEqual(self.wait_job(nxt, timeout=30)["state"], "done")
        j = self.job(big)
        self.assertEqual(j["state"], "cancelled")
        self.assertLess(j["optimize"]["trials"], 5000, j["optimize"])


class T30Limits(DaemonCase):
    """A daemon with small per-user quotas and a small cap on tasks per job
    (one worker): 429 quota_exceeded for queued jobs, queued trials and
    stored bytes, freed again by cancelling and deleting; a job over the
    task cap stored as few multi-trial tasks with exactly the CLI's
    numbers; a 409 on delete naming the jobs in the way and their owners."""

    QUEUED_JOBS, QUEUED_TRIALS, MAX_TASKS = 3, 60, 4
    SPARE = 1000   # bytes carol has left once she stores F4 and the NumPy set

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz")):
            raise unittest.SkipTest("%s is not installed (dataset-fashion-mnist)" % FMNIST)
        cls.make_data_dir("brownoutd-limits-")
        cls.tokens = {u: admin_cmd(cls.data, "user", "add", u) for u in ("alice", "bob", "carol")}
        cls.stored = (os.path.getsize(F4) + os.path.getsize(NPY_IMAGES) +
                      os.path.getsize(NPY_LABELS) + cls.SPARE)
        cls.daemon = Daemon(cls.data, "brownoutd-limits.log", extra=[
            "--workers", "1", "--user-queued-jobs", str(cls.QUEUED_JOBS),
            "--user-queued-trials", str(cls.QUEUED_TRIALS), "--user-stored-bytes",
            str(cls.stored), "--job-max-tasks", str(cls.MAX_TASKS)]).start()
        cls.port = cls.daemon.port

    def call(self, method, path, body=None, user="alice", headers=None):
        return api(method, path, body, token=self.tokens[user] if user else None,
                   headers=headers, port=self.port)

    def submit(self, spec, user="alice"):
        st, hdrs, j = self.call("POST", "/api/v1/jobs", spec, user=user)
        self.assertEqual(st, 202, j)
        self.addCleanup(self.drop, j["id"])
        return j["id"]

    def drop(self, jid):
        if self.daemon.proc.poll() is None:
            request("DELETE", "/api/v1/jobs/%d" % jid, token=self.tokens["alice"],
                    port=self.port)  # not alice's: 403, fine; cancelled below
            for u in ("bob", "carol"):
                request("DELETE", "/api/v1/jobs/%d" % jid, token=self.tokens[u], port=self.port)

    def job(self, jid, user="alice"):
        return self.assertOk(self.call("GET", "/api/v1/jobs/%d" % jid, user=user))

    def wait_state(self, jid, states, user="alice"):
        return self.wait_until("job %d %s" % (jid, "/".join(states)),
                               lambda: self.job(jid, user) if self.job(jid, user)["state"]
                               in states else None, JOB_DEADLINE)

    def tasks(self, jid):
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.data, "brownout.db"),
                             uri=True)
        try:
            return db.execute("SELECT point, trial_lo, trial_hi, state FROM tasks WHERE"
                              " job_id = ? AND kind = 'trials' ORDER BY point, trial_lo",
                              (jid,)).fetchall()
        finally:
            db.close()

    def upload_model(self, user, name="f4"):
        return self.call("POST", q("/api/v1/models", name=name), read(F4), user=user)

    def upload_npy(self, user):
        data, ctype = multipart([("images", "images.npy", read(NPY_IMAGES)),
                                 ("labels", "labels.npy", read(NPY_LABELS))])
        return self.call("POST", q("/api/v1/datasets", name="first64", format="npy"), data,
                         user=user, headers={"Content-Type": ctype})

    def long_spec(self, model, dataset, seed):
        # 10 trials of 10,000 images: runs until cancelled
        return {"model": model, "dataset": dataset, "p": [1e-3], "trials": 10, "limit": 0,
                "calib": 64, "seed": seed}

    def test_100_queue_quotas_task_cap_and_conflict(self):
        m = self.assertOk(self.upload_model("alice"), 201)
        ds = self.assertOk(self.call("POST", "/api/v1/datasets",
                                     {"name": "fm", "path": FMNIST}), 201)
        l1 = self.submit(self.long_spec(m["id"], ds["id"], 1))
        self.wait_state(l1, ("running",))
        # 3 points x 6 trials over a cap of 4 tasks: one 6-trial task a
        # point, still queued behind alice's running job
        cspec = {"model": m["id"], "dataset": ds["id"], "p": [1e-2, 2e-2, 3e-2], "trials": 6,
                 "limit": 64, "calib": 64, "seed": 9}
        c = self.submit(cspec)
        self.assertEqual(self.tasks(c), [(pt, 0, 6, "queued") for pt in range(3)])
        self.assertEqual(self.job(c)["progress"]["trials_total"], 18)
        l2 = self.submit(self.long_spec(m["id"], ds["id"], 2))
        tiny = {"model": m["id"], "dataset": ds["id"], "p": [1e-3], "trials": 1, "limit": 8,
                "calib": 8}
        # a fourth job: over user-queued-jobs
        b = self.assertError(self.call("POST", "/api/v1/jobs", tiny), 429, "quota_exceeded")
        msg = b["error"]["message"]
        self.assertIn("user-queued-jobs = 3", msg)
        self.assertIn("you have 3 queued or running jobs", msg)
        self.assertIn("cancel", msg)
        # per user: bob is not held back by alice's jobs, only by his own quota
        b = self.assertError(self.call("POST", "/api/v1/jobs", dict(tiny, trials=61), user="bob"),
                             429, "quota_exceeded", message_has="user-queued-trials")
        self.assertIn("61 trials (1 points x 61)", b["error"]["message"])
        self.submit(tiny, user="bob")
        # cancelling frees the job quota; the trial quota counts 10 + 18 queued
        self.assertOk(self.call("POST", "/api/v1/jobs/%d/cancel" % l2))
        b = self.assertError(self.call("POST", "/api/v1/jobs", dict(tiny, trials=33)), 429,
                             "quota_exceeded", message_has="your queued or running jobs 28")
        self.assertIn("60", b["error"]["message"])
        self.submit(dict(tiny, trials=32))  # 28 + 32 = 60: exactly the quota
        # bob's job on alice's model keeps her from deleting it: the 409 says whose
        bj = self.submit(self.long_spec(m["id"], ds["id"], 3), user="bob")
        b = self.assertError(self.call("DELETE", "/api/v1/models/%d" % m["id"]), 409,
                             "conflict")
        self.assertIn("job %d of bob" % bj, b["error"]["message"])
        self.assertIn("job %d of alice" % l1, b["error"]["message"])
        self.assertOk(self.call("POST", "/api/v1/jobs/%d/cancel" % bj, user="bob"))
        # the capped job runs once the long one is gone, to the CLI's numbers
        self.assertOk(self.call("POST", "/api/v1/jobs/%d/cancel" % l1))
        done = self.wait_state(c, ("done", "failed", "cancelled"))
        self.assertEqual(done["state"], "done", done)
        rs = self.tasks(c)
        for pt in range(3):
            ranges = [(lo, hi) for p_, lo, hi, st in rs if p_ == pt and st == "done"]
            self.assertEqual(sum(hi - lo for lo, hi in ranges), 6, rs)
            self.assertEqual(ranges[0][0], 0)
            self.assertTrue(all(a[1] == b_[0] for a, b_ in zip(ranges, ranges[1:])), rs)
        res = self.assertOk(self.call("GET", "/api/v1/jobs/%d/results" % c))
        cli = json.loads(cli_json(["sweep", F4, FMNIST, "--p", "1e-2,2e-2,3e-2", "--trials", "6",
                                   "--limit", "64", "--calib", "64", "--seed", "9",
                                   "--threads", "1", "--json"]))
        self.assertTrue(rel_close(res["clean_accuracy"], cli["clean_accuracy"]))
        for a, b_ in zip(res["points"], cli["points"]):
            self.assertEqual((a["trials"], a["images"]), (b_["trials"], b_["images"]))
            for x, y in zip(a["trial_accuracies"], b_["trial_accuracies"]):
                self.assertTrue(rel_close(x, y), (a["trial_accuracies"], b_["trial_accuracies"]))
            for k in ("accuracy_mean", "accuracy_std", "energy"):
                self.assertTrue(rel_close(a[k], b_[k]), (k, a[k], b_[k]))

    def test_200_storage_quota(self):
        size = os.path.getsize(NPY_IMAGES) + os.path.getsize(NPY_LABELS)
        ds = self.assertOk(self.upload_npy("carol"), 201)
        b = self.assertError(self.upload_npy("carol"), 429, "quota_exceeded")
        msg = b["error"]["message"]
        self.assertIn("this dataset needs %d bytes" % size, msg)
        self.assertIn("you store %d" % size, msg)
        self.assertIn("of %d (user-stored-bytes)" % self.stored, msg)
        self.assertIn("delete", msg)
        m = self.assertOk(self.upload_model("carol"), 201)
        self.assertError(self.upload_model("carol", "again"), 429, "quota_exceeded",
                         message_has="this model needs")
        # a job's result rows count too: 64 bytes a trial
        spec = {"model": m["id"], "dataset": ds["id"], "p": [1e-3], "trials": 20, "limit": 8,
                "calib": 8, "mean": [0], "std": [1]}
        self.assertError(self.call("POST", "/api/v1/jobs", spec, user="carol"), 429,
                         "quota_exceeded", message_has="1280 bytes")
        jid = self.submit(dict(spec, trials=10), user="carol")
        self.assertEqual(self.wait_state(jid, ("done", "failed"), "carol")["state"], "done")
        # others are not charged for carol's bytes
        self.assertOk(self.upload_model("bob"), 201)
        # deleting frees: the model, the dataset, the job's results
        self.assertError(self.upload_model("carol", "again"), 429, "quota_exceeded")
        self.assertOk(self.call("DELETE", "/api/v1/models/%d" % m["id"], user="carol"), 204)
        m2 = self.assertOk(self.upload_model("carol", "again"), 201)
        self.assertError(self.upload_npy("carol"), 429, "quota_exceeded",
                         message_has="this dataset needs")
        self.assertOk(self.call("DELETE", "/api/v1/datasets/%d" % ds["id"], user="carol"), 204)
        ds2 = self.assertOk(self.upload_npy("carol"), 201)
        spec.update(model=m2["id"], dataset=ds2["id"], trials=15)
        self.assertError(self.call("POST", "/api/v1/jobs", spec, user="carol"), 429,
                         "quota_exceeded", message_has="job results 640")
        self.assertOk(self.call("DELETE", "/api/v1/jobs/%d" % jid, user="carol"), 204)
        self.submit(spec, user="carol")


def frontier_energy(refs, accuracy):
    """E_ref(accuracy) of the references [(energy, accuracy)]: the Pareto
    frontier interpolated linearly in log energy (lib/energy.c, written
    again); None outside its accuracy range."""
    if accuracy is None:
        return None
    pts = []
    for e, a in sorted(refs, key=lambda r: (-r[1], r[0])):
        if not pts or e < pts[-1][0]:
            pts.append((e, a))
    pts.reverse()
    if accuracy < pts[0][1] or accuracy > pts[-1][1]:
        return None
    lo = max(i for i, (e, a) in enumerate(pts) if a <= accuracy)
    if pts[lo][1] == accuracy or lo == len(pts) - 1:
        return pts[lo][0]
    (e0, a0), (e1, a1) = pts[lo], pts[lo + 1]
    return e0 * math.exp((accuracy - a0) / (a1 - a0) * math.log(e1 / e0))


def parse_metrics(text):
    """Prometheus text -> {(name, '{labels}' or ''): value}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)(\s+[0-9]+)?$", line)
        if not m:
            raise AssertionError("not a Prometheus sample line: %r" % line)
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


# ---------------------------------------------------------------- main

class _Result(unittest.TextTestResult):
    passed = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1


def main():
    argv = sys.argv[1:]
    names = [a for a in argv if not a.startswith("-")]
    loader = unittest.TestLoader()
    if names:
        suite = loader.loadTestsFromNames(names, sys.modules[__name__])
    else:
        suite = loader.loadTestsFromModule(sys.modules[__name__])
    runner = unittest.TextTestRunner(verbosity=1 if "-q" in argv else 2, stream=sys.stdout,
                                     resultclass=_Result)
    result = runner.run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    print()
    if failed:
        print("failed tests:")
        for test, _ in result.failures + result.errors:
            print("  " + test.id())
    for test, why in result.skipped:
        print("skipped %s: %s" % (test.id(), why))
    print("daemon: %d passed, %d failed, %d skipped" % (result.passed, failed, skipped))
    sys.exit(0 if failed == 0 and result.passed > 0 else 1)


if __name__ == "__main__":
    main()

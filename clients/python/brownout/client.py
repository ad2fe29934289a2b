"""brownoutd's HTTP API from Python, with the standard library only.

Design. One `Client` holds the URL and the token and makes every request
through `Client.request`, which turns an API error body
(`{"error": {code, message, field}}`) into a `BrownoutError` carrying the
status, code, message and field. Requests that are safe to repeat (GET,
DELETE, and job submissions, which always carry an Idempotency-Key) are
retried on connection errors with a short backoff; uploads are not, since
the API has no idempotency for them. Resources are small namespaces on the
client (`client.models`, `client.datasets`, `client.jobs`,
`client.tokens`, `client.users`); a submitted job is a `Job` that can
`wait()` (a progress bar in a terminal or a Jupyter notebook), be
renamed, annotated and tagged (`update()`), and give `results()` as dicts
(per point, or per trial) or `results_frame()` as a pandas DataFrame with
the server's provenance columns (job, model name, version and sha256,
dataset and its sha256, deviation, target, sites, seed, bits, design).
Lists walk every page lazily.
"""
import io
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

__all__ = ["Client", "Job", "BrownoutError"]

TERMINAL_STATES = ("done", "failed", "cancelled")


class BrownoutError(Exception):
    """An error answered by brownoutd: HTTP status, the API's code
    ("invalid", "not_found", ...), its message and the field at fault."""

    def __init__(self, status, code, message, field=None):
        super().__init__("%s (%d %s%s)" % (message, status, code,
                                           ", field '%s'" % field if field else ""))
        self.status = status
        self.code = code
        self.message = message
        self.field = field


class _Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8")) if self.body else None


def _multipart(fields):
    """Encode {name: (filename, bytes)} as multipart/form-data."""
    boundary = "brownout-" + uuid.uuid4().hex
    out = io.BytesIO()
    for name, (filename, data) in fields.items():
        out.write(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                   "Content-Type: application/octet-stream\r\n\r\n"
                   % (boundary, name, os.path.basename(filename))).encode())
        out.write(data)
        out.write(b"\r\n")
    out.write(("--%s--\r\n" % boundary).encode())
    return out.getvalue(), "multipart/form-data; boundary=" + boundary


def _read(what):
    """Bytes of a path, a file object, bytes, or a numpy array (as .npy)."""
    if isinstance(what, (bytes, bytearray)):
        return bytes(what), "data"
    if isinstance(what, (str, os.PathLike)):
        with open(what, "rb") as f:
            return f.read(), str(what)
    if hasattr(what, "read"):
        return what.read(), getattr(what, "name", "data")
    if hasattr(what, "__array__"):
        import numpy as np
        buf = io.BytesIO()
        np.save(buf, np.asarray(what), allow_pickle=False)
        return buf.getvalue(), "array.npy"
    raise TypeError("expected a path, bytes, a file or a numpy array, not %r" % type(what))


class _Resource:
    path = ""

    def __init__(self, client):
        self._c = client

    def list(self, page_size=200, **filters):
        """Every item, newest first, fetching pages as they are needed."""
        after = None
        while True:
            q = {k: v for k, v in filters.items() if v is not None}
            q["limit"] = page_size
            if after is not None:
                q["after"] = after
            page = self._c.get(self.path, **q)
            for item in page["items"]:
                yield self._wrap(item)
            after = page["next_after"]
            if after is None:
                return

    def get(self, id):
        return self._wrap(self._c.get("%s/%d" % (self.path, int(id))))

    def delete(self, id):
        self._c.request("DELETE", "%s/%d" % (self.path, int(id)))

    def _wrap(self, item):
        return item


class Models(_Resource):
    path = "/models"

    def list(self, name=None, page_size=200):
        """Every model, newest first; name: only models of that name."""
        return super().list(page_size=page_size, name=name)

    def versions(self, name, owner=None):
        """The versions of model `name` (newest first): uploading a name
        its owner has used before makes version n+1. owner: only that
        user's (other users may have models of the same name)."""
        return [m for m in self.list(name=name) if owner is None or m["owner"] == owner]

    def upload(self, model, name, mean=None, std=None, description=None, blocks=None,
               example=None, **export_args):
        """Upload an ONNX file (path, bytes or file object) or a torch.nn.Module
        (exported with brownout.torch.export; `example` is an input tensor).
        mean and std: one value or one per channel; required by brownoutd
        when the file carries no brownout.mean/std metadata."""
        if hasattr(model, "state_dict") and hasattr(model, "forward"):
            from . import torch as bt
            if example is None:
                raise ValueError("uploading a torch.nn.Module needs example=, an input tensor")
            buf = io.BytesIO()
            bt.export(model, example, buf, mean=mean, std=std, **export_args)
            data = buf.getvalue()
        else:
            data, _ = _read(model)
        q = {"name": name, "description": description, "blocks": blocks,
             "mean": _csv(mean), "std": _csv(std)}
        return self._c.request("POST", self.path, query=q, body=data,
                               content_type="application/octet-stream", retry=False).json()


class Datasets(_Resource):
    path = "/datasets"

    def upload(self, images, name, labels=None, format=None, split="test", description=None):
        """Upload images and labels: paths, bytes, files or numpy arrays
        (sent as .npy). format: "npy", "idx" or "cifar" (guessed from the
        first file's name or content when None)."""
        img, img_name = _read(images)
        fields = {"images": (img_name, img)}
        if labels is not None:
            lab, lab_name = _read(labels)
            fields["labels"] = (lab_name, lab)
        if format is None:
            format = ("npy" if img[:6] == b"\x93NUMPY" else
                      "cifar" if labels is None else "idx")
        body, ctype = _multipart(fields)
        q = {"name": name, "format": format, "split": split, "description": description}
        return self._c.request("POST", self.path, query=q, body=body, content_type=ctype,
                               retry=False).json()

    def register(self, path, name, labels=None, format="auto", split="test", description=None):
        """Register a dataset already on the server, under a --dataset-root."""
        spec = {"name": name, "path": path, "format": format, "split": split}
        if labels is not None:
            spec["labels"] = labels
        if description is not None:
            spec["description"] = description
        return self._c.post(self.path, spec, retry=False)


class Jobs(_Resource):
    path = "/jobs"

    def submit(self, model, dataset, p, idempotency_key=None, name=None, notes=None, tags=None,
               **spec):
        """Queue a sweep. Keyword arguments are the API's job fields
        (deviation, target, trials, ci_target, seed, limit, references, ...);
        name, notes and tags (a list) are the job's bookkeeping.
        The Idempotency-Key (generated when not given) makes retries safe."""
        body = dict(spec, model=_id(model), dataset=_id(dataset), p=p)
        for k, v in (("name", name), ("notes", notes), ("tags", tags)):
            if v is not None:
                body[k] = list(v) if k == "tags" else v
        if "references" in body:
            body["references"] = [_id(r) for r in body["references"]]
        key = idempotency_key or "py-" + uuid.uuid4().hex
        r = self._c.request("POST", self.path, body=json.dumps(body).encode(),
                            content_type="application/json", headers={"Idempotency-Key": key})
        return Job(self._c, r.json())

    def list(self, state=None, owner=None, model=None, tag=None, name=None, page_size=200):
        """Jobs, newest first; the filters combine (tag: jobs with that tag;
        name: a substring of the job's name, ASCII letters without case)."""
        return super().list(page_size=page_size, state=state, owner=owner,
                            model=_id(model) if model is not None else None, tag=tag, name=name)

    def _wrap(self, item):
        return Job(self._c, item)


class Job:
    """A job of brownoutd. `data` is its last JSON; attributes read from it."""

    def __init__(self, client, data):
        self._c = client
        self.data = data
        self._etag = None

    def __getattr__(self, name):
        try:
            return self.__dict__["data"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self):
        return "<Job %d %s %s>" % (self.id, self.data.get("model_name"), self.state)

    @property
    def done(self):
        return self.state in TERMINAL_STATES

    def refresh(self):
        """Fetch the job again (cheap: a 304 while nothing changed)."""
        headers = {"If-None-Match": self._etag} if self._etag else {}
        r = self._c.request("GET", "/jobs/%d" % self.id, headers=headers, ok=(200, 304))
        if r.status == 200:
            self.data = r.json()
            self._etag = r.headers.get("ETag")
        return self

    def wait(self, timeout=None, poll=1.0, progress=True):
        """Block until the job is done, failed or cancelled; show a progress
        bar in a terminal or a notebook. Raises TimeoutError after `timeout`
        seconds, BrownoutError when the job failed."""
        bar = _Progress(self) if progress else None
        t0 = time.monotonic()
        try:
            while True:
                self.refresh()
                if bar:
                    bar.update(self)
                if self.done:
                    break
                if timeout is not None and time.monotonic() - t0 > timeout:
                    raise TimeoutError("job %d is still %s after %.0f s" % (self.id, self.state,
                                                                          timeout))
                time.sleep(poll)
        finally:
            if bar:
                bar.close()
        if self.state == "failed":
            raise BrownoutError(200, "failed", "job %d failed: %s" % (self.id, self.error))
        return self

    def cancel(self):
        self.data = self._c.post("/jobs/%d/cancel" % self.id, None)
        return self

    def delete(self):
        self._c.request("DELETE", "/jobs/%d" % self.id)

    def update(self, name=None, notes=None, tags=None):
        """Change the job's name, notes or tags (a list, replacing the old
        ones); its owner or an admin may."""
        body = {k: v for k, v in (("name", name), ("notes", notes),
                                  ("tags", list(tags) if tags is not None else None))
                if v is not None}
        if not body:
            raise ValueError("give name, notes or tags")
        self.data = self._c.request("PATCH", "/jobs/%d" % self.id, body=json.dumps(body).encode(),
                                    content_type="application/json", retry=True).json()
        self._etag = None
        return self

    def results(self, per_trial=False, point=None):
        """The results as brownoutd answers them: a dict with `points` (one
        per p) and `provenance`; per_trial=True: `trials`, one row per
        trial (point, p, trial, correct, images, accuracy), of one point
        when point is given."""
        return self._c.get("/jobs/%d/results" % self.id, **_results_query(per_trial, point))

    def csv(self, per_trial=False, point=None):
        """The results as CSV text (the CLI's columns, or per trial, then
        the provenance columns)."""
        q = dict(_results_query(per_trial, point), format="csv")
        return self._c.request("GET", "/jobs/%d/results" % self.id,
                               query=q).body.decode("utf-8")

    def result_rows(self, per_trial=False):
        """The rows results_frame makes, as dicts: the server's provenance
        columns, then the point's (or trial's) values."""
        r = self.results(per_trial=per_trial)
        prov = dict(r.get("provenance") or {})
        if not prov:  # an older brownoutd
            cfg = r.get("config", {})
            prov = {"job": r["job"], "model": r.get("model"), "dataset": r.get("dataset"),
                    "deviation": cfg.get("deviation"), "target": cfg.get("target"),
                    "sites": cfg.get("activation_sites"), "seed": cfg.get("seed"),
                    "bits": cfg.get("bits")}
        if per_trial:
            return [dict(prov, **t) for t in r["trials"]]
        prov["clean_accuracy"] = r.get("clean_accuracy")
        rows = []
        for pt in r["points"]:
            row = dict(prov)
            for k, v in pt.items():
                if k == "ci95":
                    row["ci95_lo"], row["ci95_hi"] = (v or [None, None])
                elif k != "trial_accuracies":
                    row[k] = v
            row["trial_accuracies"] = pt.get("trial_accuracies")
            rows.append(row)
        return rows

    def results_frame(self, per_trial=False):
        """One row per point (per trial with per_trial=True) as a pandas
        DataFrame, with the job's provenance as the server gives it (job,
        model, model_version, model_sha256, dataset, dataset_sha256,
        deviation, target, sites, seed, bits, design) in columns of their
        own."""
        import pandas as pd
        return pd.DataFrame(self.result_rows(per_trial=per_trial))


def _results_query(per_trial, point):
    q = {}
    if per_trial:
        q["per_trial"] = 1
        if point is not None:
            q["point"] = int(point)
    elif point is not None:
        raise ValueError("point goes with per_trial=True")
    return q


class Tokens(_Resource):
    """The caller's API tokens (an admin's: everybody's). Secrets are
    shown once, by create()."""
    path = "/tokens"

    def create(self, name=None):
        """A new token for yourself; the answer's "token" is its secret."""
        return self._c.post(self.path, {"name": name} if name is not None else {},
                            retry=False)

    def revoke(self, id):
        """Revoke a token (yours, or anybody's for an admin)."""
        self.delete(_id(id))

    def get(self, id):
        raise NotImplementedError("tokens are listed, not fetched one by one")


class Users(_Resource):
    """Users, for an admin: list, add (with a first token), remove."""
    path = "/users"

    def add(self, name, admin=False):
        """A new user; the answer's "token" is its first token's secret."""
        return self._c.post(self.path, {"name": name, "admin": bool(admin)}, retry=False)

    def remove(self, id):
        """Revoke every token of the user and disable it (its models,
        datasets and jobs stay)."""
        self.delete(_id(id))

    def get(self, id):
        raise NotImplementedError("users are listed, not fetched one by one")


class _Progress:
    """A progress bar: redrawn in place on a terminal, a display handle in
    Jupyter, nothing elsewhere."""

    def __init__(self, job):
        self.handle = None
        self.tty = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
        try:
            from IPython import get_ipython
            shell = get_ipython()
            if shell is not None and type(shell).__name__ == "ZMQInteractiveShell":
                from IPython.display import display
                self.handle = display(self._text(job), display_id=True)
        except ImportError:
            pass

    @staticmethod
    def _text(job):
        pr = job.data.get("progress") or {}
        frac = pr.get("fraction") or 0.0
        width = 30
        fill = int(round(frac * width))
        left = pr.get("seconds_left")
        return "job %d %-9s [%s%s] %3.0f%%  %d/%d trials  %.0f img/s%s" % (
            job.id, job.state, "#" * fill, "." * (width - fill), 100 * frac,
            pr.get("trials_done", 0), pr.get("trials_total", 0),
            pr.get("images_per_second") or 0.0,
            "  %.0f s left" % left if left is not None else "")

    def update(self, job):
        if self.handle is not None:
            self.handle.update(self._text(job))
        elif self.tty:
            sys.stderr.write("\r" + self._text(job) + "  ")
            sys.stderr.flush()

    def close(self):
        if self.tty and self.handle is None:
            sys.stderr.write("\n")


def _id(x):
    """An id from an int or an API object (dict with "id", Job)."""
    if isinstance(x, Job):
        return x.id
    if isinstance(x, dict):
        return x["id"]
    return int(x)


def _csv(v):
    if v is None:
        return None
    if isinstance(v, (list, tuple)):
        return ",".join(repr(float(x)) for x in v)
    return repr(float(v))


class Client:
    """brownoutd at `url` (e.g. "http://127.0.0.1:8080"), signed in with
    `token`. Both default to $BROWNOUT_URL and $BROWNOUT_TOKEN."""

    def __init__(self, url=None, token=None, timeout=60, retries=3):
        url = url or os.environ.get("BROWNOUT_URL")
        if not url:
            raise ValueError("give the server's URL or set BROWNOUT_URL")
        self.url = url.rstrip("/")
        if not self.url.endswith("/api/v1"):
            self.url += "/api/v1"
        self.token = token if token is not None else os.environ.get("BROWNOUT_TOKEN")
        self.timeout = timeout
        self.retries = retries
        self.models = Models(self)
        self.datasets = Datasets(self)
        self.jobs = Jobs(self)
        self.tokens = Tokens(self)
        self.users = Users(self)

    def __repr__(self):
        return "<brownout.Client %s>" % self.url

    def request(self, method, path, query=None, body=None, content_type=None, headers=None,
                ok=None, retry=None):
        """One API call; the _Response, or BrownoutError for an error answer.
        `retry` (default: GET, DELETE and requests with an Idempotency-Key)
        repeats the call on connection errors."""
        url = self.url + path
        q = {k: v for k, v in (query or {}).items() if v is not None}
        if q:
            url += "?" + urllib.parse.urlencode(q)
        hdrs = dict(headers or {})
        if self.token:
            hdrs["Authorization"] = "Bearer " + self.token
        if content_type:
            hdrs["Content-Type"] = content_type
        if retry is None:
            retry = method in ("GET", "HEAD", "DELETE") or "Idempotency-Key" in hdrs
        attempts = 1 + (self.retries if retry else 0)
        for attempt in range(attempts):
            req = urllib.request.Request(url, data=body, headers=hdrs, method=method)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    r = _Response(resp.status, resp.headers, resp.read())
                break
            except urllib.error.HTTPError as e:
                r = _Response(e.code, e.headers, e.read())
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
                if attempt + 1 == attempts:
                    raise ConnectionError("cannot reach brownoutd at %s: %s" % (
                        self.url, getattr(e, "reason", e))) from e
                time.sleep(min(0.2 * 2 ** attempt, 5.0))
        if (ok and r.status in ok) or (not ok and 200 <= r.status < 300):
            return r
        try:
            e = r.json()["error"]
            raise BrownoutError(r.status, e["code"], e["message"], e.get("field"))
        except (ValueError, KeyError, TypeError):
            raise BrownoutError(r.status, "http_%d" % r.status,
                                r.body[:200].decode("utf-8", "replace")) from None

    def get(self, path, **query):
        return self.request("GET", path, query=query).json()

    def post(self, path, obj, retry=None):
        body = json.dumps(obj).encode() if obj is not None else b""
        return self.request("POST", path, body=body, content_type="application/json",
                            retry=retry).json()

    def health(self):
        return self.get("/health")

    def me(self):
        return self.get("/me")

    def analysis(self, jobs, references=None):
        """Iso-accuracy energy reduction of jobs against reference models."""
        q = {"jobs": ",".join(str(_id(j)) for j in jobs)}
        if references:
            q["references"] = ",".join(str(_id(r)) for r in references)
        return self.get("/analysis", **q)

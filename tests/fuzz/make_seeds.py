"""Seeds for the dataset, job-spec and HTTP fuzz targets (see make_seeds.sh).

Each seed is small and valid (or deliberately just invalid) so that the
fuzzer starts from inputs that reach deep into each parser."""
import gzip
import json
import os
import struct
import sys

SEP = b"\n#LABELS#\n"  # fuzz_dataset.h: images before it, labels after


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def idx_images(n, h, w):
    return struct.pack(">IIII", 0x803, n, h, w) + bytes((i * 7) % 256 for i in range(n * h * w))


def idx_labels(n):
    return struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n))


def npy(dtype, shape, payload):
    shp = "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (dtype, shp)
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


def gz(data):
    return gzip.compress(data, mtime=0)


def datasets(out):
    d = os.path.join(out, "idx")
    write(os.path.join(d, "mnist-3x4x4"), idx_images(3, 4, 4) + SEP + idx_labels(3))
    write(os.path.join(d, "mnist-3x4x4.gz"), gz(idx_images(3, 4, 4)) + SEP + gz(idx_labels(3)))
    write(os.path.join(d, "mnist-1x28x28"), idx_images(1, 28, 28) + SEP + idx_labels(1))
    write(os.path.join(d, "mnist-0"), idx_images(0, 2, 2) + SEP + idx_labels(0))
    write(os.path.join(d, "count-mismatch"), idx_images(2, 2, 2) + SEP + idx_labels(3))

    d = os.path.join(out, "npy")
    u8 = npy("|u1", (3, 4, 4), bytes(range(48)))
    f4 = npy("<f4", (2, 1, 3, 3), struct.pack("<18f", *[i / 18 for i in range(18)]))
    f8 = npy("<f8", (2, 2, 2), struct.pack("<8d", *[i / 8 for i in range(8)]))
    write(os.path.join(d, "u8-u1"), u8 + SEP + npy("|u1", (3,), bytes([0, 1, 2])))
    write(os.path.join(d, "f4-i8"), f4 + SEP + npy("<i8", (2,), struct.pack("<2q", 1, 9)))
    write(os.path.join(d, "f8-i4"), f8 + SEP + npy("<i4", (2,), struct.pack("<2i", 4, 0)))
    write(os.path.join(d, "u8-u1.gz"), gz(u8) + SEP + gz(npy("|u1", (3,), bytes([5, 6, 7]))))
    write(os.path.join(d, "fortran"), u8.replace(b"False", b"True ") + SEP
          + npy("|u1", (3,), bytes(3)))
    write(os.path.join(d, "big-endian"), npy(">f4", (1, 2, 2), struct.pack(">4f", 0, .25, .5, 1))
          + SEP + npy("|u1", (1,), bytes(1)))

    d = os.path.join(out, "cifar")
    rec = lambda lab: bytes([lab]) + bytes((i * 3 + lab) % 256 for i in range(3072))
    write(os.path.join(d, "two-records"), rec(3) + rec(9))
    write(os.path.join(d, "one-record.gz"), gz(rec(1)))
    write(os.path.join(d, "partial-record"), rec(0) + rec(1)[:100])


JOB_SPECS = {
    "minimal": {"model": 1, "dataset": 1, "p": [1e-3]},
    "range": {"model": 1, "dataset": 1, "p": "1e-4:1e-2:3"},
    "full": {"model": 3, "dataset": 4, "p": [0.0, 1e-3, 3e-2], "deviation": "erasure",
             "target": "weights", "activation_sites": "conv-inputs", "trials": 2,
             "seed": 7, "bits": 6, "calib": 64, "limit": 8, "energy_a": 2.5,
             "references": [2, 5], "mean": [0.4914, 0.4822, 0.4465],
             "std": [0.247, 0.243, 0.261], "priority": -3,
             "blocks": "/layer1=b1,~^/conv[0-9]+=convs", "block_p": "b1=1e-3,convs=0"},
    "adaptive": {"model": 1, "dataset": 2, "p": [0.02], "ci_target": 0.2, "trials": None,
                 "min_trials": 2, "max_trials": 50},
    "nulls": {"model": 1, "dataset": 1, "p": [0.5], "mean": None, "std": None,
              "blocks": None, "block_p": None, "trials": None},
}
JOB_BAD = [
    b'{"dataset": 1, "p": [0.1]}',
    b'{"model": 1, "dataset": 1, "p": [0.1], "trails": 3}',
    b'{"model": 1, "dataset": 1, "p": [1.5]}',
    b'{"model": 1, "dataset": 1, "p": "1e-3:1e-2:2000"}',
    b'{"model": 1, "dataset": 1, "p": [0.1], "std": [0]}',
    b'{"model": 1, "dataset": 1, "p": [0.1], "blocks": "@/etc/passwd"}',
    b'{"model": 1, "dataset": 1, "p": [0.1], "block_p": "nosuch=0.1"}',
    b'{"model": 1, "dataset": 1, "p": [0.1], "trials": 3, "ci_target": 0.1}',
    b'{"model": 1, "model": 2, "dataset": 1, "p": [0.1]}',
    b'[1, 2, 3]',
]


def jobspecs(out):
    d = os.path.join(out, "jobspec")
    for name, spec in JOB_SPECS.items():
        write(os.path.join(d, name + ".json"), json.dumps(spec).encode())
    for i, text in enumerate(JOB_BAD):
        write(os.path.join(d, "bad-%02d.json" % i), text)
    # found by fuzz_jobspec: 1e39 became inf as a float, and the stored spec
    # lost its mean (fixed in get_floats, daemon/jobs.c)
    write(os.path.join(d, "mean-beyond-float.json"),
          b'{"model": 1, "dataset": 1, "p": [0.1], "mean": [1e39]}')


def req(method, path, headers=(), body=b"", token="@TOKEN@", length=True):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: localhost"]
    if token:
        lines.append("Authorization: Bearer " + token)
    lines += list(headers)
    if body or (length and method in ("POST", "PUT")):
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def multipart(parts, boundary="XyZ"):
    out = b""
    for headers, data in parts:
        out += b"--" + boundary.encode() + b"\r\n"
        out += b"".join(h.encode() + b"\r\n" for h in headers) + b"\r\n" + data + b"\r\n"
    return out + b"--" + boundary.encode() + b"--\r\n"


def http(out):
    d = os.path.join(out, "http")
    model = open(os.path.join(out, "onnx", "tiny.onnx"), "rb").read()
    images, labels = idx_images(2, 2, 2), idx_labels(2)
    json_ct = "Content-Type: application/json"
    spec = json.dumps(JOB_SPECS["minimal"]).encode()
    seeds = {
        "health": req("GET", "/api/v1/health", token=None),
        "metrics": req("GET", "/api/v1/metrics", token=None),
        "openapi": req("GET", "/api/v1/openapi.yaml", token=None),
        "static-index": req("GET", "/", token=None),
        "static-dotdot": req("GET", "/../../etc/passwd", token=None),
        "static-missing": req("GET", "/app.js?x=1", token=None),
        "me": req("GET", "/api/v1/me"),
        "me-admin-http10": req("GET", "/api/v1/me", token="@ADMIN@").replace(b"HTTP/1.1", b"HTTP/1.0"),
        "me-bad-token": req("GET", "/api/v1/me", token="bo_AAAA"),
        "me-no-token": req("GET", "/api/v1/me", token=None),
        "models-list": req("GET", "/api/v1/models?limit=2&after=1"),
        "model-upload": req("POST", "/api/v1/models?name=tiny&description=d&mean=0.5&std=0.25"
                            "&blocks=/fc%3Dfc", ["Content-Type: application/octet-stream"], model),
        "model-upload-chunked": (b"POST /api/v1/models?name=c HTTP/1.1\r\nHost: x\r\n"
                                 b"Authorization: Bearer @TOKEN@\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n"
                                 + b"%x\r\n" % len(model) + model + b"\r\n0\r\n\r\n"),
        "model-get": req("GET", "/api/v1/models/1"),
        "model-delete": req("DELETE", "/api/v1/models/1", token="@ADMIN@"),
        "model-bad-id": req("GET", "/api/v1/models/1x"),
        "datasets-list": req("GET", "/api/v1/datasets"),
        "dataset-upload": req("POST", "/api/v1/datasets?name=d&format=idx&split=test",
                              ["Content-Type: multipart/form-data; boundary=XyZ"],
                              multipart([(['Content-Disposition: form-data; name="images"; '
                                           'filename="i"', "Content-Type: application/octet-stream"],
                                          images),
                                         (['Content-Disposition: form-data; name="labels"; '
                                           'filename="l"'], labels)])),
        "dataset-path": req("POST", "/api/v1/datasets", [json_ct],
                            json.dumps({"name": "m", "path": "@ROOT@/mnist", "format": "auto",
                                        "split": "test", "description": "x"}).encode()),
        "dataset-path-outside": req("POST", "/api/v1/datasets", [json_ct],
                                    b'{"name": "e", "path": "/etc"}'),
        "dataset-get": req("GET", "/api/v1/datasets/1"),
        "dataset-delete": req("DELETE", "/api/v1/datasets/1"),
        "jobs-list": req("GET", "/api/v1/jobs?state=queued&owner=fuzz&model=1&limit=5"),
        "job-post": req("POST", "/api/v1/jobs", [json_ct, "Idempotency-Key: k1"], spec),
        "job-post-bad": req("POST", "/api/v1/jobs", [json_ct], b'{"model": 1, "p": '),
        "job-get": req("GET", "/api/v1/jobs/1", ['If-None-Match: "x"']),
        "job-cancel": req("POST", "/api/v1/jobs/1/cancel"),
        "job-delete": req("DELETE", "/api/v1/jobs/1"),
        "job-results": req("GET", "/api/v1/jobs/1/results?format=csv"),
        "analysis": req("GET", "/api/v1/analysis?jobs=1,2&references=3"),
        "method-405": req("PUT", "/api/v1/jobs"),
        "no-endpoint": req("GET", "/api/v1/nothing/here/at/all/x"),
        "pipelined": req("GET", "/api/v1/health", token=None) + req("GET", "/api/v1/me"),
        "two-lengths": req("POST", "/api/v1/jobs", [json_ct, "Content-Length: 2"], spec),
        "body-too-long": req("POST", "/api/v1/jobs", [json_ct, "Content-Length: 99999999"],
                             length=False),
        "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        # issue 9 item 1: a multipart part without Content-Disposition
        # (crashed post_iter with a NULL key)
        "crash-null-disposition": req("POST", "/api/v1/datasets?name=x&format=npy",
                                      ["Content-Type: multipart/form-data; boundary=XyZ"],
                                      b"--XyZ\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
                                      b"--XyZ--\r\n"),
    }
    for name, data in seeds.items():
        write(os.path.join(d, name), data)


def main():
    out = sys.argv[1]
    datasets(out)
    jobspecs(out)
    http(out)


main()

#!/usr/bin/python3
"""Model-zoo suite: torchvision 0.14's classifiers, exported the default way
(tools/zoo_export.py, at opsets 11, 13 and 17, fixed batch 1 and dynamic
batch), run by `brownout run`; the logits must equal PyTorch's within
1e-4 x max|logit| (as tests/cli/test_cli.sh).

  tests/zoo/run.py BUILD [MODEL ...]

The exports are made once into BUILD/test-output/zoo (or $BO_ZOO_DIR) and remade when
tools/zoo_export.py changes (they are too large to commit: full-width
torchvision models, 1 to 45 MB each). Fixed-batch exports run on one image,
and on three (re-planned for that batch, or as runs of one with a note,
EXPECTED_PINNED), dynamic ones on three. A model torch cannot export (listed in the export's
export-failures.txt) is reported as skipped; EXPECTED_REFUSALS lists what
brownout is known not to run yet, reported with the reason; anything else
that is refused or differs fails the suite.
"""
import hashlib
import os
import subprocess
import sys
import tempfile

import numpy as np

try:
    import onnx
    from onnx import numpy_helper
except ImportError:  # pragma: no cover
    onnx = None

# model -> why brownout does not run it yet (checked: it must still refuse)
EXPECTED_REFUSALS = {
}

# Fixed-batch exports also run three images: re-planned for that batch (no
# note), except these, which say once which node pins the batch (the op
# type) and run as runs of one: the attention reshapes fold the batch into
# the heads.
EXPECTED_PINNED = {
    "swin": "(Reshape)",
    "vit": "(Reshape)",
}


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    only = sys.argv[2:]
    bo = os.path.join(root, build, "brownout")
    # BO_ZOO_DIR: reuse an export (e.g. the normal build's from a sanitizer build)
    out = os.environ.get("BO_ZOO_DIR") or os.path.join(root, build, "test-output", "zoo")
    exporter = os.path.join(root, "tools", "zoo_export.py")
    try:
        import torch  # noqa: F401
        import torchvision  # noqa: F401
    except ImportError:
        print("skip: zoo: python3-torch and python3-torchvision are needed "
              "(deploy/install-deps.sh)")
        return 0
    if onnx is None:
        print("skip: zoo: python3-onnx is needed")
        return 0
    digest = hashlib.sha256(open(exporter, "rb").read()).hexdigest()
    stamp = os.path.join(out, "stamp")
    if not os.path.exists(stamp) or open(stamp).read() != digest:
        print("exporting the zoo into %s (once; tools/zoo_export.py)" % out, flush=True)
        os.makedirs(out, exist_ok=True)
        if os.path.exists(stamp):
            os.unlink(stamp)
        r = subprocess.run([sys.executable, exporter, out])
        if r.returncode:
            print("FAIL: tools/zoo_export.py exited with %d" % r.returncode)
            return 1
        with open(stamp, "w") as fh:
            fh.write(digest)
    failures = [l.strip() for l in open(os.path.join(out, "export-failures.txt")) if l.strip()]
    for l in failures:
        print("skip: export: " + l)
    files = sorted(f for f in os.listdir(out) if f.endswith(".onnx"))
    passed = failed = expected = 0
    worst = {}
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:
            name = f.split(".op")[0]
            if only and name not in only:
                continue
            dyn = f.endswith(".dyn.onnx")
            x = os.path.join(out, name + (".x3.npy" if dyn else ".x1.npy"))
            want = np.load(os.path.join(out, name + (".logits3.npy" if dyn else ".logits1.npy")))
            od = os.path.join(tmp, f)
            r = subprocess.run([bo, "run", os.path.join(out, f), "--input", x, "--output-dir", od],
                               capture_output=True, text=True)
            if name in EXPECTED_REFUSALS:
                if r.returncode:
                    expected += 1
                    print("known: %s refused (%s): %s" % (f, EXPECTED_REFUSALS[name],
                                                          r.stderr.strip()[:200]))
                else:
                    failed += 1
                    print("FAIL: %s runs now: take it off EXPECTED_REFUSALS" % f)
                continue
            if r.returncode:
                failed += 1
                print("FAIL: %s refused: %s" % (f, r.stderr.strip()[:400]))
                continue
            got = numpy_helper.to_array(onnx.load_tensor(os.path.join(od, "output_0.pb")))
            err = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
            tol = 1e-4 * float(np.abs(want).max())
            worst[name] = max(worst.get(name, 0.0), err / max(tol * 1e4, 1e-30))
            if got.shape == want.shape and err <= tol and tol > 0:
                passed += 1
                print("ok   %s: max err %.3g (tol %.3g)" % (f, err, tol))
            else:
                failed += 1
                print("FAIL: %s: shape %s vs %s, max err %.3g (tol %.3g)"
                      % (f, got.shape, want.shape, err, tol))
            if dyn:
                continue
            # the batch-1 export on three images: re-planned, or said once
            want = np.load(os.path.join(out, name + ".logits3.npy"))
            od = os.path.join(tmp, f + ".x3")
            r = subprocess.run([bo, "run", os.path.join(out, f), "--input",
                                os.path.join(out, name + ".x3.npy"), "--output-dir", od],
                               capture_output=True, text=True)
            notes = [l for l in r.stderr.splitlines() if "note:" in l]
            pin = EXPECTED_PINNED.get(name)
            noted = (len(notes) == 1 and pin in notes[0]) if pin else not notes
            if r.returncode:
                failed += 1
                print("FAIL: %s on 3 images refused: %s" % (f, r.stderr.strip()[:400]))
                continue
            got = numpy_helper.to_array(onnx.load_tensor(os.path.join(od, "output_0.pb")))
            err = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
            tol = 1e-4 * float(np.abs(want).max())
            how = "as runs of 1, noted" if pin else "re-planned"
            if got.shape == want.shape and err <= tol and noted:
                passed += 1
                print("ok   %s on 3 images, %s: max err %.3g (tol %.3g)" % (f, how, err, tol))
            else:
                failed += 1
                print("FAIL: %s on 3 images, want %s: max err %.3g (tol %.3g); stderr: %s"
                      % (f, how, err, tol, r.stderr.strip()[:400]))
    print("\nper model, worst max|err| / max|logit| over its exports:")
    for k in sorted(worst):
        print("  %-20s %.2e" % (k, worst[k]))
    print("zoo: %d passed, %d failed, %d known refusals, %d export failures"
          % (passed, failed, expected, len(failures)))
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())

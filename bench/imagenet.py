#!/usr/bin/python3
"""ImageNet-scale clean inference: brownout against PyTorch and ONNX Runtime
in one run (bench/README.md).

    /usr/bin/python3 bench/imagenet.py BUILD [--models resnet18,resnet50,mobilenet_v2,efficientnet_b0]
        [--images 96] [--batch 32] [--threads 1,2]

torchvision 0.14's classifiers with random weights (seeded; weights do not
change the speed) at 224x224, exported with a dynamic batch axis to
bench/out/imagenet/. Each engine runs in a process of its own on the same
number of images, batch and threads: brownout `eval` on random uint8
images (bench/out/imagenet/synth), PyTorch in eval mode under no_grad,
ONNX Runtime through npm's onnxruntime-node (bench/ort, installed with
`npm ci --ignore-scripts`). Images/s excludes loading and one warm-up
batch (brownout's eval times all its batches, so it runs on one batch and
on images + one batch, and the difference of the two times is taken);
peak memory is the process's maximum resident set (wait4), so it
includes each runtime's own footprint. Prints a markdown table.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out", "imagenet")
PY = "/usr/bin/python3"

TORCH_RUN = r'''
import json, sys, time, torch, torchvision
name, batch, threads, images = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)
m = getattr(torchvision.models, name)(weights=None).eval()
x = torch.randn(batch, 3, 224, 224)
with torch.no_grad():
    m(x)
    n = 0
    t0 = time.perf_counter()
    while n < images:
        b = min(batch, images - n)
        m(x[:b])
        n += b
    dt = time.perf_counter() - t0
print(json.dumps({"images": n, "seconds": dt, "images_per_second": n / dt}))
'''

EXPORT = r'''
import sys, torch, torchvision
name, path = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
m = getattr(torchvision.models, name)(weights=None).eval()
torch.onnx.export(m, torch.randn(1, 3, 224, 224), path, opset_version=13,
                  input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
'''


def run_rss(argv, env=None):
    """Like run, with the child's peak RSS from wait4."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        last = (err.decode(errors="replace").strip().splitlines() or ["exit %d" % p.returncode])[-1]
        raise RuntimeError(last)
    text = out.decode().strip()
    try:  # brownout --json prints one indented object; the others one line
        obj = json.loads(text)
    except ValueError:
        obj = json.loads(text.splitlines()[-1])
    return obj, ru.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--models", default="resnet18,resnet50,mobilenet_v2,efficientnet_b0")
    ap.add_argument("--images", type=int, default=96)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", default="1,2")
    a = ap.parse_args()
    bo = os.path.join(a.build, "brownout")
    os.makedirs(OUT, exist_ok=True)
    synth = os.path.join(OUT, "synth")
    import numpy as np
    have = os.path.join(synth, "images.npy")
    need = a.images + a.batch  # brownout's warm-up batch comes first
    if not os.path.exists(have) or np.load(have, mmap_mode="r").shape[0] < need:
        os.makedirs(synth, exist_ok=True)
        r = np.random.default_rng(0)
        np.save(os.path.join(synth, "images.npy"),
                r.integers(0, 256, (need, 3, 224, 224), dtype=np.uint8))
        np.save(os.path.join(synth, "labels.npy"), r.integers(0, 1000, need).astype(np.int64))
    ort_dir = os.path.join(HERE, "ort")
    if not os.path.isdir(os.path.join(ort_dir, "node_modules", "onnxruntime-node")):
        subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=ort_dir,
                       check=True, stdout=subprocess.DEVNULL)
    import torch
    import torchvision
    cpu = ""
    try:
        cpu = [ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
               if ln.startswith("model name")][0]
    except (OSError, IndexError):
        cpu = platform.processor()
    print("%d cores: %s; %s; PyTorch %s, torchvision %s, onnxruntime-node %s, batch %d, %d images"
          % (os.cpu_count(), cpu, time.strftime("%Y-%m-%d", time.gmtime()), torch.__version__,
             torchvision.__version__, json.load(open(os.path.join(ort_dir, "package.json")))
             ["dependencies"]["onnxruntime-node"], a.batch, a.images))
    print()
    print("| model | threads | brownout img/s | ONNX Runtime img/s | PyTorch img/s "
          "| brownout / ORT | brownout MiB | ORT MiB | PyTorch MiB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in a.models.split(","):
        path = os.path.join(OUT, name + ".onnx")
        if not os.path.exists(path):
            subprocess.run([PY, "-c", EXPORT, name, path], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for t in (int(x) for x in a.threads.split(",")):
            cells = []
            try:
                def bo_eval(limit):
                    return run_rss([bo, "eval", path, synth, "--limit", str(limit), "--batch",
                                    str(a.batch), "--threads", str(t), "--mean", "0.45",
                                    "--std", "0.226", "--json"])
                # eval times every batch, the first (planning, first touch
                # of the arena) included: the warm-up batch is taken out
                # as the difference of two runs
                b1, _ = bo_eval(a.batch)
                b, bm = bo_eval(a.images + a.batch)
                secs = b["seconds"] - b1["seconds"]
                bips = a.images / secs if secs > 0 else b["images_per_second"]
                cells_b = ("%.1f" % bips, "%.0f" % bm)
            except RuntimeError as e:
                bips = None
                cells_b = ("fails: %s" % str(e)[:100].replace("|", "/"), "")
            o, om = run_rss(["node", os.path.join(HERE, "ort", "infer.mjs"), path, "--batch",
                             str(a.batch), "--threads", str(t), "--images", str(a.images)])
            p, pm = run_rss([PY, "-c", TORCH_RUN, name, str(a.batch), str(t), str(a.images)])
            ratio = "%.2fx" % (bips / o["images_per_second"]) if bips else ""
            cells = [name, str(t), cells_b[0], "%.1f" % o["images_per_second"],
                     "%.1f" % p["images_per_second"], ratio, cells_b[1], "%.0f" % om, "%.0f" % pm]
            print("| " + " | ".join(cells) + " |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()

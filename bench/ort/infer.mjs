// ONNX Runtime (onnxruntime-node, CPU) throughput for bench/imagenet.py:
//   node bench/ort/infer.mjs MODEL.onnx --batch 32 --threads 1 --images 128 --shape 3x224x224
// Same images/s measure as brownout eval and bench/torch_infer.py: one warm-up
// batch, then `images` images in batches; prints JSON.
import * as ort from 'onnxruntime-node';

const args = process.argv.slice(2);
const opt = { batch: 32, threads: 1, images: 128, shape: '3x224x224' };
const model = args[0];
for (let i = 1; i < args.length; i += 2) opt[args[i].replace(/^--/, '')] = args[i + 1];
const batch = Number(opt.batch), threads = Number(opt.threads), images = Number(opt.images);
const [c, h, w] = opt.shape.split('x').map(Number);
const session = await ort.InferenceSession.create(model, {
  intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});
const data = new Float32Array(batch * c * h * w);
for (let i = 0; i < data.length; i++) data[i] = Math.random() * 2 - 1;
const feed = (b) => ({ [session.inputNames[0]]: new ort.Tensor('float32', data.subarray(0, b * c * h * w), [b, c, h, w]) });
await session.run(feed(batch)); // warm-up
let n = 0;
const t0 = performance.now();
while (n < images) {
  const b = Math.min(batch, images - n);
  await session.run(feed(b));
  n += b;
}
const s = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ images: n, seconds: s, images_per_second: n / s, threads, batch,
  onnxruntime: ort.env.versions ? ort.env.versions.common : 'unknown' }));

// ONNX Runtime side of bench/engine.sh: the counterpart of `inferd bench`.
//
//   node bench/engine_ort.mjs MODEL.onnx INPUT.json SECONDS THREADS
//
// Loads MODEL with onnxruntime-node (CPU EP, intraOpNumThreads = THREADS, interOpNumThreads 1,
// graphOptimizationLevel 'all', sequential execution), turns INPUT.json (the fixture format:
// {"inputs": {"<name>": {"shape", "datatype", "data"}}}, null = NaN) into ort.Tensors once, warms up
// for 10% of SECONDS, then times `await session.run(feeds)` back to back for SECONDS (at least 5
// runs) and prints the line `inferd bench` prints:
//   {"runs":N,"median_us":..,"p90_us":..,"mean_us":..,"min_us":..}
//
// Each figure is the wall time of one `await session.run()` as a node program sees it: it includes
// the N-API binding (wrapping the inputs, copying the outputs into new JS tensors) and the promise
// plus setImmediate hop that onnxruntime-node puts around every call. ORT's own compute time is not
// exposed; bench/engine.sh times a trivial model to give that fixed cost (the "binding floor").
//
// onnxruntime-node cannot return non-tensor outputs (seq/map, e.g. ZipMap), so only tensor outputs
// are fetched; skipped outputs are named on stderr.
//
// onnxruntime-node is loaded from tools/ort/node_modules (ORT_NODE_DIR=dir-holding-node_modules
// picks another install).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const ortDir = process.env.ORT_NODE_DIR || path.resolve(here, '..', 'tools', 'ort');

function die(msg, code = 1) {
  process.stderr.write(`bench/engine_ort.mjs: ${msg}\n`);
  process.exit(code);
}

const args = process.argv.slice(2);
if (args.length !== 4) die('usage: node bench/engine_ort.mjs MODEL.onnx INPUT.json SECONDS THREADS', 2);
const [modelPath, inputPath] = args;
const seconds = Number(args[2]);
const threads = Number(args[3]);
if (!(seconds > 0 && seconds <= 600)) die(`SECONDS must be in (0, 600], got "${args[2]}"`, 2);
if (!(Number.isInteger(threads) && threads >= 1)) die(`THREADS must be an integer >= 1, got "${args[3]}"`, 2);

let ort;
try {
  ort = createRequire(path.join(ortDir, 'package.json'))('onnxruntime-node');
} catch (e) {
  die(`cannot load onnxruntime-node from ${ortDir}/node_modules (${e.code || e.message}); ` +
    'run: cd tools/ort && npm install --ignore-scripts');
}

const DT_TO_ORT = { FP32: 'float32', FP64: 'float64', INT64: 'int64', INT32: 'int32', BOOL: 'bool', STRING: 'string' };
const float = (v) => (v === null ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v);

function toTensor(name, spec) {
  const type = DT_TO_ORT[spec.datatype];
  if (!type) throw new Error(`input ${name}: unsupported datatype ${spec.datatype}`);
  const d = spec.data;
  let data;
  switch (spec.datatype) {
    case 'FP32': data = Float32Array.from(d, float); break;
    case 'FP64': data = Float64Array.from(d, float); break;
    case 'INT64': data = BigInt64Array.from(d, (v) => BigInt(v)); break;
    case 'INT32': data = Int32Array.from(d); break;
    case 'BOOL': data = Uint8Array.from(d, (v) => (v ? 1 : 0)); break;
    case 'STRING': data = d.map(String); break;
  }
  return new ort.Tensor(type, data, spec.shape);
}

const now = () => process.hrtime.bigint();

async function main() {
  let session;
  try {
    session = await ort.InferenceSession.create(modelPath, {
      executionProviders: ['cpu'],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      logSeverityLevel: 3,
    });
  } catch (e) {
    die(`${modelPath}: load failed: ${e.message}`);
  }
  let feeds;
  try {
    const j = JSON.parse(fs.readFileSync(inputPath, 'utf8'));
    feeds = {};
    for (const [name, spec] of Object.entries(j.inputs)) feeds[name] = toTensor(name, spec);
  } catch (e) {
    die(`${inputPath}: ${e.message}`);
  }
  const meta = session.outputMetadata ?? session.outputNames.map((n) => ({ name: n, isTensor: true }));
  const fetches = meta.filter((m) => m.isTensor).map((m) => m.name);
  const skipped = meta.filter((m) => !m.isTensor).map((m) => m.name);
  if (skipped.length) process.stderr.write(`bench/engine_ort.mjs: non-tensor outputs not fetched: ${skipped.join(', ')}\n`);

  try {
    // Warm-up: the first runs allocate ORT's arena and let V8 optimise the JS wrapper.
    const warmUntil = now() + BigInt(Math.round(seconds * 0.1e9));
    do await session.run(feeds, fetches); while (now() < warmUntil);
  } catch (e) {
    die(`${modelPath}: run failed: ${e.message}`);
  }

  const cap = 1 << 20; // the same cap as inferd bench
  const lat = new Float64Array(cap); // ns; preallocated so the loop itself allocates nothing
  let n = 0;
  let sum = 0;
  const until = now() + BigInt(Math.round(seconds * 1e9));
  while (n < cap && (now() < until || n < 5)) {
    const t0 = now();
    await session.run(feeds, fetches);
    const dt = Number(now() - t0);
    lat[n++] = dt;
    sum += dt;
  }
  const s = lat.subarray(0, n).sort();
  const us = (ns) => (ns / 1e3).toFixed(3);
  process.stdout.write(`{"runs":${n},"median_us":${us(s[n >> 1])},"p90_us":${us(s[Math.floor((n * 9) / 10)])},` +
    `"mean_us":${us(sum / n)},"min_us":${us(s[0])}}\n`);
  await session.release();
}

main().catch((e) => die(e.stack || String(e)));

// Runs every fixture model under tests/fixtures/models with ONNX Runtime (onnxruntime-node,
// CPU, one intra-op thread) on every tests/fixtures/data/<model>.b<N>.input.json and writes
// tests/fixtures/data/<model>.b<N>.expected.json plus tests/fixtures/data/ORT_VERSION.
//
//   cd tools/ort && npm install --ignore-scripts && node reference.mjs [model ...]
//
// Number formatting: float32 outputs are widened to JS doubles (exact) and written with the
// shortest decimal that round-trips that double, so strtod()+cast or strtof() both give the exact
// float32 bits back. NaN is written as null, +/-Infinity as the strings "inf" / "-inf", negative
// zero as -0.  INT64 values are written as JSON integers (all fixture values are < 2^53).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const modelsDir = path.join(root, 'tests', 'fixtures', 'models');
const dataDir = path.join(root, 'tests', 'fixtures', 'data');

const ortVersion = JSON.parse(fs.readFileSync(path.join(here, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')).version;

const DT_TO_ORT = {
  FP32: 'float32', FP64: 'float64', INT64: 'int64', INT32: 'int32', UINT8: 'uint8', INT8: 'int8', BOOL: 'bool',
  STRING: 'string',
};
const ORT_TO_DT = Object.fromEntries(Object.entries(DT_TO_ORT).map(([k, v]) => [v, k]));

const baseOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  executionProviders: ['cpu'],
  logSeverityLevel: 3,
};

function fmtFloat(v) {
  if (Number.isNaN(v)) return 'null';
  if (v === Infinity) return '"inf"';
  if (v === -Infinity) return '"-inf"';
  if (Object.is(v, -0)) return '-0';
  return JSON.stringify(v);
}

function fmtValue(v, dt) {
  switch (dt) {
    case 'FP32':
    case 'FP64':
      return fmtFloat(Number(v));
    case 'INT64': {
      const n = Number(v);
      if (!Number.isSafeInteger(n)) return JSON.stringify(String(v)); // never happens in these fixtures
      return String(n);
    }
    case 'INT32':
    case 'UINT8':
    case 'INT8':
      return String(v);
    case 'BOOL':
      return v ? 'true' : 'false';
    case 'STRING':
      return JSON.stringify(v);
    default:
      throw new Error(`unknown datatype ${dt}`);
  }
}

function tensorJson(t, extra = '') {
  const dt = ORT_TO_DT[t.type];
  if (!dt) throw new Error(`unsupported output tensor type ${t.type}`);
  const parts = [];
  for (const v of t.data) parts.push(fmtValue(v, dt));
  return `{"shape":${JSON.stringify(t.dims.map(Number))},"datatype":"${dt}","data":[${parts.join(',')}]${extra}}`;
}

function toTensor(name, spec) {
  const type = DT_TO_ORT[spec.datatype];
  if (!type) throw new Error(`${name}: unknown datatype ${spec.datatype}`);
  const d = spec.data;
  let data;
  switch (spec.datatype) {
    case 'FP32':
      data = Float32Array.from(d, (v) => (v === null ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v));
      break;
    case 'FP64':
      data = Float64Array.from(d, (v) => (v === null ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v));
      break;
    case 'INT64':
      data = BigInt64Array.from(d, (v) => BigInt(v));
      break;
    case 'INT32':
      data = Int32Array.from(d);
      break;
    case 'UINT8':
      data = Uint8Array.from(d);
      break;
    case 'INT8':
      data = Int8Array.from(d);
      break;
    case 'BOOL':
      data = Uint8Array.from(d, (v) => (v ? 1 : 0));
      break;
    case 'STRING':
      data = d.map(String);
      break;
  }
  return new ort.Tensor(type, data, spec.shape);
}

function readFeeds(file) {
  const j = JSON.parse(fs.readFileSync(file, 'utf8'));
  const feeds = {};
  for (const [name, spec] of Object.entries(j.inputs)) feeds[name] = toTensor(name, spec);
  return feeds;
}

function maxDiff(a, b) {
  // returns [max abs diff over float outputs, number of non-float mismatches]
  let m = 0;
  let bad = 0;
  if (a.type !== b.type || a.dims.join(',') !== b.dims.join(',')) return [Infinity, 1];
  for (let i = 0; i < a.data.length; i++) {
    const x = a.data[i];
    const y = b.data[i];
    if (a.type === 'float32' || a.type === 'float64') {
      if (Number.isNaN(x) && Number.isNaN(y)) continue;
      const d = Math.abs(x - y);
      if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
    } else if (x !== y) {
      bad++;
    }
  }
  return [m, bad];
}

async function main() {
  const manifest = JSON.parse(fs.readFileSync(path.join(modelsDir, 'manifest.json'), 'utf8')).models;
  let names = process.argv.slice(2);
  if (names.length === 0) {
    names = fs.readdirSync(modelsDir).filter((f) => f.endsWith('.onnx')).map((f) => f.slice(0, -5)).sort();
  }
  fs.writeFileSync(path.join(dataDir, 'ORT_VERSION'), `${ortVersion}\n`);
  console.log(`onnxruntime-node ${ortVersion}`);

  const sessions = new Map();
  async function session(name, level = 'all') {
    const key = `${name}@${level}`;
    if (!sessions.has(key)) {
      const s = await ort.InferenceSession.create(path.join(modelsDir, `${name}.onnx`), {
        ...baseOptions,
        graphOptimizationLevel: level,
      });
      sessions.set(key, s);
    }
    return sessions.get(key);
  }

  let failures = 0;
  for (const name of names) {
    const inputFiles = fs.readdirSync(dataDir)
      .filter((f) => f.startsWith(`${name}.b`) && f.endsWith('.input.json'))
      .filter((f) => /^\.b\d+\.input\.json$/.test(f.slice(name.length)))
      .sort((a, b) => parseInt(a.slice(name.length + 2), 10) - parseInt(b.slice(name.length + 2), 10));
    if (inputFiles.length === 0) {
      console.log(`${name}: no input files`);
      failures++;
      continue;
    }
    let sess;
    let sessNoOpt;
    try {
      sess = await session(name);
      sessNoOpt = await session(name, 'disabled');
    } catch (e) {
      console.log(`${name}: FAILED to load: ${e.message}`);
      failures++;
      continue;
    }
    const meta = sess.outputMetadata ?? sess.outputNames.map((n) => ({ name: n, isTensor: true }));
    const tensorOuts = meta.filter((m) => m.isTensor).map((m) => m.name);
    const otherOuts = meta.filter((m) => !m.isTensor).map((m) => m.name);
    const derive = (manifest[name] && manifest[name].derive_seq_map) || {};
    const notes = [];
    let worst = 0;
    let worstBad = 0;
    for (const f of inputFiles) {
      const batch = f.slice(name.length + 1).split('.')[0];
      const feeds = readFeeds(path.join(dataDir, f));
      let res;
      let resNoOpt;
      try {
        res = await sess.run(feeds, tensorOuts);
        resNoOpt = await sessNoOpt.run(feeds, tensorOuts);
      } catch (e) {
        console.log(`${name} ${batch}: FAILED to run: ${e.message}`);
        failures++;
        continue;
      }
      const parts = [];
      for (const out of meta.map((m) => m.name)) {
        if (tensorOuts.includes(out)) {
          parts.push(`"${out}":${tensorJson(res[out])}`);
          const [d, bad] = maxDiff(res[out], resNoOpt[out]);
          worst = Math.max(worst, d);
          worstBad += bad;
        } else if (derive[out]) {
          // onnxruntime-node cannot return non-tensor values ("Non tensor type is temporarily not
          // supported"); ZipMap is a pure re-packaging of its input tensor, so rebuild the
          // seq(map) from the same input run through the model that exposes that tensor.
          const src = derive[out];
          const srcSess = await session(src.model);
          const srcRes = await srcSess.run(feeds, [src.output]);
          const t = srcRes[src.output];
          const [n, c] = t.dims.map(Number);
          const maps = [];
          for (let r = 0; r < n; r++) {
            const kv = src.keys.map((k, j) => `${JSON.stringify(String(k))}:${fmtFloat(t.data[r * c + j])}`);
            maps.push(`{${kv.join(',')}}`);
          }
          parts.push(`"${out}":{"shape":[${n}],"datatype":"SEQ_MAP","data":[${maps.join(',')}],` +
            `"derived_from":"${src.model}:${src.output} (onnxruntime-node cannot return non-tensor outputs)"}`);
          const note = `${out}: SEQ_MAP derived from ${src.model}:${src.output}`;
          if (!notes.includes(note)) notes.push(note);
        } else {
          const note = `${out}: non-tensor output skipped`;
          if (!notes.includes(note)) notes.push(note);
        }
      }
      const text = `{"outputs":{\n${parts.join(',\n')}\n}}\n`;
      fs.writeFileSync(path.join(dataDir, `${name}.${batch}.expected.json`), text);
    }
    const optNote = worst === 0 && worstBad === 0 ? 'identical with optimizations disabled'
      : `vs optimizations disabled: max|diff| ${worst.toExponential(2)}, non-float mismatches ${worstBad}`;
    console.log(`${name}: ${inputFiles.length} cases, outputs [${tensorOuts.join(', ')}]` +
      `${otherOuts.length ? `; non-tensor [${otherOuts.join(', ')}]` : ''}; ${optNote}` +
      `${notes.length ? `; ${notes.join('; ')}` : ''}`);
  }
  if (failures) {
    console.log(`${failures} failure(s)`);
    process.exit(1);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

// Reference sentence embeddings for the embedding endpoints' tests: runs an encoder with ONNX
// Runtime (CPU, one thread) on the token ids that HuggingFace's tokenizer gave for each line of a
// tokenizer_reference.jsonl (batch 1, no padding), and pools last_hidden_state in float64:
// mean over the tokens (then also L2-normalised) and the [CLS] row (sentence-transformers'
// definitions). Writes JSON with the model's sha256, so a test can check it regenerated the same
// model.
//
//   cd tools/ort && npm ci --ignore-scripts
//   node embed_reference.mjs MODEL.onnx REFERENCE.jsonl OUT.json [--note "how MODEL was made"]
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';

const here = path.dirname(fileURLToPath(import.meta.url));
const [modelPath, refPath, outPath] = process.argv.slice(2, 5);
const noteAt = process.argv.indexOf('--note');
const note = noteAt > 0 ? process.argv[noteAt + 1] : '';
if (!outPath) {
  console.error('usage: node embed_reference.mjs MODEL.onnx REFERENCE.jsonl OUT.json [--note TEXT]');
  process.exit(2);
}
const ortVersion = JSON.parse(
  fs.readFileSync(path.join(here, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')).version;
const bytes = fs.readFileSync(modelPath);
const sha = crypto.createHash('sha256').update(bytes).digest('hex');
const session = await ort.InferenceSession.create(bytes, {
  intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential',
  executionProviders: ['cpu'], logSeverityLevel: 3,
});

const lines = fs.readFileSync(refPath, 'utf8').split('\n').filter((l) => l.trim());
const items = [];
for (const line of lines) {
  const ref = JSON.parse(line);
  const ids = ref.input_ids;
  const n = ids.length;
  const feeds = {};
  const mk = (arr) => new ort.Tensor('int64', BigInt64Array.from(arr.map(BigInt)), [1, n]);
  for (const name of session.inputNames) {
    if (name === 'input_ids') feeds[name] = mk(ids);
    else if (name === 'attention_mask') feeds[name] = mk(ids.map(() => 1));
    else if (name === 'token_type_ids') feeds[name] = mk(ids.map(() => 0));
    else throw new Error('unexpected input ' + name);
  }
  const out = await session.run(feeds);
  const h = out.last_hidden_state ?? out[session.outputNames[0]];
  const dim = h.dims[2];
  const mean = new Array(dim).fill(0);
  for (let t = 0; t < n; t++) for (let d = 0; d < dim; d++) mean[d] += h.data[t * dim + d];
  for (let d = 0; d < dim; d++) mean[d] /= n;
  const norm = Math.max(Math.sqrt(mean.reduce((s, v) => s + v * v, 0)), 1e-12);
  const cls = Array.from(h.data.slice(0, dim), Number);
  items.push({
    text: ref.text,
    input_ids: ids,
    mean_normalized: mean.map((v) => v / norm),
    mean: mean,
    cls: cls,
  });
}
fs.writeFileSync(outPath, JSON.stringify({
  model_sha256: sha, model: note, ort_version: ortVersion,
  pooling: 'float64 over ORT float32 last_hidden_state, batch 1, no padding', items,
}) + '\n');
console.log(`wrote ${outPath}: ${items.length} items, dim ${items[0].mean.length}`);

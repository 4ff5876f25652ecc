// bench/ann.sh's USearch peer (npm usearch: prebuilt, SIMD dispatched at run time): HNSW with
// the same M and ef_construction as the others, built and searched on one thread. Prints one JSON
// line per ef: queries/s from one batch call over every query, p50/p99 from one call per query.
// Usage: node bench/ann_usearch.mjs DIR M EFC EF[,EF...]
import { createRequire } from 'module';
import fs from 'fs';
import path from 'path';

const require = createRequire(path.resolve('tools/ann/package.json'));
const { Index } = require('usearch');
const [dir, m, efc, efs] = process.argv.slice(2);

// Read in blocks of rows: readFileSync stops at 2 GiB, and 3M x 256 is 3 GB.
function readVecs(file, Kind) {
  const fd = fs.openSync(file, 'r');
  const head = Buffer.alloc(4);
  fs.readSync(fd, head, 0, 4, 0);
  const dim = head.readInt32LE(0), row = 4 * (dim + 1);
  const n = fs.fstatSync(fd).size / row;
  const out = new Kind(n * dim);
  const block = 65536, buf = Buffer.alloc(block * row);
  for (let lo = 0; lo < n; lo += block) {
    const m = Math.min(block, n - lo);
    fs.readSync(fd, buf, 0, m * row, lo * row);
    const src = new Kind(buf.buffer, buf.byteOffset, (m * row) / 4);
    for (let i = 0; i < m; i++)
      out.set(src.subarray(i * (dim + 1) + 1, (i + 1) * (dim + 1)), (lo + i) * dim);
  }
  fs.closeSync(fd);
  return { n, dim, data: out };
}

const base = readVecs(path.join(dir, 'base.fvecs'), Float32Array);
const query = readVecs(path.join(dir, 'query.fvecs'), Float32Array);
const gt = readVecs(path.join(dir, 'gt.ivecs'), Int32Array);
const cfg = { dimensions: base.dim, metric: 'l2sq', connectivity: +m, expansion_add: +efc };
const keys = new BigUint64Array(base.n);
for (let i = 0; i < base.n; i++) keys[i] = BigInt(i);
let t = process.hrtime.bigint();
const built = new Index({ ...cfg, expansion_search: 16 });
built.add(keys, base.data, 1);
const buildS = Number(process.hrtime.bigint() - t) / 1e9;
const file = path.join(dir, 'usearch.index');
built.save(file);
const bytes = fs.statSync(file).size;

// Each ef gets its own index over the saved file, mapped (view), not loaded: a loaded copy per ef
// at 3M (3.5 GB each) ran the machine out of memory before the garbage collector freed any.
for (const ef of efs.split(',').map(Number)) {
  const index = new Index({ ...cfg, expansion_search: ef });
  index.view(file);
  t = process.hrtime.bigint();
  const res = index.search(query.data, 10, 1);
  const qps = query.n / (Number(process.hrtime.bigint() - t) / 1e9);
  let hit = 0;
  for (let q = 0; q < query.n; q++) {
    const want = new Set(Array.from(gt.data.subarray(q * gt.dim, q * gt.dim + 10)));
    for (let j = 0; j < 10; j++) if (want.has(Number(res.keys[q * 10 + j]))) hit++;
  }
  const lat = [];
  for (let q = 0; q < Math.min(query.n, 500); q++) {
    const one = query.data.subarray(q * query.dim, (q + 1) * query.dim);
    const t1 = process.hrtime.bigint();
    index.search(one, 10, 1);
    lat.push(Number(process.hrtime.bigint() - t1) / 1e3);
  }
  lat.sort((a, b) => a - b);
  const pct = (p) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))];
  console.log(JSON.stringify({ lib: 'usearch', kind: 'hnsw', param: ef, build_s: +buildS.toFixed(3),
    bytes, recall: +(hit / (10 * query.n)).toFixed(4), qps: +qps.toFixed(1),
    p50_us: +pct(50).toFixed(1), p99_us: +pct(99).toFixed(1) }));
}
fs.unlinkSync(file);

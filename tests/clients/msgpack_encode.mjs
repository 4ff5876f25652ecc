// Encodes each JSON value given on the command line with npm's @msgpack/msgpack (an encoder
// independent of msgpack-c) into OUTDIR/<index>.mp. JavaScript numbers that are integers become
// MessagePack integers up to 2^32 and float64 above, as in any JS client; {"$big": "..."} becomes
// a BigInt (an int64 or uint64).
// Usage: node msgpack_encode.mjs OUTDIR JSON [JSON ...]
import { encode } from '@msgpack/msgpack';
import fs from 'fs';
import path from 'path';

const [dir, ...values] = process.argv.slice(2);
const revive = (k, v) => (v && typeof v === 'object' && '$big' in v ? BigInt(v.$big) : v);
values.forEach((text, i) => {
  const body = encode(JSON.parse(text, revive), { useBigInt64: true });
  fs.writeFileSync(path.join(dir, `${i}.mp`), body);
});

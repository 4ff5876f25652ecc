// Writes points with InfluxDB's official JavaScript client (npm @influxdata/influxdb-client),
// which renders them as line protocol (its own escaping) and POSTs them to /api/v2/write.
// Points come as JSON: [{"m": name, "tags": {k: v}, "fields": {k: [kind, value]}, "t": "ns"}],
// kind one of int, uint, float, bool, string; integers and times as strings (no precision lost).
// Usage: node influx_write.mjs URL TOKEN ORG BUCKET POINTS_JSON [BATCH_SIZE]
// Prints nothing and exits 0 once every point is acknowledged; the error and 1 otherwise.
import { InfluxDB, Point } from '@influxdata/influxdb-client';

const [url, token, org, bucket, json, batch] = process.argv.slice(2);
const api = new InfluxDB({ url, token }).getWriteApi(org, bucket, 'ns', {
  batchSize: +(batch || 1000),
  maxRetries: 0,
  flushInterval: 0,
});
for (const p of JSON.parse(json)) {
  const pt = new Point(p.m);
  for (const [k, v] of Object.entries(p.tags || {})) pt.tag(k, v);
  for (const [k, [kind, v]] of Object.entries(p.fields)) {
    if (kind === 'int') pt.intField(k, v);
    else if (kind === 'uint') pt.uintField(k, v);
    else if (kind === 'float') pt.floatField(k, v);
    else if (kind === 'bool') pt.booleanField(k, v);
    else pt.stringField(k, v);
  }
  if (p.t) pt.timestamp(p.t);
  api.writePoint(pt);
}
try {
  await api.close();
} catch (e) {
  console.error(`${e.statusCode || ''} ${e.body || e.message}`);
  process.exit(1);
}

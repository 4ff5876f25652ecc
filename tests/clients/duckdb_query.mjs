// Runs SQL statements with DuckDB (npm @duckdb/node-api), an independent Parquet reader, and
// prints one JSON array per statement: its rows as objects, every value as DuckDB renders it
// to a string (null stays null), so nothing is lost to JavaScript numbers.
// Usage: node duckdb_query.mjs "SQL" ["SQL" ...]
import { DuckDBInstance } from '@duckdb/node-api';

const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
for (const sql of process.argv.slice(2)) {
  const reader = await con.runAndReadAll(sql);
  const names = reader.columnNames();
  const rows = reader.getRows().map((r) => {
    const o = {};
    names.forEach((n, i) => { o[n] = r[i] === null ? null : String(r[i]); });
    return o;
  });
  console.log(JSON.stringify(rows));
}

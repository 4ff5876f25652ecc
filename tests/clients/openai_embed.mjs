// Drives inferd's POST /v1/embeddings with the official `openai` npm client, as users do.
//   node openai_embed.mjs BASE_URL API_KEY MODEL '["text", ...]' [float|base64|default] [dimensions]
// Prints {"data": [[...], ...], "usage": {...}, "model": "..."} on stdout, or the client's error
// (status and message) on stderr with exit code 3.
import OpenAI from 'openai';

const [baseURL, apiKey, model, inputs, format, dims] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 20000 });
const req = { model, input: JSON.parse(inputs) };
if (format && format !== 'default') req.encoding_format = format;
if (dims) req.dimensions = Number(dims);
try {
  const res = await client.embeddings.create(req);
  console.log(JSON.stringify({
    // Asked for base64 explicitly, the client hands the string back as sent: decode it as users do.
    data: res.data.map((d) => ({
      index: d.index,
      embedding: typeof d.embedding === 'string'
        ? Array.from(new Float32Array(Uint8Array.from(Buffer.from(d.embedding, 'base64')).buffer))
        : Array.from(d.embedding),
    })),
    usage: res.usage, model: res.model, object: res.object,
  }));
} catch (e) {
  console.error(JSON.stringify({ status: e.status ?? null, message: String(e.message) }));
  process.exit(3);
}

// The official AsyncAPI parser (@asyncapi/parser, pinned by package-lock.json) as the validator of
// PayHub's AsyncAPI document: reads a JSON array of documents on stdin (one Node start for several),
// prints a JSON array on stdout, one result per document, in order:
//   {"valid": bool, "version": "3.0.0", "diagnostics": [{"severity": 0..3, "code", "message", "path"}]}
// severity 0 is an error (the document is invalid), 1 a warning, 2 info, 3 a hint (Spectral's scale).
"use strict";
const { Parser } = require("@asyncapi/parser");

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const documents = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const parser = new Parser();
  const results = [];
  for (const source of documents) {
    const { document, diagnostics } = await parser.parse(JSON.stringify(source));
    const errors = diagnostics.filter((d) => d.severity === 0);
    results.push({
      valid: document !== undefined && errors.length === 0,
      version: document ? document.version() : null,
      diagnostics: diagnostics.map((d) => ({
        severity: d.severity,
        code: String(d.code),
        message: d.message,
        path: d.path.join("/"),
      })),
    });
  }
  process.stdout.write(JSON.stringify(results) + "\n");
}

main().catch((err) => {
  process.stderr.write(String((err && err.stack) || err) + "\n");
  process.exit(2);
});

// Validates an AsyncAPI document offline with the official parser (@asyncapi/parser 3.x): prints
// every diagnostic and exits non-zero on any error.
//
//   node schemas/asyncapi/validate.mjs schemas/asyncapi.json
//
// Beyond the parser's own checks (the AsyncAPI 3.0 JSON Schema including the AMQP bindings, the
// core ruleset, references, JSON Schema payloads against the draft-07 meta-schema):
// - the document must be self-contained: a `$ref` that is not a local pointer (`#...`) is an
//   error, and the document is then not parsed at all, so validation never reaches the network;
// - every Avro payload (`schemaFormat: application/vnd.apache.avro...`) is checked with the Avro
//   schema parser (@asyncapi/avro-schema-parser, i.e. avsc), which parser 3.x does not do by
//   itself for AsyncAPI 3 documents.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import process from 'node:process';

import { Parser, DiagnosticSeverity } from '@asyncapi/parser';
import { AvroSchemaParser } from '@asyncapi/avro-schema-parser';

const SEVERITY = {
  [DiagnosticSeverity.Error]: 'error',
  [DiagnosticSeverity.Warning]: 'warning',
  [DiagnosticSeverity.Information]: 'info',
  [DiagnosticSeverity.Hint]: 'hint',
};

/** Every `$ref` in `node` that does not point inside the document, with its JSON path. */
function externalRefs(node, at = [], found = []) {
  if (Array.isArray(node)) {
    node.forEach((item, i) => externalRefs(item, [...at, i], found));
  } else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string' && !value.startsWith('#')) {
        found.push({ path: at, ref: value });
      } else {
        externalRefs(value, [...at, key], found);
      }
    }
  }
  return found;
}

/** Every multi-format schema object (`{schemaFormat, schema}`) of the messages, with its path. */
function multiFormatSchemas(raw) {
  const found = [];
  const visit = (message, at) => {
    for (const part of ['payload', 'headers']) {
      const value = message?.[part];
      if (value && typeof value === 'object' && 'schemaFormat' in value && 'schema' in value) {
        found.push({ path: [...at, part, 'schema'], format: value.schemaFormat, schema: value.schema });
      }
    }
  };
  for (const [key, message] of Object.entries(raw?.components?.messages ?? {})) {
    visit(message, ['components', 'messages', key]);
  }
  for (const [channel, value] of Object.entries(raw?.channels ?? {})) {
    for (const [key, message] of Object.entries(value?.messages ?? {})) {
      visit(message, ['channels', channel, 'messages', key]);
    }
  }
  return found;
}

function where(pathParts) {
  return pathParts.length ? pathParts.join('/') : '(document)';
}

async function main() {
  const file = process.argv[2];
  if (!file || process.argv.length > 3) {
    console.error('usage: node validate.mjs <asyncapi.json|yaml>');
    return 2;
  }
  const text = await readFile(file, 'utf8');
  const counts = { error: 0, warning: 0, info: 0, hint: 0 };
  const report = (severity, code, at, message) => {
    counts[severity] = (counts[severity] ?? 0) + 1;
    console.log(`${severity.padEnd(7)} ${code}  ${at}: ${message}`);
  };
  const summary = () =>
    `${counts.error} error(s), ${counts.warning} warning(s), ${counts.info} info, ${counts.hint} hint(s)`;

  // JSON documents get the extra checks; YAML ones only the parser's.
  const raw = file.endsWith('.json') ? JSON.parse(text) : undefined;
  if (raw !== undefined) {
    for (const { path: at, ref } of externalRefs(raw)) {
      report('error', 'not-self-contained', where(at), `$ref "${ref}" leaves the document`);
    }
    if (counts.error > 0) {
      console.log(`${file}: INVALID AsyncAPI, not parsed (${summary()})`);
      return 1;
    }
  }

  const parser = new Parser();
  const avro = AvroSchemaParser();
  parser.registerSchemaParser(avro);
  const { document, diagnostics } = await parser.parse(text, { source: path.resolve(file) });
  for (const d of diagnostics) {
    const line = d.range ? `:${d.range.start.line + 1}` : '';
    report(SEVERITY[d.severity] ?? String(d.severity), d.code, `${where(d.path)}${line}`, d.message);
  }
  if (document === undefined && counts.error === 0) {
    report('error', 'parse', '(document)', 'the parser returned no document');
  }

  let avroChecked = 0;
  if (raw !== undefined) {
    const avroFormats = new Set(avro.getMimeTypes());
    for (const { path: at, format, schema } of multiFormatSchemas(raw)) {
      if (!avroFormats.has(format)) continue;
      avroChecked += 1;
      const input = { asyncapi: { semver: { version: raw.asyncapi } }, data: schema, path: at, schemaFormat: format };
      for (const problem of await avro.validate(input)) {
        report('error', 'avro-schema', where(problem.path ?? at), problem.message);
      }
    }
  }

  if (counts.error > 0) {
    console.log(`${file}: INVALID AsyncAPI (${summary()})`);
    return 1;
  }
  console.log(
    `${file}: valid AsyncAPI ${document.version()} "${document.info().title()}" ` +
      `${document.info().version()}: ${document.channels().length} channels, ` +
      `${document.operations().length} operations, ${document.components().messages().length} ` +
      `messages, ${avroChecked} Avro schemas checked (${summary()})`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err?.stack ?? String(err));
    process.exit(1);
  },
);

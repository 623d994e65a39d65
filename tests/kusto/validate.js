#!/usr/bin/env node
// Offline KQL validation with the Kusto language service
// (@kusto/language-service-next, Microsoft's Kusto.Language compiled to JavaScript).
//
// stdin:  {"database": "name",
//          "tables": {"Table": [["Column", "kustotype"], ...], ...},
//          "queries": [{"name": "...", "text": "..."}, ...]}
// stdout: {"results": [{"name": "...",
//                       "diagnostics": [{"severity", "code", "message", "start", "end", "snippet", "source"}],
//                       "columns": [["Name", "type"], ...]}]}
//
// Diagnostics come from the parser and binder ("source": "compiler") and from
// the language service's built-in analyzers ("source": "analyzer", e.g. join
// without kind). "start"/"end" are offsets in Unicode code points (Python str
// indices), "snippet" is the text they cover. "columns" are the result columns
// of the query's last statement; [] when that statement is not tabular.
//
// Bad input (unknown column type, malformed JSON) exits with status 2 and a
// message on stderr.
"use strict";

const path = require("path");

const PACKAGE = "@kusto/language-service-next";

function loadKusto() {
  let dir;
  try {
    dir = path.dirname(require.resolve(`${PACKAGE}/package.json`, { paths: [process.cwd(), __dirname] }));
  } catch (err) {
    fail(`${PACKAGE} is not installed; run \`npm ci\` at the repository root`);
  }
  // The package is two scripts that register globals: the Bridge.NET runtime,
  // then the Kusto.Language assembly (its package.json "main").
  require(path.join(dir, "bridge.js"));
  require(path.join(dir, "Kusto.Language.Bridge.js"));
  return global.Kusto.Language;
}

function fail(message) {
  process.stderr.write(`validate.js: ${message}\n`);
  process.exit(2);
}

function toArray(list) {
  const out = [];
  if (!list) return out;
  for (let i = 0; i < list.Count; i++) out.push(list.getItem(i));
  return out;
}

function buildGlobals(K, databaseName, tables) {
  const S = K.Symbols;
  const tableSymbols = Object.entries(tables || {}).map(([tableName, columns]) => {
    if (!Array.isArray(columns)) fail(`table ${tableName}: columns must be a list of [name, type]`);
    const columnSymbols = columns.map((pair) => {
      if (!Array.isArray(pair) || pair.length !== 2) {
        fail(`table ${tableName}: bad column entry ${JSON.stringify(pair)}`);
      }
      const [name, typeName] = pair;
      const type = S.ScalarTypes.GetSymbol(String(typeName));
      if (!type) fail(`table ${tableName}, column ${name}: unknown Kusto type ${JSON.stringify(typeName)}`);
      return new S.ColumnSymbol(String(name), type, null, null, null, null);
    });
    return new S.TableSymbol.$ctor4(tableName, columnSymbols);
  });
  const database = new S.DatabaseSymbol.$ctor1(databaseName || "db", tableSymbols, false);
  return K.GlobalState.Default.WithDatabase(database);
}

// UTF-16 offset -> code point offset, so the numbers index Python strings.
function codePointOffset(text, utf16Offset) {
  let count = 0;
  for (let i = 0; i < utf16Offset && i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < utf16Offset) i++;
    count++;
  }
  return count;
}

function describe(text, diagnostic, source) {
  const start = Math.max(0, diagnostic.Start);
  const end = Math.max(start, diagnostic.End);
  return {
    severity: diagnostic.Severity,
    code: diagnostic.Code,
    message: diagnostic.Message,
    start: codePointOffset(text, start),
    end: codePointOffset(text, end),
    snippet: text.substring(start, end),
    source,
  };
}

function resultColumns(K, code) {
  const type = code.ResultType;
  if (!type || !(type instanceof K.Symbols.TableSymbol)) return [];
  return toArray(type.Columns).map((c) => [c.Name, c.Type ? c.Type.Name : "unknown"]);
}

function validateOne(K, globals, query) {
  const text = String(query.text);
  const code = K.KustoCode.ParseAndAnalyze(text, globals);
  const diagnostics = toArray(code.GetDiagnostics()).map((d) => describe(text, d, "compiler"));
  const service = new K.Editor.KustoCodeService.ctor(code);
  for (const d of toArray(service.GetAnalyzerDiagnostics(true))) diagnostics.push(describe(text, d, "analyzer"));
  diagnostics.sort((a, b) => a.start - b.start || a.end - b.end);
  return { name: query.name, diagnostics, columns: resultColumns(K, code) };
}

function main() {
  const chunks = [];
  process.stdin.on("data", (chunk) => chunks.push(chunk));
  process.stdin.on("end", () => {
    let request;
    try {
      request = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch (err) {
      fail(`stdin is not valid JSON: ${err.message}`);
    }
    if (!request || !Array.isArray(request.queries)) fail('input needs a "queries" list');
    const K = loadKusto();
    const globals = buildGlobals(K, request.database, request.tables);
    const results = request.queries.map((query) => {
      try {
        return validateOne(K, globals, query);
      } catch (err) {
        fail(`language service failed on query ${JSON.stringify(query.name)}: ${err && err.stack ? err.stack : err}`);
      }
    });
    process.stdout.write(JSON.stringify({ results }) + "\n");
  });
}

main();

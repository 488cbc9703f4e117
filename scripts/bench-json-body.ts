/**
 * Micro-benchmark of the JSON body path: what a write costs per body before decimal lexemes were
 * kept (depth check on a second decode, body-parser's JSON.parse, JSON.stringify for storage) and
 * now (UTF-8 check, one scan, parse, stringifyFhirJson), and a read's re-parse (JSON.parse vs
 * parseFhirJson). Bodies: a Synthea transaction Bundle from ../shared and one Observation, each
 * also with its decimals written with a trailing zero (the slow path). Pure CPU, no server.
 *   npm run build && node dist/scripts/bench-json-body.js [synthea bundle file]   (from the repository root)
 */
import { isUtf8 } from 'node:buffer';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { assertJsonDepth } from '../src/http/json-depth';
import { parseFhirBody } from '../src/fhir/json/fhir-body';
import { parseFhirJson } from '../src/fhir/json/fhir-json';
import { stringifyFhirJson } from '../src/fhir/json/lexemes';

const dir = path.resolve(process.cwd(), '../shared/fixtures/synthea/smart');
const file = process.argv[2] ?? path.join(dir, readdirSync(dir).filter((f) => f.endsWith('.json')).sort()[0]);
const bundle = readFileSync(file, 'utf8');
const observation = JSON.stringify({
  resourceType: 'Observation', status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body Weight' }] },
  subject: { reference: 'Patient/p1' }, effectiveDateTime: '2024-01-01T10:00:00Z',
  valueQuantity: { value: 82.4, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
});
/** The same text with every decimal given a trailing zero (82.4 -> 82.40): every number needs its lexeme. */
const padded = (text: string) => text.replace(/(:\s*-?\d+\.\d+)(?=\s*[,}\]])/g, '$10');

function time(label: string, n: number, fn: () => unknown): number {
  for (let i = 0; i < Math.min(n, 20); i++) fn(); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  const us = Number(process.hrtime.bigint() - start) / 1e3 / n;
  console.log(`${label.padEnd(58)} ${us.toFixed(1).padStart(9)} µs/body`);
  return us;
}

function bench(name: string, text: string, n: number): void {
  const buf = Buffer.from(text, 'utf8');
  console.log(`\n${name}: ${(buf.length / 1024).toFixed(1)} KiB`);
  const before = time('before: depth check + JSON.parse + JSON.stringify', n, () => {
    assertJsonDepth(buf.toString('utf8'));
    return JSON.stringify(JSON.parse(buf.toString('utf8')));
  });
  const after = time('after:  isUtf8 + scan + parse + stringifyFhirJson', n, () => {
    if (!isUtf8(buf)) throw new Error('not UTF-8');
    return stringifyFhirJson(parseFhirBody(buf.toString('utf8')));
  });
  console.log(`${'  write path change'.padEnd(58)} ${(((after - before) / before) * 100).toFixed(1).padStart(8)} %`);
  const readBefore = time('read re-parse before: JSON.parse', n, () => JSON.parse(text));
  const readAfter = time('read re-parse after:  parseFhirJson', n, () => parseFhirJson(text));
  console.log(`${'  read re-parse change'.padEnd(58)} ${(((readAfter - readBefore) / readBefore) * 100).toFixed(1).padStart(8)} %`);
}

bench(`Synthea transaction Bundle ${path.basename(file)}`, bundle, 60);
bench('the same Bundle, every decimal with a trailing zero (slow path)', padded(bundle), 60);
bench('one Observation', observation, 50000);
bench('one Observation with value 82.40 (slow path)', padded(observation), 50000);

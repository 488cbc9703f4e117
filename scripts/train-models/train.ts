import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { trainCad } from './cad';
import { renderCard } from './card';
import { DatasetsMissingError, checkDatasets, readCleveland, readSentences, readWdbc } from './data';
import type { ModelManifest } from './manifest';
import { describeModel } from './onnx';
import { trainSentiment } from './sentiment';
import type { Feed, TaskOutput } from './task';
import { trainTriage } from './triage';
import { trainWdbc } from './wdbc';
import { trainAnomaly } from './anomaly';

/**
 * `npm run models:train [-- <datasets folder>] [--out <models folder>] [--only name,name]`:
 * trains the built-in models from the shared data sets (default ../shared/datasets beside the
 * project) and writes models/<name>/{model.onnx, manifest.json, model-card.md}. Each model is
 * checked with onnxruntime-node before it is written: the graph must reproduce the trainer's own
 * predictions. Deterministic: the same data give byte-identical files.
 */

export const MODEL_NAMES = ['cad-cleveland', 'breast-wdbc', 'triage-news2', 'sentiment-uci', 'vitals-anomaly'] as const;

/** The folder holding this project's package.json (works from scripts/ and from dist/scripts/). */
export function projectRoot(from = __dirname): string {
  let dir = from;
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'fhir-ai-server') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no fhir-ai-server package.json above ${from}`);
    dir = up;
  }
}

class UsageError extends Error {}

interface Args {
  datasets: string;
  out: string;
  only?: Set<string>;
}

function parseArgs(argv: string[], root: string): Args {
  let datasets: string | undefined;
  let out = join(root, 'models');
  let only: Set<string> | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    if (a === '--out') out = resolve(next());
    else if (a === '--only') only = new Set(next().split(','));
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`usage: npm run models:train -- [<datasets folder>] [--out <models folder>] [--only ${MODEL_NAMES.join(',')}]\n`);
      process.exit(0);
    } else if (!datasets) datasets = resolve(a);
    else throw new UsageError(`unexpected argument ${a}`);
  }
  for (const n of only ?? []) if (!(MODEL_NAMES as readonly string[]).includes(n)) throw new UsageError(`--only: unknown model ${n} (known: ${MODEL_NAMES.join(', ')})`);
  return { datasets: datasets ?? resolve(root, '..', 'shared', 'datasets'), out, only };
}

function toTensor(f: Feed): ort.Tensor {
  return f.type === 'string' ? new ort.Tensor('string', f.data, f.dims) : new ort.Tensor('float32', f.data, f.dims);
}

/** Loads the model with onnxruntime-node, checks its input/output names against the manifest and its outputs against the trainer's. */
async function verify(t: TaskOutput, manifest: ModelManifest): Promise<string> {
  const session = await ort.InferenceSession.create(Buffer.from(t.bytes));
  const want = (xs: { name: string }[]) => xs.map((x) => x.name).join(',');
  if (session.inputNames.join(',') !== want(manifest.inputs)) throw new Error(`${t.name}: graph inputs ${session.inputNames} differ from the manifest's ${want(manifest.inputs)}`);
  if (session.outputNames.join(',') !== want(manifest.outputs)) throw new Error(`${t.name}: graph outputs ${session.outputNames} differ from the manifest's ${want(manifest.outputs)}`);
  const feeds: Record<string, ort.Tensor> = {};
  for (const [k, f] of Object.entries(t.parity.feeds)) feeds[k] = toTensor(f);
  const result = await session.run(feeds);
  const got = result[t.parity.output].data as Float32Array;
  if (got.length !== t.parity.expected.length) throw new Error(`${t.name}: ${got.length} outputs, expected ${t.parity.expected.length}`);
  let maxDiff = 0;
  t.parity.expected.forEach((e, i) => (maxDiff = Math.max(maxDiff, Math.abs(e - got[i]))));
  if (!(maxDiff <= t.parity.tolerance)) throw new Error(`${t.name}: onnxruntime and the trainer disagree by ${maxDiff} on ${t.parity.what} (tolerance ${t.parity.tolerance})`);
  for (const o of manifest.outputs) {
    if (!o.range) continue;
    const data = result[o.name].data as ArrayLike<number | bigint>;
    for (let i = 0; i < data.length; i++) {
      const v = Number(data[i]);
      if (!(v >= o.range[0] && v <= o.range[1])) throw new Error(`${t.name}: output ${o.name} value ${v} outside [${o.range}]`);
    }
  }
  await session.release();
  return `onnxruntime-node ${ort.env.versions.node}: max |difference| ${maxDiff.toExponential(2)} from the trainer on ${t.parity.what}; outputs within their ranges`;
}

async function main(): Promise<void> {
  const root = projectRoot();
  const args = parseArgs(process.argv.slice(2), root);
  try {
    checkDatasets(args.datasets);
  } catch (e) {
    if (e instanceof DatasetsMissingError) {
      process.stderr.write(
        `models:train: ${e.message}\n` +
          `The training data sets are not part of the repository. Pass their folder: npm run models:train -- <datasets folder>\n` +
          `(default: ../shared/datasets beside the project; see its MANIFEST.md for the files and licences).\n`,
      );
      process.exit(2);
    }
    throw e;
  }
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  const jobs: [string, () => TaskOutput][] = [
    ['cad-cleveland', () => trainCad(readCleveland(args.datasets), version)],
    ['breast-wdbc', () => trainWdbc(readWdbc(args.datasets), version)],
    ['triage-news2', () => trainTriage(version)],
    ['sentiment-uci', () => trainSentiment(readSentences(args.datasets), version)],
    ['vitals-anomaly', () => trainAnomaly(version)],
  ];
  process.stdout.write(`models:train: data ${args.datasets}; output ${args.out}\n\n`);
  for (const [name, job] of jobs) {
    if (args.only && !args.only.has(name)) continue;
    const started = process.hrtime.bigint();
    const t = job();
    const d = describeModel(t.bytes);
    const sha256 = createHash('sha256').update(t.bytes).digest('hex');
    const manifest: ModelManifest = {
      ...t.manifest,
      model: {
        file: 'model.onnx',
        sha256,
        bytes: t.bytes.length,
        irVersion: d.irVersion,
        opsets: d.opsets,
        ops: d.ops,
        parameters: d.parameters,
        runtime: d.opsets.some((o) => o.domain === 'com.microsoft') ? `onnxruntime with its contrib operators (com.microsoft.Tokenizer); tested: onnxruntime-node ${ort.env.versions.node} (CPU)` : `any ONNX runtime supporting opset 17; tested: onnxruntime-node ${ort.env.versions.node} (CPU)`,
      },
    };
    // Key order as in ModelManifest: name, version, ... model after description.
    const ordered: ModelManifest = {
      schema: manifest.schema,
      name: manifest.name,
      version: manifest.version,
      task: manifest.task,
      title: manifest.title,
      description: manifest.description,
      ...(manifest.condition ? { condition: manifest.condition } : {}),
      model: manifest.model,
      inputs: manifest.inputs,
      minRealInputs: manifest.minRealInputs,
      outputs: manifest.outputs,
      ...(manifest.threshold ? { threshold: manifest.threshold } : {}),
      training: manifest.training,
      metrics: manifest.metrics,
      intendedUse: manifest.intendedUse,
      limitations: manifest.limitations,
    };
    const check = await verify(t, ordered);
    const dir = join(args.out, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'model.onnx'), t.bytes);
    writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(ordered, null, 2)}\n`);
    writeFileSync(join(dir, 'model-card.md'), renderCard(ordered, t.report, t.cardSections));
    const secs = Number(process.hrtime.bigint() - started) / 1e9;
    process.stdout.write(
      [
        `== ${name}`,
        t.report,
        `onnx: ${relative(root, join(dir, 'model.onnx'))}  ${t.bytes.length.toLocaleString('en-US')} bytes  sha256 ${sha256}`,
        `  IR ${d.irVersion}, opsets ${d.opsets.map((o) => `${o.domain} ${o.version}`).join(', ')}; ops ${d.ops.join(' ')}`,
        `  ${check}`,
        `  (${secs.toFixed(1)} s)`,
        '',
        '',
      ].join('\n'),
    );
  }
}

if (require.main === module) {
  main().catch((e) => {
    if (e instanceof UsageError) {
      process.stderr.write(`models:train: ${e.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`models:train failed: ${e instanceof Error ? e.stack : e}\n`);
    process.exit(1);
  });
}

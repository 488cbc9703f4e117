import type { ModelManifest } from './manifest';

/** The model card (models/<name>/model-card.md), rendered from the manifest and the printed metrics. */

const esc = (s: string) => s.replace(/\|/g, '\\|');

function num(x: number | undefined): string {
  if (x === undefined) return '';
  if (!Number.isFinite(x)) return String(x);
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(4)));
}

export function renderCard(m: ModelManifest, report: string, sections: { title: string; body: string }[]): string {
  const lines: string[] = [];
  const push = (...l: string[]) => lines.push(...l);
  push(`# Model card: ${m.title}`, '');
  push(`| | |`, `|---|---|`);
  push(`| name / version | \`${m.name}\` ${m.version} |`);
  push(`| task | \`${m.task}\` |`);
  if (m.condition) push(`| condition served | SNOMED CT ${m.condition.code} ${m.condition.display} (\`${m.condition.system}\`) |`);
  push(`| file | \`models/${m.name}/${m.model.file}\`, ${m.model.bytes.toLocaleString('en-US')} bytes |`);
  push(`| sha256 | \`${m.model.sha256}\` |`);
  push(`| format | ONNX IR version ${m.model.irVersion}; opsets ${m.model.opsets.map((o) => `${o.domain} ${o.version}`).join(', ')}; ${m.model.parameters.toLocaleString('en-US')} stored numbers |`);
  push(`| operators | ${m.model.ops.map((o) => `\`${o}\``).join(', ')} |`);
  push(`| runtime | ${m.model.runtime} |`);
  push(`| manifest | \`models/${m.name}/manifest.json\` (codes, units, training statistics and imputation values, metrics) |`);
  push('', m.description, '');

  push('## Intended use', '', m.intendedUse, '');
  push(
    'Every output is a proposal: the server records it with the model name, version and inputs (Provenance with the model as a Device agent) and nothing counts as approved until a clinician approves it.',
    '',
  );

  push('## Inputs', '');
  if (m.inputs.some((i) => i.tensor.elementType === 'float32')) {
    push(
      `Each input is its own ONNX graph input, float32 of shape [N, 1], named as below. Missing values: the runtime substitutes the imputation value and names the input as imputed; the graph also replaces NaN by the same value. A value outside its input's listed values or plausible range is implausible: the runtime treats it as missing (imputed, and named in the output's note) and does not count it as real. At least **${m.minRealInputs}** of the ${m.inputs.length} inputs must be real (not imputed) for an estimate.`,
      '',
    );
    push('| input | FHIR code | source | unit (UCUM) | training mean | sd | median | imputation |', '|---|---|---|---|---|---|---|---|');
    for (const i of m.inputs) {
      const code = `${i.code.system === 'http://loinc.org' ? 'LOINC' : `\`${i.code.system}\``} ${i.code.code} ${esc(i.code.display)}${(i.alternativeCodes ?? []).map((c) => `; or ${c.system === 'http://loinc.org' ? 'LOINC' : c.system} ${c.code} ${esc(c.display)}`).join('')}`;
      const values = i.allowedValues ? ` Values: ${i.allowedValues.map((v) => `${v.value} ${esc(v.meaning)}`).join('; ')}.` : '';
      const derivation = i.derivation ? ` ${esc(i.derivation)}.` : '';
      const range = i.plausibleRange ? ` Plausible: ${num(i.plausibleRange.min)} to ${num(i.plausibleRange.max)} (${esc(i.plausibleRange.basis)}).` : '';
      push(
        `| \`${i.name}\` | ${code} | ${esc(i.description)}. ${esc(i.source)}.${derivation}${values}${range} | \`${i.unit ?? ''}\` | ${num(i.training?.mean)} | ${num(i.training?.sd)} | ${num(i.training?.median)} | ${num(i.imputation?.value)} (${i.imputation?.method ?? ''}) |`,
      );
    }
  } else {
    for (const i of m.inputs) push(`- \`${i.name}\`: ${i.tensor.elementType} [${i.tensor.shape.join(', ')}]: ${i.description}. Source: ${i.source}. Code: \`${i.code.system}\` ${i.code.code}.`);
  }
  push('');

  push('## Outputs', '', '| output | type, shape | range | meaning |', '|---|---|---|---|');
  for (const o of m.outputs) {
    push(`| \`${o.name}\` | ${o.elementType} [${o.shape.join(', ')}] | ${o.range ? `${o.range[0]} to ${o.range[1]}` : 'unbounded'} | ${esc(o.description)}${o.labels ? `: ${o.labels.map(esc).join('; ')}` : ''} |`);
  }
  if (m.threshold) push('', `Threshold: \`${m.threshold.output}\` ${m.threshold.value}: ${m.threshold.meaning}.`);
  push('');

  push('## Training data and licence', '');
  for (const d of m.training.data) {
    push(`- **${d.name}**${d.files.length ? ` (${d.files.map((f) => `\`${f}\``).join(', ')})` : ''}. Licence: ${d.licence}. Source: ${d.source}.`, `  Citation: ${d.citation}`);
  }
  push('', `The data are read from the shared datasets folder at training time and are not copied into this repository.`, '');

  push('## Preprocessing', '', ...m.training.preprocessing.map((p) => `- ${p}`), '');
  push('## Training', '', `- ${m.training.algorithm}`, `- split: ${m.training.split}`, `- hyperparameters: \`${JSON.stringify(m.training.hyperparameters)}\``, '');

  push('## Held-out metrics', '', 'As printed by `npm run models:train`:', '', '```text', report, '```', '');

  for (const s of sections) push(`## ${s.title}`, '', s.body, '');

  push('## Limitations', '', ...m.limitations.map((l) => `- ${l}`), '');

  push(
    '## Reproduce',
    '',
    '```sh',
    'npm run models:train            # reads ../shared/datasets (or: npm run models:train -- <datasets folder>)',
    'npx jest scripts/train-models   # checks the committed models with onnxruntime-node',
    '```',
    '',
    'Training is deterministic (seeded splits and initial weights, full-batch L-BFGS): the same data give a byte-identical model.onnx and the sha256 above.',
    '',
  );
  return lines.join('\n');
}

import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { Deidentifier } from '../../fhir/bulk/deidentify';
import type { PredictionItem } from './model-stats.service';

/**
 * The predictions listing as a data scientist sees it: with the de-identified export's own
 * pseudonyms (the export's Deidentifier, same key), so the two can be joined on pseudonyms and
 * never map a pseudonym back to a real id. Pure, given the Deidentifier:
 * - `patient`, `input`, `output` become the references the export writes (`Patient/<pseudonym>`,
 *   `Condition/<pseudonym>`...), `jobId` names its trigger the same way (its version kept, as
 *   `meta.versionId` is kept in exports), and references in `error` too;
 * - `createdAt` is left out: it is the real time of a write, which exports no longer carry
 *   (meta.lastUpdated is dropped); shifted, it would give the shift away to anyone who sees the
 *   prediction appear (real time minus shifted time), and with it the patient's real dates;
 * - the feature values stay (they are the export's values too), but an age over 89 (`ageInputs`)
 *   is the one category 90, marked `ninetyOrOlder` (Safe Harbor, as the export's ages).
 */
export function pseudonymousItem(deid: Deidentifier, item: PredictionItem, ageInputs: ReadonlySet<string> = new Set()): PseudonymousPredictionItem {
  const patientId = item.patient ? item.patient.slice('Patient/'.length) : null;
  const { createdAt: _real, ...rest } = item;
  return {
    ...rest,
    jobId: referencesIn(deid, item.jobId),
    patient: patientId ? `Patient/${deid.pseudonym('Patient', patientId)}` : null,
    input: deid.reference(item.input) ?? referencesIn(deid, item.input),
    output: item.output ? (deid.reference(item.output) ?? referencesIn(deid, item.output)) : null,
    error: item.error ? referencesIn(deid, item.error) : null,
    inputs: topCodedAges(item.inputs, ageInputs),
  };
}

/** A prediction as a data scientist sees it: pseudonyms, and no time of writing. */
export type PseudonymousPredictionItem = Omit<PredictionItem, 'createdAt'>;

function topCodedAges(inputs: unknown, ageInputs: ReadonlySet<string>): unknown {
  if (!ageInputs.size || !inputs || typeof inputs !== 'object') return inputs;
  const out: Record<string, unknown> = { ...(inputs as Record<string, unknown>) };
  for (const name of ageInputs) {
    const v = out[name] as { value?: unknown } | undefined;
    if (v && typeof v.value === 'number' && v.value > 89) out[name] = { ...v, value: 90, ninetyOrOlder: true };
  }
  return out;
}

/**
 * Every `Type/id` in a text (a job id `task/Condition/x/_history/1`, an error message) as the
 * export writes the reference; what names no resource (a rule's `beds/forecast`) stays.
 */
function referencesIn(deid: Deidentifier, text: string): string {
  return text.replace(/\b[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}/g, (ref) => deid.reference(ref) ?? ref);
}

/** A pseudonym as the export writes it: 32 hexadecimal digits. */
export const PSEUDONYM = /^[0-9a-f]{32}$/;

/**
 * A data scientist's paging cursor names the last item's real time and job (with a real resource
 * id): sealed (AES-256-GCM, key derived from the de-identification key), so it carries neither.
 */
export class CursorSeal {
  private readonly key: Buffer;

  constructor(deidentificationKey: Buffer) {
    this.key = Buffer.from(hkdfSync('sha256', deidentificationKey, Buffer.from('fhir-ai-server'), Buffer.from('predictions-cursor-v1'), 32));
  }

  seal(text: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  }

  /** The sealed text, or undefined when the value is not one this key sealed. */
  open(value: string): string | undefined {
    try {
      const raw = Buffer.from(value, 'base64url');
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}

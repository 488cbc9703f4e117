import type { Extension, Observation } from '@medplum/fhirtypes';

/**
 * The vital-sign anomaly plugin's verdict on a reading, carried by the reading itself (the AI
 * updates the Observation through the one write path), so that the projection stays the one
 * writer of monitoring_data.anomaly_alert and icu_monitoring.alerts. Sub-extensions: `flagged`
 * (valueBoolean), `score` (valueDecimal, 0..1), `assessment` (the RiskAssessment) and `model` (the
 * Device of the model version).
 */
export const AI_ANOMALY_EXTENSION_URL = 'https://fhir-ai-server.dev/StructureDefinition/ai-anomaly';

export interface AnomalyFlag {
  flagged: boolean;
  score?: number;
  assessment?: string;
  model?: string;
}

/** The verdict on an Observation, or undefined when it has not been scored. Pure. */
export function anomalyFlagOf(obs: { extension?: Extension[] }): AnomalyFlag | undefined {
  const ext = obs.extension?.find((e) => e.url === AI_ANOMALY_EXTENSION_URL);
  if (!ext) return undefined;
  const part = (url: string) => ext.extension?.find((e) => e.url === url);
  const score = part('score')?.valueDecimal;
  return {
    flagged: part('flagged')?.valueBoolean === true,
    ...(typeof score === 'number' ? { score } : {}),
    ...(part('assessment')?.valueReference?.reference ? { assessment: part('assessment')?.valueReference?.reference } : {}),
    ...(part('model')?.valueReference?.reference ? { model: part('model')?.valueReference?.reference } : {}),
  };
}

/** The extension recording a verdict. Pure. */
export function anomalyExtension(flag: AnomalyFlag): Extension {
  return {
    url: AI_ANOMALY_EXTENSION_URL,
    extension: [
      { url: 'flagged', valueBoolean: flag.flagged },
      ...(flag.score !== undefined ? [{ url: 'score', valueDecimal: flag.score }] : []),
      ...(flag.assessment ? [{ url: 'assessment', valueReference: { reference: flag.assessment } }] : []),
      ...(flag.model ? [{ url: 'model', valueReference: { reference: flag.model } }] : []),
    ],
  };
}

/** icu_monitoring.alerts for a reading: the anomaly verdict when flagged, else null. Pure. */
export function icuAlertsOf(obs: Observation): Array<Record<string, unknown>> | null {
  const flag = anomalyFlagOf(obs);
  return flag?.flagged ? [{ type: 'anomaly', ...(flag.score !== undefined ? { score: flag.score } : {}), ...(flag.assessment ? { assessment: flag.assessment } : {}), ...(flag.model ? { model: flag.model } : {}) }] : null;
}

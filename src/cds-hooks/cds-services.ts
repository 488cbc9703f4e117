/** A CDS Service as discovery describes it (CDS Hooks "Discovery"). */
export interface CdsServiceDefinition {
  hook: string;
  id: string;
  title: string;
  description: string;
  prefetch: Record<string, string>;
}

/** The one service: the patient's pending AI recommendations when a chart is opened. */
export const AI_RECOMMENDATIONS_SERVICE: CdsServiceDefinition = {
  hook: 'patient-view',
  id: 'ai-recommendations',
  title: 'AI recommendations awaiting review',
  description:
    "Shows the patient's pending AI recommendations (diagnosis probabilities at or above a model's threshold, urgent triages), " +
    'each with its model version, confidence and inputs, and suggestions to accept or reject it.',
  prefetch: { patient: 'Patient/{{context.patientId}}' },
};

export const CDS_SERVICES: readonly CdsServiceDefinition[] = [AI_RECOMMENDATIONS_SERVICE];

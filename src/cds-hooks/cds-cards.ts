import { createHash } from 'node:crypto';
import type { Coding, Task } from '@medplum/fhirtypes';
import { decidedTask, type Decision } from '../recommendations/recommendation-decision';
import type { RecommendationView } from '../recommendations/recommendation-view';

/** A CDS Hooks card (the fields this service uses). */
export interface Card {
  uuid: string;
  summary: string;
  detail: string;
  indicator: 'info' | 'warning' | 'critical';
  source: { label: string; topic: Coding };
  /** Offered to practitioners only. */
  suggestions?: Suggestion[];
  selectionBehavior?: 'at-most-one';
  overrideReasons?: Coding[];
}

export interface Suggestion {
  label: string;
  uuid: string;
  isRecommended?: boolean;
  actions: Array<{ type: 'update'; description: string; resource: Task }>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const OVERRIDE_REASON_SYSTEM = 'urn:fhir-ai-server:cds-override-reason';
const OVERRIDE_REASONS: Coding[] = [
  { system: OVERRIDE_REASON_SYSTEM, code: 'disagree', display: 'Clinically disagree with the recommendation' },
  { system: OVERRIDE_REASON_SYSTEM, code: 'already-addressed', display: 'Already addressed' },
  { system: OVERRIDE_REASON_SYSTEM, code: 'review-later', display: 'Review later' },
];
const SUMMARY_MAX = 139;
const PRIORITY_ORDER: Record<string, number> = { stat: 0, asap: 1, urgent: 2, routine: 3 };

/**
 * The card of a pending recommendation. Its uuid is the Task's id (the AI's Tasks have UUID ids;
 * another id gets a name-based UUID), so feedback finds the Task again; the suggestions' uuids are
 * derived from it. Pure.
 */
/** The users who may be offered a decision: practitioners, directly or through a role. */
const DECIDERS = /^(Practitioner|PractitionerRole)\//;

export function cardOf(task: Task, view: RecommendationView, userId: string, now: Date): Card {
  const practitionerId = /^Practitioner\/(.+)$/.exec(userId)?.[1];
  const suggestion = (decision: Decision): Suggestion => ({
    label: decision === 'approve' ? 'Accept' : 'Reject',
    uuid: suggestionUuid(task.id as string, decision),
    actions: [
      {
        type: 'update',
        // What the decision makes of the Task. This server takes it from the clinician's feedback (or
        // POST /api/recommendations/{id}/approve|reject), not as a FHIR update of the Task, which it refuses.
        description:
          (decision === 'approve' ? 'Accept the AI recommendation (the Task becomes accepted, owned by the clinician)' : 'Reject the AI recommendation (the Task becomes rejected)') +
          "; this server applies it when the clinician's feedback reports this suggestion accepted",
        resource: decidedTask(task, decision, practitionerId, decision === 'reject' ? 'rejected in the EHR' : undefined, now),
      },
    ],
  });
  return {
    uuid: cardUuid(task.id as string),
    summary: summaryOf(view),
    detail: detailOf(view),
    indicator: task.priority === 'stat' ? 'critical' : task.priority === 'asap' || task.priority === 'urgent' ? 'warning' : 'info',
    source: {
      label: 'fhir-ai-server AI recommendations',
      topic: { system: 'urn:fhir-ai-server:ai-task', code: view.model.task ?? 'recommendation', display: 'AI recommendation awaiting a clinician' },
    },
    // Only a practitioner decides (the approval API takes clinician tokens only): a patient or a
    // related person viewing the record sees the card without Accept/Reject.
    ...(DECIDERS.test(userId) ? { suggestions: [suggestion('approve'), suggestion('reject')], selectionBehavior: 'at-most-one' as const, overrideReasons: OVERRIDE_REASONS } : {}),
  };
}

/** Cards most urgent first, then newest first. Pure. */
export function cardsOf(entries: Array<{ task: Task; view: RecommendationView }>, userId: string, now: Date): Card[] {
  return [...entries]
    .sort((a, b) => (PRIORITY_ORDER[a.task.priority ?? 'routine'] ?? 3) - (PRIORITY_ORDER[b.task.priority ?? 'routine'] ?? 3) || String(b.task.authoredOn ?? '').localeCompare(String(a.task.authoredOn ?? '')))
    .map((e) => cardOf(e.task, e.view, userId, now));
}

export function cardUuid(taskId: string): string {
  return UUID.test(taskId) ? taskId.toLowerCase() : nameUuid(`Task/${taskId}`);
}

export function suggestionUuid(taskId: string, decision: Decision): string {
  return nameUuid(`Task/${taskId}#${decision}`);
}

/** A name-based UUID (version 5 layout over SHA-1), stable for a name. */
function nameUuid(name: string): string {
  const h = createHash('sha1').update(`urn:fhir-ai-server:cds:${name}`).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

function summaryOf(view: RecommendationView): string {
  const retired = view.model.retired ? ' [retired model]' : '';
  const confidence = view.confidence !== null ? ` (p=${view.confidence.toFixed(2)})` : '';
  const text = `AI: ${view.description ?? 'recommendation awaiting review'}`;
  const tail = `${confidence}${retired}`;
  const room = SUMMARY_MAX - tail.length;
  return (text.length > room ? `${text.slice(0, room - 1)}…` : text) + tail;
}

function detailOf(view: RecommendationView): string {
  const m = view.model;
  const model = m.status === 'unknown' ? `${m.id ?? 'unknown'} (not in the registry)` : `${m.name ?? m.id} ${m.version ?? ''} (${m.status})`.replace(/\s+\(/, ' (');
  const lines = [
    `**Model:** ${md(model)}`,
    `**Confidence:** ${view.confidence !== null ? view.confidence.toFixed(2) : 'not given'}${view.prediction?.outcome ? ` (${md(view.prediction.outcome)})` : ''}`,
    `**Why:** ${md(view.reason.description)}`,
    '',
    '**Inputs used:**',
    ...(view.inputs.length
      ? view.inputs.map((i) => `- ${md(i.display ?? i.code ?? i.reference)}${i.value ? `: ${md(i.value)}` : ''}${i.effective ? ` (${md(i.effective)})` : ''}`)
      : ['- none recorded']),
    ...(view.notes.length ? ['', ...view.notes.map((n) => `_${md(n)}_`)] : []),
    ...(view.warnings.length ? ['', ...view.warnings.map((w) => `**Warning:** ${md(w)}`)] : []),
  ];
  return lines.join('\n');
}

/** Text as markdown that shows as written. */
function md(s: string): string {
  return s.replace(/([\\`*_{}[\]()#+!|<>])/g, '\\$1');
}

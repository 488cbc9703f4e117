import type { AuditEvent } from '@medplum/fhirtypes';

/** What happened, as the HTTP layer saw it. */
export interface AuditRecord {
  /** e.g. read, vread, search-type, history-instance, create, update, patch, delete, transaction, batch, operation, login. */
  interaction: string;
  /** C R U D E (FHIR audit-event-action). */
  action: 'C' | 'R' | 'U' | 'D' | 'E';
  status: number;
  clientId?: string;
  address?: string;
  requestId?: string;
  method: string;
  path: string;
  /** The resource acted on, `Type/id`, when there is one. */
  entity?: string;
  /** For searches, history and conditional interactions: the query string (a POST _search's form too), secret values redacted (audit-query.ts). */
  query?: string;
  recorded: Date;
  /** The patient(s) concerned (`Patient/id`), further entities, so the event is found by `patient`. */
  patient?: string | string[];
  /** The agent's FHIR identity besides its client (e.g. a clinician's `Practitioner/id`). */
  agentRef?: string;
  /** Name/value details of the act (e.g. a clinician's decision and its reason). */
  details?: Array<{ type: string; value: string }>;
}

const REST_SUBTYPE = 'http://hl7.org/fhir/restful-interaction';
const PERSON = { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' };
const PATIENT_ROLE = { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' };

function patientsOf(r: AuditRecord): string[] {
  if (!r.patient) return [];
  return typeof r.patient === 'string' ? [r.patient] : [...new Set(r.patient)];
}

/**
 * Turns what happened into a FHIR AuditEvent (DICOM "RESTful operation" / "User Authentication"
 * event types, the client as the requesting agent, the server as the source). Pure.
 */
export function toAuditEvent(r: AuditRecord, id: string): AuditEvent {
  const login = r.interaction === 'login';
  const outcome = r.status < 400 ? '0' : r.status < 500 ? '4' : '8';
  return {
    resourceType: 'AuditEvent',
    id,
    type: login
      ? { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110114', display: 'User Authentication' }
      : { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' },
    subtype: login
      ? [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110122', display: 'Login' }]
      : [{ system: REST_SUBTYPE, code: r.interaction }],
    action: r.action,
    recorded: r.recorded.toISOString(),
    outcome,
    ...(r.status >= 400 ? { outcomeDesc: `HTTP ${r.status}` } : {}),
    agent: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/extra-security-role-type', code: 'humanuser', display: 'human user' }] },
        who: r.clientId
          ? { ...(r.agentRef ? { reference: r.agentRef } : {}), identifier: { system: 'urn:fhir-ai-server:client', value: r.clientId } }
          : { display: 'unauthenticated' },
        requestor: true,
        ...(r.address ? { network: { address: r.address, type: '2' as const } } : {}),
      },
    ],
    source: {
      observer: { display: 'fhir-ai-server' },
      type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }],
    },
    entity: [
      {
        ...(r.entity ? { what: { reference: r.entity } } : {}),
        description: `${r.method} ${r.path}`,
        ...(r.query ? { query: Buffer.from(r.query, 'utf8').toString('base64') } : {}),
        ...(r.requestId || r.details?.length
          ? { detail: [...(r.requestId ? [{ type: 'request-id', valueString: r.requestId }] : []), ...(r.details ?? []).map((d) => ({ type: d.type, valueString: d.value }))] }
          : {}),
      },
      ...patientsOf(r).map((reference) => ({ what: { reference }, type: PERSON, role: PATIENT_ROLE })),
    ],
  };
}

/** What classify tells of a request: its interaction, and the type whose search parameters its query holds (undefined: system level). */
export type Classified = Pick<AuditRecord, 'interaction' | 'action' | 'entity'> & { patient?: string; queryType?: string };

/** What a request to the FHIR API, the clients API or the token endpoint was, from its method and path; undefined for other routes. Pure. */
export function classify(method: string, path: string): Classified | undefined {
  if (path === '/auth/token') return { interaction: 'login', action: 'E' };
  if (path.startsWith('/api/')) return { interaction: `admin ${method.toLowerCase()} ${path.split('/')[2] ?? ''}`.trim(), action: method === 'GET' ? 'R' : method === 'DELETE' ? 'D' : 'E' };
  if (!path.startsWith('/fhir')) return undefined;
  const parts = path.slice('/fhir'.length).split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'metadata' || parts[0] === '.well-known') return undefined;
  const [type, id, third, fourth] = parts;
  if (!type) return method === 'POST' ? { interaction: 'transaction', action: 'E' } : { interaction: 'search-system', action: 'R' };
  if (type === '_search') return { interaction: 'search-system', action: 'R' };
  if (type.startsWith('$')) return { interaction: 'operation', action: 'E' };
  if (type === '_history') return { interaction: 'history-system', action: 'R' };
  if (id === '_history') return { interaction: 'history-type', action: 'R', queryType: type };
  if (id === '_search' || (!id && method === 'GET')) return { interaction: 'search-type', action: 'R', queryType: type };
  if (id?.startsWith('$')) return { interaction: 'operation', action: 'E' };
  const entity = id ? `${type}/${id}` : undefined;
  const patient = type === 'Patient' && id ? entity : undefined;
  if (third === '_history') return fourth ? { interaction: 'vread', action: 'R', entity } : { interaction: 'history-instance', action: 'R', entity };
  if (third?.startsWith('$')) return { interaction: 'operation', action: 'E', entity, ...(patient ? { patient } : {}) };
  // Compartment search: Patient/{id}/{type} or Patient/{id}/*, confined to that Patient.
  if (patient && method === 'GET' && third) return third === '*' ? { interaction: 'search-system', action: 'R', patient } : { interaction: 'search-type', action: 'R', patient, queryType: third };
  const kind = byMethod(method, entity);
  // Without an id, PUT, PATCH and DELETE are conditional: their query holds criteria on `type`.
  return id || method === 'POST' ? kind : { ...kind, queryType: type };
}

function byMethod(method: string, entity: string | undefined): Classified {
  switch (method) {
    case 'GET':
    case 'HEAD':
      return { interaction: 'read', action: 'R', entity };
    case 'POST':
      return { interaction: 'create', action: 'C' };
    case 'PUT':
      return { interaction: 'update', action: 'U', entity };
    case 'PATCH':
      return { interaction: 'patch', action: 'U', entity };
    case 'DELETE':
      return { interaction: 'delete', action: 'D', entity };
    default:
      return { interaction: 'unknown', action: 'E', entity };
  }
}

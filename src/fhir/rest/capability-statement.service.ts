import { Inject, Injectable } from '@nestjs/common';
import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';
import { fhirResourceTypes } from '../definitions/fhir-definitions';
import { MAPPERS } from '../projection/mappers';
import { COMPONENT_ERRATA, searchParamsOf } from '../search/search-parameters';
import { isEncryptedType } from '../store/sensitivity';
import { NOT_PERSISTED_TYPES, SERVER_RECORDED_TYPES } from '../definitions/stored-types';
import { APP_CONFIG } from '../../core/tokens';
import type { AppConfig } from '../../config/app-config';

const SERVER_VERSION = '0.1.0';
const BULK_EXPORT_DOC =
  'Prefer: respond-async; _outputFormat (application/fhir+ndjson, application/ndjson, ndjson), _type, _since, patient (POST); ' +
  'deidentify=true|false (data scientists always get de-identified data, without meta.lastUpdated; _since is refused for de-identified exports); beyond a patient token\'s own compartment, system-level read scopes (system/*.read) are needed; ' +
  '_typeFilter and _elements are not supported';

/** What a client may do with a type it writes, and with one only the server writes (stored-types.ts). */
const WRITABLE: Partial<CapabilityStatementRestResource> = {
  interaction: ['read', 'vread', 'update', 'delete', 'history-instance', 'history-type', 'create', 'patch', 'search-type'].map((code) => ({ code: code as 'read' })),
  updateCreate: true,
  conditionalCreate: true,
  conditionalUpdate: true,
  conditionalDelete: 'single',
};
const READ_ONLY: Partial<CapabilityStatementRestResource> = {
  interaction: ['read', 'vread', 'history-instance', 'history-type', 'search-type'].map((code) => ({ code: code as 'read' })),
  updateCreate: false,
  conditionalCreate: false,
  conditionalUpdate: false,
  conditionalDelete: 'not-supported',
};

/** The CapabilityStatement, built from what the code supports today. */
@Injectable()
export class CapabilityStatementService {
  private cached?: CapabilityStatement;
  private readonly serialized = new Map<string, string>();

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  build(base: string): CapabilityStatement {
    const statement = this.cached ?? (this.cached = this.make());
    // Where the R4 websocket channel of Subscriptions listens (src/subscriptions/subscription-sockets.ts).
    const websocket = { url: 'http://hl7.org/fhir/StructureDefinition/capabilitystatement-websocket', valueUri: `${base.replace(/^http/, 'ws')}/websocket` };
    const [rest, ...others] = statement.rest ?? [];
    return {
      ...statement,
      implementation: { description: 'FHIR R4 server with AI plugin workers', url: base },
      rest: rest ? [{ ...rest, extension: [...(rest.extension ?? []), websocket] }, ...others] : [],
    };
  }

  /** The statement as JSON text, kept per base URL: it is large and never changes while the server runs. */
  json(base: string): string {
    let text = this.serialized.get(base);
    if (!text) {
      text = JSON.stringify(this.build(base));
      if (this.serialized.size < 16) this.serialized.set(base, text);
    }
    return text;
  }

  private make(): CapabilityStatement {
    // What the hospital modules' and Subscriptions' write rules add to a type (src/hospital/, src/subscriptions/).
    const RULES: Record<string, string> = {
      Appointment:
        'A double-booking of a Practitioner, PractitionerRole, Location, Device or HealthcareService is refused (409) with the nearest free slot proposed (extension https://fhir-ai-server.dev/StructureDefinition/proposed-slot); the extension .../appointment-conflict-resolution = nearest-slot moves it there instead.',
      Encounter: 'An active, planned or reserved location that is a bed (Location physicalType bd) may not overlap another patient\'s stay, nor the same patient\'s other bed (409).',
      Slot: 'status is kept busy/free by the Appointments that reference it.',
      Medication: 'A stocked batch: extensions .../stock-on-hand and .../reorder-threshold; below the threshold a reorder Task is opened.',
      MedicationRequest: 'Refused (409/422) when the stocked units cannot serve it (out of stock, too few, expired); .../adherence-rate is server-owned.',
      MedicationDispense: 'Completed: takes units from stock (first expiry first); .../dispensed-from is server-owned.',
      Claim: 'Checked for likely billing errors; a flagged claim carries the server-owned extension .../billing-error-check.',
      Device:
        'Equipment (not an AI model version): extensions .../maintenance-interval-hours and .../last-maintenance; the server writes .../predictive-maintenance and the Task maintenance-{id}. Devices typed urn:fhir-ai-server:ai-task are the AI model versions; those of the model registry (id = the version id) are written only through /api/models (client writes and deletes: 403).',
      DeviceUseStatement: 'Usage of equipment: recomputes the named Device\'s predictive maintenance.',
      Observation: 'Stress readings (LOINC 93038-8, 106860-0, SNOMED CT 73595000) carry the server-computed extension .../intervention-suggested.',
      Flag: 'Emergency alerts (code urn:fhir-ai-server:alert#emergency) carry meta.tag urn:fhir-ai-server:alert|emergency (search with _tag); raised, acknowledged (extension .../alert-acknowledgement), resolved (inactive, period.end); an update that breaks this lifecycle is refused (409).',
      CarePlan: 'Wellness plans (category urn:fhir-ai-server:care-plan#wellness) carry the server-computed extension .../wellness-progress.',
      Subscription:
        'rest-hook and websocket channels; a requested Subscription is checked and made active; delivery failures end in status error. Read, search and history need the admin scope (channel.header may hold credentials); other writers get header values masked in the answers to their writes.',
    };
    for (const type of SERVER_RECORDED_TYPES) RULES[type] = 'Recorded by the server for every request; read, searched and listed in history by administrators only, never written by clients (403).';
    // Parameters is never stored (stored-types.ts): nothing to list.
    const stored = [...fhirResourceTypes()].filter((type) => !NOT_PERSISTED_TYPES.has(type)).sort();
    const resource: CapabilityStatementRestResource[] = stored.map((type) => ({
      type: type as CapabilityStatementRestResource['type'],
      profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
      ...(MAPPERS.has(type) || RULES[type]
        ? { documentation: [MAPPERS.has(type) ? 'Also projected onto its relational table (see docs/ARCHITECTURE.md).' : '', RULES[type] ?? ''].filter(Boolean).join(' ') }
        : {}),
      ...(SERVER_RECORDED_TYPES.has(type) ? READ_ONLY : WRITABLE),
      versioning: 'versioned',
      readHistory: true,
      conditionalRead: 'full-support',
      // Logical references (Reference.identifier) are stored as given: they file a resource under no patient.
      referencePolicy: ['literal', 'logical', 'local'],
      searchInclude: ['*', ...searchParamsOfType(type, 'reference').map((p) => `${type}:${p}`)],
      searchRevInclude: ['*'],
      searchParam: [...searchParamsOf(type).values()]
        .filter((p) => p.atom || p.code === '_id' || p.code === '_lastUpdated')
        .sort((a, b) => a.code.localeCompare(b.code))
        .map((p) => ({
          name: p.code,
          definition: p.url,
          type: p.type,
          ...(isEncryptedType(type) && p.sensitive ? { documentation: 'Encrypted at rest: matched whole (exact after normalisation) through a keyed hash; :contains, :exact, :text and _sort by it are refused (400)' } : {}),
          ...(COMPONENT_ERRATA[p.url] ? { documentation: COMPONENT_ERRATA[p.url].note } : {}),
        })),
      operation: [
        { name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' },
        // Bulk Data $export (IG 2.0.0); data-scientist tokens get de-identified output (docs/ARCHITECTURE.md).
        ...(type === 'Patient' || type === 'Group'
          ? [{ name: 'export', definition: `http://hl7.org/fhir/uv/bulkdata/OperationDefinition/${type.toLowerCase()}-export`, documentation: BULK_EXPORT_DOC }]
          : []),
        ...(type === 'Patient'
          ? [
              { name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' },
              { name: 'verify-ehr-chain', definition: 'urn:fhir-ai-server:OperationDefinition/verify-ehr-chain' },
              { name: 'ehr-chain-checkpoint', definition: 'urn:fhir-ai-server:OperationDefinition/ehr-chain-checkpoint' },
              {
                name: 'triage',
                definition: 'urn:fhir-ai-server:OperationDefinition/triage',
                documentation: 'POST: asks the AI workers for a triage priority (1-5) from the latest vital signs; 202 with the Task that tracks it',
              },
            ]
          : []),
      ],
    }));
    return {
      resourceType: 'CapabilityStatement',
      status: 'active',
      date: new Date().toISOString(),
      publisher: 'fhir-ai-server',
      kind: 'instance',
      software: { name: 'fhir-ai-server', version: SERVER_VERSION },
      fhirVersion: '4.0.1',
      format: ['application/fhir+json', 'json', 'application/fhir+xml', 'xml'],
      patchFormat: ['application/json-patch+json', 'application/fhir+json'],
      rest: [
        {
          mode: 'server',
          documentation:
            'All interactions need an OAuth2 bearer token from POST /auth/token (client credentials), except this statement. ' +
            'Search: every R4 search parameter with an expression, prefixes, modifiers (:missing :exact :contains :not :text :identifier :above/:below on uri by path segments, type modifiers), ' +
            'a token from a code element carrying the code system of its required binding when that value set has exactly one (gender=http://hl7.org/fhir/administrative-gender|female or gender=female; |female matches nothing), ' +
            'a reference, type modifier, chain, _has or _include naming a type the parameter cannot refer to answered 400 (at system level it rules out the types it cannot concern), ' +
            'chains, _has, composites, _include/_revinclude (:iterate; * for every reference parameter; a versioned reference includes that version; at most SEARCH_MAX_INCLUDED resources a page, more are reported in an outcome entry), _sort, _count with keyset paging (_cursor), _total, _summary, _elements (also on read and vread); ' +
            'a search whose statement runs longer than SEARCH_TIMEOUT_MS is stopped and answered 400 (OperationOutcome code too-costly); ' +
            'Prefer: handling=strict refuses unknown parameters (_text, _content and _query are not supported). Patient compartment search: Patient/{id}/{type} and Patient/{id}/* (membership by the R4 CompartmentDefinition: any compartment parameter referring to the Patient). ' +
            'Conditional interactions and references take any search criteria, held to the search scopes of the token as a search is; conditional references are resolved only inside transaction and batch Bundles (400 elsewhere). ' +
            'A Reference.reference is Type/id, an absolute URL or URN, or #id: a bare id is refused (400). A resource of a Patient compartment type filed under no patient (e.g. a subject known only by identifier) is never shown to patient-context tokens. ' +
            'Subscriptions (R4): rest-hook (empty POST, or PUT [endpoint]/[type]/[id] with a payload) and websocket (bind/ping, see the websocket extension).',
          security: {
            cors: this.config.corsOrigins.length > 0, // CORS_ORIGINS
            service: [
              {
                coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'OAuth' }],
                text: 'OAuth2 client credentials; bearer JWT',
              },
            ],
          },
          resource,
          interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'history-system' }, { code: 'search-system' }],
          // Compartment search: Patient/{id}/{type}?... and Patient/{id}/*.
          compartment: ['http://hl7.org/fhir/CompartmentDefinition/patient'],
          // System-level search: the parameters every resource type has, and _type.
          searchParam: [
            ...(['_id', '_lastUpdated', '_tag', '_profile', '_security', '_source'] as const).map((name) => ({
              name,
              type: (name === '_lastUpdated' ? 'date' : name === '_profile' || name === '_source' ? 'uri' : 'token') as 'date' | 'uri' | 'token',
              definition: `http://hl7.org/fhir/SearchParameter/Resource-${name.slice(1)}`,
            })),
            { name: '_type', type: 'token' as const },
          ],
          operation: [
            { name: 'verify-ehr-chain', definition: 'urn:fhir-ai-server:OperationDefinition/verify-ehr-chain' },
            { name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export', documentation: BULK_EXPORT_DOC },
          ],
        },
      ],
    };
  }
}

function searchParamsOfType(type: string, kind: string): string[] {
  return [...searchParamsOf(type).values()].filter((p) => p.type === kind && p.atom).map((p) => p.code);
}

/** The five kinds of client, each with a fixed ceiling of scopes (see docs/ARCHITECTURE.md). */
export type Role = 'admin' | 'ehr-system' | 'clinician' | 'data-scientist' | 'patient';

/** Who is calling, as established by the bearer token. */
export interface AuthContext {
  clientId: string;
  role: Role;
  /** SMART-style scopes granted to the token, e.g. `system/*.cruds`. */
  scopes: string[];
  /** Bound Patient id for patient-context tokens. */
  patient?: string;
  /** Bound Practitioner id for clinician tokens. */
  practitioner?: string;
  /**
   * Set only on the context a Bulk Data kick-off is checked with (export.controller.ts): a data
   * scientist's read scopes grant data that leaves de-identified, and nothing anywhere else.
   */
  deidentifiedExport?: boolean;
  /**
   * Set only on the context a data scientist's read or search of Device is checked with, once the
   * FHIR controller has confined it to the model registry's Devices (ai_models ids): their read
   * scopes count for those, which describe model versions and no person.
   */
  registryDevices?: boolean;
  /** The client's token generation when the token was issued (claim `gen`; 0 when absent). */
  generation?: number;
}

/** The scopes each role may ever hold. Finer enforcement of scopes per interaction builds on this. */
export const ROLE_SCOPE_CEILING: Record<Role, string[]> = {
  admin: ['system/*.cruds', 'admin'],
  'ehr-system': ['system/*.cruds'],
  clinician: ['user/*.cruds'],
  'data-scientist': ['system/*.rs', 'models'],
  patient: ['patient/*.rs'],
};

declare module 'express' {
  interface Request {
    auth?: AuthContext;
    requestId?: string;
    /** The client's address (`req.ip`, read once: Express works it out through the trusted proxies on every read). */
    clientAddress?: string;
    /** JSON or XML, as negotiated for this request's response. */
    fhirFormat?: 'json' | 'xml';
    /** The generic media type the client asked for by name (application/json or application/xml), answered as such (http.html#mime). */
    fhirMediaType?: 'application/json' | 'application/xml';
  }
}

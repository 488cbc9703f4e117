import { Injectable } from '@nestjs/common';
import { forbidden, notFound } from '../../fhir/operation-outcome';
import type { AuthContext } from '../auth.types';
import { allows, isPatientContext, type Permission } from './scopes';
import { hiddenFromPatients } from '../../fhir/definitions/patient-references';
import { sharedVisibleTo } from '../../fhir/definitions/patient-references';
import { SERVER_RECORDED_TYPES } from '../../fhir/definitions/stored-types';
import { MASKED_HEADER_VALUE } from '../../subscriptions/subscription-channel';

/**
 * Data scientists see who is who nowhere: their `system/*.rs` scopes serve only de-identified Bulk
 * Data exports, and reads and searches of the model registry's Devices (a context marked
 * `registryDevices`, confined to those), so every other FHIR interaction (reads, searches, history,
 * $everything, bundle entries, the hospital views built on them) is refused to them.
 */
function identifiedDataDenied(auth: AuthContext, resourceType?: string, permission?: Permission): boolean {
  if (auth.role !== 'data-scientist' || auth.deidentifiedExport) return false;
  return !(auth.registryDevices && resourceType === 'Device' && (permission === 'r' || permission === 's'));
}

const PERMISSION_NAMES: Record<Permission, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };

/**
 * What a token may do: its SMART scopes per resource type and interaction, and, for a
 * patient-context token, only what lies in its patient's compartment (plus resources that belong
 * to no patient). What a confined token may not see answers as if it did not exist.
 */
@Injectable()
export class AccessPolicy {
  /** readableOf's answers: per grant, per type. */
  private readonly readableByGrant = new Map<string, Map<string, boolean>>();

  /** Throws 403 unless the token's scopes grant `permission` on `resourceType` (`*`: every type). */
  require(auth: AuthContext | undefined, resourceType: string, permission: Permission): void {
    if (!auth) throw forbidden('No authenticated client');
    if (SERVER_RECORDED_TYPES.has(resourceType)) {
      if (!['r', 's'].includes(permission)) throw forbidden(`${resourceType}s are recorded by the server and cannot be changed`);
      if (!auth.scopes.includes('admin')) throw forbidden('Only administrators read AuditEvents');
    }
    if (identifiedDataDenied(auth, resourceType, permission)) throw forbidden('Data scientists receive patient data only de-identified, through Bulk Data export ($export); of FHIR resources they read and search only the model registry\'s Devices');
    // Subscriptions carry other systems' credentials (channel.header): only administrators read them.
    if (resourceType === 'Subscription' && (permission === 'r' || permission === 's') && !auth.scopes.includes('admin')) {
      throw forbidden('Only administrators read Subscriptions (their channel headers hold credentials)');
    }
    if (this.compartment(auth) !== undefined && hiddenFromPatients(resourceType)) throw forbidden(`Patient-context tokens may not see ${resourceType} resources`);
    if (!allows(auth.scopes, resourceType, permission)) {
      const scope = `${resourceType}.${permission}`;
      throw forbidden(`The token's scopes (${auth.scopes.join(' ') || 'none'}) do not grant ${PERMISSION_NAMES[permission]} on ${resourceType} (needs e.g. system/${scope})`);
    }
    if (this.compartment(auth) === null) throw forbidden('The token has patient scopes but is bound to no patient');
  }

  /**
   * A write (create, update, patch, delete): the scope as for any interaction, and never by a
   * patient-context token, whose role ceiling holds no write scopes (patients read; clinicians and
   * EHRs write).
   */
  requireWrite(auth: AuthContext | undefined, resourceType: string, permission: Permission): void {
    this.require(auth, resourceType, permission);
    if (this.compartment(auth) !== undefined) throw forbidden('Patient-context tokens may not write');
  }

  /**
   * Whether the token is a data scientist's outside a de-identified export: of FHIR data it reads
   * and searches only the model registry's Devices, once the caller has confined the interaction
   * to them and marked the context `registryDevices`.
   */
  registryDevicesOnly(auth: AuthContext | undefined): boolean {
    return !!auth && auth.role === 'data-scientist' && !auth.deidentifiedExport;
  }

  /**
   * Bulk Data export of a type: read on it, and, beyond a patient-context token's own compartment,
   * at system level (SMART Backend Services: `system/<type>.read` or `system/*.read`). A user-level
   * token (a clinician's `user/*.cruds`) exports nothing: its searches here are not narrowed to the
   * user's patients, so an export "of what it could search" would be every patient's record.
   */
  requireExport(auth: AuthContext | undefined, resourceType: string): void {
    this.require(auth, resourceType, 'r');
    if (this.compartment(auth) === undefined && !allows(auth?.scopes ?? [], resourceType, 'r', 'system')) {
      throw forbidden(`Bulk Data export needs system-level read on ${resourceType} (SMART Backend Services: system/${resourceType}.read or system/*.read); the token's scopes (${auth?.scopes.join(' ') || 'none'}) are not system-level`);
    }
  }

  /** Whether requireExport would let the token export `resourceType`, without throwing. */
  allowsExport(auth: AuthContext | undefined, resourceType: string): boolean {
    if (!this.allows(auth, resourceType, 'r')) return false;
    return this.compartment(auth) !== undefined || allows(auth?.scopes ?? [], resourceType, 'r', 'system');
  }

  /** Whether the token may `permission` on `resourceType`, without throwing. */
  allows(auth: AuthContext | undefined, resourceType: string, permission: Permission): boolean {
    if (resourceType === 'AuditEvent' && !auth?.scopes.includes('admin')) return false;
    if (auth && identifiedDataDenied(auth, resourceType, permission)) return false;
    if (resourceType === 'Subscription' && (permission === 'r' || permission === 's') && !auth?.scopes.includes('admin')) return false;
    if (this.compartment(auth) !== undefined && hiddenFromPatients(resourceType)) return false;
    return !!auth && allows(auth.scopes, resourceType, permission);
  }

  /**
   * The resource types of `types` the token may read (allows(auth, type, 'r') for each). The answer
   * for every type is kept per grant (role, scopes and the two context marks, all that allows reads):
   * a Patient's $everything asks for each of the 146 types on every request.
   */
  readableOf(auth: AuthContext | undefined, types: Iterable<string>): string[] {
    if (!auth) return [];
    const key = `${auth.role}|${auth.deidentifiedExport ? 1 : 0}${auth.registryDevices ? 1 : 0}|${auth.scopes.join(' ')}`;
    let readable = this.readableByGrant.get(key);
    if (!readable) {
      if (this.readableByGrant.size >= 256) this.readableByGrant.clear(); // tokens with made-up scope sets: never unbounded
      readable = new Map();
      this.readableByGrant.set(key, readable);
    }
    const out: string[] = [];
    for (const t of types) {
      let ok = readable.get(t);
      if (ok === undefined) readable.set(t, (ok = this.allows(auth, t, 'r')));
      if (ok) out.push(t);
    }
    return out;
  }

  /**
   * Types left out of system-wide listings (system history): AuditEvents, which every request adds
   * to, are listed at AuditEvent/_history, to administrators only.
   */
  hiddenTypes(auth?: AuthContext): string[] {
    return auth?.scopes.includes('admin') ? ['AuditEvent'] : ['AuditEvent', 'Subscription'];
  }

  /**
   * The patient a patient-context token is confined to; undefined when the token is not confined;
   * null when it is confined but bound to no patient (it may then see nothing).
   */
  compartment(auth: AuthContext | undefined): string | undefined | null {
    if (!auth) return null;
    if (auth.role !== 'patient' && !isPatientContext(auth.scopes)) return undefined;
    return auth.patient ?? null;
  }

  /** Throws 404, as for a resource that does not exist, when a confined token may not see it. */
  requireVisible(auth: AuthContext | undefined, resource: VisibleResource & { id: string }): void {
    if (!this.isVisible(auth, resource)) throw notFound(`${resource.resourceType}/${resource.id} is not known`);
  }

  /**
   * A confined token sees its own compartment, and a resource of no patient only when nothing in it
   * concerns another patient (sharedVisibleTo, fhir/definitions/patient-references.ts): a shared GuidanceResponse about another
   * patient is as invisible as that patient's Observations.
   */
  isVisible(auth: AuthContext | undefined, resource: VisibleResource): boolean {
    const compartment = this.compartment(auth);
    if (compartment === undefined) return true;
    if (compartment === null) return false;
    // A history version carried over when its resource changed patient is judged by its owner when written.
    const owner = resource.filedPatientId !== undefined ? resource.filedPatientId : resource.patientId;
    if (owner !== null) return owner === compartment;
    return sharedVisibleTo(compartment, resource);
  }

  /**
   * A resource as returned to this caller: a Subscription's channel.header values (credentials of
   * the endpoint) are masked for anyone but administrators, also in the answers to their own writes.
   * A write that sends the mask back keeps the stored value (SubscriptionRule).
   */
  redact<T extends { resourceType?: string }>(auth: AuthContext | undefined, resource: T): T {
    if (resource?.resourceType !== 'Subscription' || auth?.scopes.includes('admin')) return resource;
    const sub = resource as T & { channel?: { header?: string[] } };
    if (!sub.channel?.header) return resource;
    return { ...sub, channel: { ...sub.channel, header: sub.channel.header.map((h) => `${h.split(':')[0]}: ${MASKED_HEADER_VALUE}`) } };
  }
}

/** What the visibility rules look at: the owning patient, and for shared resources the type and content. */
export interface VisibleResource {
  resourceType: string;
  patientId: string | null;
  /** A history version's owner when written, when it differs from patientId (StoredVersion.filedPatientId). */
  filedPatientId?: string | null;
  json: string | null;
}

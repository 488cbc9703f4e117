import { randomBytes } from 'node:crypto';
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Req } from '@nestjs/common';
import type { Request } from 'express';
import { ResourceStore } from '../fhir/store/resource-store.repository';
import { OperationOutcomeError, badRequest, forbidden, notFound } from '../fhir/operation-outcome';
import { ROLE_SCOPE_CEILING, type AuthContext, type Role } from './auth.types';
import { ClientRepository } from './client.repository';

interface NewClientRequest {
  role?: unknown;
  practitioner?: unknown;
  patient?: unknown;
}

const BINDING = /^(Patient|Practitioner)\/([A-Za-z0-9\-.]{1,64})$/;

/** The administrator API for OAuth2 clients: create (the secret is shown once), list, rotate, revoke. */
@Controller('api/clients')
export class ClientsController {
  constructor(
    private readonly clients: ClientRepository,
    private readonly store: ResourceStore,
  ) {}

  @Post()
  @HttpCode(201)
  async create(@Body() body: NewClientRequest | undefined, @Req() req: Request): Promise<{ client_id: string; client_secret: string; role: Role; scope: string }> {
    const actor = requireAdmin(req.auth);
    const role = body?.role;
    if (typeof role !== 'string' || !Object.hasOwn(ROLE_SCOPE_CEILING, role)) {
      throw badRequest(`role must be one of ${Object.keys(ROLE_SCOPE_CEILING).join(', ')}`, ['role']);
    }
    const patientId = role === 'patient' ? await this.binding(body?.patient, 'Patient', 'patient') : undefined;
    const practitionerId = role === 'clinician' ? await this.binding(body?.practitioner, 'Practitioner', 'practitioner') : undefined;
    if (role !== 'patient' && body?.patient !== undefined) throw badRequest('Only a patient client is bound to a Patient', ['patient']);
    if (role !== 'clinician' && body?.practitioner !== undefined) throw badRequest('Only a clinician client is bound to a Practitioner', ['practitioner']);
    const clientId = `${role}-${randomBytes(8).toString('hex')}`;
    const secret = randomBytes(32).toString('base64url');
    const scopes = ROLE_SCOPE_CEILING[role as Role];
    await this.clients.create(actor, { clientId, role: role as Role, scopes, patientId, practitionerId }, secret);
    return { client_id: clientId, client_secret: secret, role: role as Role, scope: scopes.join(' ') };
  }

  @Get()
  async list(@Req() req: Request): Promise<unknown[]> {
    requireAdmin(req.auth);
    return (await this.clients.list()).map((c) => ({
      client_id: c.clientId,
      role: c.role,
      scope: c.scopes.join(' '),
      ...(c.patientId ? { patient: `Patient/${c.patientId}` } : {}),
      ...(c.practitionerId ? { practitioner: `Practitioner/${c.practitionerId}` } : {}),
      created_at: new Date(c.createdAt).toISOString(),
      revoked_at: c.revokedAt ? new Date(c.revokedAt).toISOString() : null,
    }));
  }

  @Post(':id/rotate')
  @HttpCode(200)
  async rotate(@Param('id') id: string, @Req() req: Request): Promise<{ client_id: string; client_secret: string }> {
    const actor = requireAdmin(req.auth);
    const secret = randomBytes(32).toString('base64url');
    if (!isClientId(id) || !(await this.clients.rotate(actor, id, secret))) throw notFound(`No active client ${printable(id)}`);
    return { client_id: id, client_secret: secret };
  }

  @Delete(':id')
  @HttpCode(200)
  async revoke(@Param('id') id: string, @Req() req: Request): Promise<{ client_id: string; revoked: true }> {
    const actor = requireAdmin(req.auth);
    if (req.auth?.clientId === id) throw OperationOutcomeError.of(409, 'conflict', 'A client cannot revoke itself');
    if (!isClientId(id) || !(await this.clients.revoke(actor, id))) throw notFound(`No active client ${printable(id)}`);
    return { client_id: id, revoked: true };
  }

  /** A `Type/id` reference to a live resource of that type; returns the id. */
  private async binding(value: unknown, type: 'Patient' | 'Practitioner', field: string): Promise<string> {
    const m = typeof value === 'string' ? BINDING.exec(value) : null;
    if (!m || m[1] !== type) throw badRequest(`${field} must be a ${type} reference such as "${type}/123"`, [field]);
    const current = await this.store.readCurrent(type, m[2]);
    if (!current || current.deleted) throw badRequest(`${value} does not exist`, [field]);
    return m[2];
  }
}

/** What can be a client id (auth_clients.client_id is varchar(128); PostgreSQL refuses NUL in text): anything else is no client, without asking SQL. */
function isClientId(id: string): boolean {
  // eslint-disable-next-line no-control-regex
  return id.length > 0 && id.length <= 128 && !/[\u0000-\u001f\u007f]/.test(id);
}

function printable(id: string): string {
  // eslint-disable-next-line no-control-regex
  return id.replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 128);
}

/** Only administrator tokens (the `admin` scope) manage clients. Returns the audit actor. */
function requireAdmin(auth: AuthContext | undefined): string {
  if (!auth?.scopes.includes('admin')) throw forbidden('Only administrators manage clients (scope "admin")');
  return `client:${auth.clientId}`;
}

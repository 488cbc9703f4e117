import { Inject, Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../core/tokens';
import { AuditEventRecorder } from '../audit/audit-event.recorder';
import type { AuditRecord } from '../audit/audit-event';

/** Who asked, as the HTTP layer knows it. */
export interface Caller {
  clientId: string;
  requestId?: string;
  address?: string;
  /** The path asked (a decision may come through the API or through CDS Hooks feedback). */
  path?: string;
}

/**
 * Records the AuditEvents of clinicians' decisions and of CDS Hooks calls through the API's one
 * AuditEventRecorder. The recorder belongs to the application module, so it is looked up once, as
 * the HTTP set-up looks it up; without one (outside the API) nothing is recorded.
 */
@Injectable()
export class RecommendationAudit {
  private recorder?: AuditEventRecorder | null;

  constructor(
    private readonly moduleRef: ModuleRef,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  record(caller: Caller, event: Omit<AuditRecord, 'clientId' | 'requestId' | 'address' | 'recorded' | 'path'>): void {
    if (this.config.auditEvents === 'off') return;
    if (this.recorder === undefined) {
      try {
        this.recorder = this.moduleRef.get(AuditEventRecorder, { strict: false });
      } catch {
        this.recorder = null;
      }
    }
    this.recorder?.record({ ...event, path: caller.path ?? '', clientId: caller.clientId, requestId: caller.requestId, address: caller.address, recorded: new Date() });
  }
}

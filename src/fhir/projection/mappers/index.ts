import type { ResourceMapper } from '../projection';
import { appointmentMapper } from './appointment.mapper';
import { locationMapper } from './location.mapper';
import { conditionMapper } from './condition.mapper';
import { encounterMapper } from './encounter.mapper';
import { medicationRequestMapper } from './medication-request.mapper';
import { observationMapper } from './observation.mapper';
import { patientMapper } from './patient.mapper';
import { practitionerMapper } from './practitioner.mapper';
import { emergencyAlertMapper, feedbackMapper, recommendationMapper, therapySessionMapper, triageMapper } from './ai-output.mappers';
import { medicationMapper } from './medication.mapper';
import { medicationAdministrationMapper, medicationStatementMapper } from './adherence.mapper';
import { claimMapper } from './claim.mapper';
import { carePlanMapper } from './wellness.mapper';
import { deviceMapper } from './device.mapper';

export * from './condition.mapper';
export * from './medication.mapper';
export * from './adherence.mapper';
export * from './claim.mapper';
export * from './wellness.mapper';
export * from './device.mapper';
export * from './encounter.mapper';
export * from './medication-request.mapper';
export * from './observation.mapper';
export * from './patient.mapper';
export * from './practitioner.mapper';
export * from './ai-output.mappers';

export * from './appointment.mapper';
export * from './location.mapper';

/** The mapper of each resource type that has a seed table, keyed by resourceType. */
export const MAPPERS: ReadonlyMap<string, ResourceMapper> = new Map<string, ResourceMapper>(
  [patientMapper, practitionerMapper, encounterMapper, observationMapper, medicationRequestMapper, conditionMapper, feedbackMapper, therapySessionMapper, triageMapper, recommendationMapper, emergencyAlertMapper, medicationMapper, medicationAdministrationMapper, medicationStatementMapper, claimMapper, appointmentMapper, locationMapper, deviceMapper, carePlanMapper].map(
    (m) => [m.resourceType, m as ResourceMapper],
  ),
);

import { PatientRow } from './patient.entity';
import { SearchTokenRow, SearchStringRow, SearchDateRow, SearchNumberRow, SearchQuantityRow, SearchReferenceRow, SearchUriRow, SearchPackedRow, SearchDateAuditRow, SearchReferenceAuditRow } from './search-index.entities';
import { PatientNationalIdRow } from './patient-national-id.entity';
import { DoctorRow } from './doctor.entity';
import { HospitalResourceRow } from './hospital-resource.entity';
import { AiModelRow } from './ai-model.entity';
import { AiModelTransitionRow } from './ai-model-transition.entity';
import { AiPredictionRow } from './ai-prediction.entity';
import { InventoryRow } from './inventory.entity';
import { BedRow } from './bed.entity';
import { EncounterRow } from './encounter.entity';
import { AppointmentRow, AppointmentWithoutPatientRow } from './appointment.entity';
import { EhrRecordRow } from './ehr-record.entity';
import { MonitoringDataRow } from './monitoring-data.entity';
import { DiagnosisRow } from './diagnosis.entity';
import { RecommendationRow } from './recommendation.entity';
import { BillingRow } from './billing.entity';
import { FeedbackRow } from './feedback.entity';
import { TriageRow } from './triage.entity';
import { IcuMonitoringRow } from './icu-monitoring.entity';
import { EmergencyAlertRow } from './emergency-alert.entity';
import { TherapySessionRow } from './therapy-session.entity';
import { StressDataRow } from './stress-data.entity';
import { WellnessPlanRow } from './wellness-plan.entity';
import { PrescriptionRow } from './prescription.entity';
import { AdherenceTrackingRow } from './adherence-tracking.entity';
import { FhirResourceRow } from './fhir-resource.entity';
import { FhirResourceHistoryRow } from './fhir-resource-history.entity';
import { FhirPatientResourceRow } from './fhir-patient-resource.entity';
import { FhirPatientResourceHistoryRow } from './fhir-patient-resource-history.entity';
import { AuthClientRow } from './auth-client.entity';
import { AuthSigningKeyRow } from './auth-signing-key.entity';
import { OutboxEventRow } from './outbox-event.entity';
import { AuditLogRow } from './audit-log.entity';
import { BulkExportRow, BulkExportFileRow } from './bulk-export.entities';
import { ExchangeConnectionRow, ExchangeSyncRunRow, ExchangeSyncCursorRow, ExchangeRemoteResourceRow, ExchangePushRow, ExchangeFailureRow } from './exchange.entities';

export { PatientRow } from './patient.entity';
export { SearchTokenRow, SearchStringRow, SearchDateRow, SearchNumberRow, SearchQuantityRow, SearchReferenceRow, SearchUriRow, SearchPackedRow, SearchDateAuditRow, SearchReferenceAuditRow } from './search-index.entities';
export { PatientNationalIdRow } from './patient-national-id.entity';
export { DoctorRow } from './doctor.entity';
export { HospitalResourceRow } from './hospital-resource.entity';
export { AiModelRow } from './ai-model.entity';
export { AiModelTransitionRow } from './ai-model-transition.entity';
export { AiPredictionRow } from './ai-prediction.entity';
export { InventoryRow } from './inventory.entity';
export { BedRow } from './bed.entity';
export { EncounterRow } from './encounter.entity';
export { AppointmentRow, AppointmentWithoutPatientRow } from './appointment.entity';
export { EhrRecordRow } from './ehr-record.entity';
export { MonitoringDataRow } from './monitoring-data.entity';
export { DiagnosisRow } from './diagnosis.entity';
export { RecommendationRow } from './recommendation.entity';
export { BillingRow } from './billing.entity';
export { FeedbackRow } from './feedback.entity';
export { TriageRow } from './triage.entity';
export { IcuMonitoringRow } from './icu-monitoring.entity';
export { EmergencyAlertRow } from './emergency-alert.entity';
export { TherapySessionRow } from './therapy-session.entity';
export { StressDataRow } from './stress-data.entity';
export { WellnessPlanRow } from './wellness-plan.entity';
export { PrescriptionRow } from './prescription.entity';
export { AdherenceTrackingRow } from './adherence-tracking.entity';
export { FhirResourceRow } from './fhir-resource.entity';
export { FhirResourceHistoryRow } from './fhir-resource-history.entity';
export { FhirPatientResourceRow } from './fhir-patient-resource.entity';
export { FhirPatientResourceHistoryRow } from './fhir-patient-resource-history.entity';
export { AuthClientRow } from './auth-client.entity';
export { AuthSigningKeyRow } from './auth-signing-key.entity';
export { OutboxEventRow } from './outbox-event.entity';
export { AuditLogRow } from './audit-log.entity';
export { BulkExportRow, BulkExportFileRow } from './bulk-export.entities';
export { ExchangeConnectionRow, ExchangeSyncRunRow, ExchangeSyncCursorRow, ExchangeRemoteResourceRow, ExchangePushRow, ExchangeFailureRow } from './exchange.entities';

/** Every MikroORM entity, one per table of the schema (see migrations/). */
export const ENTITIES: Function[] = [
  PatientRow,
  PatientNationalIdRow,
  DoctorRow,
  HospitalResourceRow,
  AiModelRow,
  AiModelTransitionRow,
  AiPredictionRow,
  InventoryRow,
  BedRow,
  EncounterRow,
  AppointmentRow,
  AppointmentWithoutPatientRow,
  EhrRecordRow,
  MonitoringDataRow,
  DiagnosisRow,
  RecommendationRow,
  BillingRow,
  FeedbackRow,
  TriageRow,
  IcuMonitoringRow,
  EmergencyAlertRow,
  TherapySessionRow,
  StressDataRow,
  WellnessPlanRow,
  PrescriptionRow,
  AdherenceTrackingRow,
  FhirResourceRow,
  FhirResourceHistoryRow,
  FhirPatientResourceRow,
  FhirPatientResourceHistoryRow,
  AuthClientRow,
  AuthSigningKeyRow,
  OutboxEventRow,
  AuditLogRow,
  BulkExportRow,
  BulkExportFileRow,
  ExchangeConnectionRow,
  ExchangeSyncRunRow,
  ExchangeSyncCursorRow,
  ExchangeRemoteResourceRow,
  ExchangePushRow,
  ExchangeFailureRow,
  SearchTokenRow,
  SearchStringRow,
  SearchDateRow,
  SearchNumberRow,
  SearchQuantityRow,
  SearchReferenceRow,
  SearchUriRow,
  SearchPackedRow,
  SearchDateAuditRow,
  SearchReferenceAuditRow,
];

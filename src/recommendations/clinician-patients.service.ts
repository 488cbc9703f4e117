import { Injectable } from '@nestjs/common';
import { DatabaseService } from '../database/database.service';
import { SearchService } from '../fhir/search/search.service';

/** Most patients one clinician's listing considers; beyond it the listing says it is cut short. */
export const MAX_CLINICIAN_PATIENTS = 10_000;

/**
 * Which patients are a clinician's, decided from FHIR data through the search index: the patients
 * whose Patient.generalPractitioner is the clinician's Practitioner, who had an Encounter with that
 * Practitioner as a participant, or whose CareTeam lists the Practitioner as a member. Any of the
 * three is a care relationship the record itself documents; nothing else (a token's scopes, who wrote
 * what) makes a patient someone's.
 */
@Injectable()
export class ClinicianPatients {
  constructor(
    private readonly search: SearchService,
    private readonly db: DatabaseService,
  ) {}

  /** One FHIR Patient search per rule; a patient matching any is the clinician's. */
  static criteria(practitionerId: string): string[] {
    const who = `Practitioner/${practitionerId}`;
    return [
      new URLSearchParams({ 'general-practitioner': who }).toString(),
      new URLSearchParams({ '_has:Encounter:patient:participant': who }).toString(),
      new URLSearchParams({ '_has:CareTeam:patient:participant': who }).toString(),
    ];
  }

  /** The clinician's patients' ids (at most MAX_CLINICIAN_PATIENTS; `capped` says when there may be more). */
  async patientsOf(practitionerId: string): Promise<{ ids: string[]; capped: boolean }> {
    const ids = new Set<string>();
    let capped = false;
    for (const criteria of ClinicianPatients.criteria(practitionerId)) {
      const found = await this.search.matchIds(this.db, 'Patient', criteria, MAX_CLINICIAN_PATIENTS);
      if (found.length >= MAX_CLINICIAN_PATIENTS) capped = true;
      for (const id of found) ids.add(id);
    }
    return { ids: [...ids].sort().slice(0, MAX_CLINICIAN_PATIENTS), capped: capped || ids.size > MAX_CLINICIAN_PATIENTS };
  }

  async isPatientOf(practitionerId: string, patientId: string): Promise<boolean> {
    for (const criteria of ClinicianPatients.criteria(practitionerId)) {
      const found = await this.search.matchIds(this.db, 'Patient', `_id=${encodeURIComponent(patientId)}&${criteria}`, 1);
      if (found.length) return true;
    }
    return false;
  }
}

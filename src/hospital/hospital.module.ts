import { Module } from '@nestjs/common';

/**
 * The hospital modules (scheduling, beds, pharmacy, billing...): their rules on the one write path
 * and their services. Imported by the API and by the workers, so that every writer obeys the
 * same rules.
 */
@Module({
  imports: [],
})
export class HospitalModule {}

import { Migration } from '@mikro-orm/migrations';

/**
 * Scheduling and beds (issue #9). Appointments keep their whole period and the actors they hold
 * (so a double-booking is one indexed overlap query); encounters keep their locations as stays
 * (normalised by the mapper: bed, status, start, end, whether it allocates and whether the patient
 * is there); beds keep their ward. A bed's `occupied` and `patient_id` depend on Encounters, not on
 * its Location, so they are derived in SQL: recomputed for the beds an encounter row names whenever
 * it changes, for a new bed, and (for periods that end with no write) by `refresh_bed_occupancy(NULL)`,
 * which the beds service runs periodically and before answering.
 */
export class Migration20261127001000_scheduling_beds extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
ALTER TABLE appointments ADD COLUMN start_at timestamptz, ADD COLUMN end_at timestamptz, ADD COLUMN actors text[];
CREATE INDEX appointments_actors ON appointments USING gin (actors);

ALTER TABLE encounters ADD COLUMN locations jsonb;
CREATE INDEX encounters_locations ON encounters USING gin (locations jsonb_path_ops);

ALTER TABLE beds ADD COLUMN ward_id fhir_id;

-- Who is in the bed at the instant: a stay the patient is present for (the mapper's "occupying").
CREATE FUNCTION bed_occupant(bed text, at timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT e.patient_id::text FROM encounters e, jsonb_array_elements(e.locations) l
   WHERE e.locations @> jsonb_build_array(jsonb_build_object('location', bed, 'occupying', true))
     AND l->>'location' = bed AND (l->>'occupying')::boolean
     AND (l->>'start' IS NULL OR (l->>'start')::timestamptz <= at)
     AND (l->>'end' IS NULL OR (l->>'end')::timestamptz > at)
   ORDER BY l->>'start' DESC NULLS LAST
   LIMIT 1
$$;

-- Recomputes occupied/patient_id of the given beds (NULL: all), writing only rows that change.
CREATE FUNCTION refresh_bed_occupancy(bed_ids text[]) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE n integer;
BEGIN
  UPDATE beds b SET patient_id = o.occupant, occupied = o.occupant IS NOT NULL
    FROM (SELECT id, bed_occupant(id, now()) AS occupant FROM beds WHERE bed_ids IS NULL OR id = ANY (bed_ids)) o
   WHERE b.id = o.id
     AND (b.patient_id IS DISTINCT FROM o.occupant OR b.occupied IS DISTINCT FROM (o.occupant IS NOT NULL));
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

CREATE FUNCTION encounters_refresh_beds() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE ids text[] := '{}';
BEGIN
  IF TG_OP <> 'INSERT' AND OLD.locations IS NOT NULL THEN
    ids := ids || ARRAY(SELECT l->>'location' FROM jsonb_array_elements(OLD.locations) l);
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.locations IS NOT NULL THEN
    ids := ids || ARRAY(SELECT l->>'location' FROM jsonb_array_elements(NEW.locations) l);
  END IF;
  IF cardinality(ids) > 0 THEN PERFORM refresh_bed_occupancy(ids); END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER encounters_refresh_beds AFTER INSERT OR UPDATE OR DELETE ON encounters
  FOR EACH ROW EXECUTE FUNCTION encounters_refresh_beds();

CREATE FUNCTION beds_refresh_new() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM refresh_bed_occupancy(ARRAY[NEW.id::text]);
  RETURN NULL;
END $$;
CREATE TRIGGER beds_refresh_new AFTER INSERT ON beds FOR EACH ROW EXECUTE FUNCTION beds_refresh_new();
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
DROP TRIGGER IF EXISTS beds_refresh_new ON beds;
DROP TRIGGER IF EXISTS encounters_refresh_beds ON encounters;
DROP FUNCTION IF EXISTS beds_refresh_new(), encounters_refresh_beds(), refresh_bed_occupancy(text[]), bed_occupant(text, timestamptz);
ALTER TABLE beds DROP COLUMN IF EXISTS ward_id;
ALTER TABLE encounters DROP COLUMN IF EXISTS locations;
ALTER TABLE appointments DROP COLUMN IF EXISTS start_at, DROP COLUMN IF EXISTS end_at, DROP COLUMN IF EXISTS actors;
`);
  }
}

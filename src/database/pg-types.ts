import { types } from 'pg';

/**
 * `timestamp without time zone` columns hold UTC (the projection writes UTC instants), so read
 * them as UTC whatever the process's TZ; `date` columns stay 'YYYY-MM-DD' strings rather than
 * local-midnight Dates that shift with the time zone.
 */
const TIMESTAMP_OID = 1114;
const DATE_OID = 1082;
types.setTypeParser(TIMESTAMP_OID, (value: string) => new Date(`${value.replace(' ', 'T')}Z`));
types.setTypeParser(DATE_OID, (value: string) => value);

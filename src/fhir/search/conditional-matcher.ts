import { Injectable } from '@nestjs/common';
import type { Tx } from '../../database/database.service';
import { SearchService } from './search.service';

/**
 * Resolves conditional criteria (any search parameters), as used by conditional create
 * (ifNoneExist), conditional update/delete and conditional references in bundles, to the ids of
 * the current resources that match, inside the caller's transaction.
 */
@Injectable()
export class ConditionalMatcher {
  constructor(private readonly search: SearchService) {}

  match(tx: Pick<Tx, 'query'>, resourceType: string, criteria: string): Promise<string[]> {
    return this.search.matchIds(tx, resourceType, criteria);
  }
}

import { isCurrentMember } from './export.service';

describe('isCurrentMember', () => {
  const now = Date.parse('2026-11-27T12:00:00Z');
  const member = (over: object) => ({ entity: { reference: 'Patient/p1' }, ...over });

  it('keeps members without a period, or within it (a date-precision end includes its day)', () => {
    expect(isCurrentMember(member({}), now)).toBe(true);
    expect(isCurrentMember(member({ period: { start: '2020-01-01' } }), now)).toBe(true);
    expect(isCurrentMember(member({ period: { start: '2020-01-01', end: '2026-11-27' } }), now)).toBe(true);
    expect(isCurrentMember(member({ period: { end: '2026-12' } }), now)).toBe(true);
  });

  it('leaves out inactive members and those whose period has ended or not begun', () => {
    expect(isCurrentMember(member({ inactive: true }), now)).toBe(false);
    expect(isCurrentMember(member({ period: { start: '2019-01-01', end: '2020-01-01' } }), now)).toBe(false);
    expect(isCurrentMember(member({ period: { end: '2026-11-27T11:59:59Z' } }), now)).toBe(false);
    expect(isCurrentMember(member({ period: { start: '2026-11-28' } }), now)).toBe(false);
  });
});

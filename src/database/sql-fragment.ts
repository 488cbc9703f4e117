/**
 * SQL built from parts, with every value a bind parameter: `sql\`a = ${v}\`` holds `a = ?` and [v];
 * a fragment interpolated into another is inlined with its parameters in order; `raw()` inserts
 * trusted text (table and column names chosen by the code, never by the request).
 */
export class Sql {
  constructor(
    readonly text: string,
    readonly params: unknown[],
  ) {}
}

class Raw {
  constructor(readonly text: string) {}
}

export function raw(text: string): Raw {
  return new Raw(text);
}

export function sql(strings: TemplateStringsArray, ...values: unknown[]): Sql {
  let text = strings[0];
  const params: unknown[] = [];
  values.forEach((v, i) => {
    if (v instanceof Sql) {
      text += v.text;
      params.push(...v.params);
    } else if (v instanceof Raw) {
      text += v.text;
    } else {
      text += '?';
      params.push(v);
    }
    text += strings[i + 1];
  });
  return new Sql(text, params);
}

/** Joins fragments with a separator (`AND`, `OR`, `,`). */
export function join(parts: Sql[], separator: string): Sql {
  return new Sql(
    parts.map((p) => p.text).join(separator),
    parts.flatMap((p) => p.params),
  );
}

export const TRUE = new Sql('true', []);
export const FALSE = new Sql('false', []);

export function and(parts: Sql[]): Sql {
  return parts.length ? new Sql(`(${join(parts, ' AND ').text})`, parts.flatMap((p) => p.params)) : TRUE;
}

export function or(parts: Sql[]): Sql {
  return parts.length ? new Sql(`(${join(parts, ' OR ').text})`, parts.flatMap((p) => p.params)) : FALSE;
}

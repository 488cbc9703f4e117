import {
  DotAtom,
  FhirPathAtom,
  FunctionAtom,
  IndexerAtom,
  SymbolAtom,
  UnionAtom,
  capitalize,
  getElementDefinition,
  getTypedPropertyValue,
  parseFhirPath,
  type Atom,
  type AtomContext,
  type InternalSchemaElement,
  type TypedValue,
} from '@medplum/core';
import type { Parameters, ParametersParameter, Resource } from '@medplum/fhirtypes';
import { loadFhirDefinitions } from '../definitions/fhir-definitions';
import { OperationOutcomeError } from '../operation-outcome';
import { cloneFhirJson } from '../json/lexemes';

/**
 * FHIRPath Patch (http://hl7.org/fhir/R4/fhirpatch.html): a Parameters resource whose `operation`
 * parameters add, insert, delete, replace or move elements named by FHIRPath expressions.
 *
 * FHIRPath evaluation yields values, but a patch needs places. So the structural part of a path
 * (property steps, indexers, unions, and filters such as where()/first()/ofType()) is walked here
 * over the JSON, remembering for every selected element the object and property (and array index)
 * that hold it, while everything inside those steps (where() criteria, index expressions) is
 * evaluated by @medplum/core's FHIRPath engine.
 *
 * Errors: a malformed patch is 400; a patch that cannot be applied to this resource (a path that
 * selects nothing or too much, an index out of range) is 422. Messages name the operation by number.
 */
export function applyFhirPathPatch(resource: Resource, patch: Parameters): Resource {
  loadFhirDefinitions();
  const operations = readOperations(patch);
  const result = cloneFhirJson(resource) as unknown as Json; // keeps decimal lexemes
  for (const op of operations) applyOperation(result, op);
  return result as unknown as Resource;
}

type Json = Record<string, unknown>;
type OperationType = 'add' | 'insert' | 'delete' | 'replace' | 'move';

interface Operation {
  /** 1-based, as users count the operation parameters. */
  n: number;
  type: OperationType;
  path: string;
  atom: FhirPathAtom;
  name?: string;
  value?: ParametersParameter;
  index?: number;
  source?: number;
  destination?: number;
}

/** Where a selected element sits in the JSON, so that it can be replaced or removed. */
interface Slot {
  parent: Json;
  /** The JSON property: for a choice element the resolved name (valueQuantity). */
  key: string;
  /** Position in the array, when the property repeats. */
  index?: number;
  /** `value` when the property is a choice element (value[x]). */
  choiceBase?: string;
  /** The slot of `parent` itself, to remove ancestors that a delete leaves empty. */
  parentSlot?: Slot;
}

interface Located {
  typed: TypedValue;
  /** Absent for the resource itself. */
  slot?: Slot;
}

/** A value to put into the resource, with the id/extensions of a primitive (its JSON `_name` twin). */
interface NewValue {
  value: unknown;
  /** The FHIR type when the patch says it (valueString, valueCoding, a resource); needed for choice elements. */
  type?: string;
  twin?: unknown;
}

// ---------------------------------------------------------------------------------------------
// Reading the patch
// ---------------------------------------------------------------------------------------------

const OPERATION_TYPES = new Set<OperationType>(['add', 'insert', 'delete', 'replace', 'move']);
const PART_NAMES = new Set(['type', 'path', 'name', 'value', 'index', 'source', 'destination']);
/** Which parts each operation needs, besides type and path. */
const REQUIRED_PARTS: Record<OperationType, string[]> = {
  add: ['name', 'value'],
  insert: ['value', 'index'],
  delete: [],
  replace: ['value'],
  move: ['source', 'destination'],
};

function readOperations(patch: Parameters): Operation[] {
  if (patch?.resourceType !== 'Parameters') throw badPatch('A FHIRPath Patch must be a Parameters resource');
  return (patch.parameter ?? []).map((parameter, i) => readOperation(parameter, i + 1));
}

function readOperation(parameter: ParametersParameter, n: number): Operation {
  const where = `FHIRPath Patch operation ${n}`;
  if (parameter.name !== 'operation') throw badPatch(`${where}: parameter is named '${parameter.name}'; a FHIRPath Patch holds only 'operation' parameters`);
  const parts = new Map<string, ParametersParameter>();
  for (const part of parameter.part ?? []) {
    if (!PART_NAMES.has(part.name)) throw badPatch(`${where}: unknown part '${part.name}'`);
    if (parts.has(part.name)) throw badPatch(`${where}: part '${part.name}' occurs more than once`);
    parts.set(part.name, part);
  }
  const type = parts.get('type')?.valueCode ?? parts.get('type')?.valueString;
  if (!type) throw badPatch(`${where}: the 'type' part is missing`);
  if (!OPERATION_TYPES.has(type as OperationType)) throw badPatch(`${where}: unknown type '${type}' (expected add, insert, delete, replace or move)`);
  const path = parts.get('path')?.valueString;
  if (!path) throw badPatch(`${where} (${type}): the 'path' part is missing`);
  for (const required of REQUIRED_PARTS[type as OperationType]) {
    if (!parts.has(required)) throw badPatch(`${where} (${type} at ${path}): the '${required}' part is missing`);
  }
  const op: Operation = { n, type: type as OperationType, path, atom: parsePath(path, `${where} (${type})`) };
  if (parts.has('name')) op.name = stringPart(parts.get('name') as ParametersParameter, op);
  if (parts.has('value')) op.value = parts.get('value');
  for (const key of ['index', 'source', 'destination'] as const) {
    if (parts.has(key)) op[key] = integerPart(parts.get(key) as ParametersParameter, op);
  }
  return op;
}

function parsePath(path: string, where: string): FhirPathAtom {
  try {
    return parseFhirPath(path);
  } catch (e) {
    throw badPatch(`${where}: '${path}' is not a valid FHIRPath expression: ${(e as Error).message}`);
  }
}

function stringPart(part: ParametersParameter, op: Operation): string {
  const value = part.valueString ?? part.valueCode;
  if (!value) throw fail(op, 400, `the '${part.name}' part must be a valueString`);
  return value;
}

function integerPart(part: ParametersParameter, op: Operation): number {
  const value = part.valueInteger ?? part.valueUnsignedInt ?? part.valuePositiveInt ?? part.valueDecimal;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw fail(op, 400, `the '${part.name}' part must be a valueInteger`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Applying operations
// ---------------------------------------------------------------------------------------------

function applyOperation(resource: Json, op: Operation): void {
  switch (op.type) {
    case 'add':
      return add(resource, op);
    case 'insert':
      return insert(resource, op);
    case 'delete':
      return remove(resource, op);
    case 'replace':
      return replace(resource, op);
    case 'move':
      return move(resource, op);
  }
}

/** add: set a property of the one element the path selects, or append to it if it repeats. */
function add(resource: Json, op: Operation): void {
  const target = single(evaluate(resource, op), op, 'adding');
  const obj = target.typed.value;
  if (!isObject(obj)) throw fail(op, 422, `${op.path} is a primitive value; properties can only be added to elements`);
  const name = op.name as string;
  const element = elementDefinition(target.typed.type, name);
  if (!element) throw fail(op, 422, `${target.typed.type} has no element '${name}'`);
  const value = newValue(op, op.value as ParametersParameter, singleType(element));
  const key = jsonKey(element, name, value, op);
  if (element.isArray) return insertAt(obj, key, arrayLength(obj, key), value);
  const existing = choiceKeys(element, name).find((k) => obj[k] !== undefined || obj[`_${k}`] !== undefined);
  if (existing) throw fail(op, 422, `${op.path}.${existing} already has a value; add only sets an absent element (use replace)`);
  setAt(obj, key, undefined, value);
}

/** insert: put a value into the list the path names, at an index from 0 to the list's length. */
function insert(resource: Json, op: Operation): void {
  const list = listAt(resource, op);
  const length = arrayLength(list.parent, list.key);
  const index = op.index as number;
  if (index < 0 || index > length) throw fail(op, 422, `index ${index} is outside the list (0 to ${length})`);
  insertAt(list.parent, list.key, index, newValue(op, op.value as ParametersParameter, list.type));
}

/** delete: remove the one element the path selects; nothing selected is not an error. */
function remove(resource: Json, op: Operation): void {
  const found = evaluate(resource, op);
  if (found.length === 0) return;
  if (found.length > 1) throw fail(op, 422, `${op.path} selects ${found.length} elements; delete removes exactly one`);
  const slot = found[0].slot;
  if (!slot) throw fail(op, 422, 'the resource itself cannot be deleted by a patch');
  removeAt(slot.parent, slot.key, slot.index);
  pruneEmptyAncestors(slot);
}

/** replace: swap the one element the path selects for a new value. */
function replace(resource: Json, op: Operation): void {
  const target = single(evaluate(resource, op), op, 'replacing');
  const slot = target.slot;
  if (!slot) throw fail(op, 422, 'the resource itself cannot be replaced by a patch');
  const value = newValue(op, op.value as ParametersParameter, target.typed.type);
  if (slot.choiceBase !== undefined && slot.index === undefined) {
    // A choice element may change type: valueQuantity replaced by a valueString becomes valueString.
    if (!value.type) throw fail(op, 422, `${op.path} is a choice of types; the value must state its type (value[x])`);
    removeAt(slot.parent, slot.key, undefined);
    setAt(slot.parent, slot.choiceBase + capitalize(value.type), undefined, value);
    return;
  }
  setAt(slot.parent, slot.key, slot.index, value);
}

/** move: take the element at `source` out of the list and put it back at `destination`. */
function move(resource: Json, op: Operation): void {
  const list = listAt(resource, op);
  const length = arrayLength(list.parent, list.key);
  if (length === 0) throw fail(op, 422, `No content found at ${op.path} when moving`);
  for (const [what, index] of [['source', op.source], ['destination', op.destination]] as const) {
    if ((index as number) < 0 || (index as number) >= length) throw fail(op, 422, `${what} index ${index} is outside the list (0 to ${length - 1})`);
  }
  const taken = takeAt(list.parent, list.key, op.source as number);
  insertAt(list.parent, list.key, op.destination as number, taken);
}

function single(found: Located[], op: Operation, doing: string): Located {
  if (found.length === 0) throw fail(op, 422, `No content found at ${op.path} when ${doing}`);
  if (found.length > 1) throw fail(op, 422, `${op.path} selects ${found.length} elements when ${doing}; exactly one is needed`);
  return found[0];
}

/**
 * The list an insert or move works on. For `X.name` it is property `name` of the one element X
 * selects, so that an empty list can still be inserted into; for any other path (ending in a filter,
 * say) the selected elements must all sit in one list, and that list is used whole.
 */
function listAt(resource: Json, op: Operation): { parent: Json; key: string; type?: string } {
  const top = op.atom.child;
  if (top instanceof DotAtom && top.right instanceof SymbolAtom) {
    const name = top.right.name;
    const owner = single(locateAll(resource, op, top.left), op, `looking for the list ${name}`);
    const element = isObject(owner.typed.value) ? elementDefinition(owner.typed.type, name) : undefined;
    if (!element?.isArray) throw fail(op, 422, `${op.path} is not a list (${owner.typed.type}.${name} does not repeat)`);
    return { parent: owner.typed.value as Json, key: name, type: singleType(element) };
  }
  const found = evaluate(resource, op);
  if (found.length === 0) throw fail(op, 422, `No content found at ${op.path}`);
  const { parent, key, index } = found[0].slot ?? ({} as Partial<Slot>);
  if (!parent || !key || index === undefined || found.some((f) => f.slot?.parent !== parent || f.slot?.key !== key)) {
    throw fail(op, 422, `${op.path} does not name a single list`);
  }
  return { parent, key, type: found[0].typed.type };
}

// ---------------------------------------------------------------------------------------------
// Locating elements
// ---------------------------------------------------------------------------------------------

/** Thrown while walking a path; turned into a 422 naming the operation. */
class PathError extends Error {}

function evaluate(resource: Json, op: Operation): Located[] {
  return locateAll(resource, op, op.atom.child);
}

function locateAll(resource: Json, op: Operation, atom: Atom): Located[] {
  const root: Located = { typed: { type: String(resource.resourceType), value: resource } };
  const context: AtomContext = {
    variables: { $this: root.typed, '%resource': root.typed, '%rootResource': root.typed, '%context': root.typed },
  };
  try {
    return locate(atom, context, [root]);
  } catch (e) {
    if (e instanceof OperationOutcomeError) throw e;
    throw fail(op, 422, `cannot evaluate ${op.path}: ${(e as Error).message}`);
  }
}

function locate(atom: Atom, context: AtomContext, input: Located[]): Located[] {
  if (atom instanceof FhirPathAtom) return locate(atom.child, context, input);
  if (atom instanceof DotAtom) return locate(atom.right, context, locate(atom.left, context, input));
  if (atom instanceof SymbolAtom) return input.flatMap((loc) => locateSymbol(atom.name, loc));
  if (atom instanceof IndexerAtom) return locateIndex(atom, context, input);
  if (atom instanceof UnionAtom) return unique([...locate(atom.left, context, input), ...locate(atom.right, context, input)]);
  if (atom instanceof FunctionAtom) return locateFunction(atom, context, input);
  throw new PathError(`'${atom.toString()}' does not select elements of the resource`);
}

/** A type name selects the resource it names (`Patient.x`); any other name is a property step. */
function locateSymbol(name: string, loc: Located): Located[] {
  const value = loc.typed.value;
  if (!isObject(value)) return [];
  if (name === '$this' || value.resourceType === name) return [loc];
  return children(loc, name);
}

function children(loc: Located, name: string): Located[] {
  const parent = loc.typed.value as Json;
  const element = elementDefinition(loc.typed.type, name);
  const isChoice = element?.path.endsWith('[x]') ?? false;
  const key = isChoice ? choiceKeys(element as InternalSchemaElement, name).find((k) => parent[k] !== undefined || parent[`_${k}`] !== undefined) : name;
  if (!key) return [];
  const choiceBase = isChoice ? choiceBaseOf(element as InternalSchemaElement) : undefined;
  // @medplum/core types the values and merges primitive extensions, index for index with the JSON.
  const typed = getTypedPropertyValue(loc.typed, key);
  const values = Array.isArray(typed) ? typed : typed ? [typed] : [];
  const repeats = Array.isArray(parent[key]) || Array.isArray(parent[`_${key}`]);
  const out: Located[] = [];
  values.forEach((t, i) => {
    if (t.value === undefined || t.value === null) return;
    out.push({ typed: t, slot: { parent, key, index: repeats ? i : undefined, choiceBase, parentSlot: loc.slot } });
  });
  return out;
}

function locateIndex(atom: IndexerAtom, context: AtomContext, input: Located[]): Located[] {
  const index = atom.expr.eval(context, input.map((l) => l.typed));
  if (index.length !== 1 || typeof index[0].value !== 'number' || !Number.isInteger(index[0].value)) {
    throw new PathError(`the indexer in '${atom.toString()}' must be one integer`);
  }
  const items = locate(atom.left, context, input);
  const item = items[index[0].value];
  return item ? [item] : [];
}

/**
 * Functions run in @medplum/core; those that filter their input (where, first, last, ofType, skip,
 * take, tail, single, ...) hand back the very TypedValue objects they were given, which map back to
 * places. A function that makes new values (count(), select(), resolve()) selects no element.
 */
function locateFunction(atom: FunctionAtom, context: AtomContext, input: Located[]): Located[] {
  if (atom.name === 'extension') return locateExtension(atom, context, input);
  const byValue = new Map(input.map((l) => [l.typed, l]));
  return atom.eval(context, input.map((l) => l.typed)).map((t) => {
    const found = byValue.get(t);
    if (!found) throw new PathError(`${atom.name}() does not select elements of the resource`);
    return found;
  });
}

/** extension(url) is shorthand for extension.where(url = ...): @medplum/core builds new values for it. */
function locateExtension(atom: FunctionAtom, context: AtomContext, input: Located[]): Located[] {
  const url = atom.args[0]?.eval(context, input.map((l) => l.typed));
  if (url?.length !== 1 || typeof url[0].value !== 'string') throw new PathError('extension() needs one url');
  return input.flatMap((loc) => locateSymbol('extension', loc)).filter((l) => (l.typed.value as Json)?.url === url[0].value);
}

function unique(items: Located[]): Located[] {
  const seen = new Set<string>();
  return items.filter((l) => {
    const id = l.slot ? `${slotId(l.slot)}` : '';
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

function slotId(slot: Slot): string {
  return `${slot.parentSlot ? slotId(slot.parentSlot) : ''}/${slot.key}${slot.index === undefined ? '' : `[${slot.index}]`}`;
}

// ---------------------------------------------------------------------------------------------
// Element definitions
// ---------------------------------------------------------------------------------------------

/** The element `name` (or a choice name such as deceasedBoolean) of a type, from the R4 definitions. */
function elementDefinition(type: string, name: string): InternalSchemaElement | undefined {
  const element = getElementDefinition(type, name.replace(/\[x]$/, ''));
  // The lookup indexes a plain object: guard against names such as 'constructor'.
  return typeof element?.path === 'string' ? element : undefined;
}

function choiceBaseOf(element: InternalSchemaElement): string {
  return element.path.slice(element.path.lastIndexOf('.') + 1).replace('[x]', '');
}

/** The JSON names an element may have: `deceased[x]` -> deceasedBoolean, deceasedDateTime. */
function choiceKeys(element: InternalSchemaElement, name: string): string[] {
  if (!element.path.endsWith('[x]')) return [name];
  const base = choiceBaseOf(element);
  const stated = name.replace(/\[x]$/, '');
  if (stated !== base) return [stated];
  return element.type.map((t) => base + capitalize(t.code));
}

/** The JSON name for a new value of `element`: for a choice, the base name plus the value's type. */
function jsonKey(element: InternalSchemaElement, name: string, value: NewValue, op: Operation): string {
  if (!element.path.endsWith('[x]')) return name;
  const stated = name.replace(/\[x]$/, '');
  if (stated !== choiceBaseOf(element)) return stated;
  if (!value.type) throw fail(op, 422, `'${name}' is a choice of types; the value must state its type (value[x])`);
  return stated + capitalize(value.type);
}

function singleType(element: InternalSchemaElement): string | undefined {
  return element.type.length === 1 ? element.type[0].code : undefined;
}

// ---------------------------------------------------------------------------------------------
// Values from the patch
// ---------------------------------------------------------------------------------------------

const R4_PRIMITIVES = new Set([
  'base64Binary', 'boolean', 'canonical', 'code', 'date', 'dateTime', 'decimal', 'id', 'instant', 'integer',
  'markdown', 'oid', 'positiveInt', 'string', 'time', 'unsignedInt', 'uri', 'url', 'uuid',
]);

/**
 * A `value` part (or a part nested in it) as a JSON value: value[x] as it is, a resource, or an
 * object built from parts named by element (the spec's way to give a backbone element).
 */
function newValue(op: Operation, part: ParametersParameter, type?: string): NewValue {
  const valueKey = Object.keys(part).find((k) => /^value[A-Z]/.test(k));
  const json = part as unknown as Json;
  if (valueKey) {
    return { value: cloneFhirJson(json[valueKey]), type: typeFromSuffix(valueKey.slice(5)), twin: clone(json[`_${valueKey}`]) };
  }
  if (part.resource) return { value: cloneFhirJson(part.resource), type: part.resource.resourceType };
  if (part.part?.length) return { value: objectFromParts(op, part.part, type), type };
  throw fail(op, 400, `the '${part.name}' part has no value[x], resource or parts`);
}

function objectFromParts(op: Operation, parts: ParametersParameter[], type?: string): Json {
  const obj: Json = {};
  for (const part of parts) {
    if (!part.name) throw fail(op, 400, 'a part of the value has no name');
    const element = type ? elementDefinition(type, part.name) : undefined;
    const value = newValue(op, part, element && singleType(element));
    const key = element ? jsonKey(element, part.name, value, op) : part.name;
    // Without a definition to ask, a name given more than once is taken to repeat.
    const repeats = element ? !!element.isArray : parts.filter((p) => p.name === part.name).length > 1;
    if (repeats) insertAt(obj, key, arrayLength(obj, key), value);
    else if (obj[key] !== undefined) throw fail(op, 400, `the value gives '${part.name}' more than once but it does not repeat`);
    else setAt(obj, key, undefined, value);
  }
  return obj;
}

/** valueString -> string, valueDateTime -> dateTime, valueHumanName -> HumanName. */
function typeFromSuffix(suffix: string): string {
  const lower = suffix[0].toLowerCase() + suffix.slice(1);
  return R4_PRIMITIVES.has(lower) ? lower : suffix;
}

// ---------------------------------------------------------------------------------------------
// JSON edits that keep a primitive's `_name` twin aligned with its values
// ---------------------------------------------------------------------------------------------

function arrayLength(obj: Json, key: string): number {
  return Math.max(asArray(obj[key]).length, asArray(obj[`_${key}`]).length);
}

function setAt(obj: Json, key: string, index: number | undefined, value: NewValue): void {
  if (index === undefined) {
    obj[key] = value.value;
    if (value.twin !== undefined) obj[`_${key}`] = value.twin;
    else delete obj[`_${key}`];
    return;
  }
  const length = arrayLength(obj, key);
  const values = padded(obj[key], length);
  values[index] = value.value;
  obj[key] = values;
  if (value.twin !== undefined || obj[`_${key}`] !== undefined) {
    const twins = padded(obj[`_${key}`], length);
    twins[index] = value.twin ?? null;
    obj[`_${key}`] = twins;
  }
  tidy(obj, key);
}

function insertAt(obj: Json, key: string, index: number, value: NewValue): void {
  const length = arrayLength(obj, key);
  const values = padded(obj[key], length);
  values.splice(index, 0, value.value);
  obj[key] = values;
  if (value.twin !== undefined || obj[`_${key}`] !== undefined) {
    const twins = padded(obj[`_${key}`], length);
    twins.splice(index, 0, value.twin ?? null);
    obj[`_${key}`] = twins;
  }
  tidy(obj, key);
}

function takeAt(obj: Json, key: string, index: number): NewValue {
  const length = arrayLength(obj, key);
  const values = padded(obj[key], length);
  const [value] = values.splice(index, 1);
  obj[key] = values;
  let twin: unknown;
  if (obj[`_${key}`] !== undefined) {
    const twins = padded(obj[`_${key}`], length);
    [twin] = twins.splice(index, 1);
    obj[`_${key}`] = twins;
  }
  tidy(obj, key);
  return { value, twin: twin ?? undefined };
}

function removeAt(obj: Json, key: string, index: number | undefined): void {
  if (index === undefined) {
    delete obj[key];
    delete obj[`_${key}`];
    return;
  }
  takeAt(obj, key, index);
}

/** Drops empty arrays, and a values or twins array that holds only nulls. */
function tidy(obj: Json, key: string): void {
  for (const k of [key, `_${key}`]) {
    const list = obj[k];
    if (Array.isArray(list) && list.every((v) => v === null || v === undefined)) delete obj[k];
  }
}

/** An element left without content is not valid FHIR: a delete removes the ancestors it empties. */
function pruneEmptyAncestors(slot: Slot): void {
  let current: Slot | undefined = slot;
  while (current?.parentSlot && Object.keys(current.parent).length === 0) {
    const up: Slot = current.parentSlot;
    removeAt(up.parent, up.key, up.index);
    current = up;
  }
}

function padded(list: unknown, length: number): unknown[] {
  const copy = [...asArray(list)];
  while (copy.length < length) copy.push(null);
  return copy;
}

function asArray(value: unknown): unknown[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function clone<T>(value: T): T {
  return value === undefined ? value : cloneFhirJson(value);
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof String);
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

function badPatch(msg: string): OperationOutcomeError {
  return OperationOutcomeError.of(400, 'invalid', msg);
}

function fail(op: Operation, status: 400 | 422, msg: string): OperationOutcomeError {
  return OperationOutcomeError.of(
    status,
    status === 400 ? 'invalid' : 'processing',
    `FHIRPath Patch operation ${op.n} (${op.type} at ${op.path}): ${msg}`,
    [`Parameters.parameter[${op.n - 1}]`],
  );
}

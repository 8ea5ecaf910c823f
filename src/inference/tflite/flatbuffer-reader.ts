/**
 * A small, bounds-checked reader of FlatBuffers tables on top of the `flatbuffers` package's
 * ByteBuffer. ByteBuffer itself does not check offsets (a read past the end silently yields
 * garbage), so every offset is checked here before it is read: a model file that is truncated or
 * corrupt fails with {@link FlatBufferBoundsError} instead of giving wrong values.
 *
 * Field slots follow the schema: the N-th field declared in a table (counting from 0, a union
 * taking two slots, deprecated fields still counting) is slot N, at vtable offset 4 + 2·N.
 */
import { ByteBuffer } from 'flatbuffers';

/** Thrown when an offset or length points outside the buffer; `what` names the field read. */
export class FlatBufferBoundsError extends Error {
  constructor(
    readonly what: string,
    readonly offset: number,
    readonly bufferSize: number,
  ) {
    super(`${what} at byte ${offset} lies outside the ${bufferSize}-byte buffer`);
    this.name = 'FlatBufferBoundsError';
  }
}

const utf8 = new TextDecoder('utf-8');

export class FlatBufferReader {
  readonly bb: ByteBuffer;
  readonly size: number;

  constructor(readonly bytes: Uint8Array) {
    this.bb = new ByteBuffer(bytes);
    this.size = bytes.length;
  }

  /** Throws unless [offset, offset + length) lies inside the buffer. */
  check(offset: number, length: number, what: string): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new FlatBufferBoundsError(what, offset, this.size);
    }
  }

  /** The 4-character file identifier at bytes 4..8 ('' when the buffer is shorter). */
  identifier(): string {
    if (this.size < 8) return '';
    return String.fromCharCode(...this.bytes.subarray(4, 8));
  }

  u8(offset: number, what: string): number {
    this.check(offset, 1, what);
    return this.bb.readUint8(offset);
  }

  i8(offset: number, what: string): number {
    this.check(offset, 1, what);
    return this.bb.readInt8(offset);
  }

  u16(offset: number, what: string): number {
    this.check(offset, 2, what);
    return this.bb.readUint16(offset);
  }

  i32(offset: number, what: string): number {
    this.check(offset, 4, what);
    return this.bb.readInt32(offset);
  }

  u32(offset: number, what: string): number {
    this.check(offset, 4, what);
    return this.bb.readUint32(offset);
  }

  f32(offset: number, what: string): number {
    this.check(offset, 4, what);
    return this.bb.readFloat32(offset);
  }

  /** A 64-bit integer as a Number (exact up to 2^53). */
  i64(offset: number, what: string): number {
    this.check(offset, 8, what);
    return Number(this.bb.readInt64(offset));
  }

  /** The root table (the uoffset at byte 0). */
  root(what: string): FlatTable {
    return this.table(this.u32(0, `${what} root offset`), what);
  }

  /** The table whose start is at `pos`; checks its vtable. */
  table(pos: number, what: string): FlatTable {
    const vtable = pos - this.i32(pos, `${what} vtable offset`);
    const vtableSize = this.u16(vtable, `${what} vtable`);
    if (vtableSize < 4 || vtableSize % 2 !== 0) {
      throw new FlatBufferBoundsError(`${what} vtable (bad size ${vtableSize})`, vtable, this.size);
    }
    this.check(vtable, vtableSize, `${what} vtable`);
    const objectSize = this.u16(vtable + 2, `${what} vtable`);
    this.check(pos, objectSize, what);
    return new FlatTable(this, pos, vtable, vtableSize, what);
  }
}

/** A vector's first element position and element count (its bytes are already bounds-checked). */
export interface FlatVector {
  readonly start: number;
  readonly length: number;
}

export class FlatTable {
  constructor(
    readonly r: FlatBufferReader,
    readonly pos: number,
    private readonly vtable: number,
    private readonly vtableSize: number,
    readonly what: string,
  ) {}

  /** The field's offset from the table start, 0 when absent. */
  fieldOffset(slot: number): number {
    const vo = 4 + 2 * slot;
    if (vo >= this.vtableSize) return 0;
    return this.r.u16(this.vtable + vo, `${this.what} vtable`);
  }

  has(slot: number): boolean {
    return this.fieldOffset(slot) !== 0;
  }

  u8(slot: number, def: number, name: string): number {
    const o = this.fieldOffset(slot);
    return o ? this.r.u8(this.pos + o, `${this.what}.${name}`) : def;
  }

  i8(slot: number, def: number, name: string): number {
    const o = this.fieldOffset(slot);
    return o ? this.r.i8(this.pos + o, `${this.what}.${name}`) : def;
  }

  i32(slot: number, def: number, name: string): number {
    const o = this.fieldOffset(slot);
    return o ? this.r.i32(this.pos + o, `${this.what}.${name}`) : def;
  }

  u32(slot: number, def: number, name: string): number {
    const o = this.fieldOffset(slot);
    return o ? this.r.u32(this.pos + o, `${this.what}.${name}`) : def;
  }

  i64(slot: number, def: number, name: string): number {
    const o = this.fieldOffset(slot);
    return o ? this.r.i64(this.pos + o, `${this.what}.${name}`) : def;
  }

  /** The sub-table in `slot`, or undefined when absent. */
  table(slot: number, name: string): FlatTable | undefined {
    const o = this.fieldOffset(slot);
    if (!o) return undefined;
    const at = this.pos + o;
    return this.r.table(at + this.r.u32(at, `${this.what}.${name}`), `${this.what}.${name}`);
  }

  /** The vector in `slot` (elements of `elementSize` bytes), or undefined when absent. */
  vector(slot: number, elementSize: number, name: string): FlatVector | undefined {
    const o = this.fieldOffset(slot);
    if (!o) return undefined;
    const at = this.pos + o;
    const what = `${this.what}.${name}`;
    const vec = at + this.r.u32(at, what);
    const length = this.r.u32(vec, `${what} length`);
    this.r.check(vec + 4, length * elementSize, `${what} (${length} elements)`);
    return { start: vec + 4, length };
  }

  string(slot: number, name: string): string | undefined {
    const v = this.vector(slot, 1, name);
    if (!v) return undefined;
    return utf8.decode(this.r.bytes.subarray(v.start, v.start + v.length));
  }

  /** The bytes of a [ubyte] vector (a view, not a copy). */
  bytes(slot: number, name: string): Uint8Array | undefined {
    const v = this.vector(slot, 1, name);
    return v && this.r.bytes.subarray(v.start, v.start + v.length);
  }

  i32s(slot: number, name: string): number[] {
    const v = this.vector(slot, 4, name);
    const out: number[] = [];
    if (v) for (let i = 0; i < v.length; i++) out.push(this.r.bb.readInt32(v.start + 4 * i));
    return out;
  }

  f32s(slot: number, name: string): number[] {
    const v = this.vector(slot, 4, name);
    const out: number[] = [];
    if (v) for (let i = 0; i < v.length; i++) out.push(this.r.bb.readFloat32(v.start + 4 * i));
    return out;
  }

  i64s(slot: number, name: string): number[] {
    const v = this.vector(slot, 8, name);
    const out: number[] = [];
    if (v) for (let i = 0; i < v.length; i++) out.push(Number(this.r.bb.readInt64(v.start + 8 * i)));
    return out;
  }

  /** The number of tables in a [Table] vector (0 when absent). */
  tableCount(slot: number, name: string): number {
    return this.vector(slot, 4, name)?.length ?? 0;
  }

  /** Element `i` of a [Table] vector. */
  tableAt(slot: number, i: number, name: string): FlatTable {
    const v = this.vector(slot, 4, name);
    if (!v || i < 0 || i >= v.length) {
      throw new FlatBufferBoundsError(`${this.what}.${name}[${i}] (no such element)`, this.pos, this.r.size);
    }
    const at = v.start + 4 * i;
    const what = `${this.what}.${name}[${i}]`;
    return this.r.table(at + this.r.u32(at, what), what);
  }

  /** All tables of a [Table] vector. */
  tables(slot: number, name: string): FlatTable[] {
    const n = this.tableCount(slot, name);
    const out: FlatTable[] = [];
    for (let i = 0; i < n; i++) out.push(this.tableAt(slot, i, name));
    return out;
  }

  /** All strings of a [string] vector. */
  strings(slot: number, name: string): string[] {
    const v = this.vector(slot, 4, name);
    const out: string[] = [];
    if (!v) return out;
    for (let i = 0; i < v.length; i++) {
      const at = v.start + 4 * i;
      const what = `${this.what}.${name}[${i}]`;
      const s = at + this.r.u32(at, what);
      const len = this.r.u32(s, what);
      this.r.check(s + 4, len, what);
      out.push(utf8.decode(this.r.bytes.subarray(s + 4, s + 4 + len)));
    }
    return out;
  }
}

/** Unsigned 64-bit input: a bigint, or a safe non-negative integer number. Decoded as bigint. */
export type U64 = bigint | number;
/** Appends bytes to a growing buffer. */
export declare class Writer {
    private buffer;
    length: number;
    private reserve;
    byte(value: number): void;
    bytes(data: Uint8Array): void;
    /** Little-endian unsigned integer of `size` bytes. */
    littleEndian(value: bigint, size: number): void;
    /** A varint in its shortest form (value 0..2^64-1). */
    varint(value: bigint | number): void;
    result(): Uint8Array;
}
/** A cursor over bytes that refuses to read past their end. */
export declare class Reader {
    readonly data: Uint8Array;
    position: number;
    constructor(data: Uint8Array);
    remaining(): number;
    take(count: number): Uint8Array;
    byte(): number;
    littleEndian(size: number): bigint;
    /** A varint of an unsigned type of `bits` (16, 32 or 64) bits. */
    varint(bits: 16 | 32 | 64): bigint;
    /** A collection length that cannot exceed the bytes left (every element takes at least one
     * byte), so a hostile length never makes anything allocate. */
    length(): number;
}
/** How one type is written and read. */
export interface Wire<T> {
    write(out: Writer, value: T, path: string): void;
    read(src: Reader): T;
}
/** u64: accepts bigint or number, decodes to bigint. */
export declare const U64_WIRE: Wire<U64>;
export declare const U16_WIRE: Wire<number>;
export declare const U32_WIRE: Wire<number>;
/** i32: zigzag, then a u32 varint. */
export declare const I32_WIRE: Wire<number>;
export declare const BOOL_WIRE: Wire<boolean>;
/** A varint byte length, then UTF-8. */
export declare const STRING_WIRE: Wire<string>;
/** A string with a constraint checked on both sides; `problem` returns "" when valid. */
export declare function checkedString(problem: (text: string) => string): Wire<string>;
/** `[u8; N]`: N raw bytes, no length. */
export declare function fixedBytes(size: number): Wire<Uint8Array>;
/** `Vec<u8>`: a varint count, then the raw bytes. */
export declare const BYTES_WIRE: Wire<Uint8Array>;
/** `Option<T>`: 00 for None (null or undefined), 01 then the value for Some. Decodes to null. */
export declare function option<T>(inner: Wire<T>): Wire<T | null | undefined>;
/** `Vec<T>`: a varint count, then each element. */
export declare function vec<T>(inner: Wire<T>): Wire<readonly T[]>;
/** An enum of unit variants, as their names (index = position in `names`). */
export declare function unitEnum<N extends string>(typeName: string, names: readonly N[]): Wire<N>;
/** A struct's fields in wire order: [name, wire]. A wire may be given as a thunk (recursion). */
export type Fields = ReadonlyArray<readonly [string, Wire<any> | (() => Wire<any>)]>;
/** A struct: its fields in declaration order, nothing else. */
export declare function struct<T>(typeName: string, fields: Fields): Wire<T>;
/** An enum with data, as `{ kind, ...fields }`: the variant index (position in `variants`, a
 * u32 varint), then the variant's fields in order. */
export declare function taggedEnum<T extends {
    kind: string;
}>(typeName: string, variants: ReadonlyArray<readonly [string, Fields]>): Wire<T>;

// bincode 2 "standard" encoding as kassa uses it (docs/protocol.md §2): little endian, varint
// integers, zigzag for signed ones, no field names. Every Wire writes a value (validating it
// first: a bad value throws ValidationError before anything is sent) and reads one strictly
// (malformed input throws a specific DecodeError).
import { InvalidBoolError, InvalidOptionTagError, InvalidUtf8Error, InvalidValueError, InvalidVarintError, TruncatedError, UnknownVariantError, ValidationError, } from "./errors.js";
const SINGLE_BYTE_MAX = 250;
const U16_MARKER = 0xfb;
const U32_MARKER = 0xfc;
const U64_MARKER = 0xfd;
const U64_MAX = (1n << 64n) - 1n;
/** Appends bytes to a growing buffer. */
export class Writer {
    constructor() {
        this.buffer = new Uint8Array(64);
        this.length = 0;
    }
    reserve(count) {
        if (this.length + count <= this.buffer.length)
            return;
        const grown = new Uint8Array(Math.max(this.buffer.length * 2, this.length + count));
        grown.set(this.buffer.subarray(0, this.length));
        this.buffer = grown;
    }
    byte(value) {
        this.reserve(1);
        this.buffer[this.length++] = value;
    }
    bytes(data) {
        this.reserve(data.length);
        this.buffer.set(data, this.length);
        this.length += data.length;
    }
    /** Little-endian unsigned integer of `size` bytes. */
    littleEndian(value, size) {
        for (let index = 0; index < size; index++)
            this.byte(Number((value >> BigInt(8 * index)) & 0xffn));
    }
    /** A varint in its shortest form (value 0..2^64-1). */
    varint(value) {
        const number = BigInt(value);
        if (number <= BigInt(SINGLE_BYTE_MAX))
            this.byte(Number(number));
        else if (number <= 0xffffn)
            (this.byte(U16_MARKER), this.littleEndian(number, 2));
        else if (number <= 0xffffffffn)
            (this.byte(U32_MARKER), this.littleEndian(number, 4));
        else
            (this.byte(U64_MARKER), this.littleEndian(number, 8));
    }
    result() {
        return this.buffer.slice(0, this.length);
    }
}
/** A cursor over bytes that refuses to read past their end. */
export class Reader {
    constructor(data) {
        this.data = data;
        this.position = 0;
    }
    remaining() {
        return this.data.length - this.position;
    }
    take(count) {
        if (count > this.remaining()) {
            throw new TruncatedError(`need ${count} bytes at offset ${this.position}, ${this.remaining()} left`);
        }
        const chunk = this.data.subarray(this.position, this.position + count);
        this.position += count;
        return chunk;
    }
    byte() {
        return this.take(1)[0];
    }
    littleEndian(size) {
        const bytes = this.take(size);
        let value = 0n;
        for (let index = size - 1; index >= 0; index--)
            value = (value << 8n) | BigInt(bytes[index]);
        return value;
    }
    /** A varint of an unsigned type of `bits` (16, 32 or 64) bits. */
    varint(bits) {
        const marker = this.byte();
        if (marker <= SINGLE_BYTE_MAX)
            return BigInt(marker);
        if (marker === U16_MARKER)
            return this.littleEndian(2);
        if (marker === U32_MARKER && bits >= 32)
            return this.littleEndian(4);
        if (marker === U64_MARKER && bits >= 64)
            return this.littleEndian(8);
        throw new InvalidVarintError(`varint marker 0x${marker.toString(16)} is not allowed for a u${bits}`);
    }
    /** A collection length that cannot exceed the bytes left (every element takes at least one
     * byte), so a hostile length never makes anything allocate. */
    length() {
        const count = this.varint(64);
        if (count > BigInt(this.remaining())) {
            throw new TruncatedError(`length ${count} exceeds the ${this.remaining()} bytes left`);
        }
        return Number(count);
    }
}
function requireInteger(value, low, high, path) {
    const ok = typeof value === "bigint" || (typeof value === "number" && Number.isSafeInteger(value));
    if (!ok)
        throw new ValidationError(`${path}: expected an integer, got ${String(value)}`);
    const number = BigInt(value);
    if (number < low || number > high)
        throw new ValidationError(`${path}: ${number} is outside ${low}..=${high}`);
    return number;
}
/** u64: accepts bigint or number, decodes to bigint. */
export const U64_WIRE = {
    write: (out, value, path) => out.varint(requireInteger(value, 0n, U64_MAX, path)),
    read: (src) => src.varint(64),
};
function smallUnsigned(bits) {
    const max = (1n << BigInt(bits)) - 1n;
    return {
        write: (out, value, path) => out.varint(requireInteger(value, 0n, max, path)),
        read: (src) => Number(src.varint(bits)),
    };
}
export const U16_WIRE = smallUnsigned(16);
export const U32_WIRE = smallUnsigned(32);
/** i32: zigzag, then a u32 varint. */
export const I32_WIRE = {
    write(out, value, path) {
        const number = requireInteger(value, -(1n << 31n), (1n << 31n) - 1n, path);
        out.varint(number < 0n ? (-number << 1n) - 1n : number << 1n);
    },
    read(src) {
        const zigzag = src.varint(32);
        return Number(zigzag % 2n === 0n ? zigzag >> 1n : -((zigzag + 1n) >> 1n));
    },
};
export const BOOL_WIRE = {
    write(out, value, path) {
        if (typeof value !== "boolean")
            throw new ValidationError(`${path}: expected a boolean, got ${String(value)}`);
        out.byte(value ? 1 : 0);
    },
    read(src) {
        const tag = src.byte();
        if (tag > 1)
            throw new InvalidBoolError(`bool byte 0x${tag.toString(16)}`);
        return tag === 1;
    },
};
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });
/** A varint byte length, then UTF-8. */
export const STRING_WIRE = {
    write(out, value, path) {
        if (typeof value !== "string")
            throw new ValidationError(`${path}: expected a string, got ${String(value)}`);
        if (/[\uD800-\uDFFF]/.test(value.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ""))) {
            throw new ValidationError(`${path}: lone surrogate, not encodable as UTF-8`);
        }
        const data = utf8Encoder.encode(value);
        out.varint(data.length);
        out.bytes(data);
    },
    read(src) {
        const data = src.take(src.length());
        try {
            return utf8Decoder.decode(data);
        }
        catch (error) {
            throw new InvalidUtf8Error(`invalid UTF-8: ${String(error)}`);
        }
    },
};
/** A string with a constraint checked on both sides; `problem` returns "" when valid. */
export function checkedString(problem) {
    return {
        write(out, value, path) {
            const why = typeof value === "string" ? problem(value) : "";
            if (why)
                throw new ValidationError(`${path}: ${why}`);
            STRING_WIRE.write(out, value, path);
        },
        read(src) {
            const text = STRING_WIRE.read(src);
            const why = problem(text);
            if (why)
                throw new InvalidValueError(why);
            return text;
        },
    };
}
/** `[u8; N]`: N raw bytes, no length. */
export function fixedBytes(size) {
    return {
        write(out, value, path) {
            if (!(value instanceof Uint8Array) || value.length !== size) {
                throw new ValidationError(`${path}: expected exactly ${size} bytes`);
            }
            out.bytes(value);
        },
        read: (src) => new Uint8Array(src.take(size)),
    };
}
/** `Vec<u8>`: a varint count, then the raw bytes. */
export const BYTES_WIRE = {
    write(out, value, path) {
        if (!(value instanceof Uint8Array))
            throw new ValidationError(`${path}: expected a Uint8Array`);
        out.varint(value.length);
        out.bytes(value);
    },
    read: (src) => new Uint8Array(src.take(src.length())),
};
/** `Option<T>`: 00 for None (null or undefined), 01 then the value for Some. Decodes to null. */
export function option(inner) {
    return {
        write(out, value, path) {
            if (value === null || value === undefined)
                return out.byte(0);
            out.byte(1);
            inner.write(out, value, path);
        },
        read(src) {
            const tag = src.byte();
            if (tag > 1)
                throw new InvalidOptionTagError(`Option tag 0x${tag.toString(16)}`);
            return tag === 1 ? inner.read(src) : null;
        },
    };
}
/** `Vec<T>`: a varint count, then each element. */
export function vec(inner) {
    return {
        write(out, value, path) {
            if (!Array.isArray(value))
                throw new ValidationError(`${path}: expected an array`);
            out.varint(value.length);
            value.forEach((element, index) => inner.write(out, element, `${path}[${index}]`));
        },
        read(src) {
            const count = src.length();
            const result = [];
            for (let index = 0; index < count; index++)
                result.push(inner.read(src));
            return result;
        },
    };
}
/** An enum of unit variants, as their names (index = position in `names`). */
export function unitEnum(typeName, names) {
    return {
        write(out, value, path) {
            const index = names.indexOf(value);
            if (index < 0)
                throw new ValidationError(`${path}: not a ${typeName}: ${String(value)}`);
            out.varint(index);
        },
        read(src) {
            const index = src.varint(32);
            if (index >= BigInt(names.length))
                throw new UnknownVariantError(`${typeName} has no variant ${index}`);
            return names[Number(index)];
        },
    };
}
function resolve(wire) {
    return typeof wire === "function" ? wire() : wire;
}
function isObject(value) {
    return typeof value === "object" && value !== null;
}
/** A struct: its fields in declaration order, nothing else. */
export function struct(typeName, fields) {
    return {
        write(out, value, path) {
            if (!isObject(value))
                throw new ValidationError(`${path}: expected a ${typeName} object`);
            for (const [name, wire] of fields)
                resolve(wire).write(out, value[name], `${path}.${name}`);
        },
        read(src) {
            const value = {};
            for (const [name, wire] of fields)
                value[name] = resolve(wire).read(src);
            return value;
        },
    };
}
/** An enum with data, as `{ kind, ...fields }`: the variant index (position in `variants`, a
 * u32 varint), then the variant's fields in order. */
export function taggedEnum(typeName, variants) {
    const indexOf = new Map(variants.map(([kind], index) => [kind, index]));
    return {
        write(out, value, path) {
            const index = isObject(value) ? indexOf.get(value.kind) : undefined;
            if (index === undefined) {
                throw new ValidationError(`${path}: not a ${typeName}: kind ${isObject(value) ? value.kind : value}`);
            }
            out.varint(index);
            for (const [name, wire] of variants[index][1])
                resolve(wire).write(out, value[name], `${path}.${name}`);
        },
        read(src) {
            const index = src.varint(32);
            if (index >= BigInt(variants.length))
                throw new UnknownVariantError(`${typeName} has no variant ${index}`);
            const [kind, fields] = variants[Number(index)];
            const value = { kind };
            for (const [name, wire] of fields)
                value[name] = resolve(wire).read(src);
            return value;
        },
    };
}
